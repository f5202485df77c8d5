// encore-llm's decoder on the CPU backend against the independent scalar reference
// (llm_support/reference_model.h): logits at every step, greedy tokens, a pinned golden token
// list, every encoder mode giving the same tokens, and what the runner refuses.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "llm/runner.h"
#include "llm/weights.h"
#include "llm_support/reference_model.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using llm::HostWeights;
using llm::NormMode;
using llm::ReplayMode;
using llm::Runner;
using llm::RunnerOptions;
using testing::error_from;
using testing::mentions;
using testing::ReferenceModel;

// Logits have a standard deviation of about 3 (weights.cpp); float32 accumulation and bf16
// rounding of K/V that differ from the reference's in the last place stay far below this.
constexpr double kLogitTolerance = 2e-2;

Device cpu_device() { return Device::open({.backend = BackendKind::Cpu, .cpu_threads = 2}); }

const std::vector<std::uint32_t> kPrompt = {1, 17, 300, 42};

class LlmTinyModel : public ::testing::TestWithParam<std::string> {
 protected:
  LlmTinyModel()
      : host_(llm::random_weights(llm::named_config(GetParam()), 7)),
        device_(cpu_device()),
        weights_(llm::upload(device_, host_)) {}

  HostWeights host_;
  Device device_;
  llm::DeviceWeights weights_;
};

// Teacher-forced logits of encore-llm agree with the scalar reference at every position.
TEST_P(LlmTinyModel, LogitsMatchTheScalarReferenceAtEveryStep) {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < 24; ++i) ids.push_back((i * 131 + 7) % host_.config.vocab_size);
  Runner runner(device_, weights_, {.max_ctx = 32});
  const std::vector<float> logits = runner.teacher_force(ids);
  ReferenceModel reference(host_);
  const std::uint32_t vocab = host_.config.vocab_size;
  double worst = 0;
  for (std::uint32_t pos = 0; pos < ids.size(); ++pos) {
    const std::vector<double> want = reference.step(ids[pos], pos);
    for (std::uint32_t v = 0; v < vocab; ++v) {
      worst = std::max(worst, std::fabs(logits[std::size_t{pos} * vocab + v] - want[v]));
    }
  }
  EXPECT_LT(worst, kLogitTolerance) << "largest logit difference over " << ids.size() << " steps";
}

// Greedy decoding produces the reference's tokens.
TEST_P(LlmTinyModel, GreedyTokensMatchTheScalarReference) {
  Runner runner(device_, weights_, {.max_ctx = 32});
  const llm::GenerateResult r = runner.generate(kPrompt, 16);
  ReferenceModel reference(host_);
  EXPECT_EQ(r.tokens, reference.generate(kPrompt, 16));
  EXPECT_EQ(r.prompt_steps, kPrompt.size() - 1);
  EXPECT_EQ(r.step_seconds.size(), 16U);
  ASSERT_EQ(r.step_host_seconds.size(), 16U);  // one queueing time per decode step
  for (const double host : r.step_host_seconds) EXPECT_GT(host, 0.0);
}

// Every encoder mode (replay, norm encoding, ordering) decodes the same tokens.
TEST_P(LlmTinyModel, EveryEncoderModeDecodesTheSameTokens) {
  const std::vector<std::uint32_t> want =
      Runner(device_, weights_, {.max_ctx = 24}).generate(kPrompt, 8).tokens;
  for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
    for (const NormMode norm : {NormMode::Fused, NormMode::Standalone, NormMode::Split}) {
      for (const Ordering ordering :
           {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
        Runner runner(device_, weights_,
                      {.max_ctx = 24, .replay = replay, .norm = norm, .ordering = ordering});
        EXPECT_EQ(runner.generate(kPrompt, 8).tokens, want)
            << to_string(replay) << " " << to_string(norm) << " " << to_string(ordering);
      }
    }
  }
}

// The fused step is 5 dispatches per layer (norm+qkv+rope+kv_append, attention, o,
// norm+gate|up+silu, down, 4 of them gemvs), with no norm dispatch of its own: the standalone
// step has 10 per layer (qkv, rope, kv_append, attention, o, add+norm, gate|up, silu_mul, down,
// add+norm) and the first norm. With attention_o it is 4 (attention and o one Sdpa dispatch).
// Tokens are the same (EveryEncoderModeDecodesTheSameTokens, AttentionODecodesTheSameTokens).
TEST_P(LlmTinyModel, FusedStepHasFiveDispatchesPerLayer) {
  const auto layers = static_cast<std::size_t>(host_.config.num_layers);
  const Runner fused(device_, weights_, {.max_ctx = 24});
  const Runner standalone(device_, weights_, {.max_ctx = 24, .norm = NormMode::Standalone});
  EXPECT_EQ(fused.dispatches_per_step() + 5 * layers + 1, standalone.dispatches_per_step());
  const Runner attention_o(device_, weights_, {.max_ctx = 24, .attention_o = true});
  EXPECT_EQ(attention_o.dispatches_per_step() + layers, fused.dispatches_per_step());
  for (const Runner* runner : {&fused, &attention_o}) {
    std::size_t gemvs = 0;
    std::size_t first_layer = 0;
    for (std::size_t i = 0; i < runner->recording().node_count(); ++i) {
      const NodeInfo node = runner->recording().node(i);
      if (node.op == OpKind::Gemv) ++gemvs;
      if (node.label.starts_with("blk.0.")) ++first_layer;
    }
    const bool fused_o = runner == &attention_o;
    EXPECT_EQ(gemvs, (fused_o ? 3 : 4) * layers + 1);
    EXPECT_EQ(first_layer, fused_o ? 4U : 5U);
  }
}

// attention_o (attention and the o projection in one dispatch) decodes the fused step's tokens,
// with logits within float rounding of it, in every replay mode and on one or two ranks' worth
// of heads.
TEST_P(LlmTinyModel, AttentionODecodesTheSameTokens) {
  Runner fused(device_, weights_, {.max_ctx = 24});
  const std::vector<std::uint32_t> want = fused.generate(kPrompt, 8).tokens;
  const std::vector<float> want_logits = fused.buffers().logits().download<float>();
  for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
    Runner runner(device_, weights_, {.max_ctx = 24, .replay = replay, .attention_o = true});
    EXPECT_EQ(runner.generate(kPrompt, 8).tokens, want) << to_string(replay);
    const std::vector<float> logits = runner.buffers().logits().download<float>();
    ASSERT_EQ(logits.size(), want_logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) {
      ASSERT_NEAR(logits[i], want_logits[i], 1e-4 * (std::fabs(want_logits[i]) + 1)) << i;
    }
  }
  const Error e = error_from([&] {
    Runner(device_, weights_, {.max_ctx = 24, .norm = NormMode::Split, .attention_o = true});
  });
  EXPECT_TRUE(mentions(e.what(), "norm mode is split"));
}

// The fusion pass turns the split norms into the hand-fused standalone ones: the same dispatch
// count and the same tokens; reorder and minimize keep the tokens too.
TEST_P(LlmTinyModel, PassesOnTheSplitStepKeepTheTokens) {
  const Runner fused(device_, weights_, {.max_ctx = 24, .norm = NormMode::Standalone});
  const std::vector<std::uint32_t> want =
      Runner(device_, weights_, {.max_ctx = 24}).generate(kPrompt, 8).tokens;
  const std::vector<Pass> all = {Pass::Fuse, Pass::Reorder, Pass::Minimize};
  for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
    for (const Ordering ordering : {Ordering::AutoDag, Ordering::Barriers}) {
      Runner split(device_, weights_,
                   {.max_ctx = 24,
                    .replay = replay,
                    .norm = NormMode::Split,
                    .ordering = ordering,
                    .passes = all});
      EXPECT_EQ(split.generate(kPrompt, 8).tokens, want)
          << to_string(replay) << " " << to_string(ordering);
      if (replay == ReplayMode::Slots) {
        EXPECT_GT(split.encoded_dispatches_per_step(), fused.dispatches_per_step());
        EXPECT_EQ(split.dispatches_per_step(), fused.dispatches_per_step());
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LlmTinyModel, ::testing::Values("tiny", "tiny-qwen2"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The tiny shape with seed 1 decodes a pinned token list: a change of the weights generator,
// the step or an op's numerics that changes greedy output shows up here.
TEST(LlmGolden, TinySeedOneDecodesThePinnedTokens) {
  Device device = cpu_device();
  const HostWeights host = llm::random_weights(llm::named_config("tiny"), 1);
  const llm::DeviceWeights weights = llm::upload(device, host);
  const std::vector<std::uint32_t> tokens =
      Runner(device, weights, {.max_ctx = 32}).generate({1, 2, 3, 4}, 16).tokens;
  const std::vector<std::uint32_t> golden = {244, 222, 278, 369, 864, 869, 247, 293,
                                             247, 895, 635, 836, 779, 22,  599, 35};
  EXPECT_EQ(tokens, golden);
}

// In slots mode the step is recorded once and every token is a replay with patched slots.
TEST(LlmRunner, RecordsTheStepOnceAndReplaysItPerToken) {
  Device device = cpu_device();
  const HostWeights host = llm::random_weights(llm::named_config("tiny"), 3);
  const llm::DeviceWeights weights = llm::upload(device, host);
  Runner runner(device, weights, {.max_ctx = 16});
  const std::vector<std::string> slots = runner.recording().slot_names();
  EXPECT_EQ(slots, (std::vector<std::string>{"pos", "kv_len", "prompt_len"}));
  device.reset_stats();
  (void)runner.generate({5, 6}, 6);
  const Stats s = device.stats();
  EXPECT_EQ(s.recordings_finished, 0U);
  EXPECT_EQ(s.recordings_submitted, 7U);  // 1 prompt step + 6 decode steps
  EXPECT_EQ(s.dispatches_replayed, 7U * runner.dispatches_per_step());
  EXPECT_EQ(s.dispatches_encoded, 0U);
}

// Re-record mode encodes and commits every step.
TEST(LlmRunner, RerecordModeEncodesEveryStep) {
  Device device = cpu_device();
  const HostWeights host = llm::random_weights(llm::named_config("tiny"), 3);
  const llm::DeviceWeights weights = llm::upload(device, host);
  Runner runner(device, weights, {.max_ctx = 16, .replay = ReplayMode::Rerecord});
  EXPECT_FALSE(runner.recording());
  device.reset_stats();
  (void)runner.generate({5, 6}, 6);
  EXPECT_EQ(device.stats().command_buffers, 7U);
  EXPECT_EQ(device.stats().dispatches_encoded, 7U * runner.dispatches_per_step());
}

// Bad prompts are refused before anything runs, with the reason.
TEST(LlmRunner, RefusesEmptyOutOfVocabularyAndOverlongPrompts) {
  Device device = cpu_device();
  const HostWeights host = llm::random_weights(llm::named_config("tiny"), 3);
  const llm::DeviceWeights weights = llm::upload(device, host);
  Runner runner(device, weights, {.max_ctx = 8});
  EXPECT_TRUE(mentions(error_from([&] { runner.generate({}, 2); }).what(), "no tokens"));
  const Error vocab = error_from([&] { runner.generate({1, 5000}, 2); });
  EXPECT_EQ(vocab.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(vocab.what(), "prompt token 1 is 5000, outside the vocabulary of 1024"));
  EXPECT_TRUE(mentions(error_from([&] {
                         runner.generate({1, 2, 3}, 6);
                       }).what(),
                       "do not fit the KV cache of max_ctx 8"));
}

// The device-side next-token kernel feeds prompt tokens while in the prompt, then the argmax,
// which it appends to the history.
TEST(LlmRunner, HistoryHoldsThePromptFollowedByTheGeneratedTokens) {
  Device device = cpu_device();
  const HostWeights host = llm::random_weights(llm::named_config("tiny"), 3);
  const llm::DeviceWeights weights = llm::upload(device, host);
  Runner runner(device, weights, {.max_ctx = 16});
  const llm::GenerateResult r = runner.generate({9, 8, 7}, 5);
  const std::vector<std::uint32_t> history = runner.buffers().history().download<std::uint32_t>();
  const std::vector<std::uint32_t> want = {9,           8,           7,           r.tokens[0],
                                           r.tokens[1], r.tokens[2], r.tokens[3], r.tokens[4]};
  EXPECT_EQ(std::vector<std::uint32_t>(history.begin(), history.begin() + 8), want);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
