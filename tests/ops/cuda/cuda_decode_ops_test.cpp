// The decode ops on a CUDA device against the CPU reference (label gpu; skipped where no CUDA
// device can be opened): embedding, rope, kv_append, rope_kv_append, attention from 1 to 8192
// positions (one split, several merged by the last block, two dispatches sharing a scratch),
// attention + o projection (attention_o_decode: the grid barrier reused by every replay and
// dispatch), softmax and argmax. gemv has its own file. Tolerances: ops_tolerances.h.

#include <array>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "cuda/ops_tolerances.h"
#include "support/differential.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::NamedOutput;
using testing::random_bf16;
using testing::random_floats;
using testing::upload;

constexpr testing::Tolerance kExact{0, 0};

// bf16 patterns as floats, so they compare exactly through NamedOutput.
std::vector<float> widen(const std::vector<std::uint16_t>& bits) {
  std::vector<float> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = testing::bf16_value(bits[i]);
  return out;
}

// Replays `rec` (a slot "kv_len") with each length in turn; after each replay `collect(at,
// outputs)` adds what is compared, `at` naming the length.
template <typename Collect>
std::vector<NamedOutput> replay_kv_lens(Device& dev, Recording& rec,
                                        const std::vector<std::uint32_t>& lens, Collect collect) {
  std::vector<NamedOutput> outputs;
  for (const std::uint32_t kv_len : lens) {
    rec.set("kv_len", kv_len);
    dev.submit(rec).wait();
    collect("kv_len " + std::to_string(kv_len), outputs);
  }
  return outputs;
}

// embedding: in-range tokens give the row, out-of-range tokens zeros, on both backends.
TEST(CudaDecodeOps, EmbeddingMatchesTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  const std::uint32_t vocab = 1000;
  const std::uint32_t dim = 2048;
  const std::vector<std::uint16_t> table = random_bf16(std::size_t{vocab} * dim, 1);
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    Buffer tb = upload(dev, table);
    std::vector<NamedOutput> outputs;
    for (const std::uint32_t token : {0U, 999U, 1000U, 123U}) {
      Buffer tok = upload(dev, std::vector<std::uint32_t>{token});
      Buffer out = dev.alloc(dim * 4);
      Encoder enc = dev.encoder();
      ops.embedding(enc, tb, tok, out, dim);
      enc.commit_and_wait();
      outputs.push_back({"token " + std::to_string(token), out.download<float>(), kExact});
    }
    return outputs;
  }));
}

// rope, both styles, on Llama and Qwen head shapes, pos a slot patched between replays.
TEST(CudaDecodeOps, RopeMatchesTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [heads, dim] : {std::pair{32U, 64U}, {14U, 64U}, {8U, 128U}}) {
    std::vector<float> inv(dim / 2);
    for (std::uint32_t j = 0; j < dim / 2; ++j) {
      inv[j] = static_cast<float>(std::pow(500000.0, -2.0 * j / dim));
    }
    const std::vector<float> x = random_floats(std::size_t{heads} * dim, heads);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer fb = upload(dev, inv);
      Buffer xb = dev.alloc(x.size() * 4);
      std::vector<NamedOutput> outputs;
      for (const ops::RopeStyle style : {ops::RopeStyle::NeoX, ops::RopeStyle::Interleaved}) {
        Encoder enc = dev.encoder();
        ops.rope(enc, xb, fb, heads, dim, slot<std::uint32_t>("pos", 0), style);
        Recording rec = enc.finish();
        for (const std::uint32_t pos : {0U, 1U, 511U, 8191U}) {
          xb.upload(std::span<const float>(x));
          rec.set("pos", pos);
          dev.submit(rec).wait();
          outputs.push_back(
              {"pos " + std::to_string(pos), xb.download<float>(), testing::kRopeTolerance});
        }
      }
      return outputs;
    }));
  }
}

// kv_append rounds exactly as the CPU does (bit-identical caches).
TEST(CudaDecodeOps, KvAppendMatchesTheCpuReferenceBitForBit) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  const std::uint32_t row = 8 * 64;
  const std::uint32_t rows = 16;
  const std::vector<float> k = random_floats(row, 1, -30.0F, 30.0F);
  const std::vector<float> v = random_floats(row, 2, -1e-3F, 1e-3F);
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    Buffer kb = upload(dev, k);
    Buffer vb = upload(dev, v);
    Buffer kc = dev.alloc(std::size_t{row} * rows * 2);
    Buffer vc = dev.alloc(std::size_t{row} * rows * 2);
    Encoder enc = dev.encoder();
    ops.kv_append(enc, kb, vb, kc, vc, row, slot<std::uint32_t>("pos", 0));
    Recording rec = enc.finish();
    for (const std::uint32_t pos : {0U, 5U, 15U, 16U}) {
      rec.set("pos", pos);
      dev.submit(rec).wait();
    }
    return std::vector<NamedOutput>{{"k_cache", widen(kc.download<std::uint16_t>()), kExact},
                                    {"v_cache", widen(vc.download<std::uint16_t>()), kExact}};
  }));
}

// rope_kv_append: q as rope leaves it, the cache rows as kv_append leaves them (k within one
// bf16 step: sincosf and std::sin/cos may round the turned k to neighbouring bf16 values).
TEST(CudaDecodeOps, RopeKvAppendMatchesTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [heads, kv_heads, dim] :
       {std::tuple{14U, 2U, 64U}, {32U, 8U, 64U}, {8U, 2U, 128U}}) {
    std::vector<float> inv(dim / 2);
    for (std::uint32_t j = 0; j < dim / 2; ++j) {
      inv[j] = static_cast<float>(std::pow(1000000.0, -2.0 * j / dim));
    }
    const std::uint32_t row = kv_heads * dim;
    const std::vector<float> qkv =
        random_floats(std::size_t{heads + 2 * kv_heads} * dim, heads, -4, 4);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer fb = upload(dev, inv);
      Buffer xb = dev.alloc(qkv.size() * 4);
      Buffer kc = dev.alloc(std::size_t{row} * 16 * 2);
      Buffer vc = dev.alloc(std::size_t{row} * 16 * 2);
      Encoder enc = dev.encoder();
      ops.rope_kv_append(enc, xb.view_of<float>(0, heads * dim),
                         xb.view_of<float>(heads * dim, row),
                         xb.view_of<float>(heads * dim + row, row), fb, kc, vc, heads, kv_heads,
                         dim, slot<std::uint32_t>("pos", 0), ops::RopeStyle::NeoX);
      Recording rec = enc.finish();
      std::vector<NamedOutput> outputs;
      for (const std::uint32_t pos : {0U, 1U, 15U, 16U, 9000U}) {
        xb.upload(std::span<const float>(qkv));
        rec.set("pos", pos);
        dev.submit(rec).wait();
        outputs.push_back(
            {"q at pos " + std::to_string(pos), xb.download<float>(), testing::kRopeTolerance});
      }
      outputs.push_back({"k_cache", widen(kc.download<std::uint16_t>()), {1e-6, 1.0 / 128}});
      outputs.push_back({"v_cache", widen(vc.download<std::uint16_t>()), kExact});
      return outputs;
    }));
  }
}

// Random attention inputs of a shape, from seeds seed, seed + 1 and seed + 2: q (f32 in
// [-2, 2]) and the K (twice the scale) and V caches (bf16), and their buffers on a device.
using testing::AttentionInputs;
struct AttentionBuffers {
  Buffer q, k, v;
};

// q, K and V from seed, seed + 1 and seed + 2.
AttentionInputs attention_inputs(const ops::AttentionShape& s, std::uint64_t seed) {
  return testing::attention_inputs(s, seed, seed + 1);
}

AttentionBuffers upload(Device& dev, const AttentionInputs& inputs) {
  return {upload(dev, inputs.q), upload(dev, inputs.k), upload(dev, inputs.v)};
}

// Llama-3.2-1B's and Qwen2.5-0.5B's attention and a head_dim 128 shape, up to 8192 positions.
constexpr std::array<ops::AttentionShape, 3> kAttentionShapes = {
    ops::AttentionShape{32, 8, 64, 8192}, ops::AttentionShape{14, 2, 64, 8192},
    ops::AttentionShape{32, 8, 128, 8192}};

std::string shape_name(const ops::AttentionShape& s) {
  return "heads " + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + ", head_dim " +
         std::to_string(s.head_dim);
}

// Decode attention from 1 to 8192 positions on one recording per shape (Llama-3.2-1B,
// Qwen2.5-0.5B and a head_dim 128 shape), kv_len a slot: one active split (up to 32 rows),
// a few and eight merged in a cluster (up to 1100 positions at head_dim 64, 512 at 128), and
// more, up to every launched split, merged by the last block.
TEST(CudaDecodeOps, AttentionMatchesTheCpuReferenceFromOneTo8192Positions) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const ops::AttentionShape s : kAttentionShapes) {
    SCOPED_TRACE(shape_name(s));
    const AttentionInputs inputs = attention_inputs(s, 3);
    const float scale = 1.0F / std::sqrt(static_cast<float>(s.head_dim));
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      auto [qb, kb, vb] = upload(dev, inputs);
      Buffer out = dev.alloc(inputs.q.size() * 4);
      Buffer scratch = dev.alloc(ops::attention_scratch_bytes(s));
      Encoder enc = dev.encoder();
      ops.attention_decode(enc, qb, kb, vb, out, scratch, s, slot<std::uint32_t>("kv_len", 1),
                           scale);
      Recording rec = enc.finish();
      return replay_kv_lens(
          dev, rec, {1, 7, 32, 33, 100, 512, 600, 1100, 4097, 8192, 1},
          [&](const std::string& at, std::vector<NamedOutput>& outputs) {
            outputs.push_back({at, out.download<float>(), testing::kAttentionTolerance});
          });
    }));
  }
}

// Attention with an append (the staged row is cache row kv_len - 1, the other rows of the first
// batch are read before the PDL wait) from 1 to 8192 positions, behind a dispatch that writes
// the staged rows (as the qkv gemv does): the outputs on every replay, and the caches (each
// replay appends its row) bit for bit.
TEST(CudaDecodeOps, AttentionAppendMatchesTheCpuReferenceFromOneTo8192Positions) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const ops::AttentionShape s : kAttentionShapes) {
    SCOPED_TRACE(shape_name(s));
    const std::uint32_t row = s.n_kv_heads * s.head_dim;
    const AttentionInputs inputs = attention_inputs(s, 13);
    const std::vector<float> kv_new = random_floats(2 * row, 16, -3, 3);
    const float scale = 1.0F / std::sqrt(static_cast<float>(s.head_dim));
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      auto [qb, kb, vb] = upload(dev, inputs);
      Buffer kv_f32 = upload(dev, kv_new);
      Buffer staged = dev.alloc(std::uint64_t{row} * 2 * 2);
      const BufferView k_new = staged.view(0, std::uint64_t{row} * 2);
      const BufferView v_new = staged.view(std::uint64_t{row} * 2, std::uint64_t{row} * 2);
      Buffer out = dev.alloc(inputs.q.size() * 4);
      Buffer scratch = dev.alloc(ops::attention_scratch_bytes(s));
      Encoder enc = dev.encoder();
      ops.kv_append(enc, kv_f32.view_of<float>(0, row), kv_f32.view_of<float>(row, row), k_new,
                    v_new, row, value(0U));
      ops.attention_decode(enc, qb, kb, vb, out, scratch, s, slot<std::uint32_t>("kv_len", 1),
                           scale, "attn", ops::AttentionAppend{k_new, v_new});
      Recording rec = enc.finish();
      std::vector<NamedOutput> result = replay_kv_lens(
          dev, rec, {1, 7, 32, 33, 64, 65, 100, 512, 600, 1100, 4097, 8192, 8193, 1},
          [&](const std::string& at, std::vector<NamedOutput>& outputs) {
            outputs.push_back({at, out.download<float>(), testing::kAttentionTolerance});
          });
      result.push_back({"k_cache", widen(kb.download<std::uint16_t>()), kExact});
      result.push_back({"v_cache", widen(vb.download<std::uint16_t>()), kExact});
      return result;
    }));
  }
}

// Two attention dispatches sharing one scratch (as the layers of a step do), replayed for
// changing lengths: each merge must leave its tickets at zero for the next dispatch, and read
// only the splits the length activates (the scratch starts full of stale partial results).
TEST(CudaDecodeOps, AttentionSharingAScratchMatchesTheCpuOnEveryReplay) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  const ops::AttentionShape s{14, 2, 64, 2048};
  const AttentionInputs inputs = attention_inputs(s, 6);
  const std::uint64_t words = ops::attention_scratch_bytes(s) / 4;
  std::vector<float> stale(words, 1.0e6F);
  for (std::uint64_t i = words - s.n_heads; i < words; ++i) stale[i] = 0.0F;  // tickets
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    auto [qb, kb, vb] = upload(dev, inputs);
    Buffer out1 = dev.alloc(inputs.q.size() * 4);
    Buffer out2 = dev.alloc(inputs.q.size() * 4);
    Buffer scratch = upload(dev, stale);
    Encoder enc = dev.encoder();
    ops.attention_decode(enc, qb, kb, vb, out1, scratch, s, slot<std::uint32_t>("kv_len", 1),
                         0.125F);
    ops.attention_decode(enc, qb, kb, vb, out2, scratch, s, slot<std::uint32_t>("kv_len", 1),
                         0.125F);
    Recording rec = enc.finish();
    return replay_kv_lens(
        dev, rec, {100, 2048, 40, 1, 512, 512},
        [&](const std::string& at, std::vector<NamedOutput>& outputs) {
          outputs.push_back({at + " first", out1.download<float>(), testing::kAttentionTolerance});
          outputs.push_back({at + " second", out2.download<float>(), testing::kAttentionTolerance});
          const std::vector<float> all = scratch.download<float>();
          outputs.push_back(
              {at + " tickets", std::vector<float>(all.end() - s.n_heads, all.end()), kExact});
        });
  }));
}

// attention_o_decode from 1 to 8192 positions on one recording per shape: Llama-3.2-1B's and
// Qwen2.5-0.5B's attention and o, a head_dim 128 shape (an 8B-class rank of two), and more q
// heads than blocks (several attention items per block). kv_len 0 gives y = 0.
TEST(CudaDecodeOps, AttentionOMatchesTheCpuReferenceFromOneTo8192Positions) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  struct Case {
    ops::AttentionShape shape;
    std::uint32_t rows;
  };
  for (const Case& c : {Case{{32, 8, 64, 8192}, 2048}, Case{{14, 2, 64, 8192}, 896},
                        Case{{16, 4, 128, 8192}, 4096}, Case{{192, 16, 64, 300}, 100}}) {
    const ops::AttentionShape& s = c.shape;
    SCOPED_TRACE(shape_name(s) + ", rows " + std::to_string(c.rows));
    const std::size_t q_dim = std::size_t{s.n_heads} * s.head_dim;
    const AttentionInputs inputs = attention_inputs(s, 13);
    const std::vector<std::uint16_t> w = random_bf16(q_dim * c.rows, 16);
    const float scale = 1.0F / std::sqrt(static_cast<float>(s.head_dim));
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      auto [qb, kb, vb] = upload(dev, inputs);
      Buffer wb = upload(dev, w);
      Buffer y = dev.alloc(std::size_t{c.rows} * 4);
      Buffer scratch = dev.alloc(ops.attention_o_scratch_bytes(s, c.rows));
      Encoder enc = dev.encoder();
      ops.attention_o_decode(enc, qb, kb, vb, wb, y, scratch, s, c.rows,
                             slot<std::uint32_t>("kv_len", 1), scale);
      Recording rec = enc.finish();
      std::vector<std::uint32_t> lens;
      const std::uint32_t top = s.max_ctx;
      for (const std::uint32_t kv_len : {1U, 7U, 64U, 65U, 300U, 547U, top / 2 + 1, top, 0U, 1U}) {
        if (kv_len <= top) lens.push_back(kv_len);
      }
      return replay_kv_lens(
          dev, rec, lens, [&](const std::string& at, std::vector<NamedOutput>& outputs) {
            outputs.push_back({at, y.download<float>(), testing::kAttentionOTolerance});
          });
    }));
  }
}

// Two attention_o dispatches sharing one scratch (as a step's layers do), replayed for changing
// lengths: every dispatch's grid barrier leaves its arrival count at zero for the next one.
TEST(CudaDecodeOps, AttentionOSharingAScratchMatchesTheCpuOnEveryReplay) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  const ops::AttentionShape s{14, 2, 64, 2048};
  const std::uint32_t rows = 896;
  const std::size_t q_dim = std::size_t{s.n_heads} * s.head_dim;
  const AttentionInputs inputs = attention_inputs(s, 17);
  const std::vector<std::uint16_t> w = random_bf16(q_dim * rows, 20);
  EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
    ops::OpEncoder ops(dev);
    auto [qb, kb, vb] = upload(dev, inputs);
    Buffer wb = upload(dev, w);
    Buffer y1 = dev.alloc(rows * 4);
    Buffer y2 = dev.alloc(rows * 4);
    Buffer scratch = dev.alloc(ops.attention_o_scratch_bytes(s, rows));
    Encoder enc = dev.encoder();
    for (const Buffer* y : {&y1, &y2}) {
      ops.attention_o_decode(enc, qb, kb, vb, wb, *y, scratch, s, rows,
                             slot<std::uint32_t>("kv_len", 1), 0.125F);
    }
    Recording rec = enc.finish();
    return replay_kv_lens(
        dev, rec, {100, 2048, 40, 1, 512, 512},
        [&](const std::string& at, std::vector<NamedOutput>& outputs) {
          outputs.push_back({at + " first", y1.download<float>(), testing::kAttentionOTolerance});
          outputs.push_back({at + " second", y2.download<float>(), testing::kAttentionOTolerance});
          const std::vector<std::uint32_t> words = scratch.download<std::uint32_t>();
          outputs.push_back(
              {at + " barrier count", {static_cast<float>(words[words.size() - 2])}, kExact});
        });
  }));
}

// A projection whose rows per block do not fit a block's shared memory is refused, saying so.
TEST(CudaDecodeOps, AttentionORefusesRowsBeyondSharedMemory) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  ops::OpEncoder ops(gpu);
  EXPECT_TRUE(ops.attention_o_support({32, 8, 64, 512}, 2048));
  const ops::Support big = ops.attention_o_support({32, 8, 128, 512}, 1U << 20);
  EXPECT_FALSE(big);
  EXPECT_NE(big.reason.find("shared memory"), std::string::npos) << big.reason;
}

// softmax over decode-sized rows and a vocabulary.
TEST(CudaDecodeOps, SoftmaxMatchesTheCpuReference) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const auto& [rows, n] : {std::pair{32U, 512U}, {1U, 151936U}, {3U, 7U}}) {
    const std::vector<float> x = random_floats(std::size_t{rows} * n, n, -20.0F, 20.0F);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      Buffer xb = upload(dev, x);
      Buffer yb = dev.alloc(x.size() * 4);
      Encoder enc = dev.encoder();
      ops.softmax(enc, xb, yb, rows, n);
      enc.commit_and_wait();
      return std::vector<NamedOutput>{
          {"softmax", yb.download<float>(), testing::kSoftmaxTolerance}};
    }));
  }
}

// argmax picks the same index on both backends: vocabularies, ties across blocks, NaN.
TEST(CudaDecodeOps, ArgmaxMatchesTheCpuReferenceExactly) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  for (const std::uint32_t n : {100U, 8192U, 32000U, 128256U, 151936U}) {
    std::vector<std::vector<float>> cases;
    cases.push_back(random_floats(n, n, -10.0F, 10.0F));
    std::vector<float> ties(n, 0.5F);
    ties[n - 1] = ties[n / 2] = ties[n / 5 + 3] = 2.0F;
    cases.push_back(ties);
    std::vector<float> nan = random_floats(n, n + 1);
    nan[n / 3] = std::numeric_limits<float>::quiet_NaN();
    cases.push_back(nan);
    EXPECT_TRUE(testing::cuda_matches_cpu(gpu, [&](Device& dev) {
      ops::OpEncoder ops(dev);
      std::vector<NamedOutput> outputs;
      for (std::size_t c = 0; c < cases.size(); ++c) {
        Buffer xb = upload(dev, cases[c]);
        Buffer token = dev.alloc(4);
        Buffer scratch = dev.alloc(ops::argmax_scratch_bytes(n));
        Encoder enc = dev.encoder();
        ops.argmax(enc, xb, token, scratch, n);
        enc.commit_and_wait();
        outputs.push_back({"case " + std::to_string(c) + ", n " + std::to_string(n),
                           {static_cast<float>(token.download<std::uint32_t>()[0])},
                           kExact});
      }
      return outputs;
    }));
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
