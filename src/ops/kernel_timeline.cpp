// The host side of the kernel timeline (kernel_timeline.cuh): the readers of the units' tables
// and the text dump.

#include <algorithm>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "encore/error.h"
#include "encore/ops.h"

#include "ops/kernel_timeline_record.h"

namespace encore::ops {

namespace detail {

namespace {

struct Readers {
  std::mutex mutex;
  std::vector<TimelineReader> list;
};

Readers& readers() {
  static Readers r;  // first used at static initialisation, by the units that register
  return r;
}

}  // namespace

bool register_timeline_reader(TimelineReader reader) {
  Readers& r = readers();
  const std::scoped_lock lock(r.mutex);
  r.list.push_back(reader);
  return true;
}

}  // namespace detail

bool kernel_timeline_enabled() noexcept {
#if defined(ENCORE_KERNEL_TIMELINE)
  return true;
#else
  return false;
#endif
}

void write_kernel_timeline(const std::string& path) {
  if (!kernel_timeline_enabled()) {
    throw Error(ErrorCode::InvalidState,
                "the kernel timeline needs a build configured with -DENCORE_KERNEL_TIMELINE=ON");
  }
  std::vector<detail::TimelineRecord> records;
  {
    detail::Readers& r = detail::readers();
    const std::scoped_lock lock(r.mutex);
    for (detail::TimelineReader read : r.list) read(records);
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.grid != b.grid ? a.grid < b.grid : a.block < b.block;
  });
  std::ofstream file(path, std::ios::trunc);
  file << "# encore kernel timeline: grid grid_blocks block entry_ns waited_ns mark_ns exit_ns\n";
  for (const detail::TimelineRecord& r : records) {
    file << r.grid << ' ' << r.grid_blocks << ' ' << r.block;
    for (const std::uint64_t t : r.t) file << ' ' << t;
    file << '\n';
  }
  if (!file) throw Error(ErrorCode::IoError, "cannot write the kernel timeline to '" + path + "'");
}

}  // namespace encore::ops
