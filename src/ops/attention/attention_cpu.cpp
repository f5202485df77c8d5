// CPU references of the decode attention kernels: block (g, s) of the split kernel scores its
// chunk and writes (acc, m, l) for the q heads of kv head g, with double sums; the combine block
// merges the splits of one head. Same chunking as the CUDA kernels, so the scratch agrees too.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/attention/attention.h"
#include "ops/bf16.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

template <class T>
struct ScratchView {
  T* acc;
  T* m;
  T* l;
};

template <class T>
ScratchView<T> scratch_of(T* base, const AttentionParams& p) {
  const std::uint64_t acc_count = std::uint64_t{p.n_splits} * p.n_heads * p.head_dim;
  const std::uint64_t ml_count = std::uint64_t{p.n_splits} * p.n_heads;
  return {base, base + acc_count, base + acc_count + ml_count};
}

std::uint64_t scratch_floats(const AttentionParams& p) {
  return std::uint64_t{p.n_splits} * p.n_heads * (p.head_dim + 2);
}

}  // namespace

void attention_split_cpu(const CpuKernelContext& ctx) {
  const auto p = ctx.value<AttentionParams>(4);
  const std::uint32_t kv_len = std::min(ctx.value<std::uint32_t>(5), p.max_ctx);
  const std::uint32_t g = ctx.block_index().x;
  const std::uint32_t s = ctx.block_index().y;
  const std::uint32_t group = p.n_heads / p.n_kv_heads;
  const std::uint32_t d = p.head_dim;
  const std::uint64_t cache_elems = std::uint64_t{p.max_ctx} * p.n_kv_heads * d;
  check_arg_bytes(ctx, 0, std::uint64_t{p.n_heads} * d * sizeof(float), "attention_decode");
  check_arg_bytes(ctx, 1, cache_elems * 2, "attention_decode");
  check_arg_bytes(ctx, 2, cache_elems * 2, "attention_decode");
  check_arg_bytes(ctx, 3, scratch_floats(p) * sizeof(float), "attention_decode");
  const float* q = ctx.ptr<const float>(0);
  const std::uint16_t* k_cache = ctx.ptr<const std::uint16_t>(1);
  const std::uint16_t* v_cache = ctx.ptr<const std::uint16_t>(2);
  const ScratchView<float> out = scratch_of(ctx.ptr<float>(3), p);

  const std::uint32_t chunk = (kv_len + p.n_splits - 1) / p.n_splits;
  const std::uint32_t begin = std::min(kv_len, s * chunk);
  const std::uint32_t end = std::min(kv_len, begin + chunk);
  std::vector<double> scores(end - begin);
  for (std::uint32_t h = 0; h < group; ++h) {
    const std::uint32_t head = g * group + h;
    const std::uint64_t ml = std::uint64_t{s} * p.n_heads + head;
    if (begin == end) {
      out.m[ml] = -std::numeric_limits<float>::infinity();
      out.l[ml] = 0.0F;
      continue;
    }
    const float* qh = q + std::uint64_t{head} * d;
    double m = -std::numeric_limits<double>::infinity();
    for (std::uint32_t t = begin; t < end; ++t) {
      const std::uint16_t* k = k_cache + (std::uint64_t{t} * p.n_kv_heads + g) * d;
      double dot = 0.0;
      for (std::uint32_t i = 0; i < d; ++i) dot += double{qh[i]} * bf16_to_float(k[i]);
      scores[t - begin] = dot * p.scale;
      m = std::max(m, scores[t - begin]);
    }
    double l = 0.0;
    std::vector<double> acc(d, 0.0);
    for (std::uint32_t t = begin; t < end; ++t) {
      const double e = std::exp(scores[t - begin] - m);
      l += e;
      const std::uint16_t* v = v_cache + (std::uint64_t{t} * p.n_kv_heads + g) * d;
      for (std::uint32_t i = 0; i < d; ++i) acc[i] += e * bf16_to_float(v[i]);
    }
    out.m[ml] = static_cast<float>(m);
    out.l[ml] = static_cast<float>(l);
    for (std::uint32_t i = 0; i < d; ++i) out.acc[ml * d + i] = static_cast<float>(acc[i]);
  }
}

void attention_combine_cpu(const CpuKernelContext& ctx) {
  const auto p = ctx.value<AttentionParams>(2);
  const std::uint32_t head = ctx.block_index().x;
  const std::uint32_t d = p.head_dim;
  check_arg_bytes(ctx, 0, scratch_floats(p) * sizeof(float), "attention_combine_f32");
  check_arg_bytes(ctx, 1, std::uint64_t{p.n_heads} * d * sizeof(float), "attention_combine_f32");
  const ScratchView<const float> in = scratch_of(ctx.ptr<const float>(0), p);
  float* out = ctx.ptr<float>(1) + std::uint64_t{head} * d;
  double big_m = -std::numeric_limits<double>::infinity();
  for (std::uint32_t s = 0; s < p.n_splits; ++s) {
    const std::uint64_t ml = std::uint64_t{s} * p.n_heads + head;
    if (in.l[ml] > 0.0F) big_m = std::max(big_m, double{in.m[ml]});
  }
  std::vector<double> num(d, 0.0);
  double den = 0.0;
  for (std::uint32_t s = 0; s < p.n_splits; ++s) {
    const std::uint64_t ml = std::uint64_t{s} * p.n_heads + head;
    if (!(in.l[ml] > 0.0F)) continue;
    const double w = std::exp(double{in.m[ml]} - big_m);
    den += w * in.l[ml];
    for (std::uint32_t i = 0; i < d; ++i) num[i] += w * in.acc[ml * d + i];
  }
  for (std::uint32_t i = 0; i < d; ++i)
    out[i] = den > 0.0 ? static_cast<float>(num[i] / den) : 0.0F;
}

}  // namespace encore::ops::detail
