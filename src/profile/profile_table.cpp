// Fixed-width text tables of a Profile: one per grouping, and the report that strings them
// together. Durations print in microseconds (kernels of a decode step take 1-100 us).
//
// Two times per dispatch group: the mean span ("mean us", start to end) and the mean exposed
// time ("exposed us", from when its inputs were ready to its end). They differ for kernels
// launched early by programmatic dependent launch: the o gemv after an attention kernel shows a
// 17 us span of which 2.6 us are its own.

#include <algorithm>
#include <cstdio>
#include <string>

#include "encore/profile.h"

namespace encore {

namespace {

constexpr std::size_t kMinNameWidth = 16;
constexpr std::size_t kMaxNameWidth = 48;

std::string us(double ns, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, ns / 1e3);
  return text;
}

std::string fit(std::string_view name, std::size_t width) {
  if (name.size() <= width) return std::string(name);
  return std::string(name.substr(0, width - 3)) + "...";
}

struct Cells {
  std::string count, total, mean, exposed, p50, p99, share;
};

void append_row(std::string& out, std::size_t width, std::string_view name, const Cells& c) {
  char line[256];
  std::snprintf(line, sizeof line, "  %-*s %8s %12s %10s %10s %10s %10s %7s\n",
                static_cast<int>(width), fit(name, width).c_str(), c.count.c_str(), c.total.c_str(),
                c.mean.c_str(), c.exposed.c_str(), c.p50.c_str(), c.p99.c_str(), c.share.c_str());
  out += line;
}

std::string percent(double share) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", share * 100.0);
  return text;
}

}  // namespace

std::string Profile::table(ProfileGroup group, std::size_t max_rows) const {
  const std::vector<ProfileRow> rows = summary(group);
  std::size_t width = kMinNameWidth;
  for (const ProfileRow& r : rows) width = std::max(width, r.name.size());
  width = std::min(width, kMaxNameWidth);

  // Exposed time: the part of a dispatch's span after its inputs were ready (see
  // DispatchRecord::exposed_ns); a submission is all exposed, so its column shows "-".
  const bool dispatches = group != ProfileGroup::Submission;
  const auto per_call = [](std::int64_t ns, std::uint64_t count) {
    return static_cast<double>(ns) / static_cast<double>(std::max<std::uint64_t>(1, count));
  };
  std::string out = "by " + std::string(to_string(group)) + "\n";
  append_row(out, width, to_string(group),
             {"count", "total us", "mean us", "exposed us", "p50 us", "p99 us", "share"});
  const std::size_t shown = max_rows == 0 ? rows.size() : std::min(max_rows, rows.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const ProfileRow& r = rows[i];
    append_row(out, width, r.name,
               {std::to_string(r.count), us(static_cast<double>(r.total_ns), 1), us(r.mean_ns, 3),
                dispatches ? us(per_call(r.exposed_ns, r.count), 3) : "-",
                us(static_cast<double>(r.p50_ns), 3), us(static_cast<double>(r.p99_ns), 3),
                percent(r.share)});
  }
  if (shown < rows.size()) {
    ProfileRow rest;
    for (std::size_t i = shown; i < rows.size(); ++i) {
      rest.count += rows[i].count;
      rest.total_ns += rows[i].total_ns;
      rest.exposed_ns += rows[i].exposed_ns;
      rest.share += rows[i].share;
    }
    append_row(out, width, "(" + std::to_string(rows.size() - shown) + " more)",
               {std::to_string(rest.count), us(static_cast<double>(rest.total_ns), 1),
                us(per_call(rest.total_ns, rest.count), 3),
                dispatches ? us(per_call(rest.exposed_ns, rest.count), 3) : "-", "-", "-",
                percent(rest.share)});
  }
  return out;
}

std::string Profile::report(std::size_t max_rows) const {
  std::string out = "encore profile: " + (device_name_.empty() ? "device" : device_name_) +
                    ", mode " + std::string(to_string(mode_)) + ", " +
                    std::to_string(submissions_.size()) + " submissions, " +
                    std::to_string(dispatches_.size()) + " dispatch records\n";
  if (!note_.empty()) out += "note: " + note_ + "\n";
  if (mode_ == ProfileMode::Off) return out;
  if (!dispatches_.empty()) {
    for (ProfileGroup g : {ProfileGroup::Label, ProfileGroup::Op, ProfileGroup::Kernel}) {
      out += "\n" + table(g, max_rows);
    }
  }
  out += "\n" + table(ProfileGroup::Submission, max_rows);
  return out;
}

}  // namespace encore
