// PassPipeline: runs the passes in order on one program form (program.h), rebuilds the recording
// once at the end, and reports what each pass did. With invariant checks or explanations on, the
// recording is also rebuilt after each pass (to check it, count it and keep it).
//
// A pipeline keeps the programs it worked on (their capacity) and recycles the command lists of
// the recordings it made once they are dropped, like the encoder's command list pool, so a
// steady stream of applications (an encoder with passes committing every step) allocates almost
// nothing.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include "encore/error.h"

#include "core/command_list_pool.h"
#include "ir/passes/passes.h"
#include "ir/passes/program.h"

namespace encore {

namespace {

#ifdef NDEBUG
constexpr bool kDebugBuild = false;
#else
constexpr bool kDebugBuild = true;
#endif

using Clock = std::chrono::steady_clock;

std::uint64_t since(Clock::time_point start) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

detail::PassCounts run_pass(Pass pass, detail::PassProgram& p, const PassOptions& o,
                            detail::PassNotes notes) {
  switch (pass) {
    case Pass::Fuse:
      return detail::fuse(p, o, notes);
    case Pass::Reorder:
      return detail::reorder(p, o, notes);
    case Pass::Minimize:
      return detail::minimize(p, o, notes);
  }
  return {};
}

std::string shape_text(const RecordingShape& s) {
  return std::to_string(s.dispatches) + " dispatches, " + std::to_string(s.barriers) +
         " barriers, " + std::to_string(s.edges) + " edges";
}

std::string micros(std::uint64_t ns) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f us", static_cast<double>(ns) / 1000.0);
  return buffer;
}

}  // namespace

RecordingShape RecordingShape::of(const Recording& r) {
  return r ? detail::shape_of(r.commands()) : RecordingShape{};
}

// ---- report ----------------------------------------------------------------------------------

std::uint64_t PassReport::nodes_fused() const noexcept {
  std::uint64_t n = 0;
  for (const PassStage& s : stages) n += s.nodes_fused;
  return n;
}

std::uint64_t PassReport::nodes_moved() const noexcept {
  std::uint64_t n = 0;
  for (const PassStage& s : stages) n += s.nodes_moved;
  return n;
}

std::uint64_t PassReport::barriers_removed() const noexcept {
  return before.barriers > after.barriers ? before.barriers - after.barriers : 0;
}

std::uint64_t PassReport::edges_removed() const noexcept {
  return before.edges > after.edges ? before.edges - after.edges : 0;
}

std::string PassReport::to_string() const {
  std::string out = "passes: " + shape_text(before) + " -> " + shape_text(after) + " in " +
                    micros(total_nanoseconds) + " (reading and rebuilding " +
                    micros(build_nanoseconds) + ", checks " + micros(check_nanoseconds) + ")\n";
  for (const PassStage& s : stages) {
    std::string line = "  " + std::string(encore::to_string(s.pass));
    line.resize(12, ' ');
    line += micros(s.nanoseconds);
    if (s.nodes_fused != 0) line += ", fused " + std::to_string(s.nodes_fused);
    if (s.nodes_moved != 0) line += ", moved " + std::to_string(s.nodes_moved);
    if (s.barriers_dropped != 0)
      line += ", dropped " + std::to_string(s.barriers_dropped) + " barriers";
    if (s.shape) line += " -> " + shape_text(*s.shape);
    out += line + '\n';
    for (const std::string& note : s.notes) out += "      " + note + '\n';
  }
  return out;
}

std::string PassReport::dumps(bool dot) const {
  if (!input) return {};
  const auto dump = [dot](const Recording& r) { return dot ? r.to_dot() : r.to_string(); };
  std::string out = "== input ==\n" + dump(input);
  for (const PassStage& s : stages) {
    out += "== after " + std::string(encore::to_string(s.pass)) + " ==\n" + dump(s.recording);
  }
  return out;
}

// ---- pipeline --------------------------------------------------------------------------------

struct PassPipeline::Impl {
  Impl(std::vector<Pass> p, PassOptions o) : passes(std::move(p)), options(std::move(o)) {}

  std::unique_ptr<detail::PassProgram> acquire_program() const {
    {
      std::lock_guard lock(mutex);
      if (!programs.empty()) {
        std::unique_ptr<detail::PassProgram> p = std::move(programs.back());
        programs.pop_back();
        return p;
      }
    }
    return std::make_unique<detail::PassProgram>();
  }
  void release_program(std::unique_ptr<detail::PassProgram> p) const {
    p->input = nullptr;
    std::lock_guard lock(mutex);
    if (programs.size() < 4) programs.push_back(std::move(p));
  }

  std::vector<Pass> passes;
  PassOptions options;
  std::shared_ptr<detail::CommandListPool> lists = std::make_shared<detail::CommandListPool>();
  mutable std::mutex mutex;
  mutable std::vector<std::unique_ptr<detail::PassProgram>> programs;
};

PassPipeline::PassPipeline() {
  static const auto none = std::make_shared<const Impl>(std::vector<Pass>{}, PassOptions{});
  impl_ = none;
}

PassPipeline::PassPipeline(std::vector<Pass> passes, PassOptions options)
    : impl_(std::make_shared<const Impl>(std::move(passes), std::move(options))) {}

PassPipeline PassPipeline::parse(std::string_view spec, PassOptions options) {
  std::string bad;
  std::optional<std::vector<Pass>> passes = parse_pass_list(spec, &bad);
  if (!passes) {
    throw Error(ErrorCode::InvalidArgument,
                "'" + bad + "' in the pass list '" + std::string(spec) +
                    "' is not a pass; expected fuse, reorder and minimize (comma-separated), "
                    "all or none");
  }
  return PassPipeline(std::move(*passes), std::move(options));
}

bool PassPipeline::empty() const noexcept { return impl_->passes.empty(); }
const std::vector<Pass>& PassPipeline::passes() const noexcept { return impl_->passes; }
const PassOptions& PassPipeline::options() const noexcept { return impl_->options; }

std::string PassPipeline::to_string() const {
  if (empty()) return "none";
  std::string out;
  for (Pass p : impl_->passes) {
    if (!out.empty()) out += ',';
    out += encore::to_string(p);
  }
  return out;
}

PassResult PassPipeline::apply(const Recording& recording) const {
  if (!recording) throw Error(ErrorCode::InvalidArgument, "passes applied to an empty Recording");
  const Clock::time_point start = Clock::now();
  PassResult result;
  PassReport& report = result.report;
  if (empty()) {
    report.before = RecordingShape::of(recording);
    result.recording = recording;
    report.after = report.before;
    return result;
  }
  const PassOptions& o = impl_->options;
  const bool check = o.check_invariants.value_or(kDebugBuild);
  const std::vector<std::byte> slot_values(recording.slot_values().begin(),
                                           recording.slot_values().end());
  struct Release {
    const Impl& impl;
    std::unique_ptr<detail::PassProgram> program;
    ~Release() { impl.release_program(std::move(program)); }
  } scratch{*impl_, impl_->acquire_program()};
  detail::PassProgram& program = *scratch.program;
  const auto materialize = [&] {
    std::unique_ptr<detail::CommandList> list = impl_->lists->acquire();
    detail::materialize(program, *list);
    return impl_->lists->share(std::move(list));
  };
  Clock::time_point t = Clock::now();
  detail::build_program(recording.commands(), program);
  report.before = {recording.dispatch_count(), recording.barrier_count(), program.input_edges};
  report.build_nanoseconds += since(t);
  if (o.explain) report.input = recording;

  std::shared_ptr<detail::CommandList> stage_list;
  for (Pass pass : impl_->passes) {
    detail::require_complete_annotation(program, pass);
    PassStage& stage = report.stages.emplace_back();
    stage.pass = pass;
    t = Clock::now();
    const detail::PassCounts counts =
        run_pass(pass, program, o, o.explain ? &stage.notes : nullptr);
    stage.nanoseconds = since(t);
    stage.nodes_fused = counts.nodes_fused;
    stage.nodes_moved = counts.nodes_moved;
    stage.barriers_dropped = counts.barriers_dropped;
    if (check || o.explain) {
      t = Clock::now();
      stage_list = materialize();
      if (check) detail::check_invariants(*stage_list, pass);
      stage.shape = detail::shape_of(*stage_list);
      Recording after(stage_list, slot_values);
      if (o.explain) stage.recording = std::move(after);
      report.check_nanoseconds += since(t);
    }
  }
  t = Clock::now();
  // After the last pass the stage's list is the result; rebuild only when there was none.
  if (!stage_list) stage_list = materialize();
  report.after = detail::shape_of(*stage_list);
  result.recording = Recording(std::move(stage_list), slot_values);
  report.build_nanoseconds += since(t);
  report.total_nanoseconds = since(start);
  return result;
}

}  // namespace encore
