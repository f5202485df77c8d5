// The one place encore reads the process environment. Everything else takes DeviceOptions.

#include "encore/options.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string>

#include "encore/error.h"

namespace encore {

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::Auto:
      return "auto";
    case BackendKind::Cpu:
      return "cpu";
    case BackendKind::Cuda:
      return "cuda";
  }
  return "?";
}

std::string_view to_string(Ordering ordering) noexcept {
  switch (ordering) {
    case Ordering::Serial:
      return "serial";
    case Ordering::Barriers:
      return "barriers";
    case Ordering::AutoBarrier:
      return "auto_barrier";
    case Ordering::AutoDag:
      return "auto_dag";
  }
  return "?";
}

std::string_view to_string(ExecutionPath path) noexcept {
  switch (path) {
    case ExecutionPath::Graph:
      return "graph";
    case ExecutionPath::MultiStream:
      return "streams";
    case ExecutionPath::SingleStream:
      return "stream";
  }
  return "?";
}

std::string_view to_string(ProfileMode mode) noexcept {
  switch (mode) {
    case ProfileMode::Off:
      return "off";
    case ProfileMode::Submission:
      return "cb";
    case ProfileMode::Dispatch:
      return "dispatch";
  }
  return "?";
}

std::optional<ProfileMode> parse_profile_mode(std::string_view text) noexcept {
  for (ProfileMode m : {ProfileMode::Off, ProfileMode::Submission, ProfileMode::Dispatch}) {
    if (text == to_string(m)) return m;
  }
  return std::nullopt;
}

std::optional<ExecutionPath> parse_execution_path(std::string_view text) noexcept {
  for (ExecutionPath p :
       {ExecutionPath::Graph, ExecutionPath::MultiStream, ExecutionPath::SingleStream}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

std::optional<BackendKind> parse_backend_kind(std::string_view text) noexcept {
  for (BackendKind k : {BackendKind::Auto, BackendKind::Cpu, BackendKind::Cuda}) {
    if (text == to_string(k)) return k;
  }
  return std::nullopt;
}

std::optional<Ordering> parse_ordering(std::string_view text) noexcept {
  for (Ordering o :
       {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
    if (text == to_string(o)) return o;
  }
  return std::nullopt;
}

std::string_view to_string(Pass pass) noexcept {
  switch (pass) {
    case Pass::Fuse:
      return "fuse";
    case Pass::Reorder:
      return "reorder";
    case Pass::Minimize:
      return "minimize";
  }
  return "?";
}

std::optional<std::vector<Pass>> parse_pass_list(std::string_view text, std::string* bad_word) {
  const auto trim = [](std::string_view w) {
    while (!w.empty() && w.front() == ' ') w.remove_prefix(1);
    while (!w.empty() && w.back() == ' ') w.remove_suffix(1);
    return w;
  };
  text = trim(text);
  if (text.empty() || text == "none") return std::vector<Pass>{};
  if (text == "all") return std::vector<Pass>{Pass::Fuse, Pass::Reorder, Pass::Minimize};
  std::vector<Pass> passes;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view word = trim(text.substr(0, comma));
    bool known = false;
    for (Pass p : {Pass::Fuse, Pass::Reorder, Pass::Minimize}) {
      if (word == to_string(p)) {
        passes.push_back(p);
        known = true;
      }
    }
    if (!known) {
      if (bad_word != nullptr) *bad_word = std::string(word);
      return std::nullopt;
    }
    if (comma == std::string_view::npos) return passes;
    text.remove_prefix(comma + 1);
  }
}

std::optional<std::string> process_env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

namespace {

[[noreturn]] void throw_bad_value(std::string_view name, std::string_view value,
                                  std::string_view expected) {
  throw Error(ErrorCode::InvalidArgument, std::string(name) + "='" + std::string(value) +
                                              "' is not valid; expected " + std::string(expected));
}

// Booleans are parsed strictly: an unknown word is an error, never "set means on".
bool parse_bool(std::string_view name, std::string_view value) {
  for (std::string_view yes : {"1", "true", "on", "yes"}) {
    if (value == yes) return true;
  }
  for (std::string_view no : {"0", "false", "off", "no"}) {
    if (value == no) return false;
  }
  throw_bad_value(name, value, "1/0, true/false, on/off or yes/no");
}

std::uint64_t parse_u64(std::string_view name, std::string_view value, std::uint64_t max) {
  std::uint64_t out = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (value.empty() || ec != std::errc() || ptr != end || out > max) {
    throw_bad_value(name, value, "an unsigned integer <= " + std::to_string(max));
  }
  return out;
}

void read_profiling(DeviceOptions& base, const EnvLookup& lookup) {
  const std::optional<std::string> profile = lookup("ENCORE_PROFILE");
  if (profile) {
    auto mode = parse_profile_mode(*profile);
    if (!mode) throw_bad_value("ENCORE_PROFILE", *profile, "off, cb or dispatch");
    base.profile = *mode;
  }
  if (auto v = lookup("ENCORE_TRACE")) {
    if (v->empty()) throw_bad_value("ENCORE_TRACE", *v, "a file path");
    base.trace_path = *v;
    // A trace without ENCORE_PROFILE means "show me every dispatch".
    if (!profile) base.profile = ProfileMode::Dispatch;
    if (base.profile == ProfileMode::Off) {
      throw Error(ErrorCode::InvalidArgument,
                  "ENCORE_TRACE='" + *v + "' needs profiling, but ENCORE_PROFILE='off'");
    }
  }
  if (auto v = lookup("ENCORE_CUPTI_LIBRARY")) {
    if (v->empty()) throw_bad_value("ENCORE_CUPTI_LIBRARY", *v, "a file path");
    base.cupti_library = *v;
  }
  if (auto v = lookup("CUDA_HOME")) base.cuda_home = *v;
}

}  // namespace

DeviceOptions options_from_env(DeviceOptions base, const EnvLookup& lookup) {
  if (auto v = lookup("ENCORE_BACKEND")) {
    auto kind = parse_backend_kind(*v);
    if (!kind) throw_bad_value("ENCORE_BACKEND", *v, "auto, cpu or cuda");
    base.backend = *kind;
  }
  if (auto v = lookup("ENCORE_ORDERING")) {
    auto ordering = parse_ordering(*v);
    if (!ordering) {
      throw_bad_value("ENCORE_ORDERING", *v, "serial, barriers, auto_barrier or auto_dag");
    }
    base.ordering = *ordering;
    base.force_ordering = true;
  }
  if (auto v = lookup("ENCORE_RETAIN_BUFFERS")) {
    base.retain_buffers = parse_bool("ENCORE_RETAIN_BUFFERS", *v);
  }
  if (auto v = lookup("ENCORE_VALIDATE")) base.validate = parse_bool("ENCORE_VALIDATE", *v);
  if (auto v = lookup("ENCORE_SHUFFLE")) {
    if (*v == "off" || *v == "0") {
      base.shuffle_seed.reset();
    } else {
      base.shuffle_seed = parse_u64("ENCORE_SHUFFLE", *v, UINT64_MAX);
    }
  }
  if (auto v = lookup("ENCORE_CPU_THREADS")) {
    base.cpu_threads = static_cast<std::uint32_t>(parse_u64("ENCORE_CPU_THREADS", *v, 4096));
  }
  if (auto v = lookup("ENCORE_CUDA_DEVICE")) {
    base.cuda_ordinal = static_cast<int>(parse_u64("ENCORE_CUDA_DEVICE", *v, 1024));
  }
  if (auto v = lookup("ENCORE_CUDA_PATH")) {
    auto path = parse_execution_path(*v);
    if (!path) throw_bad_value("ENCORE_CUDA_PATH", *v, "graph, streams or stream");
    base.path = *path;
  }
  if (auto v = lookup("ENCORE_CUDA_SYNC_EACH")) {
    base.sync_each_dispatch = parse_bool("ENCORE_CUDA_SYNC_EACH", *v);
  }
  if (auto v = lookup("ENCORE_CUDA_PDL")) {
    base.programmatic_launch = parse_bool("ENCORE_CUDA_PDL", *v);
  }
  if (auto v = lookup("ENCORE_PASSES")) {
    auto passes = parse_pass_list(*v);
    if (!passes) {
      throw_bad_value("ENCORE_PASSES", *v,
                      "a comma-separated list of fuse, reorder and minimize, or all, or none");
    }
    base.passes = std::move(*passes);
  }
  read_profiling(base, lookup);
  return base;
}

}  // namespace encore
