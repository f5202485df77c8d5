// Host cost and effect of the recording passes on a decode-like recording: the layer pattern of
// a Llama block with unfused norms (rms_norm_f32 + mul_f32, add_f32 residuals; bench/
// decode_program.h), 16 layers (292 dispatches) and 55 layers (994 dispatches, the size of the
// < 50 us goal for all passes together), recorded three ways: auto_dag (edges), auto_barrier
// (inferred barriers), and barriers ordering with a barrier before every dispatch (the seed's
// style, where minimize and reorder have the most to do).
//
// Google Benchmark's table times PassPipeline::apply() per pipeline (no invariant checks, no
// explanations: what an encoder with passes pays at commit). The summary after it gives, for
// the full pipeline fuse,reorder,minimize, the dispatches, barriers and edges after each pass
// (from one checked run, which also verifies every invariant on these recordings) and the
// median host time of each pass, of reading and rebuilding the recording, and of the whole
// (with the fastest run too: on a shared machine the spread is wide).

#include <algorithm>
#include <benchmark/benchmark.h>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "decode_program.h"
#include "kernels/basic_kernels.h"

#ifndef ENCORE_GIT_REVISION
#define ENCORE_GIT_REVISION "unknown"
#endif

namespace encore::bench {
namespace {

constexpr std::uint32_t kLayerCounts[] = {16, 55};

enum class Style { AutoDag, AutoBarrier, BarrierEverywhere };
constexpr Style kStyles[] = {Style::AutoDag, Style::AutoBarrier, Style::BarrierEverywhere};

const char* name(Style s) {
  switch (s) {
    case Style::AutoDag:
      return "auto_dag";
    case Style::AutoBarrier:
      return "auto_barrier";
    case Style::BarrierEverywhere:
      return "barriers (one before every dispatch)";
  }
  return "?";
}

// Records every dispatch after a barrier.
struct BarrierEverywhere {
  Encoder& enc;
  void dispatch(const Kernel& kernel, const Launch& launch, std::initializer_list<Arg> args) {
    enc.barrier();
    enc.dispatch(kernel, launch, args);
  }
};

struct Setup {
  Setup() {
    auto registry = KernelRegistry::create();
    kernels::register_basic_kernels(*registry);
    DecodeProgram::register_kernels(*registry);
    device = Device::open(
        DeviceOptions{.backend = BackendKind::Cpu, .cpu_threads = 1, .registry = registry});
    for (std::uint32_t layers : kLayerCounts) {
      programs[layers] = std::make_unique<DecodeProgram>(device, layers, NormStyle::Unfused);
    }
  }

  Recording record(std::uint32_t layers, Style style) {
    const Ordering ordering = style == Style::AutoDag       ? Ordering::AutoDag
                              : style == Style::AutoBarrier ? Ordering::AutoBarrier
                                                            : Ordering::Barriers;
    Encoder enc = device.encoder({.ordering = ordering});
    if (style == Style::BarrierEverywhere) {
      BarrierEverywhere sink{enc};
      programs.at(layers)->encode(sink, 7);
    } else {
      programs.at(layers)->encode(enc, 7);
    }
    return enc.finish();
  }

  Device device{nullptr};
  std::map<std::uint32_t, std::unique_ptr<DecodeProgram>> programs;
};

Setup& setup() {
  static Setup s;
  return s;
}

PassOptions quiet() {
  PassOptions o;
  o.check_invariants = false;
  return o;
}

const std::vector<std::vector<Pass>> kPipelines = {
    {Pass::Fuse}, {Pass::Reorder}, {Pass::Minimize}, {Pass::Fuse, Pass::Reorder, Pass::Minimize}};

// apply() of one pipeline on one recording; args: layers, style, pipeline.
void BM_Passes(benchmark::State& state) {
  const auto layers = static_cast<std::uint32_t>(state.range(0));
  const auto style = static_cast<Style>(state.range(1));
  const PassPipeline pipeline(kPipelines[static_cast<std::size_t>(state.range(2))], quiet());
  const Recording rec = setup().record(layers, style);
  for (auto _ : state) {
    PassResult r = pipeline.apply(rec);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(std::to_string(rec.dispatch_count()) + " dispatches, " + name(style) + ", " +
                 pipeline.to_string());
}
BENCHMARK(BM_Passes)
    ->ArgsProduct({{16, 55}, {0, 1, 2}, {0, 1, 2, 3}})
    ->Unit(benchmark::kMicrosecond);

std::string shape_cells(const RecordingShape& s) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%10zu %9zu %7zu", s.dispatches, s.barriers, s.edges);
  return buffer;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double least(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}

void print_summary() {
  Setup& s = setup();
  std::printf("\nencore recording passes, revision %s, %s, host only\n", ENCORE_GIT_REVISION,
              s.device.name().c_str());
  const PassPipeline checked({Pass::Fuse, Pass::Reorder, Pass::Minimize},
                             PassOptions{.check_invariants = true});
  const PassPipeline timed({Pass::Fuse, Pass::Reorder, Pass::Minimize}, quiet());
  for (std::uint32_t layers : kLayerCounts) {
    for (Style style : kStyles) {
      const Recording rec = s.record(layers, style);
      const PassReport shapes = checked.apply(rec).report;  // throws if an invariant breaks
      constexpr int kRuns = 301;
      std::vector<std::vector<double>> stage_us(shapes.stages.size());
      std::vector<double> build_us, total_us;
      for (int i = 0; i < kRuns; ++i) {
        const PassReport r = timed.apply(rec).report;
        for (std::size_t k = 0; k < r.stages.size(); ++k) {
          stage_us[k].push_back(static_cast<double>(r.stages[k].nanoseconds) / 1000.0);
        }
        build_us.push_back(static_cast<double>(r.build_nanoseconds) / 1000.0);
        total_us.push_back(static_cast<double>(r.total_nanoseconds) / 1000.0);
      }
      std::printf("\n%u layers, %s\n", layers, name(style));
      std::printf("  %-14s %8s %10s %9s %7s  %s\n", "stage", "median us", "dispatches", "barriers",
                  "edges", "changed");
      std::printf("  %-14s %8s %s\n", "input", "", shape_cells(shapes.before).c_str());
      for (std::size_t k = 0; k < shapes.stages.size(); ++k) {
        const PassStage& st = shapes.stages[k];
        std::string changed;
        if (st.nodes_fused != 0) changed = "fused " + std::to_string(st.nodes_fused);
        if (st.nodes_moved != 0) changed = "moved " + std::to_string(st.nodes_moved);
        if (st.barriers_dropped != 0) {
          changed += (changed.empty() ? "" : ", ") +
                     std::string(st.pass == Pass::Reorder ? "stripped " : "dropped ") +
                     std::to_string(st.barriers_dropped) + " barriers";
        }
        std::printf("  %-14s %8.1f %s  %s\n", std::string(to_string(st.pass)).c_str(),
                    median(stage_us[k]), shape_cells(*st.shape).c_str(), changed.c_str());
      }
      std::printf("  %-14s %8.1f\n", "read+rebuild", median(build_us));
      const double total = median(total_us);
      std::printf("  %-14s %8.1f   (fastest run %.1f us)", "total", total, least(total_us));
      if (rec.dispatch_count() >= 900) {
        std::printf("   goal for ~1000 nodes: < 50 us: %s", total < 50.0 ? "met" : "missed");
      }
      std::printf("\n");
    }
  }
}

}  // namespace
}  // namespace encore::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  encore::bench::print_summary();
  benchmark::Shutdown();
  return 0;
}
