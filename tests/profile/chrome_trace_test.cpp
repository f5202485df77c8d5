// The Chrome trace of a Profile: valid JSON (parsed with nlohmann-json) in the trace-event
// format Perfetto reads: named process and tracks, one complete event per submission and per
// dispatch with its facts in args, overlapping dispatches of a lane split onto sub-tracks, and
// flow arrows for dependencies (capped per dispatch). Writing to a bad path is an IoError.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "encore/profile.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using nlohmann::json;
using testing::mentions;

DispatchRecord at(std::uint32_t dispatch, std::uint32_t lane, std::int64_t start,
                  std::int64_t end) {
  DispatchRecord r;
  r.submission = 7;
  r.submission_label = "step";
  r.replay = 2;
  r.dispatch = dispatch;
  r.label = "d" + std::to_string(dispatch);
  r.op = OpKind::ElemAdd;
  r.kernel = "add_f32";
  r.grid = {4};
  r.block = {64};
  r.lane = lane;
  r.start_ns = start;
  r.end_ns = end;
  return r;
}

// A graph where dispatch `to` waits for each of `from`.
std::shared_ptr<DispatchGraph> graph_of(
    std::size_t nodes, const std::map<std::uint32_t, std::vector<std::uint32_t>>& waits) {
  auto g = std::make_shared<DispatchGraph>();
  g->begin.push_back(0);
  for (std::uint32_t i = 0; i < nodes; ++i) {
    auto it = waits.find(i);
    if (it != waits.end()) g->waits.insert(g->waits.end(), it->second.begin(), it->second.end());
    g->begin.push_back(static_cast<std::uint32_t>(g->waits.size()));
  }
  return g;
}

std::vector<json> events_with(const json& trace, const std::string& ph) {
  std::vector<json> out;
  for (const json& e : trace.at("traceEvents")) {
    if (e.at("ph") == ph) out.push_back(e);
  }
  return out;
}

// Dispatch 0 then 1 on lane 0, 2 on lane 1 overlapping both; 1 and 2 wait for 0.
Profile small_profile() {
  SubmissionRecord s{.submission = 7,
                     .label = "step",
                     .replay = 2,
                     .dispatches = 3,
                     .start_ns = 0,
                     .end_ns = 5000,
                     .device_ns = 5000};
  s.graph = graph_of(3, {{1, {0}}, {2, {0}}});
  Profile p(ProfileMode::Dispatch, {s},
            {at(0, 0, 0, 1000), at(1, 0, 1000, 3000), at(2, 1, 1500, 4000)});
  p.set_source("test device", BackendKind::Cpu, "");
  return p;
}

// The trace parses, and holds one X event per submission and per dispatch, with timestamps in
// microseconds and the dispatch facts in args.
TEST(ChromeTrace, ParsesAndHasAnEventPerSubmissionAndDispatch) {
  const json trace = json::parse(small_profile().chrome_trace());
  EXPECT_EQ(trace.at("displayTimeUnit"), "ns");
  const std::vector<json> complete = events_with(trace, "X");
  ASSERT_EQ(complete.size(), 4U);
  const json& submission = complete[0];
  EXPECT_EQ(submission.at("name"), "step");
  EXPECT_EQ(submission.at("tid"), 0);
  EXPECT_EQ(submission.at("args").at("replay"), 2);
  EXPECT_DOUBLE_EQ(submission.at("dur").get<double>(), 5.0);
  const json& d1 = complete[2];
  EXPECT_EQ(d1.at("name"), "d1");
  EXPECT_EQ(d1.at("cat"), "ElemAdd");
  EXPECT_DOUBLE_EQ(d1.at("ts").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(d1.at("dur").get<double>(), 2.0);
  const json& args = d1.at("args");
  EXPECT_EQ(args.at("kernel"), "add_f32");
  EXPECT_EQ(args.at("dispatch"), 1);
  EXPECT_EQ(args.at("submission"), 7);
  EXPECT_EQ(args.at("submission_label"), "step");
  EXPECT_EQ(args.at("grid"), "(4, 1, 1)");
  EXPECT_EQ(args.at("block"), "(64, 1, 1)");
}

// The process is named after the device, track 0 holds submissions, and each lane is a named
// track; no two X events on one track overlap partially.
TEST(ChromeTrace, NamesProcessAndTracksAndNeverOverlapsSlicesOnATrack) {
  const json trace = json::parse(small_profile().chrome_trace());
  std::map<int, std::string> tracks;
  bool process_named = false;
  for (const json& m : events_with(trace, "M")) {
    if (m.at("name") == "process_name") {
      process_named = mentions(m.at("args").at("name").get<std::string>(), "test device");
    }
    if (m.at("name") == "thread_name") {
      tracks[m.at("tid").get<int>()] = m.at("args").at("name").get<std::string>();
    }
  }
  EXPECT_TRUE(process_named);
  EXPECT_EQ(tracks[0], "submissions");
  std::set<std::string> names;
  for (const auto& [tid, name] : tracks) names.insert(name);
  EXPECT_TRUE(names.count("worker 0"));
  EXPECT_TRUE(names.count("worker 1"));

  std::map<int, std::vector<std::pair<double, double>>> slices;
  for (const json& x : events_with(trace, "X")) {
    const double ts = x.at("ts").get<double>();
    slices[x.at("tid").get<int>()].emplace_back(ts, ts + x.at("dur").get<double>());
  }
  for (auto& [tid, spans] : slices) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
      EXPECT_LE(spans[i - 1].second, spans[i].first) << "track " << tracks[tid];
    }
  }
}

// Dispatches of one lane that overlap (kernels of a graph on one stream) go to a sub-track.
TEST(ChromeTrace, OverlappingDispatchesOfOneLaneGetSubTracks) {
  Profile p(ProfileMode::Dispatch, {}, {at(0, 3, 0, 100), at(1, 3, 50, 150), at(2, 3, 120, 200)});
  p.set_source("gpu", BackendKind::Cuda, "");
  const json trace = json::parse(p.chrome_trace());
  std::map<std::string, int> tid_of;
  for (const json& m : events_with(trace, "M")) {
    if (m.at("name") == "thread_name") {
      tid_of[m.at("args").at("name").get<std::string>()] = m.at("tid").get<int>();
    }
  }
  ASSERT_TRUE(tid_of.count("stream 3"));
  ASSERT_TRUE(tid_of.count("stream 3.1"));
  std::map<std::string, int> track_of_dispatch;
  for (const json& x : events_with(trace, "X")) {
    track_of_dispatch[x.at("name").get<std::string>()] = x.at("tid").get<int>();
  }
  EXPECT_EQ(track_of_dispatch["d0"], tid_of["stream 3"]);
  EXPECT_EQ(track_of_dispatch["d1"], tid_of["stream 3.1"]);
  EXPECT_EQ(track_of_dispatch["d2"], tid_of["stream 3"]);  // d0 ended by then
}

// Each dependency is one flow: an "s" event inside the producer's slice and an "f" event with
// the same id, bound to the enclosing consumer slice ("bp": "e").
TEST(ChromeTrace, DependenciesBecomeFlowArrows) {
  const json trace = json::parse(small_profile().chrome_trace());
  const std::vector<json> starts = events_with(trace, "s");
  const std::vector<json> finishes = events_with(trace, "f");
  ASSERT_EQ(starts.size(), 2U);
  ASSERT_EQ(finishes.size(), 2U);
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(starts[i].at("id"), finishes[i].at("id"));
    EXPECT_EQ(finishes[i].at("bp"), "e");
    ids.insert(starts[i].at("id").get<std::uint64_t>());
    // Producer d0 spans 0..1 us.
    EXPECT_GT(starts[i].at("ts").get<double>(), 0.0);
    EXPECT_LT(starts[i].at("ts").get<double>(), 1.0);
  }
  EXPECT_EQ(ids.size(), 2U);
}

// A dispatch that waited for many (a barrier after a wide group) gets one arrow, from the
// dispatch that finished last.
TEST(ChromeTrace, ManyPredecessorsDrawOneArrowFromTheLastToFinish) {
  std::vector<DispatchRecord> records;
  std::vector<std::uint32_t> all;
  for (std::uint32_t i = 0; i < 12; ++i) {
    const std::int64_t end = i == 5 ? 900 : 100 + i;
    records.push_back(at(i, i, 0, end));
    all.push_back(i);
  }
  records.push_back(at(12, 0, 1000, 1100));
  SubmissionRecord s{.submission = 7, .start_ns = 0, .end_ns = 1100};
  s.graph = graph_of(13, {{12, all}});
  const json trace = json::parse(Profile(ProfileMode::Dispatch, {s}, records).chrome_trace());
  const std::vector<json> starts = events_with(trace, "s");
  ASSERT_EQ(starts.size(), 1U);
  EXPECT_DOUBLE_EQ(starts[0].at("ts").get<double>(), 0.45);  // mid of d5: 0..900 ns
}

// Labels with quotes, backslashes and control characters stay valid JSON.
TEST(ChromeTrace, EscapesNames) {
  DispatchRecord r = at(0, 0, 0, 10);
  r.label = "a \"quoted\"\\ name\n\t";
  const json trace = json::parse(Profile(ProfileMode::Dispatch, {}, {r}).chrome_trace());
  EXPECT_EQ(events_with(trace, "X").at(0).at("name"), r.label);
}

// write_chrome_trace writes the same text to a file; a path that cannot be written is an
// IoError naming the path.
TEST(ChromeTrace, WritesAFileOrThrowsIoError) {
  const Profile p = small_profile();
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("encore_trace_test_" + std::to_string(::getpid()) + ".json");
  p.write_chrome_trace(path.string());
  std::ifstream in(path);
  const json from_file = json::parse(in);
  EXPECT_EQ(from_file, json::parse(p.chrome_trace()));
  std::filesystem::remove(path);

  const Error e =
      testing::error_from([&] { p.write_chrome_trace("/nonexistent-dir/for/sure/trace.json"); });
  EXPECT_EQ(e.code(), ErrorCode::IoError);
  EXPECT_TRUE(mentions(e.what(), "/nonexistent-dir/for/sure/trace.json")) << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
