#pragma once

/// \file
/// Recording passes: Recording -> Recording transformations that keep results byte-identical
/// while reducing the work the device does (docs/architecture.md, "Recording passes";
/// docs/adr/0005-passes.md).
///
/// | pass     | what it does                                                                  |
/// |----------|-------------------------------------------------------------------------------|
/// | fuse     | rms_norm_f32 + mul_f32 of its output -> rms_norm_mul_f32; add_f32 + rms_norm_f32 |
/// |          | of the sum -> add_rms_norm_f32 (+ mul_f32 -> add_rms_norm_mul_f32); a table of |
/// |          | rules matched on kernel, exact views and element counts                       |
/// | reorder  | llama.cpp's 64-node lookahead: pulls independent dispatches into the current  |
/// |          | concurrent group; Sdpa, Softmax, Collective and untagged Other are fences     |
/// | minimize | drops explicit barriers that no hazard crosses; reduces dependency edges      |
/// |          | transitively                                                                  |
///
/// After the passes the ordering of the recording's mode — dependency edges (auto_dag), inferred
/// barriers (auto_barrier, and barriers where the passes need them), the chain (serial) — is
/// recomputed from the byte ranges the dispatches declare. That is sound only when every buffer
/// arg declares its access, so a recording with an untagged `buffer(view)` arg is refused with
/// Error(InvalidArgument) naming the dispatch and the arg. The input recording is never changed.
///
/// Fusion stops writing an intermediate buffer. Reads inside the recording are seen (a fusion
/// whose intermediate another dispatch reads is not made), reads after it (by the host, or by a
/// later command buffer) are not: an intermediate that is not overwritten later in the recording
/// must not be read afterwards unless it is declared in PassOptions::live_out.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/buffer.h"
#include "encore/launch.h"
#include "encore/options.h"
#include "encore/recording.h"

namespace encore {

namespace detail {
struct PassProgram;
}  // namespace detail

// ---- fusion rules ---------------------------------------------------------------------------

/// Where one parameter of a fused kernel takes its argument from.
struct FusedArg {
  enum class From : std::uint8_t {
    First,        ///< param `param` of the first dispatch
    Second,       ///< param `param` of the second dispatch
    SecondOther,  ///< the input of the second dispatch that is not the intermediate (a commutative
                  ///< op such as mul_f32 may read the intermediate as a or b)
  };
  From from = From::First;
  std::uint32_t param = 0;
};

/// One dispatch as a fusion rule's shape check sees it.
class FusionCandidate {
 public:
  Launch launch() const noexcept;
  /// Bytes of the view bound to param `param`; 0 for a value.
  std::uint64_t bytes(std::size_t param) const;
  /// Value param `param` as T; nullopt for a slot (it may change between replays, so no shape
  /// can be proved from it) or a value of another size.
  template <class T>
  std::optional<T> value(std::size_t param) const {
    const std::span<const std::byte> b = value_bytes(param);
    if (b.size() != sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }

  /// Internal.
  FusionCandidate(const detail::PassProgram& program, std::uint32_t node) noexcept
      : program_(&program), node_(node) {}

 private:
  std::span<const std::byte> value_bytes(std::size_t param) const;

  const detail::PassProgram* program_;
  std::uint32_t node_;
};

/// Checks element counts; returns why the two dispatches do not compute what the fused kernel
/// does, or an empty string when they do.
using FusionCheck =
    std::function<std::string(const FusionCandidate& first, const FusionCandidate& second)>;

/// "first then second, which reads first's `intermediate`" becomes one dispatch of `fused`.
/// Matched on kernel identity (names resolved in the recording's registry; a rule whose kernels
/// are not registered is skipped), op kinds (a dispatch whose op kind was overridden is never
/// fused), the exact view of the intermediate (allocation, offset and size) and `check`.
struct FusionRule {
  std::string first;
  std::string second;
  std::string fused;
  /// Out param of `first` that `second` reads.
  std::uint32_t intermediate = 0;
  /// In params of `second` that may bind the intermediate, tried in order.
  std::vector<std::uint32_t> second_inputs;
  /// For each param of `fused`, in order. The intermediate stays written when an arg maps to it.
  std::vector<FusedArg> args;
  /// The fused dispatch takes the launch shape of the second dispatch (else of the first).
  bool launch_of_second = false;
  /// Appended to the first dispatch's label: "blk.0.norm" + "+" + "mul".
  std::string note;
  FusionCheck check;

  /// "rms_norm_f32+mul_f32".
  std::string name() const { return first + "+" + second; }
};

/// rms_norm_f32+mul_f32 -> rms_norm_mul_f32, add_f32+rms_norm_f32 -> add_rms_norm_f32 and
/// add_rms_norm_f32+mul_f32 -> add_rms_norm_mul_f32, with the element-count checks of their
/// fixed signatures (docs/adr/0005-passes.md).
std::vector<FusionRule> default_fusion_rules();

// ---- options and reports --------------------------------------------------------------------

struct PassOptions {
  /// Views read after the recording (by the host or a later command buffer). Fusion never stops
  /// writing bytes of these (see the file comment).
  std::vector<BufferView> live_out;
  /// Kernels whose dispatches of op kind Other reorder may move (Other is a fence otherwise).
  std::vector<std::string> reorderable;
  /// Reorder looks at most this many nodes ahead, counting the one it starts from: with 64, the
  /// 63 nodes after it (llama.cpp's and the seed's window).
  std::uint32_t reorder_window = 64;
  /// How far (in nodes) fusion looks for the dispatch that reads an intermediate.
  std::uint32_t fusion_distance = 64;
  std::vector<FusionRule> fusion_rules = default_fusion_rules();
  /// Check the invariants (acyclic, every hazard ordered, args consistent) after every pass and
  /// throw Error(Internal) naming the pass and the nodes on a violation. Unset: on in debug
  /// builds, off in release builds.
  std::optional<bool> check_invariants;
  /// Keep the recording after each pass and notes on what each pass did and did not do (which
  /// fusion was refused and why, which node moved, which barrier was dropped or kept).
  bool explain = false;
};

/// Size of a recording.
struct RecordingShape {
  std::size_t dispatches = 0;
  std::size_t barriers = 0;
  std::size_t edges = 0;

  static RecordingShape of(const Recording& recording);
  friend bool operator==(const RecordingShape&, const RecordingShape&) = default;
};

/// What one pass did.
struct PassStage {
  Pass pass = Pass::Fuse;
  /// Host time of the pass itself (not checks, dumps or rebuilding the recording).
  std::uint64_t nanoseconds = 0;
  std::uint64_t nodes_fused = 0;       ///< fuse: dispatches removed
  std::uint64_t nodes_moved = 0;       ///< reorder: dispatches pulled into an earlier group
  std::uint64_t barriers_dropped = 0;  ///< minimize: explicit barriers dropped; reorder: stripped
  /// The recording after this pass, with its shape; only when checking invariants or explaining.
  std::optional<RecordingShape> shape;
  Recording recording;             ///< with PassOptions::explain
  std::vector<std::string> notes;  ///< with PassOptions::explain
};

struct PassReport {
  RecordingShape before;
  RecordingShape after;
  std::vector<PassStage> stages;
  std::uint64_t build_nanoseconds = 0;  ///< reading the input and building the output recording
  std::uint64_t check_nanoseconds = 0;  ///< invariant checks and stage recordings
  std::uint64_t total_nanoseconds = 0;
  Recording input;  ///< with PassOptions::explain

  std::uint64_t nodes_fused() const noexcept;
  std::uint64_t nodes_moved() const noexcept;
  /// Barriers of the input minus barriers of the output (0 when there are more).
  std::uint64_t barriers_removed() const noexcept;
  /// Dependency edges of the input minus those of the output (0 when there are more).
  std::uint64_t edges_removed() const noexcept;

  /// A table: one line per pass with its time and what it changed, shapes before and after, and
  /// the notes when explained.
  std::string to_string() const;
  /// Recording::to_string() (or to_dot()) of the input and after each pass, each under a
  /// "== ... ==" heading. Needs PassOptions::explain (empty otherwise).
  std::string dumps(bool dot = false) const;
};

struct PassResult {
  Recording recording;
  PassReport report;
};

/// An ordered list of passes with their options. Immutable; copies share it.
class PassPipeline {
 public:
  /// No passes: apply() returns the recording itself.
  PassPipeline();
  explicit PassPipeline(std::vector<Pass> passes, PassOptions options = {});
  /// "fuse,reorder,minimize", "all", "none" or "" (see parse_pass_list). Throws
  /// Error(InvalidArgument) naming the word that is not a pass.
  static PassPipeline parse(std::string_view spec, PassOptions options = {});

  bool empty() const noexcept;
  const std::vector<Pass>& passes() const noexcept;
  const PassOptions& options() const noexcept;
  /// "fuse,reorder,minimize", or "none".
  std::string to_string() const;

  /// Runs the passes on `recording` and returns the new recording (with the input's slot values)
  /// and the report. Throws Error(InvalidArgument) for an untagged buffer arg (naming the pass,
  /// the dispatch and the arg) or a malformed fusion rule, and Error(Internal) when invariant
  /// checks are on and a pass broke one. Stats are not touched: Device::optimize counts them.
  /// Thread-safe (const).
  PassResult apply(const Recording& recording) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace encore
