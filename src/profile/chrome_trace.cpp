// Chrome trace-event JSON of a Profile (the format chrome://tracing and Perfetto read):
//   {"displayTimeUnit": "ns", "traceEvents": [ ... ]}
// with metadata ("M") events naming the process and its tracks, complete ("X") events for
// submissions (track 0) and dispatches (one track per lane), and flow events ("s" at the
// producer, "f" binding to the enclosing consumer slice) for dependencies.
//
// A track must not hold partially overlapping slices (they would render as a false nesting), so
// a lane's dispatches are packed greedily into sub-tracks: each goes to the first sub-track
// whose last slice ended by its start. CPU lanes are threads and never need a second one; CUDA
// kernels of one stream can overlap inside a graph.
//
// Events are written one at a time (nlohmann::json per event), so a trace of a million dispatch
// records needs no document of a million objects in memory.

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "encore/error.h"
#include "encore/profile.h"

#include "profile/naming.h"

namespace encore {

namespace {

using nlohmann::json;

// A dispatch that waited for more dispatches than this gets one arrow, from the one that
// finished last (what it actually waited for); barriers between large groups would otherwise
// draw n*m arrows.
constexpr std::size_t kMaxArrowsPerDispatch = 8;

double to_us(std::int64_t ns) { return static_cast<double>(ns) / 1e3; }
double mid_us(std::int64_t start, std::int64_t end) {
  return static_cast<double>(start) / 1e3 + static_cast<double>(end - start) / 2e3;
}

class EventWriter {
 public:
  explicit EventWriter(std::string& out) : out_(out) {}
  void add(const json& event) {
    out_ += first_ ? "\n" : ",\n";
    out_ += event.dump();
    first_ = false;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// tid of each dispatch record, and the name of each track.
struct Tracks {
  std::vector<int> tid_of;                         // per dispatch record
  std::vector<std::pair<int, std::string>> names;  // tid, name (tid 0: submissions)
};

Tracks assign_tracks(std::span<const DispatchRecord> dispatches, BackendKind backend) {
  Tracks t;
  t.tid_of.assign(dispatches.size(), 0);
  std::vector<std::size_t> order(dispatches.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return dispatches[a].start_ns < dispatches[b].start_ns;
  });
  // Per lane: the end of the last slice of each sub-track.
  std::map<std::uint32_t, std::vector<std::int64_t>> ends;
  std::map<std::pair<std::uint32_t, std::size_t>, int> tids;
  for (std::size_t i : order) {
    const DispatchRecord& d = dispatches[i];
    std::vector<std::int64_t>& lane = ends[d.lane];
    std::size_t sub = 0;
    while (sub < lane.size() && lane[sub] > d.start_ns) ++sub;
    if (sub == lane.size()) lane.push_back(d.end_ns);
    lane[sub] = d.end_ns;
    tids.emplace(std::make_pair(d.lane, sub), 0);
    t.tid_of[i] = -1 - static_cast<int>(sub);  // resolved below, once every track is known
  }
  // Number tracks in (lane, sub-track) order so the view lists them in that order.
  int next = 1;
  const std::string kind = backend == BackendKind::Cuda ? "stream " : "worker ";
  for (auto& [key, tid] : tids) {
    tid = next++;
    std::string name = kind + std::to_string(key.first);
    if (key.second > 0) name += "." + std::to_string(key.second);
    t.names.emplace_back(tid, std::move(name));
  }
  for (std::size_t i = 0; i < dispatches.size(); ++i) {
    const std::size_t sub = static_cast<std::size_t>(-1 - t.tid_of[i]);
    t.tid_of[i] = tids.at({dispatches[i].lane, sub});
  }
  return t;
}

std::string dim_text(Dim3 d) { return to_string(d); }

}  // namespace

std::string Profile::chrome_trace() const {
  constexpr int kPid = 1;
  std::string out = "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [";
  EventWriter events(out);
  events.add({{"ph", "M"},
              {"pid", kPid},
              {"name", "process_name"},
              {"args", {{"name", "encore: " + (device_name_.empty() ? "device" : device_name_)}}}});
  const Tracks tracks = assign_tracks(dispatches_, backend_);
  events.add({{"ph", "M"},
              {"pid", kPid},
              {"tid", 0},
              {"name", "thread_name"},
              {"args", {{"name", "submissions"}}}});
  for (const auto& [tid, name] : tracks.names) {
    events.add({{"ph", "M"},
                {"pid", kPid},
                {"tid", tid},
                {"name", "thread_name"},
                {"args", {{"name", name}}}});
    events.add({{"ph", "M"},
                {"pid", kPid},
                {"tid", tid},
                {"name", "thread_sort_index"},
                {"args", {{"sort_index", tid}}}});
  }

  for (const SubmissionRecord& s : submissions_) {
    if (s.failed) continue;
    events.add({{"ph", "X"},
                {"pid", kPid},
                {"tid", 0},
                {"cat", "submission"},
                {"name", detail::command_buffer_name(s.label.c_str())},
                {"ts", to_us(s.start_ns)},
                {"dur", to_us(s.duration_ns())},
                {"args",
                 {{"submission", s.submission},
                  {"replay", s.replay},
                  {"dispatches", s.dispatches},
                  {"device_us", to_us(s.device_ns)}}}});
  }

  for (std::size_t i = 0; i < dispatches_.size(); ++i) {
    const DispatchRecord& d = dispatches_[i];
    events.add({{"ph", "X"},
                {"pid", kPid},
                {"tid", tracks.tid_of[i]},
                {"cat", std::string(to_string(d.op))},
                {"name", std::string(d.name())},
                {"ts", to_us(d.start_ns)},
                {"dur", to_us(d.duration_ns())},
                {"args",
                 {{"kernel", d.kernel},
                  {"op", std::string(to_string(d.op))},
                  {"dispatch", d.dispatch},
                  {"label", d.label},
                  {"submission", d.submission},
                  {"submission_label", d.submission_label},
                  {"replay", d.replay},
                  {"grid", dim_text(d.grid)},
                  {"block", dim_text(d.block)},
                  {"shared_bytes", d.shared_bytes},
                  {"lane", d.lane},
                  {"exposed_us", to_us(d.exposed_ns())}}}});
  }

  // Dependency arrows, within each submission.
  std::unordered_map<std::uint64_t, const DispatchGraph*> graph_of;
  for (const SubmissionRecord& s : submissions_) graph_of[s.submission] = s.graph.get();
  std::map<std::uint64_t, std::map<std::uint32_t, std::size_t>> records_of;
  for (std::size_t i = 0; i < dispatches_.size(); ++i) {
    records_of[dispatches_[i].submission][dispatches_[i].dispatch] = i;
  }
  std::uint64_t flow_id = 0;
  for (const auto& [submission, record_of] : records_of) {
    auto g = graph_of.find(submission);
    if (g == graph_of.end() || g->second == nullptr) continue;
    for (const auto& [dispatch, c] : record_of) {
      std::vector<std::size_t> producers;
      for (std::uint32_t w : g->second->waits_of(dispatch)) {
        auto p = record_of.find(w);
        if (p != record_of.end()) producers.push_back(p->second);
      }
      if (producers.size() > kMaxArrowsPerDispatch) {
        producers = {*std::max_element(producers.begin(), producers.end(),
                                       [&](std::size_t a, std::size_t b) {
                                         return dispatches_[a].end_ns < dispatches_[b].end_ns;
                                       })};
      }
      const DispatchRecord& consumer = dispatches_[c];
      for (std::size_t p : producers) {
        const DispatchRecord& producer = dispatches_[p];
        ++flow_id;
        events.add({{"ph", "s"},
                    {"pid", kPid},
                    {"tid", tracks.tid_of[p]},
                    {"id", flow_id},
                    {"cat", "dependency"},
                    {"name", "dependency"},
                    {"ts", mid_us(producer.start_ns, producer.end_ns)}});
        events.add({{"ph", "f"},
                    {"bp", "e"},
                    {"pid", kPid},
                    {"tid", tracks.tid_of[c]},
                    {"id", flow_id},
                    {"cat", "dependency"},
                    {"name", "dependency"},
                    {"ts", mid_us(consumer.start_ns, consumer.end_ns)}});
      }
    }
  }
  out += "\n]}\n";
  return out;
}

void Profile::write_chrome_trace(const std::string& path) const {
  const std::string text = chrome_trace();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (file) file.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (file) file.close();
  if (!file) {
    throw Error(ErrorCode::IoError, "cannot write the Chrome trace to '" + path + "'");
  }
}

}  // namespace encore
