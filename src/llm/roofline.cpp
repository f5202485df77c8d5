// Step byte accounting and the streaming-read bandwidth measurement.

#include "llm/roofline.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "encore/encoder.h"
#include "encore/error.h"

#include "llm/llm_kernels.h"

namespace encore::llm {

StepBytes step_bytes(const ModelConfig& c, std::uint32_t kv_len) {
  const std::uint64_t h = c.hidden_size;
  const std::uint64_t inter = c.intermediate_size;
  const std::uint64_t layers = c.num_layers;
  StepBytes b;
  const std::uint64_t matrices = std::uint64_t{c.qkv_rows()} * h + h * c.q_dim() + 3 * h * inter;
  const std::uint64_t vectors = 2 * h + (c.qkv_bias ? c.qkv_rows() : 0);
  b.weights = layers * (2 * matrices + 4 * vectors)   // bf16 matrices, f32 norms and biases
              + 2 * h                                 // the embedding row
              + 4 * h                                 // the final norm
              + 2 * std::uint64_t{c.vocab_size} * h;  // the lm_head
  b.kv_cache = layers * 2 * 2 * std::uint64_t{c.kv_dim()} * (std::uint64_t{kv_len} + 1);
  // f32 vectors read + written per layer: norms (2 x 3h), qkv gemv (h + qkv), rope (2 x q+kv),
  // kv append (2 kv), attention (q + q), o gemv (q + h), gate/up gemv (h + 2i), silu_mul (3i),
  // down gemv (i + h); then the lm_head's input and logits, and argmax's read.
  const std::uint64_t per_layer = 6 * h + (h + c.qkv_rows()) + 2 * (c.q_dim() + c.kv_dim()) +
                                  2 * c.kv_dim() + 2 * c.q_dim() + (c.q_dim() + h) +
                                  (h + 2 * inter) + 3 * inter + (inter + h);
  b.activations = 4 * (layers * per_layer + h + 2 * std::uint64_t{c.vocab_size});
  return b;
}

Bandwidth measure_read_bandwidth(Device& device, std::uint64_t buffer_bytes, int passes) {
  if (passes < 1) throw Error(ErrorCode::InvalidArgument, "bandwidth: passes must be >= 1");
  if (buffer_bytes < (1U << 20)) {
    throw Error(ErrorCode::InvalidArgument, "bandwidth: the buffer must be at least 1 MiB");
  }
  const std::uint64_t n4 = std::min<std::uint64_t>(buffer_bytes / 16, UINT32_MAX);
  constexpr std::uint32_t kBlocks = 2048;
  constexpr std::uint32_t kThreads = 256;
  ensure_llm_kernels(device);
  const Kernel read = device.kernel(kStreamReadKernel);
  Buffer x = device.alloc(n4 * 16, "bandwidth.x");
  Buffer partial = device.alloc(kBlocks * 4, "bandwidth.partial");
  Encoder enc = device.encoder({.label = "bandwidth"});
  enc.dispatch(read, Launch::groups(kBlocks, kThreads),
               {in(x), out(partial), value(static_cast<std::uint32_t>(n4))},
               {.label = "stream_read"});
  const Recording pass = enc.finish();
  device.submit(pass).wait();  // warm-up: first-touch, graph instantiation, clocks

  Bandwidth bw;
  bw.buffer_bytes = n4 * 16;
  std::vector<double> seconds;
  for (int i = 0; i < passes; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Submission s = device.submit(pass);
    s.wait();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double timed = std::chrono::duration<double>(s.time()).count();
    bw.device_timed = timed > 0;
    seconds.push_back(timed > 0 ? timed : wall);
  }
  std::sort(seconds.begin(), seconds.end());
  bw.seconds_per_pass = seconds[seconds.size() / 2];
  bw.bytes_per_second = static_cast<double>(bw.buffer_bytes) / bw.seconds_per_pass;
  return bw;
}

}  // namespace encore::llm
