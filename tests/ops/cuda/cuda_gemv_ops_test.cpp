// bf16 gemv on a CUDA device against the CPU reference (label gpu; skipped without a device):
// the issue's shapes (small, medium and two large ones), every variant with and without a bias,
// and a chain of dependent gemvs replayed as one graph with programmatic dependent launch, where
// a kernel that read x before its PDL wait would read the previous step's values.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "cuda/ops_tolerances.h"
#include "support/differential.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::random_bf16;
using testing::random_floats;
using testing::upload;

struct GemvCase {
  std::uint32_t rows;
  std::uint32_t cols;
  bool bias;
};

// y on `dev` for the case's data.
std::vector<float> run_gemv(Device& dev, const GemvCase& c, const std::vector<std::uint16_t>& w,
                            const std::vector<float>& x, const std::vector<float>& bias) {
  ops::OpEncoder ops(dev);
  Buffer wb = upload(dev, w);
  Buffer xb = upload(dev, x);
  Buffer bb = upload(dev, bias);
  Buffer yb = dev.alloc(std::size_t{c.rows} * 4);
  Encoder enc = dev.encoder();
  ops.gemv(enc, wb, xb, yb, c.rows, c.cols, c.bias ? std::optional<BufferView>(bb) : std::nullopt);
  enc.commit_and_wait();
  return yb.download<float>();
}

// CUDA within kGemvRelativeToAbsSum * sum_k |w_k x_k| (+ |bias|) + 1e-6 of the CPU, per row.
void expect_gemv_matches(Device& gpu, const GemvCase& c) {
  SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + (c.bias ? " + bias" : "") +
               " via " + ops::gemv_kernel_for(c.rows, c.cols, c.bias));
  const std::vector<std::uint16_t> w = random_bf16(std::size_t{c.rows} * c.cols, c.rows + c.cols);
  const std::vector<float> x = random_floats(c.cols, c.cols);
  const std::vector<float> bias = random_floats(c.rows, c.rows);
  Device cpu = testing::make_ops_cpu_device();
  const std::vector<float> want = run_gemv(cpu, c, w, x, bias);
  const std::vector<float> got = run_gemv(gpu, c, w, x, bias);
  std::size_t bad = 0;
  double worst = 0;
  for (std::uint32_t r = 0; r < c.rows; ++r) {
    double magnitude = c.bias ? std::fabs(bias[r]) : 0.0;
    for (std::uint32_t k = 0; k < c.cols; ++k) {
      magnitude += std::fabs(testing::bf16_value(w[std::size_t{r} * c.cols + k]) * x[k]);
    }
    const double err = std::fabs(double{got[r]} - want[r]);
    worst = std::max(worst, err / (magnitude + 1e-30));
    if (!(err <= testing::kGemvRelativeToAbsSum * magnitude + 1e-6)) {
      if (bad++ < 3) ADD_FAILURE() << "row " << r << ": cuda " << got[r] << ", cpu " << want[r];
    }
  }
  EXPECT_EQ(bad, 0U) << "rows out of tolerance; worst error / sum|w x| = " << worst;
}

// The issue's small and medium shapes, where cuBLAS sits at its per-call floor.
TEST(CudaGemvOps, IssueSmallAndMediumShapesMatchTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const GemvCase c : {GemvCase{2048, 2048, false},
                           {512, 2048, false},
                           {2048, 8192, false},
                           {896, 4864, false},
                           {9728, 896, false},
                           {896, 896, true}}) {
    expect_gemv_matches(gpu, c);
  }
}

// Two of the issue's large shapes: the Llama-3.2-1B gate+up and the Qwen2.5-0.5B lm_head.
TEST(CudaGemvOps, IssueLargeShapesMatchTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  expect_gemv_matches(gpu, {16384, 2048, false});
  expect_gemv_matches(gpu, {151936, 896, false});
}

// One shape per variant (partial last blocks), plain and with a bias, and the smallest shapes.
TEST(CudaGemvOps, EveryVariantMatchesTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [rows, cols] : {std::pair{8197U, 16U},
                                   {4099U, 32U},
                                   {2051U, 1024U},
                                   {1027U, 2048U},
                                   {301U, 4096U},
                                   {1U, 8U},
                                   {128U, 896U}}) {
    expect_gemv_matches(gpu, {rows, cols, false});
    expect_gemv_matches(gpu, {rows, cols, true});
  }
}

// Eight dependent 2048x2048 gemvs (x -> y1 -> ... -> y8) recorded once and replayed with new
// inputs: with PDL each kernel is launched while its predecessor drains, so this fails if a
// kernel touches its input before the dependency wait.
TEST(CudaGemvOps, DependentChainUnderProgrammaticLaunchMatchesTheCpu) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  constexpr std::uint32_t kDim = 2048;
  constexpr int kLinks = 8;
  std::vector<std::vector<std::uint16_t>> weights;
  for (int i = 0; i < kLinks; ++i) {
    weights.push_back(random_bf16(std::size_t{kDim} * kDim, 100 + i, std::sqrt(3.0F / kDim)));
  }
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    std::vector<Buffer> w;
    std::vector<Buffer> act;
    for (int i = 0; i < kLinks; ++i) w.push_back(upload(dev, weights[i]));
    for (int i = 0; i <= kLinks; ++i) act.push_back(dev.alloc(kDim * 4));
    Encoder enc = dev.encoder();
    for (int i = 0; i < kLinks; ++i) ops.gemv(enc, w[i], act[i], act[i + 1], kDim, kDim);
    const Recording rec = enc.finish();
    std::vector<testing::NamedOutput> outputs;
    for (int step = 0; step < 3; ++step) {
      act[0].upload(std::span<const float>(random_floats(kDim, 7 + step)));
      dev.submit(rec).wait();
      outputs.push_back(
          {"step " + std::to_string(step), act[kLinks].download<float>(), {1e-4, 1e-3}});
    }
    return outputs;
  }));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
