// encore-bench: GPU scenarios, each against a raw CUDA baseline measured in the same process on
// the same kernels. Prints a table (and --json) with the card, driver and revision.
//
//   chain     N dependent tiny kernels, recorded once and replayed: encore graph replay vs raw
//             cudaGraphLaunch of the same chain built with the explicit API; encore stream path
//             vs raw <<<>>> launches.
//   rerecord  the chain re-recorded every step with the same topology and a new scalar: encore
//             (encode + commit, executable reused and patched) vs raw stream capture +
//             cudaGraphExecUpdate + launch. The targets compare host cost per re-record (each
//             step waited for before the next): pipelined, both sides are held to the GPU time
//             of a chain of dependent tiny kernels (about 0.7 us per node), which says nothing
//             about the cost of re-recording.
//   slots     the recorded chain replayed with one patched slot per step.
//   fanout    4 independent chains of busy kernels interleaved in program order: auto_dag vs
//             serial vs barriers (a barrier after each round).
//   barrier   a chain of dependent steps that each read a vector every block needs (as a decode
//             step's kernels read their predecessor's output), one block per multiprocessor:
//             one PDL kernel per step in a recording vs one kernel looping over the steps with
//             the op library's grid barrier between them (what a fused kernel such as
//             attention_o_decode pays for each phase boundary).
//   profile   what profiling costs: the chain replayed (graph and stream path) on devices that
//             profile off, per submission and per dispatch (CUPTI), each opened alone, then off
//             again once CUPTI has been used in the process.
//
// --profile profiles the bench device per dispatch (ENCORE_PROFILE picks another mode) and
// prints the profile's tables after the results; --trace FILE also writes its Chrome trace.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cuda_runtime_api.h>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "bench_kernels.h"

#ifndef ENCORE_GIT_REVISION
#define ENCORE_GIT_REVISION "unknown"
#endif

namespace encore::bench {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::Internal, std::string(what) + ": " + cudaGetErrorString(status));
  }
}

struct Row {
  std::string scenario;
  std::string variant;
  double us_per_step = 0;
  double us_per_node = 0;
  std::string baseline;  // variant this row is compared with
  double ratio = 0;      // this / baseline (time)
};

struct Bench {
  std::vector<Row> rows;
  int repetitions = 5;

  // Median over `repetitions` trials of the mean time of `steps` calls of `step`, then `sync`.
  double time_us(int steps, const std::function<void()>& step, const std::function<void()>& sync) {
    for (int i = 0; i < 3; ++i) step();  // warm up: instantiation, caches, clocks
    sync();
    std::vector<double> trials;
    for (int r = 0; r < repetitions; ++r) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) step();
      sync();
      const std::chrono::duration<double, std::micro> took =
          std::chrono::steady_clock::now() - start;
      trials.push_back(took.count() / steps);
    }
    std::sort(trials.begin(), trials.end());
    return trials[trials.size() / 2];
  }

  Row& add(std::string scenario, std::string variant, double us, int nodes,
           const std::string& baseline = {}) {
    Row row{std::move(scenario), std::move(variant), us, us / nodes, baseline, 0};
    for (const Row& r : rows) {
      if (r.scenario == row.scenario && r.variant == baseline) row.ratio = us / r.us_per_step;
    }
    rows.push_back(row);
    return rows.back();
  }
};

std::shared_ptr<KernelRegistry> bench_registry() {
  auto r = KernelRegistry::create();
  r->add({.name = "bench_tiny",
          .params = {Param::inout("x"), Param::value<float>("v")},
          .op = OpKind::ElemAdd,
          .cuda = tiny_kernel()});
  r->add({.name = "bench_tiny_pdl",
          .params = {Param::inout("x"), Param::value<float>("v")},
          .op = OpKind::ElemAdd,
          .cuda = tiny_pdl_kernel(),
          .programmatic_dependency = true});
  r->add({.name = "bench_step_pdl",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n")},
          .cuda = step_pdl_kernel(),
          .programmatic_dependency = true});
  r->add({.name = "bench_barrier_steps",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n"), Param::inout("state"),
                     Param::value<std::uint32_t>("steps")},
          .cuda = barrier_steps_kernel()});
  r->add({.name = "bench_busy",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("spins")},
          .cuda = busy_kernel()});
  return r;
}

// ---- chain ----------------------------------------------------------------------------------

// Node parameters of one tiny kernel for the raw baselines: `args` points at (x, v).
cudaKernelNodeParams tiny_params(void** args, bool programmatic = false) {
  cudaKernelNodeParams p{};
  p.func = const_cast<void*>(programmatic ? tiny_pdl_kernel() : tiny_kernel());
  p.gridDim = dim3(1);
  p.blockDim = dim3(32);
  p.kernelParams = args;
  return p;
}

Recording record_chain(Device& dev, const Buffer& x, int n, ExecutionPath path, bool slot_first,
                       const char* kernel = "bench_tiny") {
  const Kernel tiny = dev.kernel(kernel);
  Encoder enc = dev.encoder({.path = path, .label = "chain"});
  for (int i = 0; i < n; ++i) {
    if (slot_first && i == 0) {
      enc.dispatch(tiny, Launch::groups(1, 32), {inout(x), slot("v", 1.0F)},
                   {.label = "chain.first"});
    } else {
      enc.dispatch(tiny, Launch::groups(1, 32), {inout(x), value(1.0F)}, {.label = "chain.link"});
    }
  }
  return enc.finish();
}

// The same chain as a raw CUDA graph built with the explicit node API; with `programmatic`, of
// the PDL kernel joined by programmatic edges.
cudaGraphExec_t raw_chain_graph(float* x, int n, float* v, bool programmatic = false) {
  cudaGraph_t graph = nullptr;
  check(cudaGraphCreate(&graph, 0), "cudaGraphCreate");
  void* args[] = {&x, v};
  const cudaKernelNodeParams p = tiny_params(args, programmatic);
  cudaGraphNode_t prev = nullptr;
  for (int i = 0; i < n; ++i) {
    cudaGraphNode_t node = nullptr;
    if (programmatic && prev != nullptr) {
      check(cudaGraphAddKernelNode(&node, graph, nullptr, 0, &p), "cudaGraphAddKernelNode");
      cudaGraphEdgeData edge{};
      edge.from_port = cudaGraphKernelNodePortProgrammatic;
      edge.type = cudaGraphDependencyTypeProgrammatic;
      check(cudaGraphAddDependencies(graph, &prev, &node, &edge, 1), "cudaGraphAddDependencies");
    } else {
      check(cudaGraphAddKernelNode(&node, graph, prev ? &prev : nullptr, prev ? 1 : 0, &p),
            "cudaGraphAddKernelNode");
    }
    prev = node;
  }
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiateWithFlags(&exec, graph, 0), "cudaGraphInstantiate");
  check(cudaGraphDestroy(graph), "cudaGraphDestroy");
  return exec;
}

void chain(Bench& b, Device& dev, int n) {
  Buffer x = dev.alloc(32 * 4, "x");
  auto* raw_x = static_cast<float*>(nullptr);
  check(cudaMalloc(reinterpret_cast<void**>(&raw_x), 32 * 4), "cudaMalloc");
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const auto sync_raw = [&] { check(cudaStreamSynchronize(s), "sync"); };
  const auto sync_dev = [&] { dev.wait_idle(); };
  const int steps = 20;

  float v = 1.0F;
  cudaGraphExec_t raw = raw_chain_graph(raw_x, n, &v);
  b.add("chain", "raw cudaGraphLaunch",
        b.time_us(
            steps, [&] { check(cudaGraphLaunch(raw, s), "launch"); }, sync_raw),
        n);
  Recording graph = record_chain(dev, x, n, ExecutionPath::Graph, false);
  b.add("chain", "encore graph replay",
        b.time_us(
            steps, [&] { dev.submit(graph); }, sync_dev),
        n, "raw cudaGraphLaunch");

  cudaGraphExec_t raw_pdl = raw_chain_graph(raw_x, n, &v, true);
  b.add("chain", "raw cudaGraphLaunch, PDL edges",
        b.time_us(
            steps, [&] { check(cudaGraphLaunch(raw_pdl, s), "launch"); }, sync_raw),
        n, "raw cudaGraphLaunch");
  Recording pdl = record_chain(dev, x, n, ExecutionPath::Graph, false, "bench_tiny_pdl");
  b.add("chain", "encore graph replay, PDL",
        b.time_us(
            steps, [&] { dev.submit(pdl); }, sync_dev),
        n, "raw cudaGraphLaunch, PDL edges");
  check(cudaGraphExecDestroy(raw_pdl), "cudaGraphExecDestroy");

  b.add("chain", "raw <<<>>> launches",
        b.time_us(
            steps,
            [&] {
              for (int i = 0; i < n; ++i) launch_tiny(raw_x, 1.0F, s);
            },
            sync_raw),
        n);
  Recording stream = record_chain(dev, x, n, ExecutionPath::SingleStream, false);
  b.add("chain", "encore stream path",
        b.time_us(
            steps, [&] { dev.submit(stream); }, sync_dev),
        n, "raw <<<>>> launches");
  check(cudaGraphExecDestroy(raw), "cudaGraphExecDestroy");
  check(cudaStreamDestroy(s), "cudaStreamDestroy");
  check(cudaFree(raw_x), "cudaFree");
}

// ---- barrier --------------------------------------------------------------------------------

void barrier(Bench& b, Device& dev, int n) {
  const std::uint32_t grid = std::max(dev.limits().multiprocessors, 1U);
  const Kernel step = dev.kernel("bench_step_pdl");
  const Kernel looped = dev.kernel("bench_barrier_steps");
  Buffer x = dev.alloc(8192 * 4 + 16, "x");
  Buffer state = dev.alloc(8, "barrier state");  // zero-filled
  const auto sync_dev = [&] { dev.wait_idle(); };
  for (const std::uint32_t floats : {0U, 2048U, 8192U}) {
    const std::string read = floats == 0 ? "no read" : std::to_string(floats) + " floats read";
    Encoder kernels = dev.encoder({.label = "barrier.kernels"});
    for (int i = 0; i < n; ++i) {
      kernels.dispatch(step, Launch::groups(grid, 128), {inout(x), value(floats)},
                       {.label = "barrier.step"});
    }
    Recording chain = kernels.finish();
    const std::string pdl = "PDL kernel a step, " + read;
    b.add("barrier", pdl,
          b.time_us(
              3, [&] { dev.submit(chain); }, sync_dev),
          n);
    Encoder one = dev.encoder({.label = "barrier.loop"});
    one.dispatch(looped, Launch::groups(grid, 128),
                 {inout(x), value(floats), inout(state), value(static_cast<std::uint32_t>(n))},
                 {.label = "barrier.loop"});
    Recording loop = one.finish();
    b.add("barrier", "grid barrier a step, " + read,
          b.time_us(
              3, [&] { dev.submit(loop); }, sync_dev),
          n, pdl);
  }
}

// ---- rerecord and slots -----------------------------------------------------------------------

void rerecord(Bench& b, Device& dev, int n) {
  Buffer x = dev.alloc(32 * 4, "x");
  const Kernel tiny = dev.kernel("bench_tiny");
  float* raw_x = nullptr;
  check(cudaMalloc(reinterpret_cast<void**>(&raw_x), 32 * 4), "cudaMalloc");
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const int steps = 20;

  cudaGraphExec_t exec = nullptr;
  float step_value = 0.0F;
  const auto raw_step = [&] {
    step_value += 1.0F;
    check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
    for (int i = 0; i < n; ++i) launch_tiny(raw_x, step_value, s);
    cudaGraph_t g = nullptr;
    check(cudaStreamEndCapture(s, &g), "EndCapture");
    if (exec == nullptr) {
      check(cudaGraphInstantiateWithFlags(&exec, g, 0), "Instantiate");
    } else {
      cudaGraphExecUpdateResultInfo info{};
      check(cudaGraphExecUpdate(exec, g, &info), "cudaGraphExecUpdate");
    }
    check(cudaGraphDestroy(g), "cudaGraphDestroy");
    check(cudaGraphLaunch(exec, s), "launch");
  };
  b.add("rerecord", "raw capture+update+launch",
        b.time_us(steps, raw_step, [&] { check(cudaStreamSynchronize(s), "sync"); }), n);

  // The two ways an executable can take new scalars without re-instantiation, raw, on the same
  // chain: rebuild the graph with the explicit API and cudaGraphExecUpdate, or patch every node.
  {
    std::vector<cudaGraphNode_t> nodes(static_cast<std::size_t>(n));
    std::vector<cudaGraphNode_t> scratch_nodes(static_cast<std::size_t>(n));
    const auto build = [&](float v, cudaGraph_t* out, std::vector<cudaGraphNode_t>& into) {
      check(cudaGraphCreate(out, 0), "cudaGraphCreate");
      void* args[] = {&raw_x, &v};
      const cudaKernelNodeParams p = tiny_params(args);
      for (int i = 0; i < n; ++i) {
        check(cudaGraphAddKernelNode(&into[i], *out, i ? &into[i - 1] : nullptr, i ? 1 : 0, &p),
              "cudaGraphAddKernelNode");
      }
    };
    cudaGraph_t g = nullptr;
    build(1.0F, &g, nodes);
    cudaGraphExec_t e = nullptr;
    check(cudaGraphInstantiateWithFlags(&e, g, 0), "Instantiate");
    const auto host_only = [&](const std::function<void()>& step) {
      double total = 0;
      for (int i = 0; i < steps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        total += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                     .count();
        check(cudaStreamSynchronize(s), "sync");
      }
      return total / steps;
    };
    b.add("rerecord", "raw host: capture+update+launch", host_only(raw_step), n);
    b.add("rerecord", "raw host: build+ExecUpdate+launch", host_only([&] {
            step_value += 1.0F;
            cudaGraph_t fresh = nullptr;
            build(step_value, &fresh, scratch_nodes);
            cudaGraphExecUpdateResultInfo info{};
            check(cudaGraphExecUpdate(e, fresh, &info), "cudaGraphExecUpdate");
            check(cudaGraphDestroy(fresh), "cudaGraphDestroy");
            check(cudaGraphLaunch(e, s), "launch");
          }),
          n);
    b.add("rerecord", "raw host: SetParams x N+launch", host_only([&] {
            step_value += 1.0F;
            void* args[] = {&raw_x, &step_value};
            const cudaKernelNodeParams p = tiny_params(args);
            for (int i = 0; i < n; ++i) {
              check(cudaGraphExecKernelNodeSetParams(e, nodes[i], &p), "SetParams");
            }
            check(cudaGraphLaunch(e, s), "launch");
          }),
          n);
    check(cudaGraphExecDestroy(e), "cudaGraphExecDestroy");
    check(cudaGraphDestroy(g), "cudaGraphDestroy");
  }

  const auto encore_step = [&] {
    step_value += 1.0F;
    Encoder enc = dev.encoder({.label = "rerecord"});
    for (int i = 0; i < n; ++i) {
      enc.dispatch(tiny, Launch::groups(1, 32), {inout(x), value(step_value)});
    }
    enc.commit();
  };
  b.add("rerecord", "encore record+commit", b.time_us(steps, encore_step, [&] { dev.wait_idle(); }),
        n, "raw capture+update+launch");
  // Where the time goes on the host: encoding alone, and encoding plus commit, each step waited
  // for before the next so the GPU never holds the host back.
  double encode_us = 0;
  double commit_us = 0;
  double same_commit_us = 0;
  for (int i = 0; i < steps; ++i) {  // same values every step: nothing to patch
    Encoder enc = dev.encoder({.label = "rerecord"});
    for (int k = 0; k < n; ++k) enc.dispatch(tiny, Launch::groups(1, 32), {inout(x), value(1.0F)});
    const auto t1 = std::chrono::steady_clock::now();
    enc.commit();
    const auto t2 = std::chrono::steady_clock::now();
    dev.wait_idle();
    same_commit_us += std::chrono::duration<double, std::micro>(t2 - t1).count();
  }
  for (int i = 0; i < steps; ++i) {
    step_value += 1.0F;
    const auto t0 = std::chrono::steady_clock::now();
    Encoder enc = dev.encoder({.label = "rerecord"});
    for (int k = 0; k < n; ++k)
      enc.dispatch(tiny, Launch::groups(1, 32), {inout(x), value(step_value)});
    const auto t1 = std::chrono::steady_clock::now();
    enc.commit();
    const auto t2 = std::chrono::steady_clock::now();
    dev.wait_idle();
    encode_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
    commit_us += std::chrono::duration<double, std::micro>(t2 - t1).count();
  }
  b.add("rerecord", "encore host: encode", encode_us / steps, n);
  b.add("rerecord", "encore host: commit", commit_us / steps, n);
  b.add("rerecord", "encore host: encode+commit", (encode_us + commit_us) / steps, n,
        "raw host: capture+update+launch");
  b.add("rerecord", "encore host: commit, no change", same_commit_us / steps, n);

  Recording rec = record_chain(dev, x, n, ExecutionPath::Graph, true);
  b.add("slots", "encore replay",
        b.time_us(
            steps, [&] { dev.submit(rec); }, [&] { dev.wait_idle(); }),
        n);
  b.add("slots", "encore replay, 1 slot patched",
        b.time_us(
            steps,
            [&] {
              step_value += 1.0F;
              rec.set("v", step_value);
              dev.submit(rec);
            },
            [&] { dev.wait_idle(); }),
        n, "encore replay");
  if (exec != nullptr) check(cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
  check(cudaStreamDestroy(s), "cudaStreamDestroy");
  check(cudaFree(raw_x), "cudaFree");
}

// ---- fanout -----------------------------------------------------------------------------------

void fanout(Bench& b, Device& dev, int per_chain, std::uint32_t spins) {
  constexpr int kChains = 4;
  std::vector<Buffer> xs;
  for (int c = 0; c < kChains; ++c) xs.push_back(dev.alloc(32 * 4, "chain"));
  const Kernel busy = dev.kernel("bench_busy");
  const auto record = [&](Ordering ordering) {
    Encoder enc = dev.encoder({.ordering = ordering, .label = "fanout"});
    const std::string labels[kChains] = {"fanout.c0", "fanout.c1", "fanout.c2", "fanout.c3"};
    for (int j = 0; j < per_chain; ++j) {
      for (int c = 0; c < kChains; ++c) {
        enc.dispatch(busy, Launch::groups(1, 32), {inout(xs[c]), value(spins)},
                     {.label = labels[c]});
      }
      if (ordering == Ordering::Barriers) enc.barrier();
    }
    return enc.finish();
  };
  const int nodes = kChains * per_chain;
  const auto run = [&](Recording& rec) {
    return b.time_us(
        5, [&] { dev.submit(rec); }, [&] { dev.wait_idle(); });
  };
  Recording serial = record(Ordering::Serial);
  b.add("fanout", "serial", run(serial), nodes);
  Recording barriers = record(Ordering::Barriers);
  b.add("fanout", "barriers", run(barriers), nodes, "serial");
  Recording dag = record(Ordering::AutoDag);
  b.add("fanout", "auto_dag", run(dag), nodes, "serial");
}

// ---- profile ----------------------------------------------------------------------------------

// The chain replayed on a device of its own that profiles in `mode` (graph, then stream path).
// The device closes before the next one opens, so only one mode is active at a time; per
// dispatch also drops its records every 16 steps, as a long-running program would take them.
void profile_rows(Bench& b, const DeviceOptions& base, ProfileMode mode, int n,
                  const std::string& name) {
  DeviceOptions options = base;
  options.profile = mode;
  options.trace_path.clear();
  Device dev = Device::open(options);
  Buffer x = dev.alloc(32 * 4, "x");
  int step = 0;
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    Recording rec = record_chain(dev, x, n, path, false);
    const std::string variant =
        std::string(path == ExecutionPath::Graph ? "graph" : "stream") + ", " + name;
    const std::string baseline =
        std::string(path == ExecutionPath::Graph ? "graph" : "stream") + ", off";
    b.add("profile", variant,
          b.time_us(
              20,
              [&] {
                dev.submit(rec);
                if (++step % 16 == 0 && mode != ProfileMode::Off) dev.reset_profile();
              },
              [&] { dev.wait_idle(); }),
          n, variant == baseline ? std::string() : baseline);
  }
  if (mode != ProfileMode::Off && dev.profile_mode() != mode) {
    std::printf("note: profile %s ran as %s: %s\n", std::string(to_string(mode)).c_str(),
                std::string(to_string(dev.profile_mode())).c_str(),
                std::string(dev.profile_note()).c_str());
  }
}

void profile_overhead(Bench& b, const DeviceOptions& base, int n) {
  profile_rows(b, base, ProfileMode::Off, n, "off");
  profile_rows(b, base, ProfileMode::Submission, n, "cb");
  profile_rows(b, base, ProfileMode::Dispatch, n, "dispatch");
  profile_rows(b, base, ProfileMode::Off, n, "off, after CUPTI");
}

// ---- report -----------------------------------------------------------------------------------

std::string device_line(int ordinal) {
  cudaDeviceProp p{};
  (void)cudaGetDeviceProperties(&p, ordinal);
  int driver = 0;
  (void)cudaDriverGetVersion(&driver);
  int clock_khz = 0;
  (void)cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, ordinal);
  return std::string(p.name) + ", driver " + std::to_string(driver / 1000) + "." +
         std::to_string(driver % 1000 / 10) + ", " + std::to_string(p.multiProcessorCount) +
         " SMs, max SM clock " + std::to_string(clock_khz / 1000) + " MHz";
}

struct Target {
  std::string what;
  bool met;
  std::string value;
};

std::vector<Target> targets(const Bench& b) {
  const auto find = [&](const std::string& s, const std::string& v) -> const Row* {
    for (const Row& r : b.rows) {
      if (r.scenario == s && r.variant == v) return &r;
    }
    return nullptr;
  };
  std::vector<Target> out;
  char text[128];
  if (const Row* r = find("chain", "encore graph replay")) {
    std::snprintf(text, sizeof text, "%.3fx", r->ratio);
    out.push_back({"chain: encore replay <= 1.10x raw cudaGraphLaunch", r->ratio <= 1.10, text});
  }
  if (const Row* r = find("rerecord", "encore host: encode+commit")) {
    std::snprintf(text, sizeof text, "%.3f us/node", r->us_per_node);
    out.push_back({"rerecord: host <= 1.0 us per node", r->us_per_node <= 1.0, text});
    std::snprintf(text, sizeof text, "%.2fx", 1.0 / r->ratio);
    out.push_back(
        {"rerecord: host >= 1.3x faster than capture+update", 1.0 / r->ratio >= 1.3, text});
  }
  if (const Row* r = find("fanout", "auto_dag")) {
    std::snprintf(text, sizeof text, "%.2fx", 1.0 / r->ratio);
    out.push_back({"fanout: auto_dag >= 3.5x over serial", 1.0 / r->ratio >= 3.5, text});
  }
  return out;
}

}  // namespace
}  // namespace encore::bench

int main(int argc, char** argv) {
  using namespace encore;
  using namespace encore::bench;
  CLI::App app{"encore-bench: GPU scenarios against raw CUDA baselines"};
  std::string json_path;
  int n = 1000;
  int fan = 50;
  std::uint32_t spins = 20000;
  std::vector<std::string> only;
  Bench b;
  app.add_option("--json", json_path, "write the results as JSON to this file");
  app.add_option("-n,--nodes", n, "nodes of the chain scenarios")->check(CLI::Range(1, 100000));
  app.add_option("--fanout-length", fan, "kernels per fanout chain")->check(CLI::Range(1, 10000));
  app.add_option("--spins", spins, "work per busy kernel");
  app.add_option("--repetitions", b.repetitions, "timed trials per row (median)")
      ->check(CLI::Range(1, 100));
  app.add_option("--scenario", only, "chain, rerecord, fanout, barrier, profile (default: all)");
  bool profile = false;
  std::string trace_path;
  app.add_flag("--profile", profile,
               "profile the bench device per dispatch (or as ENCORE_PROFILE says) and print the "
               "profile's tables");
  app.add_option("--trace", trace_path,
                 "write the bench device's profile as a Chrome trace (every dispatch of the run: "
                 "keep it small with --scenario and -n)");
  CLI11_PARSE(app, argc, argv);
  const auto wanted = [&](const char* s) {
    return only.empty() || std::find(only.begin(), only.end(), s) != only.end();
  };
  try {
    DeviceOptions options = options_from_env();
    options.backend = BackendKind::Cuda;
    options.registry = bench_registry();
    if ((profile || !trace_path.empty()) && options.profile == ProfileMode::Off) {
      options.profile = ProfileMode::Dispatch;
    }
    if (!trace_path.empty()) options.trace_path = trace_path;  // written when `dev` closes
    // The overhead rows open devices of their own, each profiling alone; run them before the
    // bench device exists, so that a profiling bench device cannot colour the "off" rows.
    if (wanted("profile")) {
      DeviceOptions plain = options;
      plain.profile = ProfileMode::Off;
      profile_overhead(b, plain, n);
    }
    Device dev = Device::open(options);
    if (wanted("chain")) chain(b, dev, n);
    if (wanted("rerecord")) rerecord(b, dev, n);
    if (wanted("fanout")) fanout(b, dev, fan, spins);
    if (wanted("barrier")) barrier(b, dev, n);

    const std::string card = device_line(options.cuda_ordinal);
    std::printf("encore-bench, revision %s\n%s\n\n", ENCORE_GIT_REVISION, card.c_str());
    std::printf("%-10s %-40s %12s %12s  %s\n", "scenario", "variant", "us/step", "us/node",
                "vs baseline");
    for (const Row& r : b.rows) {
      std::printf("%-10s %-40s %12.1f %12.3f", r.scenario.c_str(), r.variant.c_str(), r.us_per_step,
                  r.us_per_node);
      if (!r.baseline.empty()) std::printf("  %.3fx of %s", r.ratio, r.baseline.c_str());
      std::printf("\n");
    }
    std::printf("\ntargets\n");
    const std::vector<Target> goals = targets(b);
    for (const Target& t : goals) {
      std::printf("  %-52s %-14s %s\n", t.what.c_str(), t.value.c_str(), t.met ? "met" : "MISSED");
    }
    if (!json_path.empty()) {
      nlohmann::json j;
      j["revision"] = ENCORE_GIT_REVISION;
      j["device"] = card;
      for (const Row& r : b.rows) {
        j["rows"].push_back({{"scenario", r.scenario},
                             {"variant", r.variant},
                             {"us_per_step", r.us_per_step},
                             {"us_per_node", r.us_per_node},
                             {"baseline", r.baseline},
                             {"ratio", r.ratio}});
      }
      for (const Target& t : goals) {
        j["targets"].push_back({{"target", t.what}, {"value", t.value}, {"met", t.met}});
      }
      j["stats"] = nlohmann::json::parse(dev.stats().to_json());
      std::ofstream(json_path) << j.dump(2) << "\n";
    }
    if (dev.profile_mode() != ProfileMode::Off) {
      std::printf("\n%s", dev.profile().report(25).c_str());
      if (!trace_path.empty()) std::printf("trace: %s (written on exit)\n", trace_path.c_str());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "encore-bench: %s\n", e.what());
    return 2;
  }
}
