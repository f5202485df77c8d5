#include "attention_bench.h"

#include <algorithm>
#include <vector>

#include "encore/encore.h"

#include "replay_timing.h"

namespace encore::bench {

std::vector<AttentionCase> decode_attention_cases() {
  return {{"llama-1b", {32, 8, 64, 0}}, {"qwen-0.5b", {14, 2, 64, 0}}};
}

std::vector<std::uint32_t> attention_kv_lengths() { return {512, 2048, 8192}; }

AttentionTiming time_attention(Device& device, const AttentionCase& c, std::uint32_t kv_len,
                               std::uint64_t rotation_bytes, std::uint32_t min_calls, int replays) {
  ops::AttentionShape shape = c.shape;
  shape.max_ctx = kv_len;
  const std::uint64_t cache_bytes =
      std::uint64_t{kv_len} * shape.n_kv_heads * shape.head_dim * 2;  // bf16, one of K or V
  constexpr std::uint64_t kMaxCopies = 512;
  const auto copies = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
      (rotation_bytes + 2 * cache_bytes - 1) / (2 * cache_bytes), 1, kMaxCopies));
  const std::uint32_t calls = calls_for(copies, min_calls);

  const ops::OpEncoder ops(device);
  std::vector<Buffer> k;
  std::vector<Buffer> v;
  for (std::uint32_t i = 0; i < copies; ++i) {
    k.push_back(device.alloc(cache_bytes, "k_cache"));
    v.push_back(device.alloc(cache_bytes, "v_cache"));
  }
  const std::uint64_t q_bytes = std::uint64_t{shape.n_heads} * shape.head_dim * 4;
  Buffer q = device.alloc(q_bytes, "q");
  Buffer out = device.alloc(q_bytes, "out");
  Buffer scratch = device.alloc(ops::attention_scratch_bytes(shape), "scratch");
  Encoder enc = device.encoder({.ordering = Ordering::Serial, .label = "attention"});
  for (std::uint32_t i = 0; i < calls; ++i) {
    ops.attention_decode(enc, q, k[i % copies], v[i % copies], out, scratch, shape, value(kv_len),
                         0.125F);
  }
  AttentionTiming t;
  t.kv_len = kv_len;
  t.copies = copies;
  t.calls = calls;
  t.us_per_call = median_us_per_call(device, enc.finish(), calls, replays);
  t.kv_gbs = 2.0 * static_cast<double>(cache_bytes) / (t.us_per_call * 1e3);
  return t;
}

}  // namespace encore::bench
