#include "gemv_bench.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "replay_timing.h"

namespace encore::bench {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::Internal, std::string(what) + ": " + cudaGetErrorString(status));
  }
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(ErrorCode::Internal,
                std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
  }
}

// 0x3C3C as bf16 is about 0.0115: weights that are not zero, without a host-side generator.
constexpr unsigned char kWeightByte = 0x3C;

}  // namespace

std::vector<GemvShape> issue_gemv_shapes() {
  return {
      {"llama-1b gate+up", 16384, 2048, true},  {"llama-1b lm_head", 128256, 2048, true},
      {"qwen-0.5b lm_head", 151936, 896, true}, {"llama-1b q/o", 2048, 2048, false},
      {"llama-1b k/v", 512, 2048, false},       {"llama-1b down", 2048, 8192, false},
      {"qwen-0.5b down", 896, 4864, false},     {"qwen-0.5b gate+up", 9728, 896, false},
  };
}

std::vector<GemvShape> decode_gemv_shapes() {
  std::vector<GemvShape> shapes = issue_gemv_shapes();
  shapes.push_back({"llama-1b qkv", 3072, 2048, false});
  shapes.push_back({"qwen-0.5b q/o", 896, 896, false});
  shapes.push_back({"qwen-0.5b qkv", 1152, 896, false});
  return shapes;
}

GemvPlan plan_gemv(const GemvShape& shape, std::uint64_t rotation_bytes, std::uint32_t min_calls) {
  const auto bytes = static_cast<std::uint64_t>(gemv_bytes(shape));
  const auto copies =
      static_cast<std::uint32_t>(std::max<std::uint64_t>(1, (rotation_bytes + bytes - 1) / bytes));
  return {copies, calls_for(copies, min_calls)};
}

namespace {

// Times `plan.calls` calls that `encode_call(enc, w, x, y)` records, on rotating weight copies,
// as one recording replayed `replays` times; the median device time per call.
template <typename EncodeCall>
double time_recorded_calls(Device& device, const GemvShape& shape, const GemvPlan& plan,
                           int replays, const EncodeCall& encode_call) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(gemv_bytes(shape));
  const std::vector<unsigned char> fill(bytes, kWeightByte);
  std::vector<Buffer> weights;
  for (std::uint32_t i = 0; i < plan.copies; ++i) {
    weights.push_back(device.alloc(bytes, "w"));
    weights.back().upload(std::as_bytes(std::span<const unsigned char>(fill)));
  }
  Buffer x = device.alloc(std::uint64_t{shape.cols} * 4, "x");
  Buffer y = device.alloc(std::uint64_t{shape.rows} * 4, "y");
  Encoder enc = device.encoder({.ordering = Ordering::Serial, .label = "gemv"});
  for (std::uint32_t i = 0; i < plan.calls; ++i) encode_call(enc, weights[i % plan.copies], x, y);
  return median_us_per_call(device, enc.finish(), plan.calls, replays);
}

}  // namespace

GemvTiming time_encore_gemv(Device& device, const GemvShape& shape, const GemvPlan& plan,
                            int replays) {
  const ops::OpEncoder ops(device);
  const double us = time_recorded_calls(device, shape, plan, replays,
                                        [&](Encoder& enc, Buffer& w, Buffer& x, Buffer& y) {
                                          ops.gemv(enc, w, x, y, shape.rows, shape.cols);
                                        });
  return {"encore", ops::gemv_kernel_for(shape.rows, shape.cols), us};
}

GemvTiming time_gemv_variant(Device& device, const GemvShape& shape, const GemvPlan& plan,
                             int replays, const ops::KernelVariant& variant) {
  unsigned rows_per_group = 0;
  unsigned warps_per_group = 0;
  if (std::sscanf(variant.variant.c_str(), "r%us%u", &rows_per_group, &warps_per_group) != 2 ||
      rows_per_group == 0 || warps_per_group == 0 || warps_per_group > 8) {
    throw Error(ErrorCode::InvalidArgument,
                "gemv variant '" + variant.variant + "' is not named r<rows>s<warps>");
  }
  const std::uint32_t rows_per_block = 8 / warps_per_group * rows_per_group;  // 8 warps a block
  const std::uint32_t blocks = (shape.rows + rows_per_block - 1) / rows_per_block;
  const Kernel kernel = device.kernel(variant.kernel);
  const double us = time_recorded_calls(
      device, shape, plan, replays, [&](Encoder& enc, Buffer& w, Buffer& x, Buffer& y) {
        enc.dispatch(kernel, Launch::groups(blocks, 256),
                     {in(w), in(x), out(y), value(shape.rows), value(shape.cols)});
      });
  return {"encore", variant.kernel, us};
}

GemvTiming time_cublas_gemv(const GemvShape& shape, const GemvPlan& plan, int replays) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(gemv_bytes(shape));
  std::vector<void*> weights(plan.copies, nullptr);
  for (void*& w : weights) {
    check(cudaMalloc(&w, bytes), "cudaMalloc (weights)");
    check(cudaMemset(w, kWeightByte, bytes), "cudaMemset");
  }
  void* x = nullptr;
  void* y = nullptr;
  void* workspace = nullptr;
  constexpr std::size_t kWorkspace = 32U << 20;
  check(cudaMalloc(&x, std::size_t{shape.cols} * 2), "cudaMalloc (x)");
  check(cudaMemset(x, kWeightByte, std::size_t{shape.cols} * 2), "cudaMemset");
  check(cudaMalloc(&y, std::size_t{shape.rows} * 2), "cudaMalloc (y)");
  check(cudaMalloc(&workspace, kWorkspace), "cudaMalloc (workspace)");
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  cublasHandle_t handle = nullptr;
  check(cublasCreate(&handle), "cublasCreate");
  check(cublasSetStream(handle, stream), "cublasSetStream");
  check(cublasSetWorkspace(handle, workspace, kWorkspace), "cublasSetWorkspace");

  // y[rows] = W[rows, cols] x: W row-major is column-major [cols, rows], so op(A) = A^T.
  const float alpha = 1.0F;
  const float beta = 0.0F;
  const auto gemv = [&](const void* w) {
    check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(shape.rows), 1,
                       static_cast<int>(shape.cols), &alpha, w, CUDA_R_16BF,
                       static_cast<int>(shape.cols), x, CUDA_R_16BF, static_cast<int>(shape.cols),
                       &beta, y, CUDA_R_16BF, static_cast<int>(shape.rows), CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
  };
  gemv(weights[0]);  // let cuBLAS load its kernels outside the capture
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  for (std::uint32_t i = 0; i < plan.calls; ++i) gemv(weights[i % plan.copies]);
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(stream, &graph), "EndCapture");
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiateWithFlags(&exec, graph, 0), "cudaGraphInstantiate");
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < 2; ++i) check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  std::vector<double> us;
  for (int r = 0; r < replays; ++r) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    us.push_back(1000.0 * ms / plan.calls);
  }
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  check(cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
  check(cudaGraphDestroy(graph), "cudaGraphDestroy");
  check(cublasDestroy(handle), "cublasDestroy");
  check(cudaStreamDestroy(stream), "cudaStreamDestroy");
  for (void* w : weights) check(cudaFree(w), "cudaFree");
  check(cudaFree(x), "cudaFree");
  check(cudaFree(y), "cudaFree");
  check(cudaFree(workspace), "cudaFree");
  return {"cublas", "cublasGemmEx", median(us)};
}

}  // namespace encore::bench
