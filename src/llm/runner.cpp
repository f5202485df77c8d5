// The greedy decode loop: prompt steps, then timed decode steps kept one submission ahead of
// the host's wait, then one read-back of the generated tokens; with several tensor-parallel
// ranks, every step is one submission per rank.

#include "llm/runner.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>

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

// How often waiting for one rank looks whether another has failed.
constexpr std::chrono::milliseconds kFailurePollInterval{10};

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

// One rank's device, buffers, step encoder and recorded step.
struct Runner::Rank {
  Rank(Device rank_device, const DeviceWeights& rank_weights, Communicator rank_communicator,
       std::uint32_t max_ctx, bool attention_o)
      : device(std::move(rank_device)),
        weights(&rank_weights),
        communicator(std::move(rank_communicator)),
        buffers(device, rank_weights.config, max_ctx, attention_o),
        step(device, rank_weights, buffers, communicator) {}

  Device device;
  const DeviceWeights* weights;
  Communicator communicator;  // empty on one device
  DecodeBuffers buffers;
  StepEncoder step;
  Recording recording;
};

Runner::Runner(Device device, const DeviceWeights& weights, const RunnerOptions& options)
    : Runner(std::span<const Device>(&device, 1), std::span<const DeviceWeights>(&weights, 1), {},
             options) {}

Runner::Runner(const ShardedWeights& model, const RunnerOptions& options)
    : Runner(model.devices, model.ranks, model.communicators, options) {}

Runner::Runner(std::span<const Device> devices, std::span<const DeviceWeights> weights,
               std::span<const Communicator> communicators, const RunnerOptions& options)
    : options_(options) {
  if (devices.empty() || devices.size() != weights.size() ||
      (devices.size() > 1 && communicators.size() != devices.size())) {
    throw Error(ErrorCode::InvalidArgument,
                "a runner needs one device and one set of weights per rank, and a communicator "
                "per rank when there are several; got " +
                    std::to_string(devices.size()) + " devices, " + std::to_string(weights.size()) +
                    " weights and " + std::to_string(communicators.size()) + " communicators");
  }
  if (options.attention_o && options.norm != NormMode::Fused) {
    throw Error(ErrorCode::InvalidArgument,
                "attention_o fuses attention with the o gemv of the fused step; norm mode is " +
                    std::string(to_string(options.norm)));
  }
  for (std::size_t r = 0; r < devices.size(); ++r) {
    ranks_.push_back(std::make_unique<Rank>(devices[r], weights[r],
                                            devices.size() > 1 ? communicators[r] : Communicator(),
                                            options.max_ctx, options.attention_o));
  }
  // Encode one step either way: it checks every op against the shapes before anything runs,
  // and in slots mode it is the recording every token replays.
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    try {
      record_step(*ranks_[r]);
    } catch (Error& e) {
      if (ranks_.size() == 1) throw;
      throw e.add_context("the step of tensor-parallel rank " + std::to_string(r) + " of " +
                          std::to_string(ranks_.size()) + " (" + ranks_[r]->device.name() + ")");
    }
  }
}

void Runner::record_step(Rank& rank) {
  Encoder enc = rank.device.encoder(encoder_options(rank));
  encoded_dispatches_ = rank.step.encode(enc, step_slots(), options_.norm, needs_barriers());
  dispatches_per_step_ = encoded_dispatches_;
  if (options_.replay == ReplayMode::Slots) {
    rank.recording = enc.finish();
    dispatches_per_step_ = rank.recording.dispatch_count();
  } else {
    enc.discard();
  }
}

Runner::~Runner() = default;
Runner::Runner(Runner&&) noexcept = default;
Runner& Runner::operator=(Runner&&) noexcept = default;

std::uint32_t Runner::ranks() const noexcept { return static_cast<std::uint32_t>(ranks_.size()); }
const Recording& Runner::recording() const noexcept { return ranks_[0]->recording; }
const DecodeBuffers& Runner::buffers() const noexcept { return ranks_[0]->buffers; }
Device& Runner::device() noexcept { return ranks_[0]->device; }

EncoderOptions Runner::encoder_options(const Rank& rank) const {
  EncoderOptions o{.ordering = options_.ordering, .path = options_.path, .label = "decode_step"};
  if (options_.passes) {
    const DecodeBuffers& b = rank.buffers;
    o.passes = PassPipeline(*options_.passes, {.live_out = {b.history(), b.token(), b.logits()}});
  }
  return o;
}

bool Runner::needs_barriers() const {
  const Device& device = ranks_[0]->device;
  const Ordering ordering = options_.ordering.value_or(device.options().ordering);
  return ordering == Ordering::Barriers ||
         (device.options().force_ordering && device.options().ordering == Ordering::Barriers);
}

void Runner::start(const std::vector<std::uint32_t>& prompt, std::uint32_t steps) {
  const std::uint32_t vocab = ranks_[0]->weights->config.vocab_size;
  if (prompt.empty()) throw Error(ErrorCode::InvalidArgument, "the prompt has no tokens");
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] >= vocab) {
      throw Error(ErrorCode::InvalidArgument,
                  "prompt token " + std::to_string(i) + " is " + std::to_string(prompt[i]) +
                      ", outside the vocabulary of " + std::to_string(vocab));
    }
  }
  if (std::uint64_t{steps} > options_.max_ctx) {
    throw Error(ErrorCode::InvalidArgument,
                std::to_string(steps) + " positions do not fit the KV cache of max_ctx " +
                    std::to_string(options_.max_ctx) + " (raise max_ctx)");
  }
  for (const std::unique_ptr<Rank>& rank : ranks_) {
    rank->buffers.history().upload(std::span<const std::uint32_t>(prompt));
    rank->buffers.token().upload(std::span<const std::uint32_t>(prompt).first(1));
  }
}

void Runner::run_step(std::uint32_t pos, std::uint32_t prompt_len, std::vector<Submission>& parts) {
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    Rank& rank = *ranks_[r];
    if (options_.replay == ReplayMode::Slots) {
      rank.recording.set("pos", pos);
      rank.recording.set("kv_len", pos + 1);
      rank.recording.set("prompt_len", prompt_len);
      parts[r] = rank.device.submit(rank.recording);
      continue;
    }
    Encoder enc = rank.device.encoder(encoder_options(rank));
    rank.step.encode(enc, step_values(pos, prompt_len), options_.norm, needs_barriers());
    parts[r] = enc.commit();
  }
}

void Runner::wait_step(std::span<const Submission> parts) const {
  if (parts.size() == 1) {
    parts[0].wait();
    return;
  }
  // While a rank runs, a rank that failed aborts the group, so the ranks waiting for it at an
  // all_reduce fail at once instead of after the group's timeout; the first failure seen (the
  // cause, the others failing because of it) is rethrown once every rank has finished.
  std::optional<Error> failure;
  const auto look_for_failure = [&] {
    for (std::size_t r = 0; r < parts.size() && !failure; ++r) {
      if (parts[r].status() != SubmissionStatus::Failed) continue;
      failure = parts[r].error();
      ranks_[r]->communicator.abort(failure->what());
    }
  };
  for (const Submission& part : parts) {
    while (!part.wait_for(kFailurePollInterval)) {
      if (!failure) look_for_failure();
    }
    if (!failure) look_for_failure();
  }
  if (failure) throw *failure;
}

GenerateResult Runner::generate(const std::vector<std::uint32_t>& prompt, std::uint32_t new_tokens,
                                const ProgressFn& progress) {
  const auto prompt_len = static_cast<std::uint32_t>(prompt.size());
  start(prompt, prompt_len + new_tokens);
  GenerateResult r;
  r.prompt_steps = prompt_len - 1;
  const std::uint32_t total = r.prompt_steps + new_tokens;

  const auto prompt_start = Clock::now();
  std::vector<Submission> current(ranks_.size());
  for (std::uint32_t pos = 0; pos < r.prompt_steps; ++pos) {
    run_step(pos, prompt_len, current);
    if (progress) progress(pos + 1, total, true);
  }
  if (r.prompt_steps > 0) wait_step(current);
  r.prompt_seconds = seconds_since(prompt_start);

  // Step i is queued before step i - 1 is waited for, so the device never waits for the host
  // (when the host keeps up) and the gap between two completions is one step's time.
  const auto decode_start = Clock::now();
  auto previous_done = decode_start;
  std::vector<Submission> previous(ranks_.size());
  const auto finish = [&](const std::vector<Submission>& parts) {
    wait_step(parts);
    const auto now = Clock::now();
    r.step_seconds.push_back(std::chrono::duration<double>(now - previous_done).count());
    double device = 0;
    for (const Submission& part : parts) device = std::max(device, device_seconds(part));
    r.step_device_seconds.push_back(device);
    previous_done = now;
  };
  for (std::uint32_t i = 0; i < new_tokens; ++i) {
    const auto queue_start = Clock::now();
    run_step(r.prompt_steps + i, prompt_len, current);
    r.step_host_seconds.push_back(seconds_since(queue_start));
    if (i > 0) finish(previous);
    std::swap(previous, current);
    if (progress) progress(r.prompt_steps + i + 1, total, false);
  }
  if (new_tokens > 0) finish(previous);
  r.decode_seconds = seconds_since(decode_start);
  if (new_tokens > 0) {
    r.tokens = buffers()
                   .history()
                   .view_of<std::uint32_t>(prompt_len, new_tokens)
                   .download<std::uint32_t>();
  }
  return r;
}

std::vector<float> Runner::teacher_force(const std::vector<std::uint32_t>& ids,
                                         const ProgressFn& progress) {
  const auto n = static_cast<std::uint32_t>(ids.size());
  start(ids, n);
  const std::uint32_t vocab = ranks_[0]->weights->config.vocab_size;
  std::vector<float> logits(std::size_t{n} * vocab);
  std::vector<Submission> parts(ranks_.size());
  for (std::uint32_t pos = 0; pos < n; ++pos) {
    run_step(pos, n, parts);
    wait_step(parts);
    buffers().logits().download(
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
