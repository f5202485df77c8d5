// Built without CUDA: every op kernel has its CPU reference only.

#include <cstdint>

#include "ops/argmax/argmax.h"
#include "ops/attention/attention.h"
#include "ops/attention/attention_o.h"
#include "ops/elementwise/elementwise.h"
#include "ops/embedding/embedding.h"
#include "ops/gemv/gemv.h"
#include "ops/kv_cache/kv_append.h"
#include "ops/norm/norm.h"
#include "ops/rope/rope.h"
#include "ops/softmax/softmax.h"

namespace encore::ops::detail {

ArgmaxCudaKernels argmax_cuda_kernels() { return {}; }
AttentionCudaKernels attention_cuda_kernels() { return {}; }
AttentionOCudaKernels attention_o_cuda_kernels() { return {}; }
ElementwiseCudaKernels elementwise_cuda_kernels() { return {}; }
EmbeddingCudaKernels embedding_cuda_kernels() { return {}; }
const void* gemv_cuda_kernel(GemvInput, GemvOutput, std::uint32_t, std::uint32_t) {
  return nullptr;
}
KvAppendCudaKernels kv_append_cuda_kernels() { return {}; }
NormCudaKernels norm_cuda_kernels() { return {}; }
RopeCudaKernels rope_cuda_kernels() { return {}; }
SoftmaxCudaKernels softmax_cuda_kernels() { return {}; }

}  // namespace encore::ops::detail
