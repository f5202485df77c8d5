// Decode attention: the split plan, registry entries, can_attention, attention_scratch_bytes and
// OpEncoder::attention_decode.

#include "ops/attention/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

namespace {

// Splits enough for about 512 blocks over the q heads at the longest context, each of at least
// attention_batch_rows(head_dim) rows, rounded up to whole clusters. The kernel holds two batches
// in registers (96 of them), so 5 blocks of 128 threads fit an SM: 512 blocks are one wave on a
// 132-SM card. Measured on an H100 against 640 and 1024 blocks, the last being two waves: 1024
// took 9.2 us at Llama-3.2-1B's shape and 2048 positions, 512 took 7.3 us. A longer context gives
// each split more batches, not more splits, so the merge stays over at most 512 partial results per
// head.
constexpr std::uint32_t kTargetBlocks = 512;

}  // namespace

AttentionPlan attention_plan(const AttentionShape& shape) {
  const std::uint32_t min_rows = attention_batch_rows(shape.head_dim);
  const std::uint64_t by_rows = std::max<std::uint64_t>(shape.max_ctx / min_rows, 1);
  // Whole clusters: the grid's splits are a multiple of the cluster's.
  const std::uint64_t wanted = std::min(by_rows, ceil_div(kTargetBlocks, shape.n_heads));
  const auto splits = static_cast<std::uint32_t>(ceil_div(wanted, kAttentionClusterSplits) *
                                                 kAttentionClusterSplits);
  // The cross-warp reduction [warps][head_dim], then the ticket merge's (m, l) pairs and
  // partial sums (the cluster merge gathers into static shared memory).
  const std::uint64_t reduction = kAttentionThreads / 32 * std::uint64_t{shape.head_dim};
  const std::uint64_t merge = 2 * std::uint64_t{splits} + kAttentionThreads;
  return {splits, std::min(min_rows, shape.max_ctx),
          static_cast<std::uint32_t>(std::max(reduction, merge) * sizeof(float))};
}

void register_attention_kernels(KernelRegistry& registry) {
  const AttentionCudaKernels cuda = attention_cuda_kernels();
  // The scratch is inout: the tickets are read (and left at zero) by every dispatch.
  const std::vector<Param> params = {Param::in("q"),
                                     Param::in("k_cache"),
                                     Param::in("v_cache"),
                                     Param::out("out"),
                                     Param::inout("scratch"),
                                     Param::value<AttentionParams>("params"),
                                     Param::value<std::uint32_t>("kv_len")};
  register_head_dim_kernels(registry, "attention_decode", params, attention_decode_cpu,
                            cuda.split_hd64, cuda.split_hd128);
  // With an append the caches are read before the wait (every row but the staged one, which
  // no earlier dispatch may write then) and the staged row is written into them after it.
  std::vector<Param> append = params;
  for (const std::size_t cache : {1U, 2U}) {
    append[cache].access = Access::InOut;
    append[cache].read_before_wait = true;
  }
  append.push_back(Param::in("k_new"));
  append.push_back(Param::in("v_new"));
  register_head_dim_kernels(registry, "attention_append_decode", append,
                            attention_append_decode_cpu, cuda.append_hd64, cuda.append_hd128);
}

void register_head_dim_kernels(KernelRegistry& registry, std::string_view stem,
                               const std::vector<Param>& params, const CpuKernelFn& cpu,
                               const void* cuda_hd64, const void* cuda_hd128) {
  for (const auto& [dim, cuda] : {std::pair{"64", cuda_hd64}, {"128", cuda_hd128}}) {
    registry.add({.name = std::string(stem) + "_hd" + dim + "_bf16",
                  .params = params,
                  .op = OpKind::Sdpa,
                  .cpu = cpu,
                  .cuda = cuda,
                  .programmatic_dependency = true});
  }
}

void expect_attention_inputs(std::string_view op, std::string_view label,
                             const AttentionShape& shape, const BufferView& q,
                             const BufferView& k_cache, const BufferView& v_cache,
                             const Arg& kv_len, float scale) {
  expect_u32_scalar(op, label, "kv_len", kv_len);
  if (!std::isfinite(scale)) throw_invalid(op, label, "scale must be finite");
  const std::uint64_t q_elems = std::uint64_t{shape.n_heads} * shape.head_dim;
  const std::uint64_t cache_elems =
      std::uint64_t{shape.max_ctx} * shape.n_kv_heads * shape.head_dim;
  expect_elements(op, label, "q", q, q_elems, sizeof(float));
  expect_elements(op, label, "k_cache", k_cache, cache_elems, 2);
  expect_elements(op, label, "v_cache", v_cache, cache_elems, 2);
  expect_aligned(op, label, "q", q, 16);
  expect_aligned(op, label, "k_cache", k_cache, 16);
  expect_aligned(op, label, "v_cache", v_cache, 16);
}

}  // namespace detail

Support can_attention(const AttentionShape& shape) {
  if (shape.n_heads == 0 || shape.n_kv_heads == 0) {
    return detail::refuse("n_heads and n_kv_heads must be at least 1");
  }
  if (shape.n_heads % shape.n_kv_heads != 0) {
    return detail::refuse("n_kv_heads = " + std::to_string(shape.n_kv_heads) +
                          " does not divide n_heads = " + std::to_string(shape.n_heads));
  }
  if (shape.head_dim != 64 && shape.head_dim != 128) {
    return detail::refuse("head_dim must be 64 or 128, got " + std::to_string(shape.head_dim));
  }
  if (shape.max_ctx == 0) return detail::refuse("max_ctx must be at least 1");
  return {};
}

std::uint64_t attention_scratch_bytes(const AttentionShape& shape) {
  if (!can_attention(shape)) return 0;
  const detail::AttentionPlan plan = detail::attention_plan(shape);
  const detail::AttentionParams params{.n_heads = shape.n_heads,
                                       .n_kv_heads = shape.n_kv_heads,
                                       .head_dim = shape.head_dim,
                                       .n_splits = plan.n_splits};
  return detail::attention_scratch_layout(params).words * 4;
}

void OpEncoder::attention_decode(Encoder& enc, const BufferView& q, const BufferView& k_cache,
                                 const BufferView& v_cache, const BufferView& out,
                                 const BufferView& scratch, const AttentionShape& shape,
                                 const Arg& kv_len, float scale, std::string_view label,
                                 const std::optional<AttentionAppend>& append) const {
  constexpr std::string_view op = "attention_decode";
  detail::require(can_attention(shape), op, label);
  detail::expect_attention_inputs(op, label, shape, q, k_cache, v_cache, kv_len, scale);
  const std::uint64_t q_elems = std::uint64_t{shape.n_heads} * shape.head_dim;
  detail::expect_elements(op, label, "out", out, q_elems, sizeof(float));
  detail::expect_aligned(op, label, "scratch", scratch, 4);
  if (!scratch.buffer()) detail::throw_invalid(op, label, "scratch is a null buffer");
  const std::uint64_t need = attention_scratch_bytes(shape);
  if (scratch.size() < need) {
    detail::throw_invalid(op, label,
                          "scratch holds " + std::to_string(scratch.size()) +
                              " bytes, attention_scratch_bytes(shape) is " + std::to_string(need));
  }
  // The merging block writes out while blocks of other kv heads may still read q.
  detail::expect_no_overlap(op, label, "out", out, {{"q", q}, {"scratch", scratch}});
  if (append) {
    const std::uint64_t row = std::uint64_t{shape.n_kv_heads} * shape.head_dim;
    detail::expect_elements(op, label, "append.k", append->k, row, 2);
    detail::expect_elements(op, label, "append.v", append->v, row, 2);
    detail::expect_aligned(op, label, "append.k", append->k, 16);
    detail::expect_aligned(op, label, "append.v", append->v, 16);
    // The staged rows are read while the caches, out and scratch are written.
    for (const detail::NamedView& staged :
         {detail::NamedView{"append.k", append->k}, detail::NamedView{"append.v", append->v}}) {
      detail::expect_no_overlap(
          op, label, staged.name, staged.view,
          {{"k_cache", k_cache}, {"v_cache", v_cache}, {"out", out}, {"scratch", scratch}});
    }
  }
  const detail::AttentionPlan plan = detail::attention_plan(shape);
  const detail::AttentionParams params{.n_heads = shape.n_heads,
                                       .n_kv_heads = shape.n_kv_heads,
                                       .head_dim = shape.head_dim,
                                       .max_ctx = shape.max_ctx,
                                       .n_splits = plan.n_splits,
                                       .min_rows = plan.min_rows,
                                       .scale = scale,
                                       .cluster_splits = detail::kAttentionClusterSplits};
  const Launch launch = Launch::groups({shape.n_heads, plan.n_splits}, detail::kAttentionThreads)
                            .shared(plan.shared_bytes);
  if (!append) {
    const Kernel& kernel = shape.head_dim == 64 ? k_->attention_hd64 : k_->attention_hd128;
    enc.dispatch(kernel, launch,
                 {in(q), in(k_cache), in(v_cache), encore::out(out), inout(scratch.sub(0, need)),
                  value(params), kv_len},
                 {.label = label});
    return;
  }
  const Kernel& kernel =
      shape.head_dim == 64 ? k_->attention_append_hd64 : k_->attention_append_hd128;
  enc.dispatch(kernel, launch,
               {in(q), inout(k_cache), inout(v_cache), encore::out(out),
                inout(scratch.sub(0, need)), value(params), kv_len, in(append->k), in(append->v)},
               {.label = label});
}

}  // namespace encore::ops
