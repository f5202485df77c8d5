// options_from_env with an injected environment: every ENCORE_* variable of the documented table
// is parsed into its field, unset variables leave the base alone, ENCORE_ORDERING forces the
// ordering of every encoder, and malformed values throw InvalidArgument naming the variable and
// the value (booleans are strict: "0" means off, unknown words are errors).

#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using Env = std::map<std::string, std::string, std::less<>>;

// An EnvLookup over `env`.
EnvLookup lookup_in(const Env& env) {
  return [&env](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

DeviceOptions from(const Env& env, DeviceOptions base = {}) {
  return options_from_env(std::move(base), lookup_in(env));
}

// The error options_from_env throws for `env`.
Error error_for(const Env& env) {
  try {
    from(env);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "options_from_env accepted a malformed value";
  return Error(ErrorCode::Internal, "nothing was thrown");
}

// A base that differs from the defaults in every field the environment can set.
DeviceOptions unusual_base() {
  DeviceOptions base;
  base.backend = BackendKind::Cpu;
  base.ordering = Ordering::Barriers;
  base.retain_buffers = false;
  base.validate = true;
  base.shuffle_seed = 99;
  base.cpu_threads = 3;
  base.cuda_ordinal = 2;
  base.path = ExecutionPath::SingleStream;
  base.sync_each_dispatch = true;
  base.programmatic_launch = false;
  base.passes = {Pass::Minimize};
  base.profile = ProfileMode::Submission;
  base.trace_path = "base.json";
  base.cupti_library = "/base/libcupti.so";
  base.cuda_home = "/base/cuda";
  return base;
}

void expect_same_options(const DeviceOptions& got, const DeviceOptions& want) {
  EXPECT_EQ(got.backend, want.backend);
  EXPECT_EQ(got.ordering, want.ordering);
  EXPECT_EQ(got.force_ordering, want.force_ordering);
  EXPECT_EQ(got.retain_buffers, want.retain_buffers);
  EXPECT_EQ(got.validate, want.validate);
  EXPECT_EQ(got.shuffle_seed, want.shuffle_seed);
  EXPECT_EQ(got.cpu_threads, want.cpu_threads);
  EXPECT_EQ(got.cuda_ordinal, want.cuda_ordinal);
  EXPECT_EQ(got.path, want.path);
  EXPECT_EQ(got.sync_each_dispatch, want.sync_each_dispatch);
  EXPECT_EQ(got.programmatic_launch, want.programmatic_launch);
  EXPECT_EQ(got.passes, want.passes);
  EXPECT_EQ(got.profile, want.profile);
  EXPECT_EQ(got.trace_path, want.trace_path);
  EXPECT_EQ(got.cupti_library, want.cupti_library);
  EXPECT_EQ(got.cuda_home, want.cuda_home);
}

// With no variable set, the base comes back unchanged (defaults and a non-default base alike).
TEST(OptionsFromEnv, UnsetVariablesLeaveEveryFieldAlone) {
  const Env empty;
  expect_same_options(from(empty), DeviceOptions{});
  expect_same_options(from(empty, unusual_base()), unusual_base());
}

// Every variable of the documented table is looked up through the injected function.
TEST(OptionsFromEnv, LooksUpEveryDocumentedVariable) {
  std::set<std::string> asked;
  options_from_env({}, [&](std::string_view name) -> std::optional<std::string> {
    asked.insert(std::string(name));
    return std::nullopt;
  });
  for (const char* name :
       {"ENCORE_BACKEND", "ENCORE_ORDERING", "ENCORE_RETAIN_BUFFERS", "ENCORE_VALIDATE",
        "ENCORE_SHUFFLE", "ENCORE_CPU_THREADS", "ENCORE_CUDA_DEVICE", "ENCORE_CUDA_PATH",
        "ENCORE_CUDA_SYNC_EACH", "ENCORE_CUDA_PDL", "ENCORE_PASSES", "ENCORE_PROFILE",
        "ENCORE_TRACE", "ENCORE_CUPTI_LIBRARY", "CUDA_HOME"}) {
    EXPECT_EQ(asked.count(name), 1U) << name << " was not looked up";
  }
}

// ENCORE_BACKEND takes auto, cpu and cuda.
TEST(OptionsFromEnv, BackendIsParsed) {
  EXPECT_EQ(from({{"ENCORE_BACKEND", "auto"}}, unusual_base()).backend, BackendKind::Auto);
  EXPECT_EQ(from({{"ENCORE_BACKEND", "cpu"}}).backend, BackendKind::Cpu);
  EXPECT_EQ(from({{"ENCORE_BACKEND", "cuda"}}).backend, BackendKind::Cuda);
}

// ENCORE_ORDERING takes the four orderings and sets force_ordering.
TEST(OptionsFromEnv, OrderingIsParsedAndForced) {
  const std::pair<const char*, Ordering> cases[] = {{"serial", Ordering::Serial},
                                                    {"barriers", Ordering::Barriers},
                                                    {"auto_barrier", Ordering::AutoBarrier},
                                                    {"auto_dag", Ordering::AutoDag}};
  for (const auto& [text, ordering] : cases) {
    const DeviceOptions o = from({{"ENCORE_ORDERING", text}});
    EXPECT_EQ(o.ordering, ordering) << text;
    EXPECT_TRUE(o.force_ordering) << text;
  }
  EXPECT_FALSE(from({}).force_ordering);
}

// A forced ordering overrides what an encoder asks for; without it the encoder's choice wins.
TEST(OptionsFromEnv, ForcedOrderingOverridesTheEncodersChoice) {
  Device forced = testing::make_cpu_device(from({{"ENCORE_ORDERING", "serial"}}));
  EXPECT_EQ(forced.encoder({.ordering = Ordering::AutoDag}).ordering(), Ordering::Serial);
  EXPECT_EQ(forced.encoder().ordering(), Ordering::Serial);

  DeviceOptions unforced;
  unforced.ordering = Ordering::Serial;
  Device chooser = testing::make_cpu_device(unforced);
  EXPECT_EQ(chooser.encoder({.ordering = Ordering::AutoDag}).ordering(), Ordering::AutoDag);
  EXPECT_EQ(chooser.encoder().ordering(), Ordering::Serial);
}

// Booleans accept 1/0, true/false, on/off and yes/no, and "0" (or any "no" word) turns a field
// off even when the base has it on: a set variable does not simply mean "on".
TEST(OptionsFromEnv, BooleansAcceptEveryDocumentedSpelling) {
  DeviceOptions off;
  off.retain_buffers = false;
  off.validate = false;
  DeviceOptions on;
  on.retain_buffers = true;
  on.validate = true;
  for (const char* yes : {"1", "true", "on", "yes"}) {
    EXPECT_TRUE(from({{"ENCORE_VALIDATE", yes}}, off).validate) << yes;
    EXPECT_TRUE(from({{"ENCORE_RETAIN_BUFFERS", yes}}, off).retain_buffers) << yes;
  }
  for (const char* no : {"0", "false", "off", "no"}) {
    EXPECT_FALSE(from({{"ENCORE_VALIDATE", no}}, on).validate) << no;
    EXPECT_FALSE(from({{"ENCORE_RETAIN_BUFFERS", no}}, on).retain_buffers) << no;
  }
}

// ENCORE_SHUFFLE takes a 64-bit seed (the whole range), and 0 or off for none.
TEST(OptionsFromEnv, ShuffleTakesASeedOrOff) {
  EXPECT_EQ(from({{"ENCORE_SHUFFLE", "12345"}}).shuffle_seed, std::optional<std::uint64_t>(12345));
  EXPECT_EQ(from({{"ENCORE_SHUFFLE", "18446744073709551615"}}).shuffle_seed,
            std::optional<std::uint64_t>(UINT64_MAX));
  EXPECT_EQ(from({{"ENCORE_SHUFFLE", "0"}}, unusual_base()).shuffle_seed, std::nullopt);
  EXPECT_EQ(from({{"ENCORE_SHUFFLE", "off"}}, unusual_base()).shuffle_seed, std::nullopt);
}

// ENCORE_CPU_THREADS and ENCORE_CUDA_DEVICE take unsigned integers.
TEST(OptionsFromEnv, ThreadCountAndCudaOrdinalAreParsed) {
  EXPECT_EQ(from({{"ENCORE_CPU_THREADS", "8"}}).cpu_threads, 8U);
  EXPECT_EQ(from({{"ENCORE_CPU_THREADS", "0"}}, unusual_base()).cpu_threads, 0U);
  EXPECT_EQ(from({{"ENCORE_CUDA_DEVICE", "1"}}).cuda_ordinal, 1);
  EXPECT_EQ(from({{"ENCORE_CUDA_DEVICE", "0"}}, unusual_base()).cuda_ordinal, 0);
}

// ENCORE_CUDA_PATH takes graph, streams and stream; the CUDA switches are booleans.
TEST(OptionsFromEnv, CudaPathAndSwitchesAreParsed) {
  EXPECT_EQ(from({{"ENCORE_CUDA_PATH", "graph"}}, unusual_base()).path, ExecutionPath::Graph);
  EXPECT_EQ(from({{"ENCORE_CUDA_PATH", "streams"}}).path, ExecutionPath::MultiStream);
  EXPECT_EQ(from({{"ENCORE_CUDA_PATH", "stream"}}).path, ExecutionPath::SingleStream);
  EXPECT_TRUE(from({{"ENCORE_CUDA_SYNC_EACH", "1"}}).sync_each_dispatch);
  EXPECT_FALSE(from({{"ENCORE_CUDA_SYNC_EACH", "off"}}, unusual_base()).sync_each_dispatch);
  EXPECT_FALSE(from({{"ENCORE_CUDA_PDL", "0"}}).programmatic_launch);
  EXPECT_TRUE(from({{"ENCORE_CUDA_PDL", "yes"}}, unusual_base()).programmatic_launch);
}

// ENCORE_PASSES takes a comma-separated list of passes (in the order given), all, or none.
TEST(OptionsFromEnv, PassesAreParsed) {
  EXPECT_EQ(from({{"ENCORE_PASSES", "fuse,reorder,minimize"}}).passes,
            (std::vector<Pass>{Pass::Fuse, Pass::Reorder, Pass::Minimize}));
  EXPECT_EQ(from({{"ENCORE_PASSES", "minimize, fuse"}}).passes,
            (std::vector<Pass>{Pass::Minimize, Pass::Fuse}));
  EXPECT_EQ(from({{"ENCORE_PASSES", "all"}}).passes,
            (std::vector<Pass>{Pass::Fuse, Pass::Reorder, Pass::Minimize}));
  EXPECT_TRUE(from({{"ENCORE_PASSES", "none"}}, unusual_base()).passes.empty());
  EXPECT_TRUE(from({}).passes.empty());
}

// A device's passes apply to encoders that choose none; an encoder may choose none.
TEST(OptionsFromEnv, DevicePassesApplyToEncodersThatChooseNone) {
  Device dev = testing::make_cpu_device(from({{"ENCORE_PASSES", "reorder"}}));
  EXPECT_EQ(dev.passes().to_string(), "reorder");
  Buffer a = dev.alloc(16, "a");
  Encoder chose_none = dev.encoder();
  chose_none.dispatch(dev.kernel("fill_f32"), testing::cover(4), {out(a), value(1.0F), value(4U)});
  (void)chose_none.finish();
  EXPECT_EQ(dev.stats().recordings_optimized, 1U);
  Encoder opted_out = dev.encoder({.passes = PassPipeline()});
  opted_out.dispatch(dev.kernel("fill_f32"), testing::cover(4), {out(a), value(1.0F), value(4U)});
  (void)opted_out.finish();
  EXPECT_EQ(dev.stats().recordings_optimized, 1U);
}

// ENCORE_PROFILE takes off, cb (per submission) and dispatch; the names round-trip.
TEST(OptionsFromEnv, ProfileModeIsParsed) {
  EXPECT_EQ(from({{"ENCORE_PROFILE", "off"}}, unusual_base()).profile, ProfileMode::Off);
  EXPECT_EQ(from({{"ENCORE_PROFILE", "cb"}}).profile, ProfileMode::Submission);
  EXPECT_EQ(from({{"ENCORE_PROFILE", "dispatch"}}).profile, ProfileMode::Dispatch);
  for (ProfileMode m : {ProfileMode::Off, ProfileMode::Submission, ProfileMode::Dispatch}) {
    EXPECT_EQ(parse_profile_mode(to_string(m)), m);
  }
  EXPECT_EQ(parse_profile_mode("on"), std::nullopt);
}

// ENCORE_TRACE sets the trace path and, without ENCORE_PROFILE, asks for per-dispatch records;
// with ENCORE_PROFILE=cb the trace holds submissions only; with ENCORE_PROFILE=off it is an error.
TEST(OptionsFromEnv, TraceImpliesDispatchProfilingUnlessProfileSaysOtherwise) {
  DeviceOptions o = from({{"ENCORE_TRACE", "step.json"}});
  EXPECT_EQ(o.trace_path, "step.json");
  EXPECT_EQ(o.profile, ProfileMode::Dispatch);
  o = from({{"ENCORE_TRACE", "step.json"}, {"ENCORE_PROFILE", "cb"}});
  EXPECT_EQ(o.profile, ProfileMode::Submission);
  const Error e = error_for({{"ENCORE_TRACE", "step.json"}, {"ENCORE_PROFILE", "off"}});
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(testing::mentions(e.what(), "ENCORE_TRACE='step.json'")) << e.what();
  EXPECT_TRUE(testing::mentions(e.what(), "ENCORE_PROFILE='off'")) << e.what();
}

// Where CUPTI is looked for: ENCORE_CUPTI_LIBRARY names the file, CUDA_HOME the toolkit.
TEST(OptionsFromEnv, CuptiLocationIsParsed) {
  EXPECT_EQ(from({{"ENCORE_CUPTI_LIBRARY", "/opt/libcupti.so.13"}}).cupti_library,
            "/opt/libcupti.so.13");
  EXPECT_EQ(from({{"CUDA_HOME", "/usr/local/cuda-13.0"}}).cuda_home, "/usr/local/cuda-13.0");
}

// Each variable only changes its own field.
TEST(OptionsFromEnv, EachVariableSetsOnlyItsField) {
  DeviceOptions want = unusual_base();
  want.validate = false;
  expect_same_options(from({{"ENCORE_VALIDATE", "0"}}, unusual_base()), want);
  want = unusual_base();
  want.cpu_threads = 16;
  expect_same_options(from({{"ENCORE_CPU_THREADS", "16"}}, unusual_base()), want);
}

// Malformed values throw InvalidArgument whose message names the variable and the value.
TEST(OptionsFromEnv, MalformedValuesThrowNamingVariableAndValue) {
  const std::pair<const char*, const char*> cases[] = {
      {"ENCORE_VALIDATE", "maybe"},
      {"ENCORE_RETAIN_BUFFERS", "2"},
      {"ENCORE_BACKEND", "gpu"},
      {"ENCORE_ORDERING", "fastest"},
      {"ENCORE_CPU_THREADS", "-1"},
      {"ENCORE_CPU_THREADS", "8x"},
      {"ENCORE_CPU_THREADS", ""},
      {"ENCORE_SHUFFLE", "abc"},
      {"ENCORE_SHUFFLE", "18446744073709551616"},  // 2^64
      {"ENCORE_CUDA_DEVICE", "first"},
      {"ENCORE_CUDA_PATH", "graphs"},
      {"ENCORE_CUDA_SYNC_EACH", "sometimes"},
      {"ENCORE_CUDA_PDL", "2"},
      {"ENCORE_VALIDATE", ""},
      {"ENCORE_PASSES", "fuse,reoder"},
      {"ENCORE_PASSES", "fuse,"},
      {"ENCORE_PROFILE", "on"},
      {"ENCORE_PROFILE", "dispatches"},
      {"ENCORE_TRACE", ""},
      {"ENCORE_CUPTI_LIBRARY", ""},
  };
  for (const auto& [name, value] : cases) {
    const Error e = error_for({{name, value}});
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << name << "=" << value;
    const std::string what = e.what();
    EXPECT_NE(what.find(name), std::string::npos) << what;
    EXPECT_NE(what.find(std::string("'") + value + "'"), std::string::npos) << what;
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
