#pragma once

// Device helpers shared by the op kernels: warp and block reductions, programmatic dependent
// launch (PDL) controls, streaming 16-byte loads, asynchronous copies into shared memory and a
// grid-wide barrier.
//
// PDL protocol of every op kernel (KernelDef::programmatic_dependency = true):
//  - pdl_wait() before the first access to memory an earlier dispatch may write or read (the
//    wait returns when the previous kernel has completed and its writes are visible). Only the
//    buffers of the kernel's read_before_wait params (Param::in_before_wait: weights) may be
//    read before it; the backend launches a dispatch early only where no earlier dispatch of
//    its command buffer writes them (core/early_reads.h). The gemvs load their first weights
//    there. Such memory is also the only one read non-coherently (.nc): the rest
//    is read with load_step / load_stream_step_16 (see there);
//  - every launch has at least one block that waits, so a grid completes only after its
//    predecessor: waiting for the last kernel of a chain then waits for the whole chain, which
//    lets the CUDA backend launch a node programmatically after the one predecessor that all
//    its other predecessors precede (blocks that exit before waiting, like attention's inactive
//    splits, are fine as long as one block of the grid waits);
//  - pdl_launch_dependents() before the wait, as soon as the kernel starts (after issuing its
//    own pre-wait loads): it only lets the next kernel be scheduled, which then runs its own
//    pre-wait part (weight loads) and sits in its wait. So while a latency-bound kernel (the
//    attention, a small gemv) runs, the kernels after it are already resident and streaming
//    their weights: the step's chain runs ahead by as many kernels as fit beside it. The trigger
//    fires once every block of this grid has executed it or exited, i.e. once the whole grid
//    has been resident, so a grid is launched only after its predecessor's blocks all have
//    their places: waiting dependents never take room a grid ahead of them still needs, and
//    the chain cannot deadlock. Measured on an H100 against a trigger right after the wait (one
//    kernel ahead at most): Llama-3.2-1B's step 1.054 -> 1.038 ms, Qwen2.5-0.5B's 0.644 ->
//    0.630 ms. Moving it later instead (after the gemv's dot products) cost 3% and 1%. A kernel
//    whose blocks must all be resident at once (grid_barrier) triggers after its barrier.
// Both are no-ops when the launch is not programmatic.

#include <cstdint>
#include <cuda/atomic>

#include "ops/global_timer.cuh"
#include "ops/kernel_timeline.cuh"

namespace encore::ops::detail {

__device__ __forceinline__ void pdl_wait() {
  ENCORE_TIMELINE_MARK(Entry);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  ENCORE_TIMELINE_MARK(Waited);
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// The start of a kernel with nothing to do before its wait: trigger, then wait.
__device__ __forceinline__ void pdl_enter() {
  pdl_launch_dependents();
  pdl_wait();
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFU, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFU, v, offset));
  }
  return v;
}

// Sum of `v` over the block, returned to every thread. blockDim.x is a multiple of 32 (<= 1024)
// and every thread of the block calls it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  const unsigned lane = threadIdx.x & 31U;
  const unsigned warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // an earlier call may still be reading warp_sums
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? warp_sums[lane] : 0.0F;
    v = warp_sum(v);
    if (lane == 0) warp_sums[0] = v;
  }
  __syncthreads();
  return warp_sums[0];
}

// Maximum of `v` over the block, returned to every thread (same contract as block_sum).
__device__ __forceinline__ float block_max(float v) {
  __shared__ float warp_maxima[32];
  const unsigned lane = threadIdx.x & 31U;
  const unsigned warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) warp_maxima[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? warp_maxima[lane] : -__int_as_float(0x7F800000);
    v = warp_max(v);
    if (lane == 0) warp_maxima[0] = v;
  }
  __syncthreads();
  return warp_maxima[0];
}

// 16 bytes of data no dispatch of the step writes (weights), streamed past L1 so it keeps the
// activations, with a 256-byte L2 prefetch hint for the rest of the row. Non-coherent (.nc), so
// never for memory an earlier dispatch writes: see load_step.
__device__ __forceinline__ uint4 load_stream_16(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// Reads of memory an earlier dispatch of the step writes (activations, the KV cache), after
// pdl_wait(). Never through the non-coherent path (ld.global.nc), which is for data no grid
// writes during this one's lifetime: under PDL the previous grid is still running, and writing,
// when this one starts, and ptxas may schedule a .nc load ahead of griddepcontrol.wait. The
// compiler turns plain reads through `const T* __restrict__` into .nc loads, so kernels with
// such parameters read step-written memory through these.
template <class T>
__device__ __forceinline__ T load_step(const T* p) {
  return __ldca(p);
}

// load_stream_16 for memory an earlier dispatch writes (the KV cache): coherent, and volatile
// with a memory clobber so that it stays after pdl_wait() in the compiler's order too.
__device__ __forceinline__ uint4 load_stream_step_16(const void* p) {
  uint4 v;
  asm volatile("ld.global.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

// Asks L2 to fetch the 128-byte line at `p` (a hint; no data is returned).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// The two bf16 halves of a 32-bit word as f32 (low element first in memory).
__device__ __forceinline__ float bf16_lo(std::uint32_t word) { return __uint_as_float(word << 16); }
__device__ __forceinline__ float bf16_hi(std::uint32_t word) {
  return __uint_as_float(word & 0xFFFF0000U);
}

// <8 bf16 of w, 8 f32 of (a, b)> as one FMA chain.
__device__ __forceinline__ float bf16x8_dot(uint4 w, float4 a, float4 b) {
  float acc = bf16_lo(w.x) * a.x;
  acc = fmaf(bf16_hi(w.x), a.y, acc);
  acc = fmaf(bf16_lo(w.y), a.z, acc);
  acc = fmaf(bf16_hi(w.y), a.w, acc);
  acc = fmaf(bf16_lo(w.z), b.x, acc);
  acc = fmaf(bf16_hi(w.z), b.y, acc);
  acc = fmaf(bf16_lo(w.w), b.z, acc);
  acc = fmaf(bf16_hi(w.w), b.w, acc);
  return acc;
}

// Asynchronous 16-byte copy of data no dispatch of the step writes (weights) from global into
// shared memory, through L2 only (cp.async.cg); allowed before pdl_wait(). cp_async_wait_all()
// then __syncthreads() make every thread's copies visible to the block.
__device__ __forceinline__ void cp_async_16(void* shared, const void* global) {
  const auto to = static_cast<std::uint32_t>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(to), "l"(global) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;" ::: "memory");
}

// How long a block waits in grid_barrier before it gives up and traps (the launch then fails
// with an error instead of hanging): far above any real wait, which is microseconds.
inline constexpr std::uint64_t kGridBarrierTimeoutNs = 20'000'000'000ULL;

// Every block of the grid waits here until all have arrived; what any block wrote before it is
// then visible to every block (read it through L2: __ldcg). `state` is two u32 in global
// memory, zero before the first use: an arrival count, which the last arrival sets back to
// zero, and a generation, which it then advances and the others wait for, so the same state
// serves every launch (one barrier per launch; the count is zero again when the grid ends).
// Only for grids whose blocks can all be resident at once: at most one block per
// multiprocessor, of a kernel that fits one. Blocks of a grid launched early (PDL) still take
// their places as the predecessor's blocks leave, and dependents launched by this grid's
// trigger must come after the barrier, so nothing can keep a block of this grid out.
__device__ __forceinline__ void grid_barrier(unsigned* state) {
  __syncthreads();
  if (threadIdx.x == 0) {
    cuda::atomic_ref<unsigned, cuda::thread_scope_device> count(state[0]);
    cuda::atomic_ref<unsigned, cuda::thread_scope_device> generation(state[1]);
    // Read before arriving: the generation moves only once every block (this one too) arrived.
    const unsigned gen = generation.load(cuda::memory_order_relaxed);
    __threadfence();  // the block's writes (ordered before this thread by __syncthreads)
    if (count.fetch_add(1U, cuda::memory_order_acq_rel) == gridDim.x - 1) {
      count.store(0U, cuda::memory_order_relaxed);
      generation.store(gen + 1U, cuda::memory_order_release);
    } else {
      const std::uint64_t start = global_timer_ns();
      while (generation.load(cuda::memory_order_acquire) == gen) {
        __nanosleep(32);
        if (global_timer_ns() - start > kGridBarrierTimeoutNs) __trap();
      }
    }
    __threadfence();
  }
  __syncthreads();
}

}  // namespace encore::ops::detail
