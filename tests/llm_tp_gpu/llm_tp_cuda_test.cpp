// Tensor-parallel decoding over two GPUs (NCCL collectives in the step's graph): the greedy
// tokens of two ranks equal one GPU's, and teacher-forced logits stay close, on the tiny Llama
// and Qwen2 shapes. Skips (a CTest skip) with fewer than two CUDA devices or without NCCL.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "llm/runner.h"
#include "llm/tensor_parallel.h"
#include "llm/weights.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

const std::vector<std::uint32_t> kPrompt = {1, 17, 300, 42};

// As on the CPU (tests/llm/tensor_parallel_test.cpp): the ranks sum o and down in another order,
// so logits differ from one GPU's in the last bits of f32.
constexpr double kLogitTolerance = 1e-3;

// The CUDA devices 0 .. ranks - 1, or fewer when the machine has fewer.
std::vector<Device> cuda_devices(std::uint32_t ranks) {
  std::vector<Device> devices;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    try {
      devices.push_back(
          Device::open({.backend = BackendKind::Cuda, .cuda_ordinal = static_cast<int>(r)}));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::BackendUnavailable) throw;
      break;
    }
  }
  return devices;
}

class LlmTensorParallelCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::vector<Device> two = cuda_devices(2);
    if (two.size() < 2) GTEST_SKIP() << "needs 2 CUDA devices, found " << two.size();
    host_ = random_weights(named_config(GetParam()), 7);
    try {
      split_ = upload_sharded(two, host_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::BackendUnavailable) throw;
      GTEST_SKIP() << e.what();  // built without NCCL
    }
    one_ = upload_sharded(std::vector<Device>{two[0]}, host_);
  }

  HostWeights host_;
  ShardedWeights one_;
  ShardedWeights split_;
};

TEST_P(LlmTensorParallelCuda, GreedyTokensEqualOneGpus) {
  const std::vector<std::uint32_t> want =
      Runner(one_, {.max_ctx = 64}).generate(kPrompt, 32).tokens;
  for (const ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    Runner runner(split_, {.max_ctx = 64, .path = path});
    ASSERT_EQ(runner.ranks(), 2U);
    EXPECT_EQ(runner.generate(kPrompt, 32).tokens, want) << to_string(path);
  }
}

TEST_P(LlmTensorParallelCuda, LogitsStayCloseToOneGpus) {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < 24; ++i) ids.push_back((i * 131 + 7) % host_.config.vocab_size);
  const std::vector<float> want = Runner(one_, {.max_ctx = 32}).teacher_force(ids);
  const std::vector<float> got = Runner(split_, {.max_ctx = 32}).teacher_force(ids);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(testing::max_abs_difference(got, want), kLogitTolerance)
      << "largest logit difference over " << ids.size() << " steps";
}

std::string shape_name(const ::testing::TestParamInfo<std::string>& shape) {
  std::string name = shape.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, LlmTensorParallelCuda, ::testing::Values("tiny", "tiny-qwen2"),
                         shape_name);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
