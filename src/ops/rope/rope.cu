// CUDA rope_f32 (one thread per rotated pair) and rope_kv_append_bf16 (one thread per q pair, k
// pair or two v elements; see rope.h). Both compute the angle as f32(pos) * inv_freq[j] and turn
// the pair with sincosf, and round to bf16 as kv_append does.

#include <cstdint>

#include "ops/bf16.h"
#include "ops/cuda_common.cuh"
#include "ops/rope/rope.h"
#include "ops/rope/rope_turn.cuh"

namespace encore::ops::detail {

namespace {

__global__ void rope_f32(float* x, const float* inv_freq, std::uint32_t pos, std::uint32_t n_heads,
                         std::uint32_t head_dim, std::uint32_t style) {
  pdl_enter();
  const std::uint32_t half = head_dim / 2;
  const std::uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= n_heads * half) return;
  const RopePair pr = rope_pair(p, head_dim, style);
  const Turned r = rope_turn(x[pr.a], x[pr.b], pos, inv_freq[pr.j]);
  x[pr.a] = r.a;
  x[pr.b] = r.b;
}

__global__ void rope_kv_append_bf16(float* __restrict__ q, const float* __restrict__ k,
                                    const float* __restrict__ v, const float* __restrict__ inv_freq,
                                    std::uint16_t* __restrict__ k_cache,
                                    std::uint16_t* __restrict__ v_cache, std::uint32_t pos,
                                    RopeKvParams p) {
  pdl_enter();
  const std::uint32_t half = p.head_dim / 2;
  const std::uint32_t q_pairs = p.n_heads * half;
  const std::uint32_t kv_pairs = p.n_kv_heads * half;
  const std::uint32_t item = blockIdx.x * blockDim.x + threadIdx.x;
  const bool append = pos < p.max_rows;
  const std::uint64_t row = std::uint64_t{pos} * p.n_kv_heads * p.head_dim;
  if (item >= q_pairs + kv_pairs) {  // two elements of v
    const std::uint32_t e = 2 * (item - q_pairs - kv_pairs);
    if (!append || e >= 2 * kv_pairs) return;
    v_cache[row + e] = float_to_bf16(load_step(v + e));
    v_cache[row + e + 1] = float_to_bf16(load_step(v + e + 1));
    return;
  }
  const bool is_q = item < q_pairs;
  const RopePair pr = rope_pair(is_q ? item : item - q_pairs, p.head_dim, p.style);
  if (is_q) {
    const Turned r = rope_turn(load_step(q + pr.a), load_step(q + pr.b), pos, inv_freq[pr.j]);
    q[pr.a] = r.a;
    q[pr.b] = r.b;
  } else if (append) {
    const Turned r = rope_turn(load_step(k + pr.a), load_step(k + pr.b), pos, inv_freq[pr.j]);
    k_cache[row + pr.a] = float_to_bf16(r.a);
    k_cache[row + pr.b] = float_to_bf16(r.b);
  }
}

}  // namespace

RopeCudaKernels rope_cuda_kernels() {
  return {.rope = reinterpret_cast<const void*>(&rope_f32),
          .rope_kv_append = reinterpret_cast<const void*>(&rope_kv_append_bf16)};
}

}  // namespace encore::ops::detail
