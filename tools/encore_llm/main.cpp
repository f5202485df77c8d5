// encore-llm: greedy decoding of a Llama / Qwen2 model (a Hugging Face checkpoint or random
// weights of a named shape) on encore, with a switch for every encoder mode, and the numbers
// that say whether the encoder pays off: tokens/s, ms/step and the ratio to the roofline.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "llm/roofline.h"
#include "llm/runner.h"
#include "llm/shard.h"
#include "llm/tensor_parallel.h"
#include "llm/weights.h"
#include "options.h"
#include "report.h"

namespace encore::llm::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A throttled progress line on stderr, shown once a run has taken a second.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  ~Progress() { done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(std::uint32_t step, std::uint32_t total, bool prompt) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(250)) {
      return;
    }
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\rencore-llm: step %u/%u (%s), %.1f steps/s   ", step, total,
                 prompt ? "prompt" : "decode", step / seconds);
    shown_ = true;
  }
  void done() {
    if (shown_) std::fputc('\n', stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

// --profile / --trace onto the device options: a trace needs per-dispatch records unless the
// user asked for per-submission ones.
void apply_profile_options(const Options& o, DeviceOptions& d) {
  if (o.profile == Profile::Dispatch) d.profile = ProfileMode::Dispatch;
  if (o.profile == Profile::CommandBuffer) d.profile = ProfileMode::Submission;
  if (!o.trace_file.empty() && o.profile == Profile::Off) d.profile = ProfileMode::Dispatch;
}

std::vector<std::uint32_t> random_prompt(std::uint32_t n, std::uint32_t vocab, std::uint64_t seed) {
  std::vector<std::uint32_t> ids(n);
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 12345;
  for (std::uint32_t& id : ids) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    id = static_cast<std::uint32_t>(state % vocab);
  }
  return ids;
}

// numpy's .npy format, version 1.0: f32 little-endian, C order.
void write_npy(const std::string& path, const std::vector<float>& values, std::size_t rows,
               std::size_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) throw Error(ErrorCode::InvalidArgument, "cannot write " + path);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw Error(ErrorCode::InvalidArgument, "cannot write " + path);
}

// The named shape of random weights: --shape, else one that suits the backend.
std::string shape_name(const Options& o, const Device& device) {
  if (!o.shape.empty()) return o.shape;
  return device.backend() == BackendKind::Cuda ? "llama-3.2-1b" : "tiny";
}

// The model's shape, read before its weights, so a --tp it cannot take fails at once.
ModelConfig model_config(const Options& o, const Device& device) {
  return o.model_dir.empty() ? named_config(shape_name(o, device)) : load_config(o.model_dir);
}

HostWeights make_weights(const Options& o, const Device& device, std::string& source) {
  if (!o.model_dir.empty()) {
    source = "checkpoint";
    return load_checkpoint(o.model_dir);
  }
  const ModelConfig config = named_config(shape_name(o, device));
  if (config.parameter_count() > 50'000'000 && !o.quiet) {
    std::fprintf(stderr, "encore-llm: generating %.2f B random parameters...\n",
                 static_cast<double>(config.parameter_count()) * 1e-9);
  }
  source = "random (seed " + std::to_string(o.seed) + ")";
  return random_weights(config, o.seed);
}

int teacher_force(const Options& o, Runner& runner, const ModelConfig& config) {
  Progress progress(!o.quiet);
  const std::vector<float> logits = runner.teacher_force(
      o.teacher_force, [&](std::uint32_t d, std::uint32_t t, bool p) { progress.update(d, t, p); });
  progress.done();
  const std::size_t vocab = config.vocab_size;
  std::printf("teacher-forced %zu tokens; argmax per step:", o.teacher_force.size());
  for (std::size_t row = 0; row < o.teacher_force.size(); ++row) {
    std::size_t best = 0;
    for (std::size_t v = 1; v < vocab; ++v) {
      if (logits[row * vocab + v] > logits[row * vocab + best]) best = v;
    }
    std::printf(" %zu", best);
  }
  std::printf("\n");
  if (!o.dump_logits.empty()) {
    write_npy(o.dump_logits, logits, o.teacher_force.size(), vocab);
    std::printf("logits written to %s\n", o.dump_logits.c_str());
  }
  return 0;
}

int run(const Options& o) {
  DeviceOptions device_options = options_from_env();
  if (o.backend) device_options.backend = *o.backend;
  apply_profile_options(o, device_options);
  // One device per tensor-parallel rank; rank 0's is the one timed, profiled and measured.
  const std::vector<Device> devices = open_rank_devices(device_options, o.tp);
  Device device = devices[0];
  // Refused before any weight is made: the kernels record only on CUDA.
  if (!o.kernel_timeline.empty() && device.backend() != BackendKind::Cuda) {
    throw Error(ErrorCode::InvalidArgument, "--kernel-timeline needs the CUDA backend");
  }
  check_tensor_parallel(model_config(o, device), o.tp);

  Report report;
  const HostWeights host = make_weights(o, device, report.weights_source);
  const ModelConfig& config = host.config;
  const ShardedWeights model = upload_sharded(devices, host);

  std::vector<std::uint32_t> prompt = o.prompt;
  if (!o.teacher_force.empty()) {
    prompt = o.teacher_force;
  } else if (o.prompt_len > 0) {
    prompt = random_prompt(o.prompt_len, config.vocab_size, o.seed);
  } else if (prompt.empty()) {
    prompt = {1, 2, 3, 4};
  }
  const bool teacher = !o.teacher_force.empty();
  const std::uint32_t positions =
      static_cast<std::uint32_t>(prompt.size()) + (teacher ? 0 : o.tokens);
  const RunnerOptions runner_options{.max_ctx = o.max_ctx > 0 ? o.max_ctx : positions,
                                     .replay = o.replay,
                                     .norm = o.norm,
                                     .ordering = o.ordering,
                                     .path = o.path,
                                     .passes = o.passes,
                                     .attention_o = o.attention_o};
  Runner runner(model, runner_options);
  if (!o.dump_step.empty()) {
    if (!runner.recording()) {
      throw Error(ErrorCode::InvalidArgument, "--dump-step needs --replay slots");
    }
    write_file(o.dump_step, runner.recording().to_string());
  }
  if (teacher) return teacher_force(o, runner, config);

  Progress progress(!o.quiet);
  bool decoding = false;
  report.result = runner.generate(prompt, o.tokens, [&](std::uint32_t d, std::uint32_t t, bool p) {
    // The profile covers the decode steps only (the prompt is fed token by token before them).
    if (!p && !decoding) {
      decoding = true;
      if (device.profile_mode() != ProfileMode::Off) device.reset_profile();
    }
    progress.update(d, t, p);
  });
  progress.done();
  if (!o.kernel_timeline.empty()) encore::ops::write_kernel_timeline(o.kernel_timeline);
  // Taken before the bandwidth probe below, so the profile holds the decode steps only.
  std::optional<encore::Profile> profile;
  if (device.profile_mode() != ProfileMode::Off) profile = device.profile();

  const std::int64_t mib =
      o.bandwidth_mib >= 0 ? o.bandwidth_mib : (device.backend() == BackendKind::Cuda ? 2048 : 64);
  if (mib > 0) report.bandwidth = measure_read_bandwidth(device, std::uint64_t(mib) << 20);

  report.device = device.name() + (o.tp > 1 ? " x " + std::to_string(o.tp) : std::string());
  report.tp = o.tp;
  report.rank_config = model.ranks[0].config;
  report.backend = std::string(to_string(device.backend()));
  report.fallback_reason = std::string(device.fallback_reason());
  report.model = o.model_dir.empty() ? config.name : o.model_dir;
  report.config = config;
  report.parameters = config.parameter_count();
  report.dispatches_per_step = runner.dispatches_per_step();
  report.encoded_dispatches_per_step = runner.encoded_dispatches_per_step();
  report.passes = "none";
  const std::vector<Pass> passes = o.passes.value_or(device.options().passes);
  for (std::size_t i = 0; i < passes.size(); ++i) {
    report.passes = i == 0 ? std::string() : report.passes + ",";
    report.passes += to_string(passes[i]);
  }
  report.path = std::string(to_string(o.path.value_or(device.options().path)));
  report.ordering = std::string(to_string(o.ordering.value_or(device.options().ordering)));
  report.replay = std::string(to_string(o.replay));
  report.norm = std::string(to_string(o.norm)) + (o.attention_o ? "+attention_o" : "");
  report.prompt = prompt;
  report.warmup = o.warmup;
  report.show_device_time = o.profile == Profile::CommandBuffer;
  if (profile && profile->mode() == ProfileMode::Dispatch) {
    report.profile_ops = profile->summary(ProfileGroup::Op);
    report.profiled_steps = report.result.step_seconds.size();
  }
  finish(report);
  std::fputs(to_text(report).c_str(), stdout);
  if (!o.json_file.empty()) write_file(o.json_file, to_json(report));
  if (profile) {
    std::fputs(profile->report(20).c_str(), stdout);
    if (!o.trace_file.empty()) profile->write_chrome_trace(o.trace_file);
  }
  return 0;
}

}  // namespace
}  // namespace encore::llm::cli

int main(int argc, char** argv) {
  try {
    int exit_code = 0;
    const auto options = encore::llm::cli::parse(argc, argv, exit_code);
    if (!options) return exit_code;
    return encore::llm::cli::run(*options);
  } catch (const encore::Error& e) {
    std::fprintf(stderr, "encore-llm: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "encore-llm: error: %s\n", e.what());
  }
  return 1;
}
