// The fused decode step as programmatic dependent launch sees it: under auto_dag ordering every
// dispatch after the embedding has a covering predecessor (the one its other predecessors
// precede) that is a kernel, and every kernel declares programmatic_dependency, so on CUDA every
// node of the step is launched behind its predecessor. Most nodes have more than one
// predecessor, which the earlier single-predecessor rule left without PDL.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>

#include "encore/encore.h"

#include "core/command_list.h"
#include "core/early_reads.h"
#include "core/predecessors.h"
#include "llm/runner.h"
#include "llm/weights.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

class LlmStepChain : public ::testing::TestWithParam<std::string> {};

// Every dispatch but the first can be launched programmatically, and the count of nodes with a
// single predecessor shows how many of them needed the covering rule.
TEST_P(LlmStepChain, EveryDispatchOfTheFusedStepFollowsAProgrammaticPredecessor) {
  Device device = Device::open({.backend = BackendKind::Cpu, .cpu_threads = 1});
  const llm::HostWeights host = llm::random_weights(llm::named_config(GetParam()), 5);
  const llm::DeviceWeights weights = llm::upload(device, host);
  const llm::Runner runner(device, weights, {.max_ctx = 16});
  const detail::CommandList& list = runner.recording().commands();
  const detail::Predecessors preds = detail::predecessors_of(list);
  detail::CoveringPredecessors cover(preds);
  std::size_t single = 0;
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    const detail::Node& n = list.nodes[i];
    ASSERT_EQ(n.kind, NodeKind::Dispatch) << i;
    EXPECT_TRUE(n.kernel->programmatic_dependency) << n.kernel->name;
    if (i == 0) continue;
    const std::uint32_t before = cover.of(i);
    ASSERT_NE(before, detail::kNoNode) << "node " << i << " (" << n.kernel->name << ")";
    EXPECT_EQ(list.nodes[before].kind, NodeKind::Dispatch);
    if (preds.of(i).size() == 1) ++single;
  }
  // The step reads nothing before a wait that a dispatch of it writes (weights, norm weights,
  // biases and rope tables are written by none; the KV caches only by the attention that
  // appends the staged row and reads the others early), so no early-read hazard takes a node
  // out of the chain.
  const std::vector<std::uint8_t> hazards = detail::early_read_hazards(list);
  EXPECT_EQ(std::count(hazards.begin(), hazards.end(), 1), 0);
  const auto appending = std::count_if(list.nodes.begin(), list.nodes.end(), [](const auto& n) {
    return n.kernel->name.starts_with("attention_append_decode_");
  });
  EXPECT_EQ(appending, weights.config.num_layers);
  RecordProperty("dispatches", static_cast<int>(list.nodes.size()));
  RecordProperty("single_predecessor", static_cast<int>(single));
  EXPECT_LT(single, list.nodes.size() - 1);  // the covering rule is what makes the chain whole
}

INSTANTIATE_TEST_SUITE_P(Shapes, LlmStepChain, ::testing::Values("tiny", "tiny-qwen2"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
