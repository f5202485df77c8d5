#pragma once

// encore-llm's command line: every switch, parsed by CLI11 into one struct.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "encore/options.h"

#include "llm/decode_step.h"
#include "llm/runner.h"

namespace encore::llm::cli {

enum class Profile : std::uint8_t { Off, CommandBuffer, Dispatch };

struct Options {
  std::string model_dir;  ///< --model: a Hugging Face checkpoint directory
  std::string shape;      ///< --shape: random weights of a named shape
  std::uint64_t seed = 1;
  std::vector<std::uint32_t> prompt;  ///< --prompt
  std::uint32_t prompt_len = 0;       ///< --prompt-len: random prompt of this many tokens
  std::uint32_t tokens = 32;
  std::uint32_t warmup = 3;
  std::uint32_t max_ctx = 0;  ///< 0: prompt + tokens
  std::uint32_t tp = 1;       ///< --tp: tensor-parallel ranks, one device each
  std::optional<BackendKind> backend;
  std::optional<ExecutionPath> path;
  std::optional<Ordering> ordering;
  ReplayMode replay = ReplayMode::Slots;
  NormMode norm = NormMode::Fused;
  bool attention_o = false;  ///< --attention-o
  /// Recording passes on the step (--fuse, --reorder, --passes); unset: the device's
  /// (ENCORE_PASSES). --no-fuse gives an explicit empty list.
  std::optional<std::vector<Pass>> passes;
  Profile profile = Profile::Off;
  std::string trace_file;
  std::string kernel_timeline;  ///< --kernel-timeline: write_kernel_timeline() after decoding
  std::vector<std::uint32_t> teacher_force;  ///< --teacher-force
  std::string dump_logits;                   ///< --dump-logits (.npy)
  std::string json_file;
  std::string dump_step;            ///< --dump-step: the recorded step as text
  std::int64_t bandwidth_mib = -1;  ///< -1: backend default; 0: skip
  bool quiet = false;
};

/// Parses argv. Returns nullopt after printing help or a usage error (`exit_code` says which).
std::optional<Options> parse(int argc, char** argv, int& exit_code);

/// Token ids from "1,2,3" (commas or whitespace) or "@file" holding such a list. Throws
/// Error(InvalidArgument) naming the bad entry.
std::vector<std::uint32_t> parse_token_list(const std::string& text);

}  // namespace encore::llm::cli
