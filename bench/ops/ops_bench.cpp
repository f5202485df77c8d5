// encore-ops-bench: the decode op library's kernels on the GPU against the device's measured
// read bandwidth and against cuBLAS, measured in the same process: bf16 gemv on the issue's
// shapes (gemv_bench.h says how), and decode attention on the Llama-3.2-1B and Qwen2.5-0.5B
// shapes at 512 to 8192 positions (attention_bench.h). Prints tables (and --json) with the
// card, driver, revision, the gemv variant table and the issue's targets:
//   large shapes (16384x2048, 128256x2048, 151936x896): >= 90% of the measured read bandwidth;
//   the others: >= 1.5x faster than cuBLAS per call.
// ENCORE_CUDA_PDL=0 runs encore without programmatic dependent launch, for comparison.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cuda_runtime_api.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "attention_bench.h"
#include "bandwidth.h"
#include "gemv_bench.h"

#ifndef ENCORE_GIT_REVISION
#define ENCORE_GIT_REVISION "unknown"
#endif

namespace encore::bench {
namespace {

std::string device_line(int ordinal) {
  cudaDeviceProp p{};
  (void)cudaGetDeviceProperties(&p, ordinal);
  int driver = 0;
  (void)cudaDriverGetVersion(&driver);
  int clock_khz = 0;
  (void)cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, ordinal);
  int memory_khz = 0;
  (void)cudaDeviceGetAttribute(&memory_khz, cudaDevAttrMemoryClockRate, ordinal);
  return std::string(p.name) + ", driver " + std::to_string(driver / 1000) + "." +
         std::to_string(driver % 1000 / 10) + ", " + std::to_string(p.multiProcessorCount) +
         " SMs, max SM clock " + std::to_string(clock_khz / 1000) + " MHz, memory clock " +
         std::to_string(memory_khz / 1000) + " MHz, L2 " + std::to_string(p.l2CacheSize >> 20) +
         " MiB";
}

struct Row {
  GemvShape shape;
  GemvPlan plan;
  GemvTiming encore;
  GemvTiming cublas;
  double encore_gbs = 0;
  double cublas_gbs = 0;
};

struct Target {
  std::string what;
  bool met;
  std::string value;
};

std::vector<Target> targets(const std::vector<Row>& rows, double read_gbs) {
  std::vector<Target> out;
  char text[96];
  for (const Row& r : rows) {
    const std::string shape = std::to_string(r.shape.rows) + "x" + std::to_string(r.shape.cols);
    if (r.shape.large) {
      const double fraction = r.encore_gbs / read_gbs;
      std::snprintf(text, sizeof text, "%.1f%%", 100.0 * fraction);
      out.push_back({shape + ": >= 90% of read bandwidth", fraction >= 0.90, text});
    } else {
      const double speedup = r.cublas.us_per_call / r.encore.us_per_call;
      std::snprintf(text, sizeof text, "%.2fx", speedup);
      out.push_back({shape + ": >= 1.5x faster than cuBLAS", speedup >= 1.5, text});
    }
  }
  return out;
}

void print(const std::string& card, bool pdl, double read_gbs, const std::vector<Row>& rows,
           const std::vector<Target>& goals) {
  std::printf("encore-ops-bench, revision %s\n%s\nPDL %s; measured read bandwidth %.0f GB/s\n\n",
              ENCORE_GIT_REVISION, card.c_str(), pdl ? "on" : "off", read_gbs);
  std::printf("gemv variants (first match wins)\n");
  for (const ops::KernelVariant& v : ops::gemv_variant_table()) {
    std::printf("  %-32s %-6s %s\n", v.predicate.c_str(), v.variant.c_str(), v.kernel.c_str());
  }
  std::printf("\n%-20s %-13s %6s %5s  %-16s %9s %8s %6s  %9s %8s %6s  %8s\n", "shape",
              "rows x cols", "copies", "calls", "encore kernel", "us/call", "GB/s", "%read",
              "cuBLAS us", "GB/s", "%read", "speedup");
  for (const Row& r : rows) {
    std::printf("%-20s %6ux%-6u %6u %5u  %-16s %9.2f %8.0f %5.1f%%  %9.2f %8.0f %5.1f%%  %7.2fx\n",
                r.shape.name.c_str(), r.shape.rows, r.shape.cols, r.plan.copies, r.plan.calls,
                r.encore.kernel.c_str(), r.encore.us_per_call, r.encore_gbs,
                100.0 * r.encore_gbs / read_gbs, r.cublas.us_per_call, r.cublas_gbs,
                100.0 * r.cublas_gbs / read_gbs, r.cublas.us_per_call / r.encore.us_per_call);
  }
  std::printf("\ntargets\n");
  for (const Target& t : goals) {
    std::printf("  %-44s %-10s %s\n", t.what.c_str(), t.value.c_str(), t.met ? "met" : "MISSED");
  }
}

void write_json(const std::string& path, const std::string& card, bool pdl, double read_gbs,
                const std::vector<Row>& rows, const std::vector<Target>& goals,
                const nlohmann::json& sweep, const nlohmann::json& attention) {
  nlohmann::json j;
  j["revision"] = ENCORE_GIT_REVISION;
  j["device"] = card;
  j["pdl"] = pdl;
  j["read_bandwidth_gbs"] = read_gbs;
  for (const ops::KernelVariant& v : ops::gemv_variant_table()) {
    j["gemv_variants"].push_back(
        {{"predicate", v.predicate}, {"variant", v.variant}, {"kernel", v.kernel}});
  }
  for (const Row& r : rows) {
    j["gemv"].push_back({{"shape", r.shape.name},
                         {"rows", r.shape.rows},
                         {"cols", r.shape.cols},
                         {"copies", r.plan.copies},
                         {"calls", r.plan.calls},
                         {"encore_kernel", r.encore.kernel},
                         {"encore_us_per_call", r.encore.us_per_call},
                         {"encore_gbs", r.encore_gbs},
                         {"cublas_us_per_call", r.cublas.us_per_call},
                         {"cublas_gbs", r.cublas_gbs},
                         {"speedup_vs_cublas", r.cublas.us_per_call / r.encore.us_per_call}});
  }
  for (const Target& t : goals) {
    j["targets"].push_back({{"target", t.what}, {"value", t.value}, {"met", t.met}});
  }
  if (!sweep.empty()) j["variant_sweep"] = sweep;
  if (!attention.empty()) j["attention"] = attention;
  std::ofstream(path) << j.dump(2) << "\n";
}

}  // namespace
}  // namespace encore::bench

int main(int argc, char** argv) {
  using namespace encore;
  using namespace encore::bench;
  CLI::App app{"encore-ops-bench: op kernels against the read bandwidth and cuBLAS"};
  std::string json_path;
  int replays = 20;
  double rotation_l2 = 4.0;
  std::uint32_t min_calls = 32;
  double bandwidth_gib = 2.0;
  std::vector<std::string> only;
  app.add_option("--json", json_path, "write the results as JSON to this file");
  app.add_option("--replays", replays, "timed graph launches per row (median)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--rotation", rotation_l2, "weight copies in rotation total this many L2s")
      ->check(CLI::Range(1.0, 100.0));
  app.add_option("--min-calls", min_calls, "gemv calls per graph at least")
      ->check(CLI::Range(1, 100000));
  app.add_option("--bandwidth-gib", bandwidth_gib, "size of the read-bandwidth buffer")
      ->check(CLI::Range(0.25, 64.0));
  app.add_option("--shape", only, "only shapes whose name or rowsxcols contains this");
  bool variants = false;
  bool attention = true;
  app.add_flag("--attention,!--no-attention", attention,
               "time decode attention at 512, 2048 and 8192 positions (default on)");
  app.add_flag("--variants", variants,
               "also time every plain-gemv variant on every decode-step shape (table tuning)");
  CLI11_PARSE(app, argc, argv);
  try {
    DeviceOptions options = options_from_env();
    options.backend = BackendKind::Cuda;
    Device dev = Device::open(options);
    const double read_gbs =
        measure_read_bandwidth_gbs(static_cast<std::uint64_t>(bandwidth_gib * (1ULL << 30)), 10);
    const auto rotation = static_cast<std::uint64_t>(rotation_l2 * l2_cache_bytes());
    std::vector<Row> rows;
    const auto wanted = [&](const GemvShape& shape) {
      const std::string dims = std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
      bool yes = only.empty();
      for (const std::string& o : only) {
        yes = yes || shape.name.find(o) != std::string::npos || dims == o;
      }
      return yes;
    };
    for (const GemvShape& shape : issue_gemv_shapes()) {
      if (!wanted(shape)) continue;
      Row r{shape, plan_gemv(shape, rotation, min_calls), {}, {}};
      r.encore = time_encore_gemv(dev, shape, r.plan, replays);
      r.cublas = time_cublas_gemv(shape, r.plan, replays);
      r.encore_gbs = gemv_bytes(shape) / (r.encore.us_per_call * 1e3);
      r.cublas_gbs = gemv_bytes(shape) / (r.cublas.us_per_call * 1e3);
      rows.push_back(r);
    }
    const std::string card = device_line(options.cuda_ordinal);
    const std::vector<Target> goals = targets(rows, read_gbs);
    print(card, options.programmatic_launch, read_gbs, rows, goals);
    nlohmann::json sweep = nlohmann::json::array();
    if (variants) {
      std::printf("\nevery plain-gemv variant (* = the table's choice), %% of %.0f GB/s\n",
                  read_gbs);
      for (const GemvShape& shape : decode_gemv_shapes()) {
        if (!wanted(shape)) continue;
        const GemvPlan plan = plan_gemv(shape, rotation, min_calls);
        const std::string chosen = ops::gemv_kernel_for(shape.rows, shape.cols);
        std::printf("%-20s %6ux%-6u", shape.name.c_str(), shape.rows, shape.cols);
        for (const ops::KernelVariant& v : ops::gemv_variant_table()) {
          const GemvTiming t = time_gemv_variant(dev, shape, plan, replays, v);
          const double gbs = gemv_bytes(shape) / (t.us_per_call * 1e3);
          std::printf("  %s%s %7.2f us %3.0f%%", v.kernel == chosen ? "*" : " ", v.variant.c_str(),
                      t.us_per_call, 100.0 * gbs / read_gbs);
          sweep.push_back({{"shape", shape.name},
                           {"rows", shape.rows},
                           {"cols", shape.cols},
                           {"variant", v.variant},
                           {"chosen", v.kernel == chosen},
                           {"us_per_call", t.us_per_call},
                           {"gbs", gbs}});
        }
        std::printf("\n");
      }
    }
    nlohmann::json attention_rows = nlohmann::json::array();
    if (attention) {
      std::printf("\ndecode attention (K and V streamed from memory), %% of %.0f GB/s\n", read_gbs);
      std::printf("%-12s %14s %8s %7s %6s %9s %8s %6s\n", "shape", "heads q/kv x d", "kv_len",
                  "copies", "calls", "us/call", "GB/s", "%read");
      for (const AttentionCase& c : decode_attention_cases()) {
        for (const std::uint32_t kv_len : attention_kv_lengths()) {
          const AttentionTiming t = time_attention(dev, c, kv_len, rotation, min_calls, replays);
          std::printf("%-12s %7u/%-2u x %-3u %8u %7u %6u %9.2f %8.0f %5.1f%%\n", c.name.c_str(),
                      c.shape.n_heads, c.shape.n_kv_heads, c.shape.head_dim, kv_len, t.copies,
                      t.calls, t.us_per_call, t.kv_gbs, 100.0 * t.kv_gbs / read_gbs);
          attention_rows.push_back({{"shape", c.name},
                                    {"n_heads", c.shape.n_heads},
                                    {"n_kv_heads", c.shape.n_kv_heads},
                                    {"head_dim", c.shape.head_dim},
                                    {"kv_len", kv_len},
                                    {"us_per_call", t.us_per_call},
                                    {"kv_gbs", t.kv_gbs}});
        }
      }
    }
    if (!json_path.empty()) {
      write_json(json_path, card, options.programmatic_launch, read_gbs, rows, goals, sweep,
                 attention_rows);
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "encore-ops-bench: %s\n", e.what());
    return 2;
  }
}
