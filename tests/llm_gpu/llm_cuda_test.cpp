// encore-llm on the CUDA backend: the tiny models against the CPU backend and the scalar
// reference (logits at every step, greedy tokens in every encoder mode), the real shapes
// (Llama-3.2-1B, Qwen2.5-0.5B) against the scalar reference for a few steps and bitwise equal
// with programmatic launch on and off, the llm kernels, and the bandwidth measurement. Every test
// skips without a usable CUDA device.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "llm/llm_kernels.h"
#include "llm/roofline.h"
#include "llm/runner.h"
#include "llm/weights.h"
#include "llm_support/reference_model.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using llm::NormMode;
using llm::ReplayMode;
using llm::Runner;

// Opens the CUDA device in SetUp, or skips the test when there is none.
template <class Base>
class WithCudaDevice : public Base {
 protected:
  void SetUp() override {
    try {
      cuda_.emplace(Device::open({.backend = BackendKind::Cuda}));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::BackendUnavailable) throw;
      GTEST_SKIP() << "CUDA backend unavailable: " << e.what();
    }
  }
  Device& cuda() { return *cuda_; }

 private:
  std::optional<Device> cuda_;
};

Device cpu_device() { return Device::open({.backend = BackendKind::Cpu, .cpu_threads = 4}); }

std::vector<std::uint32_t> ids_for(std::uint32_t n, std::uint32_t vocab) {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < n; ++i) ids.push_back((i * 7919 + 13) % vocab);
  return ids;
}

class LlmCudaTiny : public WithCudaDevice<::testing::TestWithParam<std::string>> {};
class LlmCuda : public WithCudaDevice<::testing::Test> {};

// CUDA teacher-forced logits agree with the CPU backend's and the reference's at every step.
TEST_P(LlmCudaTiny, LogitsMatchTheCpuBackendAndTheReference) {
  Device& cuda = this->cuda();
  Device cpu = cpu_device();
  const llm::HostWeights host = llm::random_weights(llm::named_config(GetParam()), 7);
  const llm::DeviceWeights on_cuda = llm::upload(cuda, host);
  const llm::DeviceWeights on_cpu = llm::upload(cpu, host);
  const std::vector<std::uint32_t> ids = ids_for(40, host.config.vocab_size);
  const std::vector<float> got = Runner(cuda, on_cuda, {.max_ctx = 64}).teacher_force(ids);
  const std::vector<float> want = Runner(cpu, on_cpu, {.max_ctx = 64}).teacher_force(ids);
  EXPECT_LT(testing::max_abs_difference(got, want), 2e-2);
  testing::ReferenceModel reference(host);
  const std::uint32_t vocab = host.config.vocab_size;
  double worst = 0;
  for (std::uint32_t pos = 0; pos < ids.size(); ++pos) {
    const std::vector<double> ref = reference.step(ids[pos], pos);
    for (std::uint32_t v = 0; v < vocab; ++v) {
      worst = std::max(worst, std::fabs(got[std::size_t{pos} * vocab + v] - ref[v]));
    }
  }
  EXPECT_LT(worst, 2e-2);
}

// Every submission path, replay mode, norm encoding and ordering decodes the CPU's tokens.
TEST_P(LlmCudaTiny, EveryModeDecodesTheCpuTokens) {
  Device& cuda = this->cuda();
  Device cpu = cpu_device();
  const llm::HostWeights host = llm::random_weights(llm::named_config(GetParam()), 3);
  const llm::DeviceWeights on_cuda = llm::upload(cuda, host);
  const llm::DeviceWeights on_cpu = llm::upload(cpu, host);
  const std::vector<std::uint32_t> prompt = {3, 1, 4, 1, 5};
  const std::vector<std::uint32_t> want =
      Runner(cpu, on_cpu, {.max_ctx = 48}).generate(prompt, 24).tokens;
  for (const ExecutionPath path :
       {ExecutionPath::Graph, ExecutionPath::MultiStream, ExecutionPath::SingleStream}) {
    for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
      for (const NormMode norm : {NormMode::Fused, NormMode::Standalone, NormMode::Split}) {
        for (const Ordering ordering :
             {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
          Runner runner(
              cuda, on_cuda,
              {.max_ctx = 48, .replay = replay, .norm = norm, .ordering = ordering, .path = path});
          EXPECT_EQ(runner.generate(prompt, 24).tokens, want)
              << to_string(path) << " " << to_string(replay) << " " << to_string(norm) << " "
              << to_string(ordering);
        }
      }
    }
  }
}

// The recording passes on the split step (fusion makes it the hand-fused step) decode the CPU's
// tokens on CUDA too, recorded once and re-recorded, on the graph and the stream paths.
TEST_P(LlmCudaTiny, PassesOnTheSplitStepDecodeTheCpuTokens) {
  Device& cuda = this->cuda();
  Device cpu = cpu_device();
  const llm::HostWeights host = llm::random_weights(llm::named_config(GetParam()), 3);
  const llm::DeviceWeights on_cuda = llm::upload(cuda, host);
  const llm::DeviceWeights on_cpu = llm::upload(cpu, host);
  const std::vector<std::uint32_t> prompt = {3, 1, 4, 1, 5};
  const std::vector<std::uint32_t> want =
      Runner(cpu, on_cpu, {.max_ctx = 48}).generate(prompt, 24).tokens;
  const std::vector<std::vector<Pass>> pipelines = {
      {Pass::Fuse}, {Pass::Reorder}, {Pass::Fuse, Pass::Reorder, Pass::Minimize}};
  for (const std::vector<Pass>& passes : pipelines) {
    for (const ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
      for (const ReplayMode replay : {ReplayMode::Slots, ReplayMode::Rerecord}) {
        Runner runner(cuda, on_cuda,
                      {.max_ctx = 48,
                       .replay = replay,
                       .norm = NormMode::Split,
                       .path = path,
                       .passes = passes});
        EXPECT_EQ(runner.generate(prompt, 24).tokens, want)
            << passes.size() << " passes, " << to_string(path) << " " << to_string(replay);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LlmCudaTiny, ::testing::Values("tiny", "tiny-qwen2"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The published shapes (big vocabularies, GQA 4:1 and 7:1, llama3 rope scaling, Qwen2 biases)
// agree with the scalar reference for the first steps. Tolerance: 4096-long f32 dot products.
TEST_F(LlmCuda, RealShapesMatchTheReferenceForTheFirstSteps) {
  Device& cuda = this->cuda();
  for (const char* shape : {"qwen2.5-0.5b", "llama-3.2-1b"}) {
    const llm::HostWeights host = llm::random_weights(llm::named_config(shape), 2);
    const llm::DeviceWeights weights = llm::upload(cuda, host);
    const std::vector<std::uint32_t> ids = ids_for(3, host.config.vocab_size);
    const std::vector<float> got = Runner(cuda, weights, {.max_ctx = 8}).teacher_force(ids);
    testing::ReferenceModel reference(host);
    const std::uint32_t vocab = host.config.vocab_size;
    for (std::uint32_t pos = 0; pos < ids.size(); ++pos) {
      const std::vector<double> ref = reference.step(ids[pos], pos);
      double worst = 0;
      for (std::uint32_t v = 0; v < vocab; ++v) {
        worst = std::max(worst, std::fabs(got[std::size_t{pos} * vocab + v] - ref[v]));
      }
      EXPECT_LT(worst, 5e-2) << shape << " position " << pos;
      // The argmax must agree wherever the reference's top two are further apart than the
      // tolerance (random logits over 100k+ entries can nearly tie).
      std::vector<double> sorted = ref;
      std::nth_element(sorted.begin(), sorted.end() - 2, sorted.end());
      const double margin = sorted[sorted.size() - 1] - sorted[sorted.size() - 2];
      const auto first = got.begin() + std::ptrdiff_t{pos} * vocab;
      if (margin > 5e-2) {
        EXPECT_EQ(static_cast<std::uint32_t>(std::max_element(first, first + vocab) - first),
                  testing::argmax(ref))
            << shape << " position " << pos;
      }
    }
  }
}

// Programmatic dependent launch changes timing, never results: the real shapes decoded with it
// and without it (same kernels, same launch shapes, deterministic reductions) leave bitwise equal
// K/V caches in every layer and bitwise equal logits. A kernel that reads memory an earlier
// dispatch writes before its PDL wait, or triggers its dependents too early, shows here as the
// first layer whose cache differs.
TEST_F(LlmCuda, ProgrammaticLaunchChangesNoBitOfTheRealShapes) {
  for (const char* shape : {"qwen2.5-0.5b", "llama-3.2-1b"}) {
    const llm::HostWeights host = llm::random_weights(llm::named_config(shape), 3);
    const std::uint32_t layers = host.config.num_layers;
    const std::vector<std::uint32_t> ids = ids_for(6, host.config.vocab_size);
    struct Run {
      std::vector<float> logits;
      std::vector<std::vector<std::uint16_t>> k, v;
    };
    const auto decode = [&](bool programmatic) {
      DeviceOptions o;
      o.backend = BackendKind::Cuda;
      o.programmatic_launch = programmatic;
      Device dev = Device::open(o);
      const llm::DeviceWeights weights = llm::upload(dev, host);
      Runner runner(dev, weights, {.max_ctx = 8});
      Run run;
      run.logits = runner.teacher_force(ids);
      for (std::uint32_t l = 0; l < layers; ++l) {
        run.k.push_back(runner.buffers().k_cache(l).download<std::uint16_t>());
        run.v.push_back(runner.buffers().v_cache(l).download<std::uint16_t>());
      }
      return run;
    };
    const Run with = decode(true);
    const Run without = decode(false);
    // The first element that differs, as "row r, element e of N", or "" when none does.
    const auto first_difference = [](const auto& a, const auto& b, std::size_t row) {
      const auto at = std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin();
      if (at == static_cast<std::ptrdiff_t>(a.size())) return std::string();
      return "row " + std::to_string(at / row) + ", element " + std::to_string(at % row) + " of " +
             std::to_string(a.size());
    };
    const std::size_t kv_row = host.config.kv_dim();
    for (std::uint32_t l = 0; l < layers; ++l) {
      ASSERT_EQ(first_difference(with.k[l], without.k[l], kv_row), "")
          << shape << ": K, layer " << l;
      ASSERT_EQ(first_difference(with.v[l], without.v[l], kv_row), "")
          << shape << ": V, layer " << l;
    }
    EXPECT_EQ(first_difference(with.logits, without.logits, host.config.vocab_size), "") << shape;
  }
}

// The streaming read sums its buffer exactly (ones), and the bandwidth measurement built on it
// reports a device-timed, positive, finite rate. Its value is a benchmark figure (encore-llm and
// encore-ops-bench print it), not a test condition: it is far lower under compute-sanitizer.
TEST_F(LlmCuda, StreamReadSumsTheBufferAndMeasuresBandwidth) {
  Device& cuda = this->cuda();
  llm::ensure_llm_kernels(cuda);
  const std::uint32_t n4 = 1U << 20;
  Buffer x = cuda.alloc(std::uint64_t{n4} * 16);
  Buffer partial = cuda.alloc(64 * 4);
  Encoder enc = cuda.encoder();
  enc.dispatch(cuda.kernel("fill_f32"), Launch::threads(n4 * 4, 256),
               {out(x), value(1.0F), value(n4 * 4)});
  enc.dispatch(cuda.kernel(llm::kStreamReadKernel), Launch::groups(64, 256),
               {in(x), out(partial), value(n4)});
  enc.commit_and_wait();
  double total = 0;
  for (const float p : partial.download<float>()) total += p;
  EXPECT_EQ(total, 4.0 * n4);
  const llm::Bandwidth bw = llm::measure_read_bandwidth(cuda, 1ULL << 30, 5);
  EXPECT_TRUE(bw.device_timed);
  EXPECT_TRUE(std::isfinite(bw.bytes_per_second));
  EXPECT_GT(bw.bytes_per_second, 0.0);
  RecordProperty("read_gb_per_s", std::to_string(bw.bytes_per_second * 1e-9));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
