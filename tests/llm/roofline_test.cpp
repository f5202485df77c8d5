// Roofline accounting of a decode step and the streaming-read bandwidth measurement.

#include "llm/roofline.h"

#include <gtest/gtest.h>

#include "encore/encore.h"

#include "llm/config.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;

// Llama-3.2-1B reads 1,235,746,816 bf16 matrix elements per step (its lm_head is the tied
// embedding, counted once as the lm_head), plus f32 norms and one embedding row.
TEST(LlmRoofline, Llama1BWeightBytesCountEveryMatrixOnce) {
  const StepBytes b = step_bytes(named_config("llama-3.2-1b"), 512);
  EXPECT_EQ(b.weights, 2ULL * 1235746816 + 4ULL * (16 * 2 * 2048 + 2048) + 2 * 2048);
  // 16 layers x (K and V) x 512 kv_dim x 2 bytes x (512 rows read + 1 appended).
  EXPECT_EQ(b.kv_cache, 16ULL * 2 * 512 * 2 * 513);
  EXPECT_GT(b.activations, 0U);
  EXPECT_LT(b.activations, b.weights / 100);  // a fraction of a percent
  EXPECT_EQ(b.total(), b.weights + b.kv_cache + b.activations);
}

// An untied lm_head is a separate matrix; the bytes stay the same as tied (the step reads the
// lm_head once either way), and the KV bytes grow linearly with the length.
TEST(LlmRoofline, KvBytesGrowWithLengthAndTyingDoesNotChangeWeights) {
  ModelConfig c = named_config("qwen2.5-0.5b");
  const StepBytes tied = step_bytes(c, 100);
  c.tie_word_embeddings = false;
  EXPECT_EQ(step_bytes(c, 100).weights, tied.weights);
  EXPECT_EQ(step_bytes(c, 201).kv_cache, 2 * tied.kv_cache);
}

// The streaming read runs on the CPU backend and reports a positive rate over the buffer.
TEST(LlmRoofline, BandwidthMeasurementReadsTheWholeBuffer) {
  Device device = Device::open({.backend = BackendKind::Cpu, .cpu_threads = 2});
  const Bandwidth bw = measure_read_bandwidth(device, (4U << 20) + 7, 2);
  EXPECT_EQ(bw.buffer_bytes, 4U << 20);
  EXPECT_GT(bw.bytes_per_second, 0);
  EXPECT_GT(bw.seconds_per_pass, 0);
  EXPECT_TRUE(
      mentions(error_from([&] { measure_read_bandwidth(device, 1024); }).what(), "at least 1 MiB"));
  EXPECT_TRUE(mentions(error_from([&] { measure_read_bandwidth(device, 4U << 20, 0); }).what(),
                       "passes must be >= 1"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
