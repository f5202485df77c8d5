#include "backends/cuda/cuda_memory.h"

#include <cstdint>
#include <string>

#include "backends/cuda/cuda_check.h"

namespace encore::detail {

Stream make_stream() {
  cudaStream_t s = nullptr;
  ENCORE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return Stream(s);
}

Event make_event(bool timing) {
  cudaEvent_t e = nullptr;
  ENCORE_CUDA_CHECK(
      cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  return Event(e);
}

CudaMemory::CudaMemory(int ordinal) : ordinal_(ordinal) {
  const CurrentDevice scope(ordinal_);
  queue_ = make_stream();
  // Keep freed memory in the pool instead of returning it to the driver at every sync: a decode
  // loop that frees and allocates per step then costs nothing.
  cudaMemPool_t pool = nullptr;
  ENCORE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, ordinal_));
  std::uint64_t keep = UINT64_MAX;
  ENCORE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
}

CudaMemory::~CudaMemory() {
  // Frees are stream-ordered: let them finish before the stream goes.
  try {
    const CurrentDevice scope(ordinal_);
    (void)cudaStreamSynchronize(queue_.get());
  } catch (const Error&) {
    // A lost context: nothing to wait for.
  }
}

void* CudaMemory::allocate(std::uint64_t bytes) {
  const CurrentDevice scope(ordinal_);
  void* p = nullptr;
  const cudaError_t status = cudaMallocAsync(&p, bytes, queue_.get());
  if (status != cudaSuccess) {
    throw cuda_error(status, ("cudaMallocAsync of " + std::to_string(bytes) + " bytes").c_str(),
                     ErrorCode::OutOfMemory);
  }
  const cudaError_t zero = cudaMemsetAsync(p, 0, bytes, queue_.get());
  if (zero != cudaSuccess) {
    (void)cudaFreeAsync(p, queue_.get());
    throw cuda_error(zero, "cudaMemsetAsync (zero-fill of a new buffer)");
  }
  return p;
}

void CudaMemory::deallocate(void* address, std::uint64_t /*bytes*/) noexcept {
  try {
    const CurrentDevice scope(ordinal_);
    (void)cudaFreeAsync(address, queue_.get());
  } catch (const Error&) {
    // A lost context: the memory went with it.
  }
}

void CudaMemory::copy_in(void* address, std::uint64_t offset, std::span<const std::byte> src) {
  if (src.empty()) return;
  const CurrentDevice scope(ordinal_);
  ENCORE_CUDA_CHECK(cudaMemcpyAsync(static_cast<std::byte*>(address) + offset, src.data(),
                                    src.size(), cudaMemcpyHostToDevice, queue_.get()));
  ENCORE_CUDA_CHECK(cudaStreamSynchronize(queue_.get()));
}

void CudaMemory::copy_out(const void* address, std::uint64_t offset, std::span<std::byte> dst) {
  if (dst.empty()) return;
  const CurrentDevice scope(ordinal_);
  ENCORE_CUDA_CHECK(cudaMemcpyAsync(dst.data(), static_cast<const std::byte*>(address) + offset,
                                    dst.size(), cudaMemcpyDeviceToHost, queue_.get()));
  ENCORE_CUDA_CHECK(cudaStreamSynchronize(queue_.get()));
}

}  // namespace encore::detail
