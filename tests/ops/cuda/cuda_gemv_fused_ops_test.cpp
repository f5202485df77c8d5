// gemv_fused on a CUDA device against the CPU reference (label gpu; skipped without a device):
// the decode step's fused gemvs on the Qwen2.5-0.5B and Llama-3.2-1B shapes (norm prologue with
// and without the residual add, bias, silu*mul output, the final norm + lm_head), every variant
// of every family with partial last blocks, the rope + kv-cache append epilogue, and a dependent
// chain replayed under programmatic dependent launch. Per row, |cuda - cpu| <= 2
// kGemvRelativeToAbsSum sum_k |w_k x'_k| + 1e-6 (x' the normalised input: the norm's f32 error
// adds to the gemv's); the silu output propagates the gate's and the up row's bounds; sum = a + b
// is exact.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "cuda/ops_tolerances.h"
#include "support/differential.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using ops::GemvFusion;
using ops::GemvNorm;
using testing::random_bf16;
using testing::random_floats;
using testing::upload;

constexpr float kEps = 1e-6F;

struct Case {
  std::uint32_t rows;
  std::uint32_t cols;
  bool norm;
  bool add;
  bool bias;
  bool silu;
};

struct Data {
  std::vector<std::uint16_t> w;
  std::vector<float> x, add, norm_w, bias;
};

Data make_data(const Case& c) {
  const std::size_t weight_rows = std::size_t{c.rows} * (c.silu ? 2 : 1);
  return {random_bf16(weight_rows * c.cols, c.rows ^ c.cols, std::sqrt(3.0F / c.cols)),
          random_floats(c.cols, 1, -2.0F, 2.0F), random_floats(c.cols, 2, -1.0F, 1.0F),
          random_floats(c.cols, 3, 0.5F, 1.5F), random_floats(c.rows, 4)};
}

struct Outputs {
  std::vector<float> y;
  std::vector<float> sum;
};

Outputs run(Device& dev, const Case& c, const Data& d) {
  ops::OpEncoder ops(dev);
  Buffer w = upload(dev, d.w);
  Buffer x = upload(dev, d.x);
  Buffer add = upload(dev, d.add);
  Buffer nw = upload(dev, d.norm_w);
  Buffer bias = upload(dev, d.bias);
  Buffer sum = dev.alloc(std::uint64_t{c.cols} * 4);
  Buffer y = dev.alloc(std::uint64_t{c.rows} * 4);
  GemvFusion f;
  if (c.norm) {
    f.norm = GemvNorm{.weight = nw, .eps = kEps};
    if (c.add) {
      f.norm->add = add.view();
      f.norm->sum = sum.view();
    }
  }
  if (c.bias) f.bias = bias.view();
  f.silu_mul = c.silu;
  Encoder enc = dev.encoder();
  ops.gemv_fused(enc, w, x, y, c.rows, c.cols, f);
  enc.commit_and_wait();
  return {y.download<float>(), sum.download<float>()};
}

// x' in double, as the norm defines it.
std::vector<double> normalised_input(const Case& c, const Data& d) {
  std::vector<double> x(d.x.begin(), d.x.end());
  if (!c.norm) return x;
  double squares = 0;
  for (std::uint32_t i = 0; i < c.cols; ++i) {
    if (c.add) x[i] = static_cast<float>(d.x[i] + d.add[i]);
    squares += x[i] * x[i];
  }
  const double scale = 1.0 / std::sqrt(squares / c.cols + kEps);
  for (std::uint32_t i = 0; i < c.cols; ++i) x[i] *= scale * d.norm_w[i];
  return x;
}

void expect_case_matches(Device& gpu, const Case& c) {
  const std::string what = std::to_string(c.rows) + "x" + std::to_string(c.cols) +
                           (c.norm ? (c.add ? " add+norm" : " norm") : "") +
                           (c.bias ? " bias" : "") + (c.silu ? " silu" : "");
  SCOPED_TRACE(what);
  const Data d = make_data(c);
  Device cpu = testing::make_ops_cpu_device();
  const Outputs want = run(cpu, c, d);
  const Outputs got = run(gpu, c, d);
  const std::vector<double> x = normalised_input(c, d);
  const double rel = 2 * testing::kGemvRelativeToAbsSum;
  const auto row_bound = [&](std::size_t row, double* value) {
    double magnitude = 0;
    double dot = 0;
    for (std::uint32_t k = 0; k < c.cols; ++k) {
      const double term = testing::bf16_value(d.w[row * c.cols + k]) * x[k];
      magnitude += std::fabs(term);
      dot += term;
    }
    *value = dot;
    return rel * magnitude + 1e-6;
  };
  std::size_t bad = 0;
  for (std::uint32_t r = 0; r < c.rows; ++r) {
    double g = 0;
    double bound = row_bound(r, &g);
    if (c.bias) bound += 1e-6 * std::fabs(d.bias[r]);
    if (c.silu) {
      double u = 0;
      const double bound_u = row_bound(std::size_t{c.rows} + r, &u);
      const double silu = g / (1 + std::exp(-g));
      bound = 1.1 * std::fabs(u) * bound + std::fabs(silu) * bound_u + bound * bound_u + 1e-6;
    }
    if (!(std::fabs(double{got.y[r]} - want.y[r]) <= bound)) {
      if (bad++ < 3) ADD_FAILURE() << "row " << r << ": cuda " << got.y[r] << ", cpu " << want.y[r];
    }
  }
  EXPECT_EQ(bad, 0U) << "rows out of tolerance";
  if (c.add) {
    EXPECT_TRUE(testing::all_identical(got.sum, want.sum)) << "sum";
  }
}

// The decode step's fused gemvs on the real shapes.
TEST(CudaGemvFusedOps, DecodeShapesMatchTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const Case c : {Case{1152, 896, true, false, true, false},       // Qwen qkv, first layer
                       Case{1152, 896, true, true, true, false},        // Qwen qkv
                       Case{4864, 896, true, true, false, true},        // Qwen gate|up + silu
                       Case{3072, 2048, true, true, false, false},      // Llama qkv
                       Case{8192, 2048, true, true, false, true},       // Llama gate|up + silu
                       Case{151936, 896, true, true, false, false}}) {  // final norm + lm_head
    expect_case_matches(gpu, c);
  }
}

// One shape per variant (partial last blocks) of every family.
TEST(CudaGemvFusedOps, EveryVariantOfEveryFamilyMatchesTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [rows, cols] : {std::pair{8197U, 16U},
                                   {4099U, 32U},
                                   {2051U, 1024U},
                                   {1027U, 2048U},
                                   {301U, 4096U},
                                   {67U, 6144U},  // the widest with the norm weight preloaded
                                   {37U, 8192U},  // the norm weight read after the wait
                                   {1U, 8U}}) {
    for (const bool add : {false, true}) {
      for (const bool bias : {false, true})
        expect_case_matches(gpu, {rows, cols, true, add, bias, false});
    }
  }
  for (const auto& [rows, cols] : {std::pair{2049U, 16U}, {513U, 1024U}, {131U, 2048U}, {1U, 8U}}) {
    for (const bool norm : {false, true})
      expect_case_matches(gpu, {rows, cols, norm, norm, false, true});
  }
}

// The rope + kv-cache append epilogue of the q|k|v gemv on the Qwen2.5-0.5B and Llama-3.2-1B
// shapes (norm prologue with the add; Qwen with its bias) and a small interleaved one: q within
// gemv + rope rounding of the CPU, cache rows within one bf16 step, positions a slot; and the
// staged epilogue (one-row caches written whatever pos) beside it.
TEST(CudaGemvFusedOps, RopeKvEpilogueMatchesTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  struct Shape {
    std::uint32_t heads, kv_heads, head_dim, cols;
    bool bias;
    ops::RopeStyle style;
  };
  for (const Shape s : {Shape{14, 2, 64, 896, true, ops::RopeStyle::NeoX},
                        Shape{32, 8, 64, 2048, false, ops::RopeStyle::NeoX},
                        Shape{4, 2, 16, 1024, true, ops::RopeStyle::Interleaved}}) {
    const std::uint32_t q_rows = s.heads * s.head_dim;
    const std::uint32_t kv_rows = s.kv_heads * s.head_dim;
    const std::uint32_t rows = q_rows + 2 * kv_rows;
    const std::vector<std::uint16_t> w =
        random_bf16(std::size_t{rows} * s.cols, rows, std::sqrt(3.0F / s.cols));
    const std::vector<float> x = random_floats(s.cols, 1, -2.0F, 2.0F);
    const std::vector<float> add = random_floats(s.cols, 2);
    const std::vector<float> norm_w = random_floats(s.cols, 3, 0.5F, 1.5F);
    const std::vector<float> bias = random_floats(rows, 4, -0.5F, 0.5F);
    std::vector<float> inv(s.head_dim / 2);
    for (std::uint32_t j = 0; j < inv.size(); ++j) inv[j] = std::pow(1e6F, -2.0F * j / s.head_dim);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer wb = upload(dev, w);
      Buffer xb = upload(dev, x);
      Buffer ab = upload(dev, add);
      Buffer nb = upload(dev, norm_w);
      Buffer bb = upload(dev, bias);
      Buffer fb = upload(dev, inv);
      Buffer sum = dev.alloc(std::uint64_t{s.cols} * 4);
      Buffer q = dev.alloc(std::uint64_t{q_rows} * 4);
      Buffer kc = dev.alloc(std::uint64_t{kv_rows} * 16 * 2);
      Buffer vc = dev.alloc(std::uint64_t{kv_rows} * 16 * 2);
      GemvFusion f{.norm = GemvNorm{.weight = nb, .eps = kEps, .add = ab.view(), .sum = sum.view()},
                   .rope_kv = ops::GemvRopeKv{.inv_freq = fb,
                                              .k_cache = kc,
                                              .v_cache = vc,
                                              .n_heads = s.heads,
                                              .n_kv_heads = s.kv_heads,
                                              .head_dim = s.head_dim,
                                              .pos = slot<std::uint32_t>("pos", 0),
                                              .style = s.style}};
      if (s.bias) f.bias = bb.view();
      Encoder enc = dev.encoder();
      ops.gemv_fused(enc, wb, xb, q, rows, s.cols, f);
      Buffer staged_sum = dev.alloc(std::uint64_t{s.cols} * 4);
      Buffer ks = dev.alloc(std::uint64_t{kv_rows} * 2);
      Buffer vs = dev.alloc(std::uint64_t{kv_rows} * 2);
      Buffer q_staged = dev.alloc(std::uint64_t{q_rows} * 4);
      f.norm->sum = staged_sum.view();
      f.rope_kv->k_cache = ks;
      f.rope_kv->v_cache = vs;
      f.rope_kv->staged = true;
      ops.gemv_fused(enc, wb, xb, q_staged, rows, s.cols, f);
      Recording rec = enc.finish();
      const auto widen = [](const std::vector<std::uint16_t>& bits) {
        std::vector<float> out;
        for (const std::uint16_t b : bits) out.push_back(testing::bf16_value(b));
        return out;
      };
      std::vector<testing::NamedOutput> outputs;
      for (const std::uint32_t pos : {0U, 7U, 15U, 16U, 3000U}) {
        rec.set("pos", pos);
        dev.submit(rec).wait();
        const std::string at = " at pos " + std::to_string(pos);
        outputs.push_back({"q" + at, q.download<float>(), {1e-4, 1e-3}});
        outputs.push_back({"staged q" + at, q_staged.download<float>(), {1e-4, 1e-3}});
        outputs.push_back(
            {"staged k" + at, widen(ks.download<std::uint16_t>()), {1e-4, 1.0 / 128}});
        outputs.push_back(
            {"staged v" + at, widen(vs.download<std::uint16_t>()), {1e-4, 1.0 / 128}});
      }
      outputs.push_back({"k_cache", widen(kc.download<std::uint16_t>()), {1e-4, 1.0 / 128}});
      outputs.push_back({"v_cache", widen(vc.download<std::uint16_t>()), {1e-4, 1.0 / 128}});
      return outputs;
    }));
  }
}

// A Qwen-sized layer's MLP chained as the step chains it (add+norm+gate|up+silu, down, then the
// next add+norm+qkv), recorded once and replayed with new inputs under PDL: a kernel touching
// x, a, b or its outputs before its dependency wait would read the previous replay's values.
TEST(CudaGemvFusedOps, DependentChainUnderProgrammaticLaunchMatchesTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  constexpr std::uint32_t kHidden = 896;
  constexpr std::uint32_t kFfn = 4864;
  const std::vector<std::uint16_t> gate_up =
      random_bf16(std::size_t{2 * kFfn} * kHidden, 21, 0.05F);
  const std::vector<std::uint16_t> down = random_bf16(std::size_t{kHidden} * kFfn, 22, 0.03F);
  const std::vector<std::uint16_t> qkv = random_bf16(std::size_t{1152} * kHidden, 23, 0.05F);
  const std::vector<float> norm_w = random_floats(kHidden, 24, 0.5F, 1.5F);
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    Buffer wgu = upload(dev, gate_up);
    Buffer wd = upload(dev, down);
    Buffer wqkv = upload(dev, qkv);
    Buffer nw = upload(dev, norm_w);
    Buffer resid = dev.alloc(kHidden * 4);
    Buffer attn_out = dev.alloc(kHidden * 4);
    Buffer resid2 = dev.alloc(kHidden * 4);
    Buffer act = dev.alloc(kFfn * 4);
    Buffer mlp = dev.alloc(kHidden * 4);
    Buffer resid3 = dev.alloc(kHidden * 4);
    Buffer q = dev.alloc(1152 * 4);
    Encoder enc = dev.encoder();
    ops.gemv_fused(
        enc, wgu, resid, act, kFfn, kHidden,
        {.norm = GemvNorm{.weight = nw, .add = BufferView(attn_out), .sum = BufferView(resid2)},
         .silu_mul = true});
    ops.gemv(enc, wd, act, mlp, kHidden, kFfn);
    ops.gemv_fused(
        enc, wqkv, resid2, q, 1152, kHidden,
        {.norm = GemvNorm{.weight = nw, .add = BufferView(mlp), .sum = BufferView(resid3)}});
    const Recording rec = enc.finish();
    std::vector<testing::NamedOutput> outputs;
    for (int step = 0; step < 3; ++step) {
      resid.upload(std::span<const float>(random_floats(kHidden, 30 + step)));
      attn_out.upload(std::span<const float>(random_floats(kHidden, 40 + step)));
      dev.submit(rec).wait();
      const std::string at = "step " + std::to_string(step);
      outputs.push_back({at + " q", q.download<float>(), {1e-4, 1e-3}});
      outputs.push_back({at + " residual", resid3.download<float>(), {1e-5, 1e-4}});
    }
    return outputs;
  }));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
