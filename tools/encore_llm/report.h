#pragma once

// What encore-llm measured, printed for people and written as JSON.

#include <cstdint>
#include <string>
#include <vector>

#include "encore/profile.h"

#include "llm/config.h"
#include "llm/roofline.h"
#include "llm/runner.h"
#include "options.h"

namespace encore::llm::cli {

struct Report {
  std::string device;
  std::string backend;
  std::string fallback_reason;
  std::string model;
  std::string weights_source;  ///< "random (seed N)" or the checkpoint directory
  ModelConfig config;
  std::uint32_t tp = 1;     ///< tensor-parallel ranks
  ModelConfig rank_config;  ///< the shape one rank computes (config itself without --tp)
  std::uint64_t parameters = 0;
  std::size_t dispatches_per_step = 0;          ///< as submitted (after passes in slots mode)
  std::size_t encoded_dispatches_per_step = 0;  ///< as encoded
  std::string path, ordering, replay, norm, passes;
  std::vector<std::uint32_t> prompt;
  bool show_device_time = false;  ///< --profile cb
  GenerateResult result;
  std::uint32_t warmup = 0;
  Summary step;         ///< wall time between step completions, after warm-up
  Summary step_device;  ///< device time of each step (0 when the backend gives none)
  Summary step_host;    ///< host time to queue each step (encode or slots, and submit)
  Bandwidth bandwidth;  ///< bytes_per_second 0 when not measured
  StepBytes bytes;      ///< one rank's, at the mean KV length of the timed steps
  std::uint32_t mean_kv_len = 0;
  double tokens_per_second = 0;
  double roofline_seconds = 0;  ///< bytes / bandwidth
  double roofline_ratio = 0;    ///< step median / roofline_seconds
  /// With --profile dispatch: rank 0's decode-step dispatch time by op kind (the collectives'
  /// all-reduce time among them), and the steps it covers.
  std::vector<ProfileRow> profile_ops;
  std::size_t profiled_steps = 0;
};

/// Fills the derived numbers (summaries, bytes, roofline) from result, config and bandwidth.
void finish(Report& report);

/// The human-readable summary (stdout).
std::string to_text(const Report& report);

/// Every number as JSON text.
std::string to_json(const Report& report);

}  // namespace encore::llm::cli
