// A whole decoder layer of the op library on a CUDA device against the CPU (label gpu; skipped
// without a device): embedding, norms, gemvs with a bias, rope on q and k in one dispatch,
// kv_append, attention, silu_mul, the lm_head, softmax and argmax, recorded once with pos and
// kv_len slots and replayed for six tokens, through the graph path (programmatic edges between
// the op kernels) and the stream path. Each op is held to its own tolerance elsewhere; this test
// catches what only a chain shows (a kernel touching memory before its PDL wait, a wrong view or
// slot), so its tolerance is loose and the token is compared only where the CPU's top-2 margin
// is clear.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/differential.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::random_bf16;
using testing::random_floats;
using testing::upload;

constexpr std::uint32_t kHidden = 256;
constexpr std::uint32_t kHeads = 4;
constexpr std::uint32_t kKvHeads = 2;
constexpr std::uint32_t kHeadDim = 64;
constexpr std::uint32_t kFfn = 512;
constexpr std::uint32_t kVocab = 1000;
constexpr std::uint32_t kMaxCtx = 16;
constexpr std::uint32_t kQkv = (kHeads + 2 * kKvHeads) * kHeadDim;
constexpr std::uint32_t kKvRow = kKvHeads * kHeadDim;
constexpr float kEps = 1e-5F;
constexpr std::uint32_t kTokens[] = {3, 999, 17, 17, 500, 0};

// The layer's weights, drawn once, uploaded to each device.
struct Weights {
  std::vector<std::uint16_t> embed = random_bf16(std::size_t{kVocab} * kHidden, 1);
  std::vector<float> attn_norm = random_floats(kHidden, 2, 0.8F, 1.2F);
  std::vector<std::uint16_t> qkv = random_bf16(std::size_t{kQkv} * kHidden, 3, 0.12F);
  std::vector<float> qkv_bias = random_floats(kQkv, 4, -0.1F, 0.1F);
  std::vector<std::uint16_t> o = random_bf16(std::size_t{kHidden} * kHidden, 5, 0.1F);
  std::vector<float> ffn_norm = random_floats(kHidden, 6, 0.8F, 1.2F);
  std::vector<std::uint16_t> gate_up = random_bf16(std::size_t{2 * kFfn} * kHidden, 7, 0.12F);
  std::vector<std::uint16_t> down = random_bf16(std::size_t{kHidden} * kFfn, 8, 0.08F);
  std::vector<float> out_norm = random_floats(kHidden, 9, 0.8F, 1.2F);
  std::vector<std::uint16_t> lm_head = random_bf16(std::size_t{kVocab} * kHidden, 10, 0.2F);
  std::vector<float> inv_freq = [] {
    std::vector<float> f(kHeadDim / 2);
    for (std::uint32_t j = 0; j < f.size(); ++j) {
      f[j] = static_cast<float>(std::pow(10000.0, -2.0 * j / kHeadDim));
    }
    return f;
  }();
};

// Runs the six teacher-forced steps on `dev`; outputs per step: logits, probabilities, token.
std::vector<testing::NamedOutput> run_layer(Device& dev, const Weights& w, ExecutionPath path) {
  const ops::OpEncoder ops(dev);
  Buffer embed = upload(dev, w.embed);
  Buffer attn_norm = upload(dev, w.attn_norm);
  Buffer wqkv = upload(dev, w.qkv);
  Buffer qkv_bias = upload(dev, w.qkv_bias);
  Buffer wo = upload(dev, w.o);
  Buffer ffn_norm = upload(dev, w.ffn_norm);
  Buffer wgu = upload(dev, w.gate_up);
  Buffer wd = upload(dev, w.down);
  Buffer out_norm = upload(dev, w.out_norm);
  Buffer lm_head = upload(dev, w.lm_head);
  Buffer inv_freq = upload(dev, w.inv_freq);
  const auto f32 = [&](std::uint32_t n) { return dev.alloc(std::uint64_t{n} * 4); };
  Buffer token = dev.alloc(4);
  Buffer next = dev.alloc(4);
  Buffer x = f32(kHidden), h = f32(kHidden), qkv = f32(kQkv), attn = f32(kHeads * kHeadDim);
  Buffer o = f32(kHidden), resid = f32(kHidden), h2 = f32(kHidden), gu = f32(2 * kFfn);
  Buffer act = f32(kFfn), d = f32(kHidden), resid2 = f32(kHidden), h3 = f32(kHidden);
  Buffer logits = f32(kVocab), probs = f32(kVocab);
  Buffer kc = dev.alloc(std::uint64_t{kMaxCtx} * kKvRow * 2);
  Buffer vc = dev.alloc(std::uint64_t{kMaxCtx} * kKvRow * 2);
  const ops::AttentionShape shape{kHeads, kKvHeads, kHeadDim, kMaxCtx};
  Buffer attn_scratch = dev.alloc(ops::attention_scratch_bytes(shape));
  Buffer argmax_scratch = dev.alloc(ops::argmax_scratch_bytes(kVocab));
  const BufferView q = qkv.view_of<float>(0, kHeads * kHeadDim);
  const BufferView qk = qkv.view_of<float>(0, (kHeads + kKvHeads) * kHeadDim);
  const BufferView k = qkv.view_of<float>(kHeads * kHeadDim, kKvRow);
  const BufferView v = qkv.view_of<float>(kHeads * kHeadDim + kKvRow, kKvRow);

  Encoder enc = dev.encoder({.path = path, .label = "layer"});
  ops.embedding(enc, embed, token, x, kHidden, "embed");
  ops.rms_norm_mul(enc, x, attn_norm, h, kHidden, kEps, "attn_norm");
  ops.gemv(enc, wqkv, h, qkv, kQkv, kHidden, BufferView(qkv_bias), "qkv");
  ops.rope(enc, qk, inv_freq, kHeads + kKvHeads, kHeadDim, slot<std::uint32_t>("pos", 0),
           ops::RopeStyle::NeoX, "rope");
  ops.kv_append(enc, k, v, kc, vc, kKvRow, slot<std::uint32_t>("pos", 0), "kv");
  ops.attention_decode(enc, q, kc, vc, attn, attn_scratch, shape, slot<std::uint32_t>("kv_len", 1),
                       0.125F, "attn");
  ops.gemv(enc, wo, attn, o, kHidden, kHidden, {}, "o");
  ops.add_rms_norm_mul(enc, x, o, ffn_norm, resid, h2, kHidden, kEps, "ffn_norm");
  ops.gemv(enc, wgu, h2, gu, 2 * kFfn, kHidden, {}, "gate_up");
  ops.silu_mul(enc, gu.view_of<float>(0, kFfn), gu.view_of<float>(kFfn, kFfn), act, "silu");
  ops.gemv(enc, wd, act, d, kHidden, kFfn, {}, "down");
  ops.add_rms_norm_mul(enc, resid, d, out_norm, resid2, h3, kHidden, kEps, "out_norm");
  ops.gemv(enc, lm_head, h3, logits, kVocab, kHidden, {}, "lm_head");
  ops.softmax(enc, logits, probs, 1, kVocab, "probs");
  ops.argmax(enc, logits, next, argmax_scratch, kVocab, "argmax");
  Recording step = enc.finish();

  std::vector<testing::NamedOutput> out;
  for (std::uint32_t pos = 0; pos < std::size(kTokens); ++pos) {
    token.upload(std::span<const std::uint32_t>(&kTokens[pos], 1));
    step.set("pos", pos);
    step.set("kv_len", pos + 1);
    dev.submit(step).wait();
    const std::string at = "step " + std::to_string(pos);
    out.push_back({at + " logits", logits.download<float>(), {1e-2, 1e-2}});
    out.push_back({at + " probs", probs.download<float>(), {1e-4, 1e-2}});
    out.push_back({at + " token", {static_cast<float>(next.download<std::uint32_t>()[0])}, {0, 0}});
  }
  return out;
}

// The CPU's top-2 margin of a logits vector.
float margin(std::vector<float> logits) {
  std::partial_sort(logits.begin(), logits.begin() + 2, logits.end(), std::greater<>());
  return logits[0] - logits[1];
}

void expect_layer_matches(Device& gpu, ExecutionPath path) {
  const Weights w;
  Device cpu = testing::make_ops_cpu_device();
  const std::vector<testing::NamedOutput> want = run_layer(cpu, w, path);
  const std::vector<testing::NamedOutput> got = run_layer(gpu, w, path);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); i += 3) {
    EXPECT_TRUE(testing::all_near(got[i].values, want[i].values, want[i].tolerance))
        << want[i].name;
    EXPECT_TRUE(testing::all_near(got[i + 1].values, want[i + 1].values, want[i + 1].tolerance))
        << want[i + 1].name;
    if (margin(want[i].values) > 0.05F) {
      EXPECT_EQ(got[i + 2].values, want[i + 2].values) << want[i + 2].name;
    }
  }
}

// The layer on the graph path: one executable, slots patched per token, PDL edges.
TEST(CudaDecodeLayer, GraphPathMatchesTheCpuForSixTokens) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  expect_layer_matches(gpu, ExecutionPath::Graph);
}

// The same layer launched kernel by kernel on one stream (PDL through the stream attribute).
TEST(CudaDecodeLayer, StreamPathMatchesTheCpuForSixTokens) {
  ENCORE_OPEN_CUDA_OR_SKIP(gpu);
  expect_layer_matches(gpu, ExecutionPath::SingleStream);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
