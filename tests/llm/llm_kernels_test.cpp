// The two kernels encore-llm adds: the device-side next-token choice and the streaming read.

#include "llm/llm_kernels.h"

#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

Device cpu_device() { return Device::open({.backend = BackendKind::Cpu, .cpu_threads = 2}); }

// Runs llm_next_token_u32 once at `pos` with a 3-token prompt and argmax 77.
std::vector<std::uint32_t> next_token_at(Device& device, std::uint32_t pos, Buffer& history) {
  Buffer argmax = device.alloc(4);
  Buffer token = device.alloc(4);
  argmax.upload(std::span<const std::uint32_t>(std::vector<std::uint32_t>{77}));
  Encoder enc = device.encoder();
  enc.dispatch(device.kernel(kNextTokenKernel), Launch::groups(1, 32),
               {in(argmax), inout(history), out(token), value(pos), value(std::uint32_t{3})});
  enc.commit_and_wait();
  return token.download<std::uint32_t>();
}

// Inside the prompt the next token is the prompt's; after it, the argmax, appended to history.
TEST(LlmKernels, NextTokenFollowsThePromptThenAppendsTheArgmax) {
  Device device = cpu_device();
  ensure_llm_kernels(device);
  ensure_llm_kernels(device);  // idempotent
  Buffer history = device.alloc(6 * 4);
  history.upload(std::span<const std::uint32_t>(std::vector<std::uint32_t>{10, 11, 12, 0, 0, 0}));
  EXPECT_EQ(next_token_at(device, 0, history)[0], 11U);
  EXPECT_EQ(next_token_at(device, 1, history)[0], 12U);
  EXPECT_EQ(history.download<std::uint32_t>()[2], 12U);  // the prompt is left alone
  EXPECT_EQ(next_token_at(device, 2, history)[0], 77U);
  EXPECT_EQ(history.download<std::uint32_t>(), (std::vector<std::uint32_t>{10, 11, 12, 77, 0, 0}));
}

// Each block's partial sums its float4 groups; the partials add up to the buffer's sum.
TEST(LlmKernels, StreamReadPartialsSumTheBuffer) {
  Device device = cpu_device();
  ensure_llm_kernels(device);
  const std::uint32_t n4 = 1000;
  std::vector<float> x(n4 * 4);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  Buffer input = device.alloc(x.size() * 4);
  input.upload(std::span<const float>(x));
  Buffer partial = device.alloc(3 * 4);
  Encoder enc = device.encoder();
  enc.dispatch(device.kernel(kStreamReadKernel), Launch::groups(3, 64),
               {in(input), out(partial), value(n4)});
  enc.commit_and_wait();
  double want = 0;
  for (const float v : x) want += v;
  double got = 0;
  for (const float p : partial.download<float>()) got += p;
  EXPECT_EQ(got, want);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
