// Host cost of encoding a decode step through the op library: a Llama-3.2-1B-shaped sequence of
// ops (16 layers of rms_norm_mul, fused qkv gemv, rope on q and k, kv_append, attention, o gemv,
// add_rms_norm_mul, gate+up gemv, silu_mul, down gemv; then the final norm, the lm_head and
// argmax), with pos and kv_len as slots, recorded under auto_dag. The model dimensions are
// scaled down: encoding cost does not depend on them (every check is O(1)), only on the number
// of ops, and the CPU device needs no real weights to record.

#include <benchmark/benchmark.h>
#include <cstdint>
#include <memory>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

namespace encore::bench {
namespace {

constexpr std::uint32_t kLayers = 16;
constexpr std::uint32_t kHidden = 256;
constexpr std::uint32_t kHeads = 4;
constexpr std::uint32_t kKvHeads = 1;
constexpr std::uint32_t kHeadDim = 64;
constexpr std::uint32_t kFfn = 512;
constexpr std::uint32_t kVocab = 16384;  // > 8192: the two-stage argmax, as for real models
constexpr std::uint32_t kCtx = 64;
constexpr std::uint32_t kQkv = (kHeads + 2 * kKvHeads) * kHeadDim;
constexpr std::uint32_t kKvRow = kKvHeads * kHeadDim;

struct Layer {
  Buffer attn_norm, qkv, o, ffn_norm, gate_up, down, k_cache, v_cache;
};

struct OpStep {
  OpStep()
      : device(Device::open(DeviceOptions{.backend = BackendKind::Cpu, .cpu_threads = 1})),
        ops(device) {
    const auto alloc = [&](std::uint64_t bytes) { return device.alloc(bytes); };
    for (std::uint32_t l = 0; l < kLayers; ++l) {
      layers.push_back(
          {alloc(kHidden * 4), alloc(std::uint64_t{kQkv} * kHidden * 2),
           alloc(std::uint64_t{kHidden} * kHidden * 2), alloc(kHidden * 4),
           alloc(std::uint64_t{2 * kFfn} * kHidden * 2), alloc(std::uint64_t{kHidden} * kFfn * 2),
           alloc(std::uint64_t{kCtx} * kKvRow * 2), alloc(std::uint64_t{kCtx} * kKvRow * 2)});
    }
    embed = alloc(std::uint64_t{kVocab} * kHidden * 2);
    out_norm = alloc(kHidden * 4);
    inv_freq = alloc(kHeadDim / 2 * 4);
    token = alloc(4);
    x = alloc(kHidden * 4);
    h = alloc(kHidden * 4);
    qkv = alloc(kQkv * 4);
    attn = alloc(kHeads * kHeadDim * 4);
    o = alloc(kHidden * 4);
    gu = alloc(2 * kFfn * 4);
    act = alloc(kFfn * 4);
    logits = alloc(kVocab * 4);
    attn_scratch = alloc(ops::attention_scratch_bytes(shape));
    argmax_scratch = alloc(ops::argmax_scratch_bytes(kVocab));
  }

  // One step; returns the dispatches recorded.
  std::size_t encode(Encoder& enc) const {
    const BufferView q = qkv.view_of<float>(0, kHeads * kHeadDim);
    const BufferView qk = qkv.view_of<float>(0, (kHeads + kKvHeads) * kHeadDim);
    const BufferView k = qkv.view_of<float>(kHeads * kHeadDim, kKvRow);
    const BufferView v = qkv.view_of<float>(kHeads * kHeadDim + kKvRow, kKvRow);
    ops.embedding(enc, embed, token, x, kHidden, "embed");
    ops.rms_norm_mul(enc, x, layers[0].attn_norm, h, kHidden, 1e-5F, "attn_norm");
    for (std::uint32_t l = 0; l < kLayers; ++l) {
      const Layer& w = layers[l];
      ops.gemv(enc, w.qkv, h, qkv, kQkv, kHidden, {}, "qkv");
      ops.rope(enc, qk, inv_freq, kHeads + kKvHeads, kHeadDim, slot<std::uint32_t>("pos", 0),
               ops::RopeStyle::NeoX, "rope");
      ops.kv_append(enc, k, v, w.k_cache, w.v_cache, kKvRow, slot<std::uint32_t>("pos", 0), "kv");
      ops.attention_decode(enc, q, w.k_cache, w.v_cache, attn, attn_scratch, shape,
                           slot<std::uint32_t>("kv_len", 1), 0.125F, "attn");
      ops.gemv(enc, w.o, attn, o, kHidden, kHidden, {}, "o");
      ops.add_rms_norm_mul(enc, x, o, w.ffn_norm, x, h, kHidden, 1e-5F, "ffn_norm");
      ops.gemv(enc, w.gate_up, h, gu, 2 * kFfn, kHidden, {}, "gate_up");
      ops.silu_mul(enc, gu.view_of<float>(0, kFfn), gu.view_of<float>(kFfn, kFfn), act, "silu");
      ops.gemv(enc, w.down, act, o, kHidden, kFfn, {}, "down");
      const Buffer& next_norm = l + 1 < kLayers ? layers[l + 1].attn_norm : out_norm;
      ops.add_rms_norm_mul(enc, x, o, next_norm, x, h, kHidden, 1e-5F, "next_norm");
    }
    ops.gemv(enc, embed, h, logits, kVocab, kHidden, {}, "lm_head");
    ops.argmax(enc, logits, token, argmax_scratch, kVocab, "argmax");
    return enc.dispatch_count();
  }

  Device device;
  ops::OpEncoder ops;
  ops::AttentionShape shape{kHeads, kKvHeads, kHeadDim, kCtx};
  std::vector<Layer> layers;
  Buffer embed, out_norm, inv_freq, token, x, h, qkv, attn, o, gu, act, logits, attn_scratch,
      argmax_scratch;
};

OpStep& op_step() {
  static OpStep s;
  return s;
}

// Encode + hazard tracking + finish() of one op-library decode step (auto_dag).
void BM_EncodeOpsStep(benchmark::State& state) {
  OpStep& s = op_step();
  std::size_t dispatches = 0;
  for (auto _ : state) {
    Encoder enc = s.device.encoder({.ordering = Ordering::AutoDag});
    dispatches = s.encode(enc);
    Recording rec = enc.finish();
    benchmark::DoNotOptimize(rec);
  }
  state.counters["per_dispatch"] = benchmark::Counter(
      static_cast<double>(dispatches),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["dispatches"] = static_cast<double>(dispatches);
}
BENCHMARK(BM_EncodeOpsStep)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace encore::bench
