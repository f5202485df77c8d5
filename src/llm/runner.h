#pragma once

/// \file
/// Greedy decoding with a decode step recorded once and replayed per token (or re-recorded per
/// token, for comparison), with per-step timing.
///
/// Positions: the step at position p embeds the token at p, appends its K/V to row p and
/// predicts the token at p + 1. For a prompt of P tokens and N new tokens the runner runs
/// P + N - 1 steps: P - 1 prompt steps ("prefill", one token at a time), then N decode steps,
/// which are timed. The next token is chosen on the device (llm_next_token_u32), so no step
/// waits for the host; generated tokens are read back once at the end.
///
/// Tensor parallelism: a runner of several ranks (ShardedWeights, tensor_parallel.h) records
/// each rank's step on its device once and, every token, sets the slots of every rank and
/// submits them one after the other without waiting: the ranks run concurrently and meet at
/// their all_reduces. Every rank computes the same logits and tokens; rank 0's are returned.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "encore/device.h"
#include "encore/options.h"
#include "encore/recording.h"

#include "llm/decode_step.h"
#include "llm/tensor_parallel.h"
#include "llm/weights.h"

namespace encore::llm {

/// How each step reaches the device.
enum class ReplayMode : std::uint8_t {
  Slots,     ///< recorded once; each token sets the slots pos / kv_len and resubmits
  Rerecord,  ///< encoded and committed anew every token, with plain values
};

std::string_view to_string(ReplayMode mode) noexcept;
std::optional<ReplayMode> parse_replay_mode(std::string_view text) noexcept;
std::optional<NormMode> parse_norm_mode(std::string_view text) noexcept;

struct RunnerOptions {
  /// Positions the KV cache holds (prompt + generated tokens must fit).
  std::uint32_t max_ctx = 1024;
  ReplayMode replay = ReplayMode::Slots;
  NormMode norm = NormMode::Fused;
  /// Encoder choices; unset take the device's.
  std::optional<Ordering> ordering;
  std::optional<ExecutionPath> path;
  /// Recording passes run on the step at finish() (slots) or every commit (re-record); unset:
  /// the device's (DeviceOptions::passes, ENCORE_PASSES). The token history, the token and the
  /// logits are declared live-out, so fusion never drops a write the host or the next step reads.
  std::optional<std::vector<Pass>> passes;
  /// With NormMode::Fused (other modes refuse it): attention and the o projection as one
  /// attention_o_decode per layer (DecodeBuffers).
  bool attention_o = false;
};

/// Called while running: steps done, steps in all, and whether this is the prompt phase.
using ProgressFn = std::function<void(std::uint32_t done, std::uint32_t total, bool prompt)>;

struct GenerateResult {
  std::vector<std::uint32_t> tokens;  ///< the N generated tokens
  std::uint32_t prompt_steps = 0;     ///< P - 1
  double prompt_seconds = 0;          ///< wall time of the prompt steps
  double decode_seconds = 0;          ///< wall time of the N decode steps
  /// Per decode step: wall time between the completions of consecutive steps (the next step is
  /// always queued before the previous one is waited for, so this is the device's step time
  /// whenever the host keeps up), and the device time the backend measured (0 if none; the
  /// longest rank's with several ranks).
  std::vector<double> step_seconds;
  std::vector<double> step_device_seconds;
  /// Per decode step: host time to queue it (slot updates or re-encoding, and the submission).
  /// A step whose host time nears its step_seconds is host-bound.
  std::vector<double> step_host_seconds;
};

class Runner {
 public:
  /// Allocates the decode buffers and, in slots mode, records the step. `weights` must outlive
  /// the runner (and live on `device`). Throws what
  /// DecodeBuffers throws for shapes the op library cannot run.
  Runner(Device device, const DeviceWeights& weights, const RunnerOptions& options);
  /// A runner over every rank of `model` (one rank: exactly the runner above). `model` must
  /// outlive the runner. Throws as the constructor above, for the shape of one rank.
  Runner(const ShardedWeights& model, const RunnerOptions& options);
  ~Runner();
  Runner(Runner&&) noexcept;
  Runner& operator=(Runner&&) noexcept;

  /// Runs `prompt` (at least one token, each < vocab) and then `new_tokens` greedy steps.
  /// Throws Error(InvalidArgument) when the prompt is empty, holds a token outside the
  /// vocabulary, or prompt + new tokens exceed max_ctx.
  GenerateResult generate(const std::vector<std::uint32_t>& prompt, std::uint32_t new_tokens,
                          const ProgressFn& progress = {});

  /// Teacher forcing: runs every token of `ids` and returns the logits after each
  /// (row-major [ids.size(), vocab]): row i scores the token at position i + 1.
  std::vector<float> teacher_force(const std::vector<std::uint32_t>& ids,
                                   const ProgressFn& progress = {});

  /// Tensor-parallel ranks (1 without tensor parallelism).
  std::uint32_t ranks() const noexcept;
  /// Dispatches of one rank's step as submitted (after the passes in slots mode).
  std::size_t dispatches_per_step() const noexcept { return dispatches_per_step_; }
  /// Dispatches of one rank's step as encoded (before any pass).
  std::size_t encoded_dispatches_per_step() const noexcept { return encoded_dispatches_; }
  /// Rank 0's recorded step (slots mode; empty in re-record mode).
  const Recording& recording() const noexcept;
  /// Rank 0's buffers and device.
  const DecodeBuffers& buffers() const noexcept;
  Device& device() noexcept;

 private:
  struct Rank;

  Runner(std::span<const Device> devices, std::span<const DeviceWeights> weights,
         std::span<const Communicator> communicators, const RunnerOptions& options);
  /// Encodes the rank's step once (checking every op against its shapes); keeps it as the
  /// recording every token replays in slots mode.
  void record_step(Rank& rank);
  EncoderOptions encoder_options(const Rank& rank) const;
  bool needs_barriers() const;
  void start(const std::vector<std::uint32_t>& prompt, std::uint32_t steps);
  /// Submits every rank's step at `pos` into `parts` (one submission per rank), waiting for none.
  void run_step(std::uint32_t pos, std::uint32_t prompt_len, std::vector<Submission>& parts);
  /// Waits for every rank's part of a step; throws the first rank failure.
  void wait_step(std::span<const Submission> parts) const;

  RunnerOptions options_;
  // Ranks in order, at stable addresses (a rank's step encoder points at its buffers).
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::size_t dispatches_per_step_ = 0;
  std::size_t encoded_dispatches_ = 0;
};

/// Median and mean of `values` after dropping the first `skip`.
struct Summary {
  double median = 0;
  double mean = 0;
  std::size_t count = 0;
};
Summary summarize(std::span<const double> values, std::size_t skip = 0);

}  // namespace encore::llm
