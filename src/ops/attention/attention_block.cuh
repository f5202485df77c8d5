#pragma once

// The block-level core of decode attention, shared by attention_decode (attention.cu) and the
// fused attention + output projection (attention_o.cu): a block of kAttentionThreads threads
// scores one chunk of cache rows for one q head with an online softmax (see attention.cu for
// the load pattern and why it is shaped so).

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail::attention_block {

constexpr int kThreads = static_cast<int>(kAttentionThreads);
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = static_cast<int>(kAttentionLoadPasses);

__device__ __forceinline__ float negative_infinity() { return -__int_as_float(0x7F800000); }

// The row of a chunk that an attention with an append reads from the staged k and v rows
// (bf16 [n_kv_heads, head_dim]) rather than the cache: chunk-relative, kNoStagedRow where the
// chunk does not hold it.
inline constexpr std::uint32_t kNoStagedRow = ~0U;
struct StagedRow {
  std::uint32_t at = kNoStagedRow;
  const std::uint16_t* k = nullptr;
  const std::uint16_t* v = nullptr;
};

// One batch of this thread's cache rows: rows base + u * kRowSlots + slot for u < kUnroll, each
// its 16 bytes (zeros past the chunk, so every lane still takes part in the shuffles). Row
// staged_at comes from `staged`, or is zeros where `staged` is null (before the PDL wait, when
// the staged row may not be written yet).
template <int kRowSlots>
__device__ __forceinline__ void load_batch(uint4 (&raw)[kUnroll], const std::uint16_t* rows,
                                           std::uint32_t base, int slot, std::uint32_t len,
                                           std::uint32_t row_stride,
                                           const std::uint16_t* staged = nullptr,
                                           std::uint32_t staged_at = kNoStagedRow) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::uint32_t t = base + u * kRowSlots + slot;
    const std::uint16_t* at = t == staged_at ? staged : rows + std::uint64_t{t} * row_stride;
    raw[u] = t < len && at != nullptr ? load_stream_step_16(at) : make_uint4(0, 0, 0, 0);
  }
}

__device__ __forceinline__ void widen8(uint4 v, float (&out)[8]) {
  out[0] = bf16_lo(v.x);
  out[1] = bf16_hi(v.x);
  out[2] = bf16_lo(v.y);
  out[3] = bf16_hi(v.y);
  out[4] = bf16_lo(v.z);
  out[5] = bf16_hi(v.z);
  out[6] = bf16_lo(v.w);
  out[7] = bf16_hi(v.w);
}

constexpr float kLog2e = 1.4426950408889634F;
constexpr float kLn2 = 0.6931471805599453F;

// 2^x, one MUFU instruction; 2^-inf = 0.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Running softmax state of one row group (base-2 units): max score m, sum l of 2^(s - m), and
// this lane's 8 dims of sum 2^(s - m) v. m = -inf while no row was seen.
struct Running {
  float m;
  float l;
  float acc[8];
};

// Folds `other` (the same dims, other rows) into `r`.
__device__ __forceinline__ void combine(Running& r, float m_o, float l_o, const float (&acc_o)[8]) {
  const float m = fmaxf(r.m, m_o);
  if (m == negative_infinity()) return;  // neither has rows
  const float c = exp2_approx(r.m - m);
  const float c_o = exp2_approx(m_o - m);
  r.l = r.l * c + l_o * c_o;
#pragma unroll
  for (int i = 0; i < 8; ++i) r.acc[i] = r.acc[i] * c + acc_o[i] * c_o;
  r.m = m;
}

// A block's result for its chunk (base-2 units): the max score m, l = sum_t 2^(s_t - m), and
// the weights 2^(m_w - m) of each warp's partial sums, which block_attend leaves in
// shared[w * D, (w + 1) * D): the chunk's unnormalised value sum is weighted_sum().
struct BlockAttention {
  float m;
  float l;
  float weight[kWarps];

  // sum_t 2^(s_t - m) v_t[at].
  template <int D>
  __device__ __forceinline__ float weighted_sum(const float* shared, int at) const {
    float sum = 0.0F;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum = fmaf(weight[w], shared[w * D + at], sum);
    return sum;
  }
};

// Asks L2 for the K and V rows [begin, begin + len) of kv head g (before a PDL wait: a
// prefetch moves no data into the kernel, and L2 is the point of coherence).
template <int D>
__device__ __forceinline__ void prefetch_chunk(const std::uint16_t* k_cache,
                                               const std::uint16_t* v_cache, std::uint32_t g,
                                               std::uint32_t begin, std::uint32_t len,
                                               std::uint32_t row_stride) {
  // One 128-byte line per prefetch; a row is D * 2 bytes (one or two lines).
  constexpr std::uint32_t kLinesPerRow = D * 2 / 128;
  const std::uint64_t first = std::uint64_t{begin} * row_stride + g * D;
  for (std::uint32_t i = threadIdx.x; i < len * kLinesPerRow; i += kThreads) {
    const std::uint64_t at =
        first + std::uint64_t{i / kLinesPerRow} * row_stride + (i % kLinesPerRow) * 64;
    prefetch_l2(k_cache + at);
    prefetch_l2(v_cache + at);
  }
}

// The first batch of a chunk's K and V rows, loaded before the PDL wait by an attention with an
// append: no dispatch of the step writes a cache row but the staged one, which is left out
// here (block_attend reads it from the staged k and v after the wait).
struct FirstBatch {
  uint4 k[kUnroll];
  uint4 v[kUnroll];
};

template <int D>
__device__ __forceinline__ void load_first_batch(FirstBatch& first, const std::uint16_t* k_cache,
                                                 const std::uint16_t* v_cache, std::uint32_t g,
                                                 std::uint32_t begin, std::uint32_t len,
                                                 std::uint32_t row_stride,
                                                 std::uint32_t staged_at) {
  constexpr int kLanesPerRow = D / 8;
  constexpr int kRowSlots = kThreads / kLanesPerRow;
  const int slot = static_cast<int>(threadIdx.x) / kLanesPerRow;
  const int sub = static_cast<int>(threadIdx.x) % kLanesPerRow;
  const std::uint64_t offset = std::uint64_t{begin} * row_stride + g * D + sub * 8;
  load_batch<kRowSlots>(first.k, k_cache + offset, 0, slot, len, row_stride, nullptr, staged_at);
  load_batch<kRowSlots>(first.v, v_cache + offset, 0, slot, len, row_stride, nullptr, staged_at);
}

// Attention of q head q_head (D floats, written by an earlier dispatch) over the cache rows
// [begin, begin + len) of kv head g, len >= 1, by the whole block (it synchronises the block).
// shared: kWarps * D floats; warp_m, warp_l: kWarps floats each. With `first` (an attention
// with an append) the first batch is already in registers but for the staged row, which, like
// any later batch's, is read from `staged`.
template <int D>
__device__ __forceinline__ BlockAttention
block_attend(const float* q_head, const std::uint16_t* k_cache, const std::uint16_t* v_cache,
             std::uint32_t g, std::uint32_t begin, std::uint32_t len, std::uint32_t row_stride,
             float scale, float* shared, float* warp_m, float* warp_l,
             const FirstBatch* first = nullptr, const StagedRow& staged = {}) {
  constexpr int kLanesPerRow = D / 8;
  constexpr int kRowSlots = kThreads / kLanesPerRow;
  constexpr std::uint32_t kBatchRows = kRowSlots * kUnroll;
  const unsigned tid = threadIdx.x;
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const int slot = static_cast<int>(tid) / kLanesPerRow;
  const int sub = static_cast<int>(tid) % kLanesPerRow;  // dims [sub * 8, sub * 8 + 8)
  const std::uint16_t* k_base = k_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;
  const std::uint16_t* v_base = v_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;

  // q of this head, this thread's 8 dims, times scale * log2 e.
  float qv[8];
  {
    const float4* qh = reinterpret_cast<const float4*>(q_head + sub * 8);
    const float4 a = load_step(qh);
    const float4 b = load_step(qh + 1);
    const float f = scale * kLog2e;
    qv[0] = a.x * f;
    qv[1] = a.y * f;
    qv[2] = a.z * f;
    qv[3] = a.w * f;
    qv[4] = b.x * f;
    qv[5] = b.y * f;
    qv[6] = b.z * f;
    qv[7] = b.w * f;
  }

  Running run{negative_infinity(), 0.0F, {}};
#pragma unroll
  for (int i = 0; i < 8; ++i) run.acc[i] = 0.0F;
  // Software pipeline: the next batch's loads are in flight while this one is used.
  uint4 knext[kUnroll];
  uint4 vnext[kUnroll];
  const std::uint16_t* k_staged = staged.k != nullptr ? staged.k + g * D + sub * 8 : nullptr;
  const std::uint16_t* v_staged = staged.v != nullptr ? staged.v + g * D + sub * 8 : nullptr;
  if (first != nullptr) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const bool is_staged = u * kRowSlots + slot == staged.at;
      knext[u] = is_staged ? load_stream_step_16(k_staged) : first->k[u];
      vnext[u] = is_staged ? load_stream_step_16(v_staged) : first->v[u];
    }
  } else {
    load_batch<kRowSlots>(knext, k_base, 0, slot, len, row_stride, k_staged, staged.at);
    load_batch<kRowSlots>(vnext, v_base, 0, slot, len, row_stride, v_staged, staged.at);
  }
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 kraw[kUnroll];
    uint4 vraw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      kraw[u] = knext[u];
      vraw[u] = vnext[u];
    }
    if (base + kBatchRows < len) {
      load_batch<kRowSlots>(knext, k_base, base + kBatchRows, slot, len, row_stride, k_staged,
                            staged.at);
      load_batch<kRowSlots>(vnext, v_base, base + kBatchRows, slot, len, row_stride, v_staged,
                            staged.at);
    }
    float score[kUnroll];
    float batch_max = negative_infinity();
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float k[8];
      widen8(kraw[u], k);
      float dot = 0.0F;
#pragma unroll
      for (int i = 0; i < 8; ++i) dot = fmaf(qv[i], k[i], dot);
#pragma unroll
      for (int offset = kLanesPerRow / 2; offset > 0; offset >>= 1) {
        dot += __shfl_xor_sync(0xFFFFFFFFU, dot, offset);
      }
      const std::uint32_t t = base + u * kRowSlots + slot;
      score[u] = t < len ? dot : negative_infinity();
      batch_max = fmaxf(batch_max, score[u]);
    }
    const float m = fmaxf(run.m, batch_max);
    if (m == negative_infinity()) continue;  // no row of this group yet (trip count unchanged)
    const float c = exp2_approx(run.m - m);
    run.l *= c;
#pragma unroll
    for (int i = 0; i < 8; ++i) run.acc[i] *= c;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const float e = exp2_approx(score[u] - m);
      float v[8];
      widen8(vraw[u], v);
      run.l += e;
#pragma unroll
      for (int i = 0; i < 8; ++i) run.acc[i] = fmaf(e, v[i], run.acc[i]);
    }
    run.m = m;
  }

  // The row groups of a warp (lanes kLanesPerRow apart), then the warps.
#pragma unroll
  for (int offset = kLanesPerRow; offset < 32; offset <<= 1) {
    const float m_o = __shfl_xor_sync(0xFFFFFFFFU, run.m, offset);
    const float l_o = __shfl_xor_sync(0xFFFFFFFFU, run.l, offset);
    float acc_o[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) acc_o[i] = __shfl_xor_sync(0xFFFFFFFFU, run.acc[i], offset);
    combine(run, m_o, l_o, acc_o);
  }
  if (lane < static_cast<unsigned>(kLanesPerRow)) {
#pragma unroll
    for (int i = 0; i < 8; ++i) shared[warp * D + sub * 8 + i] = run.acc[i];
    if (lane == 0) {
      warp_m[warp] = run.m;
      warp_l[warp] = run.l;
    }
  }
  __syncthreads();
  BlockAttention r;
  r.m = negative_infinity();
#pragma unroll
  for (int w = 0; w < kWarps; ++w) r.m = fmaxf(r.m, warp_m[w]);  // finite: len >= 1
  r.l = 0.0F;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    r.weight[w] = exp2_approx(warp_m[w] - r.m);
    r.l = fmaf(r.weight[w], warp_l[w], r.l);
  }
  return r;
}

// The split-K merge of a head. Memory ordering: every thread fences its scratch writes before
// the block takes the head's ticket; the block that takes the last ticket fences again and
// reads the other splits' results through L2 (ld.global.cg), never through a possibly stale L1
// line. Scratch holds m in natural-log units, as the CPU reference writes it.

// Whether this block, which has written its split's (acc, m, l) of q head `head` to the
// scratch, is the last of the `active` splits to do so, and so merges the head (then the
// head's ticket is zero again). Every thread calls it; is_last: a shared word.
__device__ __forceinline__ bool last_split_of_head(float* scratch,
                                                   const AttentionScratchLayout& layout,
                                                   std::uint32_t head, std::uint32_t active,
                                                   unsigned* is_last) {
  __threadfence();  // this thread's results are visible device-wide before the ticket
  __syncthreads();  // every thread's results are, and the block's shared memory is free again
  unsigned* ticket = reinterpret_cast<unsigned*>(scratch + layout.tickets) + head;
  if (threadIdx.x == 0) *is_last = atomicAdd(ticket, 1U) == active - 1 ? 1U : 0U;
  __syncthreads();
  if (*is_last == 0U) return false;
  __threadfence();  // order the other splits' results before this block's reads of them
  if (threadIdx.x == 0) atomicExch(ticket, 0U);  // every active split has taken its ticket
  return true;
}

constexpr int kSplitsInFlight = 16;  // partial sums loaded together per output element (merge)

// Merges the `active` splits of q head `head` from scratch into head_out (the last block).
// m_l: shared space for 2 * active + kThreads floats. The first kSplitsInFlight partial sums of
// each thread are loaded together with every (m, l): they do not depend on the weights. Then
// warp 0 takes the max M over splits with rows, the weights 2^(m_s - M) (in place of m) and
// den = sum_s w_s l_s; each output element sums its splits over kThreads / D threads.
template <int D>
__device__ void merge_head(const float* scratch, float* head_out, const AttentionParams& p,
                           const AttentionScratchLayout& layout, std::uint32_t head,
                           std::uint32_t active, float* m_l, float* den_shared) {
  constexpr int kParts = kThreads / D;  // threads per output element: 2 (hd64) or 1 (hd128)
  const int tid = static_cast<int>(threadIdx.x);
  const unsigned lane = threadIdx.x & 31U;
  const int n = static_cast<int>(active);
  float* w = m_l;           // [active]: m, then the weight
  float* l = m_l + n;       // [active]
  float* part_sum = l + n;  // [kThreads]
  const int at = tid % D;
  const int part = tid / D;
  const std::uint64_t split_stride = std::uint64_t{p.n_heads} * D;
  const float* acc = scratch + std::uint64_t{head} * D + at;
  float v[kSplitsInFlight];
  int j0 = part * kSplitsInFlight;
#pragma unroll
  for (int u = 0; u < kSplitsInFlight; ++u) {
    const int j = j0 + u;
    v[u] = j < n ? __ldcg(acc + std::uint64_t(j) * split_stride) : 0.0F;
  }
  for (int j = tid; j < n; j += kThreads) {
    const std::uint64_t s_at = std::uint64_t(j) * p.n_heads + head;
    w[j] = __ldcg(scratch + layout.m + s_at) * kLog2e;
    l[j] = __ldcg(scratch + layout.l + s_at);
  }
  __syncthreads();
  if (tid < 32) {
    float big_m = negative_infinity();
    for (int j = static_cast<int>(lane); j < n; j += 32) {
      if (l[j] > 0.0F) big_m = fmaxf(big_m, w[j]);
    }
    big_m = warp_max(big_m);
    float den = 0.0F;
    for (int j = static_cast<int>(lane); j < n; j += 32) {
      const float weight = l[j] > 0.0F ? exp2_approx(w[j] - big_m) : 0.0F;
      w[j] = weight;
      den = fmaf(weight, l[j], den);
    }
    den = warp_sum(den);
    if (lane == 0) *den_shared = den;
  }
  __syncthreads();
  float num = 0.0F;
  for (;;) {
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      if (j0 + u < n) num = fmaf(w[j0 + u], v[u], num);
    }
    j0 += kParts * kSplitsInFlight;
    if (j0 >= n) break;
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      const int j = j0 + u;
      v[u] = j < n ? __ldcg(acc + std::uint64_t(j) * split_stride) : 0.0F;
    }
  }
  if constexpr (kParts > 1) {
    part_sum[tid] = num;
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int k = 1; k < kParts; ++k) num += part_sum[tid + k * D];
  }
  const float den = *den_shared;
  head_out[at] = den > 0.0F ? num / den : 0.0F;
}

// A split of q head `head` hands its chunk's result `r` to the ticket merge: its (acc, m, l) at
// index `at` (split * n_heads + head) of the scratch's arrays (acc from block_attend's
// `reduction` shared memory, m in natural-log units), then the head's ticket; the last of the
// `active` splits merges the head into head_out, reusing `reduction`. Every thread calls it;
// is_last and head_den are shared words.
template <int D>
__device__ __forceinline__ void ticket_merge_split(float* scratch, const AttentionParams& p,
                                                   const AttentionScratchLayout& layout,
                                                   const BlockAttention& r, float* reduction,
                                                   std::uint32_t head, std::uint64_t at,
                                                   std::uint32_t active, float* head_out,
                                                   unsigned* is_last, float* head_den) {
  float* acc = scratch + at * D;
  for (int i = static_cast<int>(threadIdx.x); i < D; i += kThreads) {
    acc[i] = r.weighted_sum<D>(reduction, i);
  }
  if (threadIdx.x == 0) {
    scratch[layout.m + at] = r.m * kLn2;
    scratch[layout.l + at] = r.l;
  }
  if (last_split_of_head(scratch, layout, head, active, is_last)) {
    merge_head<D>(scratch, head_out, p, layout, head, active, reduction, head_den);
  }
}

}  // namespace encore::ops::detail::attention_block
