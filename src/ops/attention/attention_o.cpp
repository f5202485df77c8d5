// attention_o_decode: the plan, the registry entries and OpEncoder's support check and encode.

#include "ops/attention/attention_o.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "encore/error.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

AttentionOPlan attention_o_plan(const AttentionShape& shape, std::uint32_t rows,
                                std::uint32_t multiprocessors) {
  AttentionOPlan plan;
  plan.grid = std::max(multiprocessors, 1U);
  plan.min_rows = std::min(attention_batch_rows(shape.head_dim), shape.max_ctx);
  // One round of items over the grid; no more splits than max_ctx has batches of rows.
  const std::uint32_t by_rows = std::max(shape.max_ctx / attention_batch_rows(shape.head_dim), 1U);
  plan.n_splits = std::clamp(plan.grid / shape.n_heads, 1U, by_rows);
  plan.rows_per_block = static_cast<std::uint32_t>(ceil_div(rows, plan.grid));
  const std::uint64_t q_dim = std::uint64_t{shape.n_heads} * shape.head_dim;
  const std::uint64_t weights = std::uint64_t{plan.rows_per_block} * q_dim * 2;
  const std::uint64_t reduction = (kAttentionThreads / 32) * std::uint64_t{shape.head_dim};
  const std::uint64_t merge = 2 * std::uint64_t{plan.n_splits} + kAttentionThreads;
  const std::uint64_t shared = weights + std::max({reduction, merge, q_dim}) * sizeof(float);
  plan.shared_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(shared, UINT32_MAX));
  const AttentionParams params{.n_heads = shape.n_heads,
                               .n_kv_heads = shape.n_kv_heads,
                               .head_dim = shape.head_dim,
                               .n_splits = plan.n_splits};
  // + x, + the barrier state
  plan.scratch_bytes = (attention_o_x_offset(attention_scratch_layout(params)) + q_dim + 2) * 4;
  return plan;
}

void register_attention_o_kernels(KernelRegistry& registry) {
  const AttentionOCudaKernels cuda = attention_o_cuda_kernels();
  // The scratch is inout: the grid barrier's state is read (and its count left at zero) by
  // every dispatch.
  const std::vector<Param> params = {Param::in("q"),
                                     Param::in("k_cache"),
                                     Param::in("v_cache"),
                                     Param::in_before_wait("w_o"),  // copied before the wait
                                     Param::out("y"),
                                     Param::inout("scratch"),
                                     Param::value<AttentionOParams>("params"),
                                     Param::value<std::uint32_t>("kv_len")};
  register_head_dim_kernels(registry, "attention_o_decode", params, attention_o_decode_cpu,
                            cuda.hd64, cuda.hd128);
}

}  // namespace detail

namespace {

// The plan on a device: the CUDA kernel's, or on the CPU backend the reference's, which needs no
// shared memory (block 0 does the work) and plans for one block.
detail::AttentionOPlan plan_on(const Device& device, const DeviceLimits& limits,
                               const AttentionShape& shape, std::uint32_t rows) {
  if (device.backend() == BackendKind::Cpu) {
    detail::AttentionOPlan plan = detail::attention_o_plan(shape, rows, 1);
    plan.shared_bytes = 0;
    return plan;
  }
  return detail::attention_o_plan(shape, rows, limits.multiprocessors);
}

// The plan of `shape` with `rows` output rows on the device, into `plan`, or why it cannot run.
Support plan_of(const Device& device, const DeviceLimits& limits, const AttentionShape& shape,
                std::uint32_t rows, detail::AttentionOPlan& plan) {
  if (Support s = can_attention(shape); !s) return s;
  if (rows == 0) return detail::refuse("rows must be at least 1");
  plan = plan_on(device, limits, shape, rows);
  if (plan.shared_bytes > limits.max_shared_bytes) {
    return detail::refuse("a block's " + std::to_string(plan.rows_per_block) + " rows of W_o (" +
                          std::to_string(rows) + " rows over " + std::to_string(plan.grid) +
                          " blocks) and x need " + std::to_string(plan.shared_bytes) +
                          " bytes of shared memory; the device offers " +
                          std::to_string(limits.max_shared_bytes));
  }
  return {};
}

}  // namespace

Support OpEncoder::attention_o_support(const AttentionShape& shape, std::uint32_t rows) const {
  detail::AttentionOPlan plan;
  return plan_of(k_->device, k_->limits, shape, rows, plan);
}

std::uint64_t OpEncoder::attention_o_scratch_bytes(const AttentionShape& shape,
                                                   std::uint32_t rows) const {
  detail::AttentionOPlan plan;
  return plan_of(k_->device, k_->limits, shape, rows, plan) ? plan.scratch_bytes : 0;
}

void OpEncoder::attention_o_decode(Encoder& enc, const BufferView& q, const BufferView& k_cache,
                                   const BufferView& v_cache, const BufferView& w_o,
                                   const BufferView& y, const BufferView& scratch,
                                   const AttentionShape& shape, std::uint32_t rows,
                                   const Arg& kv_len, float scale, std::string_view label) const {
  constexpr std::string_view op = "attention_o_decode";
  detail::AttentionOPlan plan;
  detail::require(plan_of(k_->device, k_->limits, shape, rows, plan), op, label);
  detail::expect_attention_inputs(op, label, shape, q, k_cache, v_cache, kv_len, scale);
  const std::uint64_t q_elems = std::uint64_t{shape.n_heads} * shape.head_dim;
  detail::expect_elements(op, label, "w_o", w_o, std::uint64_t{rows} * q_elems, 2);
  detail::expect_elements(op, label, "y", y, rows, sizeof(float));
  detail::expect_aligned(op, label, "w_o", w_o, 16);
  detail::expect_aligned(op, label, "scratch", scratch, 16);  // copied by cp.async
  if (!scratch.buffer()) detail::throw_invalid(op, label, "scratch is a null buffer");
  if (scratch.size() < plan.scratch_bytes) {
    detail::throw_invalid(op, label,
                          "scratch holds " + std::to_string(scratch.size()) +
                              " bytes, attention_o_scratch_bytes(shape, rows) is " +
                              std::to_string(plan.scratch_bytes));
  }
  // Blocks write y while others may still read q, the caches, W_o or the scratch.
  detail::expect_no_overlap(
      op, label, "y", y,
      {{"q", q}, {"k_cache", k_cache}, {"v_cache", v_cache}, {"w_o", w_o}, {"scratch", scratch}});
  const detail::AttentionOParams params{.attention = {.n_heads = shape.n_heads,
                                                      .n_kv_heads = shape.n_kv_heads,
                                                      .head_dim = shape.head_dim,
                                                      .max_ctx = shape.max_ctx,
                                                      .n_splits = plan.n_splits,
                                                      .min_rows = plan.min_rows,
                                                      .scale = scale},
                                        .rows = rows,
                                        .rows_per_block = plan.rows_per_block};
  const Kernel& kernel = shape.head_dim == 64 ? k_->attention_o_hd64 : k_->attention_o_hd128;
  enc.dispatch(kernel,
               Launch::groups(plan.grid, detail::kAttentionThreads).shared(plan.shared_bytes),
               {in(q), in(k_cache), in(v_cache), in(w_o), encore::out(y),
                inout(scratch.sub(0, plan.scratch_bytes)), value(params), kv_len},
               {.label = label});
}

}  // namespace encore::ops
