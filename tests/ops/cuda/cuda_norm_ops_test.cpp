// The norm family and the elementwise ops on a CUDA device against the CPU reference (label gpu;
// skipped where no CUDA device can be opened). Tolerances are in ops_tolerances.h.

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

using testing::NamedOutput;
using testing::random_floats;
using testing::upload;

constexpr float kEps = 1e-6F;

// Every norm kernel, chained the way a decoder layer uses them, over several shapes.
TEST(CudaNormOps, NormKernelsMatchTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [n, rows] :
       {std::pair{1U, 1U}, {896U, 1U}, {2048U, 4U}, {3001U, 2U}, {8192U, 1U}}) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", rows = " + std::to_string(rows));
    const std::size_t count = std::size_t{n} * rows;
    const std::vector<float> a = random_floats(count, n, -3.0F, 3.0F);
    const std::vector<float> b = random_floats(count, n + 1, -3.0F, 3.0F);
    const std::vector<float> w = random_floats(count, n + 2, 0.5F, 1.5F);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer ab = upload(dev, a);
      Buffer bb = upload(dev, b);
      Buffer wb = upload(dev, w);
      std::vector<Buffer> out;
      for (int i = 0; i < 6; ++i) out.push_back(dev.alloc(count * 4));
      Encoder enc = dev.encoder();
      ops.rms_norm(enc, ab, out[0], n, kEps);
      ops.rms_norm_mul(enc, out[0], wb, out[1], n, kEps);
      ops.add_rms_norm(enc, ab, bb, out[2], out[3], n, kEps);
      ops.add_rms_norm_mul(enc, out[2], bb, wb, out[4], out[5], n, kEps);
      enc.commit_and_wait();
      const testing::Tolerance tol = testing::kNormTolerance;
      return std::vector<NamedOutput>{{"rms_norm", out[0].download<float>(), tol},
                                      {"rms_norm_mul", out[1].download<float>(), tol},
                                      {"add_rms_norm sum", out[2].download<float>(), {0, 0}},
                                      {"add_rms_norm y", out[3].download<float>(), tol},
                                      {"add_rms_norm_mul sum", out[4].download<float>(), {0, 0}},
                                      {"add_rms_norm_mul y", out[5].download<float>(), tol}};
    }));
  }
}

// add and mul are exact on both backends; silu_mul agrees within its tolerance.
TEST(CudaNormOps, ElementwiseKernelsMatchTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const std::uint32_t n : {1U, 257U, 4864U, 16384U}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<float> a = random_floats(n, n, -10.0F, 10.0F);
    const std::vector<float> b = random_floats(n, n + 1, -2.0F, 2.0F);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer ab = upload(dev, a);
      Buffer bb = upload(dev, b);
      Buffer c1 = dev.alloc(n * 4);
      Buffer c2 = dev.alloc(n * 4);
      Buffer c3 = dev.alloc(n * 4);
      Encoder enc = dev.encoder();
      ops.add(enc, ab, bb, c1);
      ops.mul(enc, ab, bb, c2);
      ops.silu_mul(enc, ab, bb, c3);
      enc.commit_and_wait();
      return std::vector<NamedOutput>{
          {"add", c1.download<float>(), {0, 0}},
          {"mul", c2.download<float>(), {0, 0}},
          {"silu_mul", c3.download<float>(), testing::kSiluMulTolerance}};
    }));
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
