// CUDA against the CPU reference on random programs (label gpu; skipped, as a CTest skip, where no
// CUDA device can be opened). The programs are those of the ordering property test
// (support/random_program.h: mix_u32 / fill_u32 dispatches over random, often overlapping views,
// and the odd barrier), drawn from a seeded std::mt19937_64 since rapidcheck is a CPU-only
// dependency. Each program runs under auto_dag on the CUDA device three times: through the graph
// path (a fresh executable), through it again on a second set of buffers (the cached executable,
// every kernel node patched, which the counters must show) and through the multi-stream path; each
// run must leave every buffer byte-identical to a serial run on the CPU backend. The portable
// kernels compute bit-identical results on both backends, so any difference is an ordering the CUDA
// backend lost, a patch it missed, or a kernel that disagrees.
//
// The run's seed is printed and recorded; program k uses seed + k. A mismatch prints the seed,
// the run and the whole program; ENCORE_DIFFERENTIAL_SEED=<seed> replays a run (and the program
// seed of a mismatch replays that program first).

#include <cstdint>
#include <cstdlib>
#include <gtest/gtest.h>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/random_program.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::Contents;
using testing::Program;

constexpr int kPrograms = 300;
// Stop after this many failures: one program listing is what it takes to debug.
constexpr int kMaxReported = 3;

// ENCORE_DIFFERENTIAL_SEED when set (decimal or 0x hex), else a fresh random seed.
std::uint64_t run_seed() {
  if (const char* text = std::getenv("ENCORE_DIFFERENTIAL_SEED"); text != nullptr && *text) {
    return std::strtoull(text, nullptr, 0);
  }
  std::random_device device;
  return (std::uint64_t{device()} << 32) | device();
}

// A CUDA device on the portable registry; nullopt (and the reason) when CUDA cannot be opened.
std::optional<Device> open_cuda(std::string& why) {
  try {
    DeviceOptions options;
    options.backend = BackendKind::Cuda;
    options.registry = testing::make_portable_registry();
    return Device::open(options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::BackendUnavailable) throw;
    why = e.what();
    return std::nullopt;
  }
}

// Dispatches the program records (a barrier records none).
std::size_t dispatch_count(const Program& p) {
  std::size_t n = 0;
  for (const testing::Step& s : p.steps) n += s.kind == testing::StepKind::Barrier ? 0 : 1;
  return n;
}

// One program's runs on the CUDA device, each with its contents, or what went wrong.
struct CudaRuns {
  struct Run {
    const char* name;
    Contents contents;
  };
  std::vector<Run> runs;
  std::string problem;  ///< empty unless the patched run did not patch the cached executable
};

// Runs `p` under auto_dag through the graph path twice, the second time on other buffers while
// the first ones are still alive (so at other addresses: the stream-ordered pool would otherwise
// hand the freed ones back, and nothing would need patching), then through the streams path.
CudaRuns run_on_cuda(Device& gpu, const Program& p) {
  CudaRuns out;
  const EncoderOptions graph{.ordering = Ordering::AutoDag, .path = ExecutionPath::Graph};
  const std::vector<Buffer> first = testing::make_buffers(gpu, p);
  Encoder fresh = gpu.encoder(graph);
  testing::encode(gpu, fresh, p, first, nullptr);
  fresh.commit().wait();
  out.runs.push_back({"graph path", testing::download_all(first)});

  const std::vector<Buffer> second = testing::make_buffers(gpu, p);
  const Stats before = gpu.stats();
  Encoder again = gpu.encoder(graph);
  testing::encode(gpu, again, p, second, nullptr);
  again.commit().wait();
  const Stats after = gpu.stats();
  out.runs.push_back({"graph path, cached executable patched", testing::download_all(second)});
  // A command buffer without dispatches launches nothing, so it has nothing to cache.
  const std::size_t dispatches = dispatch_count(p);
  if (dispatches > 0) {
    const std::uint64_t built = after.graph_instantiations - before.graph_instantiations;
    const std::uint64_t patched = after.graph_nodes_patched - before.graph_nodes_patched;
    if (built != 0 || patched != dispatches) {
      out.problem = "the re-recorded program built " + std::to_string(built) +
                    " executables and patched " + std::to_string(patched) + " of its " +
                    std::to_string(dispatches) + " kernel nodes; expected 0 and all of them";
    }
  }

  out.runs.push_back(
      {"streams path",
       testing::run(gpu, p, {.ordering = Ordering::AutoDag, .path = ExecutionPath::MultiStream})});
  return out;
}

// Random programs under auto_dag give the serial CPU bytes on every CUDA path: graph (a fresh
// executable, then the cached one patched for other buffers) and streams.
TEST(CudaDifferential, RandomProgramsMatchSerialCpuByteForByte) {
  std::string why;
  std::optional<Device> gpu = open_cuda(why);
  if (!gpu) GTEST_SKIP() << "cuda backend unavailable: " << why;
  Device cpu = testing::make_cpu_device({.cpu_threads = 1}, testing::make_portable_registry());

  const std::uint64_t seed = run_seed();
  std::cout << "[ differential ] seed " << seed << " (ENCORE_DIFFERENTIAL_SEED=" << seed
            << " replays this run), " << kPrograms << " programs, device " << gpu->name() << "\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));

  int failures = 0;
  int with_edges = 0;
  for (int k = 0; k < kPrograms && failures < kMaxReported; ++k) {
    const std::uint64_t program_seed = seed + static_cast<std::uint64_t>(k);
    testing::SeededChoices choices(program_seed);
    const Program p = testing::generate_program(choices);
    const auto where = [&] {
      return "\nrun seed " + std::to_string(seed) + ", program " + std::to_string(k) +
             ", program seed " + std::to_string(program_seed) +
             " (ENCORE_DIFFERENTIAL_SEED=" + std::to_string(program_seed) + " runs it first)\n" +
             testing::describe(p);
    };
    const Contents want = testing::run(cpu, p, {.ordering = Ordering::Serial});
    {
      // Whether auto_dag orders anything here (so the run tests the schedule, not only kernels).
      const std::vector<Buffer> buffers = testing::make_buffers(cpu, p);
      Encoder enc = cpu.encoder({.ordering = Ordering::AutoDag});
      testing::encode(cpu, enc, p, buffers, nullptr);
      with_edges += enc.finish().edge_count() > 0 ? 1 : 0;
    }
    const CudaRuns got = run_on_cuda(*gpu, p);
    for (const CudaRuns::Run& r : got.runs) {
      const std::string difference = testing::first_difference(r.contents, want);
      if (difference.empty()) continue;
      ++failures;
      ADD_FAILURE() << "cuda " << r.name << ", auto_dag: " << difference << where();
    }
    if (!got.problem.empty()) {
      ++failures;
      ADD_FAILURE() << got.problem << where();
    }
  }
  ::testing::Test::RecordProperty("programs_with_edges", with_edges);
  // The generator must produce ordered programs, or the comparison proves little.
  EXPECT_GT(with_edges, kPrograms / 2) << "seed " << seed;
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
