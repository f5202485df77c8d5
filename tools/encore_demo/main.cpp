// encore-demo: records a small multi-dispatch program once, runs it on the best backend present,
// replays it with a patched slot, checks every result against the host, and prints what it did,
// the profile (per dispatch by default: time by label, op kind and kernel) and the device
// counters.
//
// The program: four independent chains, interleaved in program order (as a decode step
// interleaves attention heads or layers' independent work):
//   x_c = a_c + b_c;  y_c = x_c * b_c;  z_c = alpha * y_c;  partial[c] = sum(z_c)
// then total = sum(partial). With auto_dag ordering the chains share no edges and run
// concurrently; with barriers ordering the program needs explicit barriers, with serial none.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "encore/encore.h"

namespace {

using namespace encore;

constexpr std::uint32_t kChains = 4;
constexpr std::uint32_t kBlock = 128;

struct Chain {
  Buffer a, b, x, y, z;
};

struct Program {
  std::uint32_t n = 0;
  std::vector<Chain> chains;
  Buffer partials, total;
  std::vector<std::vector<float>> host_a, host_b;
};

Program make_program(Device& device, std::uint32_t n) {
  Program p;
  p.n = n;
  for (std::uint32_t c = 0; c < kChains; ++c) {
    std::vector<float> a(n), b(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      a[i] = static_cast<float>((i * 7 + c * 3) % 17) * 0.25F;
      b[i] = static_cast<float>((i * 5 + c) % 11) * 0.125F - 0.5F;
    }
    const std::string tag = "chain" + std::to_string(c) + ".";
    Chain ch{device.alloc(n * 4ULL, tag + "a"), device.alloc(n * 4ULL, tag + "b"),
             device.alloc(n * 4ULL, tag + "x"), device.alloc(n * 4ULL, tag + "y"),
             device.alloc(n * 4ULL, tag + "z")};
    ch.a.upload(std::span<const float>(a));
    ch.b.upload(std::span<const float>(b));
    p.chains.push_back(ch);
    p.host_a.push_back(std::move(a));
    p.host_b.push_back(std::move(b));
  }
  p.partials = device.alloc(kChains * 4ULL, "partials");
  p.total = device.alloc(4, "total");
  return p;
}

// Records the program; `alpha` is a slot so replays can change it without re-recording.
void encode(Device& device, Encoder& enc, const Program& p, float alpha) {
  const Kernel add = device.kernel("add_f32");
  const Kernel mul = device.kernel("mul_f32");
  const Kernel scale = device.kernel("scale_f32");
  const Kernel sum = device.kernel("sum_f32");
  const Launch each = Launch::threads(p.n, kBlock);
  const bool needs_barriers = enc.ordering() == Ordering::Barriers;
  const auto step_done = [&] {
    if (needs_barriers) enc.barrier();
  };
  for (std::uint32_t c = 0; c < kChains; ++c) {
    const Chain& ch = p.chains[c];
    enc.dispatch(add, each, {in(ch.a), in(ch.b), out(ch.x), value(p.n)},
                 {.label = "chain" + std::to_string(c) + ".add"});
  }
  step_done();
  for (std::uint32_t c = 0; c < kChains; ++c) {
    const Chain& ch = p.chains[c];
    enc.dispatch(mul, each, {in(ch.x), in(ch.b), out(ch.y), value(p.n)},
                 {.label = "chain" + std::to_string(c) + ".mul"});
  }
  step_done();
  for (std::uint32_t c = 0; c < kChains; ++c) {
    const Chain& ch = p.chains[c];
    enc.dispatch(scale, each, {in(ch.y), out(ch.z), slot("alpha", alpha), value(p.n)},
                 {.label = "chain" + std::to_string(c) + ".scale"});
  }
  step_done();
  for (std::uint32_t c = 0; c < kChains; ++c) {
    const Chain& ch = p.chains[c];
    enc.dispatch(sum, Launch::groups(1, kBlock).shared(kBlock * 4),
                 {in(ch.z), out(p.partials.view_of<float>(c, 1)), value(p.n)},
                 {.label = "chain" + std::to_string(c) + ".sum"});
  }
  step_done();
  enc.dispatch(sum, Launch::groups(1, kChains).shared(kChains * 4),
               {in(p.partials), out(p.total), value(kChains)}, {.label = "total"});
}

double host_total(const Program& p, float alpha) {
  double total = 0;
  for (std::uint32_t c = 0; c < kChains; ++c) {
    float chain = 0;
    for (std::uint32_t i = 0; i < p.n; ++i) {
      const float x = p.host_a[c][i] + p.host_b[c][i];
      chain += alpha * (x * p.host_b[c][i]);
    }
    total += chain;
  }
  return total;
}

bool check(const char* what, const Program& p, float alpha) {
  const float got = p.total.download<float>()[0];
  const double want = host_total(p, alpha);
  const bool ok = std::fabs(got - want) <= 1e-3 * (1.0 + std::fabs(want));
  std::printf("  %-26s total %12.4f  host %12.4f  %s\n", what, got, want, ok ? "ok" : "MISMATCH");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"encore-demo: record a multi-dispatch program, run and replay it, print counters"};
  std::string backend = "auto";
  std::string ordering;
  std::uint32_t n = 1 << 14;
  int replays = 8;
  bool validate = false;
  std::uint64_t shuffle = 0;
  std::uint32_t threads = 0;
  std::string dot_path;
  std::string profile;
  std::string trace_path;
  app.add_option("--backend", backend, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--ordering", ordering, "serial, barriers, auto_barrier or auto_dag")
      ->check(CLI::IsMember({"serial", "barriers", "auto_barrier", "auto_dag"}));
  app.add_option("-n,--elements", n, "elements per vector")->check(CLI::Range(1U, 1U << 26));
  app.add_option("--replays", replays, "replays of the recording")->check(CLI::Range(0, 100000));
  app.add_flag("--validate", validate, "CPU: check every dispatch for undeclared writes");
  app.add_option("--shuffle", shuffle, "CPU: seed for running ready dispatches in random order");
  app.add_option("--threads", threads, "CPU worker threads (0 = all cores)");
  app.add_option("--dot", dot_path, "write the recording as Graphviz DOT to this file");
  app.add_option("--profile", profile,
                 "off, cb or dispatch (default: ENCORE_PROFILE, else dispatch)")
      ->check(CLI::IsMember({"off", "cb", "dispatch"}));
  app.add_option("--trace", trace_path, "write the profile as a Chrome trace (JSON) to this file");
  CLI11_PARSE(app, argc, argv);

  try {
    // The environment (ENCORE_*) first, then explicit flags on top.
    DeviceOptions options = options_from_env();
    if (backend != "auto" || options.backend == BackendKind::Auto) {
      options.backend = *parse_backend_kind(backend);
    }
    if (!ordering.empty()) {
      options.ordering = *parse_ordering(ordering);
      options.force_ordering = false;
    }
    options.validate = options.validate || validate;
    if (shuffle != 0) options.shuffle_seed = shuffle;
    if (threads != 0) options.cpu_threads = threads;
    if (!profile.empty()) {
      options.profile = *parse_profile_mode(profile);
    } else if (!process_env("ENCORE_PROFILE") && options.trace_path.empty()) {
      options.profile = ProfileMode::Dispatch;  // the demo shows where the time goes
    }
    if (!trace_path.empty()) {
      if (options.profile == ProfileMode::Off) {
        std::fprintf(stderr, "encore-demo: --trace needs profiling (--profile cb or dispatch)\n");
        return 2;
      }
      options.trace_path = trace_path;  // written when the device closes
    }
    Device device = Device::open(options);

    std::printf("encore-demo\n  device     %s\n", device.name().c_str());
    if (!device.fallback_reason().empty()) {
      std::printf("  note       CUDA not used: %s\n",
                  std::string(device.fallback_reason()).c_str());
    }
    Program program = make_program(device, n);
    Encoder enc = device.encoder({.label = "demo"});
    std::printf("  ordering   %s\n  elements   %u per vector, %u chains\n",
                std::string(to_string(enc.ordering())).c_str(), n, kChains);

    float alpha = 0.5F;
    encode(device, enc, program, alpha);
    Recording rec = enc.finish();
    std::printf("  recorded   %zu dispatches, %zu barriers, %zu dependency edges\n\n",
                rec.dispatch_count(), rec.barrier_count(), rec.edge_count());
    std::printf("%s\n", rec.to_string().c_str());
    if (!dot_path.empty()) {
      std::ofstream(dot_path) << rec.to_dot();
      std::printf("  wrote %s\n", dot_path.c_str());
    }

    bool ok = true;
    Submission first = device.submit(rec, "demo.first");
    first.wait();
    ok &= check("first run", program, alpha);
    std::printf("  %-26s executed in %.1f us\n", "", first.time().count() / 1e3);

    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < replays; ++r) {
      alpha = 0.25F * static_cast<float>(r + 1);
      rec.set("alpha", alpha);  // patch the slot; no re-recording
      device.submit(rec, "demo.replay");
    }
    device.wait_idle();
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (replays > 0) {
      ok &= check("last replay (alpha patched)", program, alpha);
      std::printf("  %d replays: %.1f us each, host to host\n", replays, us / replays);
    }

    if (device.profile_mode() != ProfileMode::Off) {
      std::printf("\n%s", device.profile().report(12).c_str());
      if (!options.trace_path.empty()) {
        std::printf("  trace: %s (written when the device closes)\n", options.trace_path.c_str());
      }
    }

    std::printf("\ncounters\n");
    const std::string stats = device.stats().to_string();
    std::size_t begin = 0;
    while (begin < stats.size()) {
      const std::size_t end = stats.find('\n', begin);
      std::printf("  %s\n", stats.substr(begin, end - begin).c_str());
      begin = end + 1;
    }
    return ok ? 0 : 1;
  } catch (const encore::Error& e) {
    std::fprintf(stderr, "encore-demo: %s\n", e.what());
    return 2;
  }
}
