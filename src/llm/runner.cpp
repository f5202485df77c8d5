// The greedy decode loop: prompt steps, then timed decode steps kept one submission ahead of
// the host's wait, then one read-back of the generated tokens.

#include "llm/runner.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "encore/error.h"
#include "encore/passes.h"

namespace encore::llm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double device_seconds(const Submission& s) {
  return std::chrono::duration<double>(s.time()).count();
}

}  // namespace

std::string_view to_string(ReplayMode mode) noexcept {
  return mode == ReplayMode::Slots ? "slots" : "rerecord";
}

std::optional<ReplayMode> parse_replay_mode(std::string_view text) noexcept {
  if (text == "slots") return ReplayMode::Slots;
  if (text == "rerecord") return ReplayMode::Rerecord;
  return std::nullopt;
}

std::optional<NormMode> parse_norm_mode(std::string_view text) noexcept {
  if (text == "fused") return NormMode::Fused;
  if (text == "standalone") return NormMode::Standalone;
  if (text == "split") return NormMode::Split;
  return std::nullopt;
}

Runner::Runner(Device device, const DeviceWeights& weights, const RunnerOptions& options)
    : device_(std::move(device)),
      weights_(&weights),
      options_(options),
      buffers_(device_, weights.config, options.max_ctx),
      step_(device_, weights, buffers_) {
  // Encode one step either way: it checks every op against the shapes before anything runs,
  // and in slots mode it is the recording every token replays.
  Encoder enc = device_.encoder(encoder_options());
  encoded_dispatches_ = step_.encode(enc, step_slots(), options_.norm, needs_barriers());
  dispatches_per_step_ = encoded_dispatches_;
  if (options_.replay == ReplayMode::Slots) {
    recording_ = enc.finish();
    dispatches_per_step_ = recording_.dispatch_count();
  } else {
    enc.discard();
  }
}

EncoderOptions Runner::encoder_options() const {
  EncoderOptions o{.ordering = options_.ordering, .path = options_.path, .label = "decode_step"};
  if (options_.passes) {
    o.passes = PassPipeline(
        *options_.passes, {.live_out = {buffers_.history(), buffers_.token(), buffers_.logits()}});
  }
  return o;
}

bool Runner::needs_barriers() const {
  const Ordering ordering = options_.ordering.value_or(device_.options().ordering);
  return ordering == Ordering::Barriers ||
         (device_.options().force_ordering && device_.options().ordering == Ordering::Barriers);
}

void Runner::start(const std::vector<std::uint32_t>& prompt, std::uint32_t steps) {
  const std::uint32_t vocab = weights_->config.vocab_size;
  if (prompt.empty()) throw Error(ErrorCode::InvalidArgument, "the prompt has no tokens");
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] >= vocab) {
      throw Error(ErrorCode::InvalidArgument,
                  "prompt token " + std::to_string(i) + " is " + std::to_string(prompt[i]) +
                      ", outside the vocabulary of " + std::to_string(vocab));
    }
  }
  if (std::uint64_t{steps} > buffers_.max_ctx()) {
    throw Error(ErrorCode::InvalidArgument,
                std::to_string(steps) + " positions do not fit the KV cache of max_ctx " +
                    std::to_string(buffers_.max_ctx()) + " (raise max_ctx)");
  }
  buffers_.history().upload(std::span<const std::uint32_t>(prompt));
  buffers_.token().upload(std::span<const std::uint32_t>(prompt).first(1));
}

Submission Runner::run_step(std::uint32_t pos, std::uint32_t prompt_len) {
  if (options_.replay == ReplayMode::Slots) {
    recording_.set("pos", pos);
    recording_.set("kv_len", pos + 1);
    recording_.set("prompt_len", prompt_len);
    return device_.submit(recording_);
  }
  Encoder enc = device_.encoder(encoder_options());
  step_.encode(enc, step_values(pos, prompt_len), options_.norm, needs_barriers());
  return enc.commit();
}

GenerateResult Runner::generate(const std::vector<std::uint32_t>& prompt, std::uint32_t new_tokens,
                                const ProgressFn& progress) {
  const auto prompt_len = static_cast<std::uint32_t>(prompt.size());
  start(prompt, prompt_len + new_tokens);
  GenerateResult r;
  r.prompt_steps = prompt_len - 1;
  const std::uint32_t total = r.prompt_steps + new_tokens;

  const auto prompt_start = Clock::now();
  Submission last;
  for (std::uint32_t pos = 0; pos < r.prompt_steps; ++pos) {
    last = run_step(pos, prompt_len);
    if (progress) progress(pos + 1, total, true);
  }
  if (last) last.wait();
  r.prompt_seconds = seconds_since(prompt_start);

  // Step i is queued before step i - 1 is waited for, so the device never waits for the host
  // (when the host keeps up) and the gap between two completions is one step's time.
  const auto decode_start = Clock::now();
  auto previous_done = decode_start;
  Submission previous;
  const auto finish = [&](const Submission& s) {
    s.wait();
    const auto now = Clock::now();
    r.step_seconds.push_back(std::chrono::duration<double>(now - previous_done).count());
    r.step_device_seconds.push_back(device_seconds(s));
    previous_done = now;
  };
  for (std::uint32_t i = 0; i < new_tokens; ++i) {
    Submission current = run_step(r.prompt_steps + i, prompt_len);
    if (previous) finish(previous);
    previous = std::move(current);
    if (progress) progress(r.prompt_steps + i + 1, total, false);
  }
  if (previous) finish(previous);
  r.decode_seconds = seconds_since(decode_start);
  if (new_tokens > 0) {
    r.tokens =
        buffers_.history().view_of<std::uint32_t>(prompt_len, new_tokens).download<std::uint32_t>();
  }
  return r;
}

std::vector<float> Runner::teacher_force(const std::vector<std::uint32_t>& ids,
                                         const ProgressFn& progress) {
  const auto n = static_cast<std::uint32_t>(ids.size());
  start(ids, n);
  const std::uint32_t vocab = weights_->config.vocab_size;
  std::vector<float> logits(std::size_t{n} * vocab);
  for (std::uint32_t pos = 0; pos < n; ++pos) {
    run_step(pos, n).wait();
    buffers_.logits().download(
        std::as_writable_bytes(std::span<float>(logits).subspan(std::size_t{pos} * vocab, vocab)));
    if (progress) progress(pos + 1, n, true);
  }
  return logits;
}

Summary summarize(std::span<const double> values, std::size_t skip) {
  Summary s;
  if (values.size() <= skip) return s;
  std::vector<double> v(values.begin() + static_cast<std::ptrdiff_t>(skip), values.end());
  s.count = v.size();
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  std::sort(v.begin(), v.end());
  s.median = v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  return s;
}

}  // namespace encore::llm
