#pragma once

/// \file
/// Device options and the one function that reads them from the environment.
///
/// Library code never calls getenv: `options_from_env()` is the single reader, and every
/// behaviour it can switch is also a field here, so tests pass options explicitly.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encore {

class KernelRegistry;

/// Which backend a device runs on.
enum class BackendKind : std::uint8_t {
  Auto,  ///< CUDA when built and a GPU is usable, else CPU
  Cpu,   ///< the CPU reference backend
  Cuda,  ///< the CUDA backend; opening fails if unavailable
};

/// How an encoder orders the dispatches of one command buffer (see docs/architecture.md).
enum class Ordering : std::uint8_t {
  Serial,       ///< each dispatch waits for the previous one
  Barriers,     ///< dispatches between two barrier() calls may run concurrently
  AutoBarrier,  ///< barriers inserted where declared byte ranges conflict (RAW/WAR/WAW)
  AutoDag,      ///< exact dependency edges between conflicting dispatches (the default)
};

/// How the CUDA backend runs a command buffer. The CPU backend ignores it.
enum class ExecutionPath : std::uint8_t {
  Graph,         ///< a CUDA graph, cached and patched between submissions (the default)
  MultiStream,   ///< direct launches on several streams joined by events
  SingleStream,  ///< direct launches on one stream, in program order
};

/// A recording pass (see encore/passes.h).
enum class Pass : std::uint8_t {
  Fuse,      ///< RmsNorm+ElemMul, ElemAdd+RmsNorm (and both) become one fused dispatch
  Reorder,   ///< llama.cpp's 64-node lookahead widens concurrent groups
  Minimize,  ///< drops barriers no hazard crosses; transitive reduction of the edges
};

/// What a device records about the work it runs (see encore/profile.h).
enum class ProfileMode : std::uint8_t {
  Off,         ///< nothing: costs one predictable branch per submission
  Submission,  ///< one record per command buffer: its time on the device ("cb")
  Dispatch,    ///< also one record per dispatch: its own start and end ("dispatch")
};

std::string_view to_string(BackendKind kind) noexcept;
std::string_view to_string(ExecutionPath path) noexcept;
/// Parses "graph" | "streams" | "stream"; nullopt for anything else.
std::optional<ExecutionPath> parse_execution_path(std::string_view text) noexcept;
std::string_view to_string(Ordering ordering) noexcept;
/// "off", "cb" or "dispatch" (the ENCORE_PROFILE spellings).
std::string_view to_string(ProfileMode mode) noexcept;
/// Parses "off" | "cb" | "dispatch"; nullopt for anything else.
std::optional<ProfileMode> parse_profile_mode(std::string_view text) noexcept;
/// Parses "auto" | "cpu" | "cuda"; nullopt for anything else.
std::optional<BackendKind> parse_backend_kind(std::string_view text) noexcept;
/// Parses "serial" | "barriers" | "auto_barrier" | "auto_dag"; nullopt for anything else.
std::optional<Ordering> parse_ordering(std::string_view text) noexcept;
/// "fuse", "reorder", "minimize".
std::string_view to_string(Pass pass) noexcept;
/// Parses a comma-separated list of pass names ("fuse,reorder,minimize"; spaces around names are
/// ignored), "all" (those three, in that order) or "none" / "" (no pass). Nullopt for anything
/// else; `bad_word` (when given) then receives the word that is not a pass.
std::optional<std::vector<Pass>> parse_pass_list(std::string_view text,
                                                 std::string* bad_word = nullptr);

/// Everything a device can be configured with. Defaults are what production wants.
struct DeviceOptions {
  BackendKind backend = BackendKind::Auto;
  /// Ordering of encoders that do not choose one.
  Ordering ordering = Ordering::AutoDag;
  /// When true, `ordering` also overrides what encoders ask for (set by ENCORE_ORDERING, for
  /// experiments on unmodified programs).
  bool force_ordering = false;
  /// Submissions keep every buffer they bind alive until they complete. When false the caller
  /// keeps buffers alive until completion (e.g. with a per-step arena).
  bool retain_buffers = true;
  /// CPU backend: run each dispatch alone and check that it changed no byte it did not declare
  /// as written; a violation fails the submission with ErrorCode::UndeclaredWrite.
  bool validate = false;
  /// CPU backend: run ready dispatches in an order drawn from this seed instead of program order,
  /// to flush out missing dependencies. With `cpu_threads == 1` the order is reproducible.
  std::optional<std::uint64_t> shuffle_seed;
  /// CPU backend worker threads; 0 means the hardware concurrency.
  std::uint32_t cpu_threads = 0;
  /// CUDA device ordinal.
  int cuda_ordinal = 0;
  /// CUDA: how encoders that do not choose run their command buffers.
  ExecutionPath path = ExecutionPath::Graph;
  /// CUDA, for debugging faults: run every command buffer dispatch by dispatch on one stream with
  /// a synchronisation after each, so a fault names the dispatch that caused it. Slow.
  bool sync_each_dispatch = false;
  /// CUDA: instantiated graphs kept for reuse (least recently used ones are dropped).
  std::uint32_t graph_cache_capacity = 64;
  /// CUDA: use programmatic dependent launch where a kernel declares it safe
  /// (KernelDef::programmatic_dependency).
  bool programmatic_launch = true;
  /// Profiling (Device::profile()). Dispatch asks for per-dispatch times; a backend that cannot
  /// time dispatches (CUDA without CUPTI) profiles per submission and says why
  /// (Device::profile_note()).
  ProfileMode profile = ProfileMode::Off;
  /// When not empty, the device writes its profile as a Chrome trace (JSON, opens in Perfetto) to
  /// this file when it closes. Needs `profile` other than Off.
  std::string trace_path;
  /// CUDA, per-dispatch profiling: the CUPTI library to load. Empty: search the loader path
  /// (libcupti.so.13, libcupti.so), then `cuda_home` and the toolkit encore was built with.
  std::string cupti_library;
  /// CUDA toolkit root searched for CUPTI (lib64, extras/CUPTI/lib64); empty: not searched.
  std::string cuda_home;
  /// Kernels the device can run; null means the built-in registry.
  std::shared_ptr<KernelRegistry> registry;
  /// Passes applied, with default PassOptions, to the command buffers of encoders that choose
  /// none (EncoderOptions::passes), at commit() and finish(). Empty: none (the default).
  std::vector<Pass> passes;
};

/// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (getenv).
std::optional<std::string> process_env(std::string_view name);

/// Returns `base` with the ENCORE_* environment variables applied:
///
/// | variable              | values                                         | field             |
/// |-----------------------|------------------------------------------------|-------------------|
/// | ENCORE_BACKEND        | auto, cpu, cuda                                | backend           |
/// | ENCORE_ORDERING       | serial, barriers, auto_barrier, auto_dag       | ordering (forced) |
/// | ENCORE_RETAIN_BUFFERS | 1/0 (also true/false, on/off, yes/no)          | retain_buffers    |
/// | ENCORE_VALIDATE       | 1/0                                            | validate          |
/// | ENCORE_SHUFFLE        | a 64-bit seed, or 0/off for none               | shuffle_seed      |
/// | ENCORE_CPU_THREADS    | a thread count (0 = hardware)                  | cpu_threads       |
/// | ENCORE_CUDA_DEVICE    | a device ordinal                               | cuda_ordinal      |
/// | ENCORE_CUDA_PATH      | graph, streams, stream                         | path              |
/// | ENCORE_CUDA_SYNC_EACH | 1/0                                            | sync_each_dispatch|
/// | ENCORE_CUDA_PDL       | 1/0                                            | programmatic_launch|
/// | ENCORE_PASSES         | fuse,reorder,minimize (any list), all, none    | passes            |
/// | ENCORE_PROFILE        | off, cb, dispatch                              | profile           |
/// | ENCORE_TRACE          | a file path (implies dispatch unless           | trace_path        |
/// |                       |   ENCORE_PROFILE is set)                       |                   |
/// | ENCORE_CUPTI_LIBRARY  | a file path                                    | cupti_library     |
/// | CUDA_HOME             | the CUDA toolkit root                          | cuda_home         |
///
/// Unset variables leave the field alone. A malformed value throws Error(InvalidArgument) naming
/// the variable, its value and what was expected; nothing is silently ignored.
DeviceOptions options_from_env(DeviceOptions base = {}, const EnvLookup& lookup = process_env);

}  // namespace encore
