// Tensor-parallel decoding on CPU devices of one process (src/llm/tensor_parallel.h): two and
// four ranks decode the greedy tokens of one rank, with logits close to one rank's, in every
// encoder mode; each rank's step holds one all_reduce per attention and per MLP; bad rank
// counts and a failed group are reported, never a hang.

#include "llm/tensor_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

#include "encore/encore.h"

#include "llm/runner.h"
#include "llm/shard.h"
#include "llm/weights.h"
#include "llm_support/test_shapes.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;

const std::vector<std::uint32_t> kPrompt = {1, 17, 300, 42};

// The ranks sum o and down in another order than one device does (per-rank partial sums, then
// the all_reduce), so logits differ from one rank's in the last bits of f32: about 2e-6 on these
// shapes, against logits of standard deviation about 3. The bound leaves room for the rare K/V
// value whose bf16 rounding lands on the other side of a rounding boundary.
constexpr double kLogitTolerance = 1e-3;

std::vector<Device> cpu_devices(std::uint32_t ranks) {
  return open_rank_devices({.backend = BackendKind::Cpu, .cpu_threads = 1}, ranks);
}

std::vector<float> teacher_forced_logits(const ShardedWeights& model,
                                         const std::vector<std::uint32_t>& ids) {
  Runner runner(model, {.max_ctx = 32});
  return runner.teacher_force(ids);
}

struct Split {
  ModelConfig config;
  std::uint32_t ranks;
};

class LlmTensorParallel : public ::testing::TestWithParam<Split> {
 protected:
  LlmTensorParallel()
      : host_(random_weights(GetParam().config, 7)),
        one_(upload_sharded(cpu_devices(1), host_)),
        split_(upload_sharded(cpu_devices(GetParam().ranks), host_)) {}

  HostWeights host_;
  ShardedWeights one_;
  ShardedWeights split_;
};

// Greedy decoding over the ranks gives one rank's tokens.
TEST_P(LlmTensorParallel, GreedyTokensEqualOneRanks) {
  const std::vector<std::uint32_t> want =
      Runner(one_, {.max_ctx = 32}).generate(kPrompt, 16).tokens;
  Runner runner(split_, {.max_ctx = 32});
  EXPECT_EQ(runner.ranks(), GetParam().ranks);
  const GenerateResult r = runner.generate(kPrompt, 16);
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.step_seconds.size(), 16U);
}

// Teacher-forced logits over the ranks stay within kLogitTolerance of one rank's at every step.
TEST_P(LlmTensorParallel, LogitsStayCloseToOneRanks) {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < 24; ++i) ids.push_back((i * 131 + 7) % host_.config.vocab_size);
  const double worst = testing::max_abs_difference(teacher_forced_logits(split_, ids),
                                                   teacher_forced_logits(one_, ids));
  EXPECT_LT(worst, kLogitTolerance) << "largest logit difference over " << ids.size() << " steps";
}

// Each rank's step is one rank's step plus an all_reduce after o and after down of every layer,
// and every rank's generated history is the same.
TEST_P(LlmTensorParallel, EachRankAllReducesTwicePerLayer) {
  const std::size_t layers = host_.config.num_layers;
  const Runner one(one_, {.max_ctx = 24});
  Runner split(split_, {.max_ctx = 24});
  EXPECT_EQ(split.dispatches_per_step(), one.dispatches_per_step() + 2 * layers);
  std::vector<std::string> collectives;
  for (std::size_t i = 0; i < split.recording().node_count(); ++i) {
    const NodeInfo node = split.recording().node(i);
    if (node.op == OpKind::Collective) collectives.emplace_back(node.label);
  }
  ASSERT_EQ(collectives.size(), 2 * layers);
  EXPECT_EQ(collectives[0], "blk.0.attn_allreduce");
  EXPECT_EQ(collectives[1], "blk.0.ffn_allreduce");
}

// Every replay, norm encoding and ordering decodes one rank's tokens over the ranks; so does the
// split step with every pass.
TEST_P(LlmTensorParallel, EveryEncoderModeDecodesOneRanksTokens) {
  const std::vector<std::uint32_t> want = Runner(one_, {.max_ctx = 24}).generate(kPrompt, 8).tokens;
  for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
    for (const NormMode norm : {NormMode::Fused, NormMode::Standalone, NormMode::Split}) {
      for (const Ordering ordering : {Ordering::Serial, Ordering::Barriers, Ordering::AutoDag}) {
        Runner runner(split_,
                      {.max_ctx = 24, .replay = replay, .norm = norm, .ordering = ordering});
        EXPECT_EQ(runner.generate(kPrompt, 8).tokens, want)
            << to_string(replay) << " " << to_string(norm) << " " << to_string(ordering);
      }
    }
    Runner passes(split_, {.max_ctx = 24,
                           .replay = replay,
                           .norm = NormMode::Split,
                           .passes = std::vector{Pass::Fuse, Pass::Reorder, Pass::Minimize}});
    EXPECT_EQ(passes.generate(kPrompt, 8).tokens, want) << to_string(replay) << " with passes";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LlmTensorParallel,
                         ::testing::Values(Split{named_config("tiny"), 2},
                                           Split{named_config("tiny-qwen2"), 2},
                                           Split{tiny_with_four_kv_heads(), 4}),
                         [](const auto& param_info) {
                           std::string name = param_info.param.config.name + "_tp" +
                                              std::to_string(param_info.param.ranks);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// A rank count the model cannot take is refused before anything is uploaded, naming the shape
// and the count; so are zero ranks.
TEST(LlmTensorParallelSetup, RefusesRankCountsTheModelCannotTake) {
  const HostWeights host = random_weights(named_config("tiny"), 3);
  const Error three = error_from([&] { (void)upload_sharded(cpu_devices(3), host); });
  EXPECT_EQ(three.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(
      mentions(three.what(), "over 3 ranks: num_attention_heads (4) is not a multiple of 3"));
  EXPECT_TRUE(mentions(error_from([&] { (void)upload_sharded(cpu_devices(4), host); }).what(),
                       "num_key_value_heads (2) is not a multiple of 4"));
  EXPECT_TRUE(mentions(error_from([] { (void)cpu_devices(0); }).what(),
                       "tensor parallelism needs at least 1 rank, got 0"));
}

// Several ranks without their communicators cannot run: the runner says what it was given.
TEST(LlmTensorParallelSetup, RefusesRanksWithoutCommunicators) {
  const HostWeights host = random_weights(named_config("tiny"), 3);
  ShardedWeights model = upload_sharded(cpu_devices(2), host);
  model.communicators.clear();
  EXPECT_TRUE(mentions(error_from([&] { Runner runner(model, {.max_ctx = 8}); }).what(),
                       "got 2 devices, 2 weights and 0 communicators"));
}

// Ranks opened on CPU share the cores: with cpu_threads 0 each gets its share, at least one.
TEST(LlmTensorParallelSetup, CpuRanksShareTheHardwareThreads) {
  const std::vector<Device> devices = open_rank_devices({.backend = BackendKind::Cpu}, 2);
  ASSERT_EQ(devices.size(), 2U);
  const std::uint32_t share = std::max(1U, std::thread::hardware_concurrency() / 2);
  for (const Device& d : devices) {
    EXPECT_EQ(d.backend(), BackendKind::Cpu);
    EXPECT_EQ(d.options().cpu_threads, share);
  }
  EXPECT_NE(devices[0].id(), devices[1].id());
}

// A group that failed fails the next step on every rank with the reason, at once (not after
// the group's timeout).
TEST(LlmTensorParallelSetup, AFailedGroupFailsTheStepWithoutWaiting) {
  const HostWeights host = random_weights(named_config("tiny"), 3);
  const ShardedWeights model =
      upload_sharded(cpu_devices(2), host, {.timeout = std::chrono::seconds(60), .label = "tp"});
  Runner runner(model, {.max_ctx = 8});
  model.communicators[1].abort("rank 1 is shutting down");
  const auto start = std::chrono::steady_clock::now();
  const Error e = error_from([&] { (void)runner.generate({1, 2}, 2); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(e.what(), "rank 1 is shutting down")) << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
