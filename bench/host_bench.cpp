// Host cost of encoding: a decode-like step of ~1000 dispatches recorded under each ordering
// mode, and the CPU backend's cost per replayed node, with profiling off, per submission and per
// dispatch. Prints Google Benchmark's table, then a summary with ns per dispatch, the ratio of
// each mode to the no-tracking baseline measured in the same run (Barriers: validation and
// recording, no hazard tracking) and what profiling adds per replayed node. op_encode_bench.cpp
// adds the same measurement for a step encoded through the op library's OpEncoder.

#include <benchmark/benchmark.h>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "encore/encore.h"

#include "decode_program.h"
#include "kernels/basic_kernels.h"

#ifndef ENCORE_GIT_REVISION
#define ENCORE_GIT_REVISION "unknown"
#endif

namespace encore::bench {
namespace {

constexpr std::uint32_t kLayers = 62;  // 62 * 16 + 3 = 995 dispatches

struct Setup {
  Setup() {
    registry = KernelRegistry::create();
    kernels::register_basic_kernels(*registry);
    DecodeProgram::register_kernels(*registry);
    device = open(ProfileMode::Off);
    program = std::make_unique<DecodeProgram>(device, kLayers);
  }
  Device open(ProfileMode profile) const {
    DeviceOptions o{.backend = BackendKind::Cpu, .cpu_threads = 1, .registry = registry};
    o.profile = profile;
    return Device::open(o);
  }
  std::shared_ptr<KernelRegistry> registry;
  Device device{nullptr};
  std::unique_ptr<DecodeProgram> program;
};

Setup& setup() {
  static Setup s;
  return s;
}

// Seconds per dispatch (printed with an SI prefix); the summary converts to ns.
void set_per_dispatch_counter(benchmark::State& state, std::uint32_t dispatches) {
  state.counters["per_dispatch"] = benchmark::Counter(
      static_cast<double>(dispatches),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Encode + hazard tracking + finish() of one decode step.
void BM_EncodeStep(benchmark::State& state) {
  Setup& s = setup();
  const auto ordering = static_cast<Ordering>(state.range(0));
  std::uint32_t position = 0;
  for (auto _ : state) {
    Encoder enc = s.device.encoder({.ordering = ordering});
    s.program->encode(enc, position);
    Recording rec = enc.finish();
    benchmark::DoNotOptimize(rec);
    position = (position + 1) % 32;
  }
  set_per_dispatch_counter(state, s.program->dispatch_count());
  state.SetLabel(std::string(to_string(ordering)));
}
BENCHMARK(BM_EncodeStep)
    ->Arg(static_cast<int>(Ordering::Serial))
    ->Arg(static_cast<int>(Ordering::Barriers))
    ->Arg(static_cast<int>(Ordering::AutoBarrier))
    ->Arg(static_cast<int>(Ordering::AutoDag))
    ->Unit(benchmark::kMicrosecond);

// Building the same views and args without encore: the part of each figure above that is the
// caller's, not the encoder's.
void BM_ArgsOnly(benchmark::State& state) {
  Setup& s = setup();
  std::uint32_t position = 0;
  NullSink sink;
  for (auto _ : state) {
    s.program->encode(sink, position);
    position = (position + 1) % 32;
  }
  benchmark::DoNotOptimize(sink.sunk);
  set_per_dispatch_counter(state, s.program->dispatch_count());
}
BENCHMARK(BM_ArgsOnly)->Unit(benchmark::kMicrosecond);

// Replay of a recorded step on the CPU backend (one worker thread, kernels do nothing): the cost
// per node of scheduling, binding and completing, the CPU backend's floor.
void BM_ReplayStepCpu(benchmark::State& state) {
  Setup& s = setup();
  Encoder enc = s.device.encoder({.ordering = Ordering::AutoDag});
  s.program->encode(enc, 0);
  Recording rec = enc.finish();
  for (auto _ : state) s.device.submit(rec).wait();
  set_per_dispatch_counter(state, s.program->dispatch_count());
}
// Real time: the work happens on the backend's threads, not the benchmark's.
BENCHMARK(BM_ReplayStepCpu)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same replay on a device that profiles (Arg: ProfileMode), to price profiling: per
// submission it is one record, per dispatch two clock reads and a record per node. Records are
// dropped every 64 steps so memory stays flat (the reset is part of the measured cost).
void BM_ReplayStepCpuProfiled(benchmark::State& state) {
  Setup& s = setup();
  const auto mode = static_cast<ProfileMode>(state.range(0));
  Device dev = s.open(mode);
  DecodeProgram program(dev, kLayers);
  Encoder enc = dev.encoder({.ordering = Ordering::AutoDag});
  program.encode(enc, 0);
  Recording rec = enc.finish();
  std::uint64_t step = 0;
  for (auto _ : state) {
    dev.submit(rec).wait();
    if (++step % 64 == 0) dev.reset_profile();
  }
  set_per_dispatch_counter(state, program.dispatch_count());
  state.SetLabel(std::string(to_string(mode)));
}
BENCHMARK(BM_ReplayStepCpuProfiled)
    ->Arg(static_cast<int>(ProfileMode::Off))
    ->Arg(static_cast<int>(ProfileMode::Submission))
    ->Arg(static_cast<int>(ProfileMode::Dispatch))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Collects per-dispatch times to print the summary after the table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      // With repetitions keep the median; otherwise the single run.
      const bool wanted =
          r.run_type == Run::RT_Iteration ? r.repetitions <= 1 : r.aggregate_name == "median";
      auto it = r.counters.find("per_dispatch");
      if (wanted && it != r.counters.end()) ns_[r.run_name.str()] = it->second.value * 1e9;
    }
  }
  const std::map<std::string, double>& ns() const { return ns_; }

 private:
  std::map<std::string, double> ns_;
};

// Lines only for what ran (a --benchmark_filter run measures a part; a missing value is never
// printed as 0 or judged against the goal).
void print_summary(const std::map<std::string, double>& ns) {
  const auto find = [&](const std::string& prefix) -> std::optional<double> {
    for (const auto& [name, value] : ns) {
      if (name.rfind(prefix, 0) == 0) return value;
    }
    return std::nullopt;
  };
  const auto step = [&](Ordering o) {
    return find("BM_EncodeStep/" + std::to_string(static_cast<int>(o)));
  };
  std::printf("\nencore host cost, revision %s, %s, decode-like step of %u dispatches\n",
              ENCORE_GIT_REVISION, setup().device.name().c_str(),
              setup().program->dispatch_count());
  if (ns.empty()) {
    std::printf("  nothing measured\n");
    return;
  }
  const std::optional<double> base = step(Ordering::Barriers);
  for (Ordering o :
       {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
    const std::optional<double> v = step(o);
    if (!v) continue;
    std::printf("  encode %-13s %7.1f ns/dispatch", std::string(to_string(o)).c_str(), *v);
    if (base && *base > 0) std::printf("  (%.2fx the no-tracking baseline)", *v / *base);
    std::printf("\n");
  }
  if (const auto args = find("BM_ArgsOnly")) {
    std::printf("  of which the caller's views and args: %.1f ns/dispatch\n", *args);
  }
  if (const auto dag = step(Ordering::AutoDag)) {
    std::printf("  goal: encode + tracking <= 100 ns/dispatch (auto_dag): %s (%.1f ns)\n",
                *dag <= 100.0 ? "met" : "missed", *dag);
  }
  if (const auto replay = find("BM_ReplayStepCpu/")) {
    std::printf("  cpu replay           %7.1f ns/node\n", *replay);
  }
  if (const auto ops = find("BM_EncodeOpsStep")) {
    std::printf("  op library step (OpEncoder, auto_dag): %.1f ns/dispatch\n", *ops);
  }
  const auto profiled = [&](ProfileMode m) {
    return find("BM_ReplayStepCpuProfiled/" + std::to_string(static_cast<int>(m)));
  };
  const std::optional<double> off = profiled(ProfileMode::Off);
  for (ProfileMode m : {ProfileMode::Off, ProfileMode::Submission, ProfileMode::Dispatch}) {
    const std::optional<double> v = profiled(m);
    if (!v) continue;
    std::printf("  cpu replay, profile %-8s %7.1f ns/node", std::string(to_string(m)).c_str(), *v);
    if (off && *off > 0) {
      std::printf("  (%+.1f ns/node, %+.1f%% over off)", *v - *off, (*v / *off - 1) * 100);
    }
    std::printf("\n");
  }
}

}  // namespace
}  // namespace encore::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  encore::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  encore::bench::print_summary(reporter.ns());
  benchmark::Shutdown();
  return 0;
}
