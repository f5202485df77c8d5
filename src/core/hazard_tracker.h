#pragma once

// Hazard tracker: which earlier dispatches a new dispatch must wait for.
//
// Design note.
// Every buffer access is (resource, [begin, end), read|write), where `resource` is the dense
// index of an allocation within one command buffer and the byte range comes from the bound view
// (never the whole allocation: sibling slices of one buffer are independent unless their bytes
// overlap). Two accesses conflict when their ranges overlap (encore::overlaps, half-open) and
// at least one writes: read-after-write, write-after-read, write-after-write. Read-after-read
// never conflicts.
//
// Per resource the tracker keeps two lists of records {range, node}, each sorted by range begin:
// writes and reads. A read access looks only at the writes (so read-only buffers such as weights
// cost O(1) however often they are read); a write access looks at both. Recording a write trims
// every older record it overlaps: the new writer is ordered after all of them (WAR/WAW edges),
// so any later access to those bytes is ordered after them transitively through it. This keeps
// the lists short in the decode pattern (write once, read a few times, overwrite) and edges
// minimal. Because of the trimming, write records never overlap each other, so a query finds
// them by binary search; read records may overlap, so a query scans back from the first record
// that starts after it for as long as a record of the longest read length could still reach it.
// Both keep queries on arenas with many disjoint views (a kv cache with one slice per layer)
// logarithmic instead of linear.
//
// auto_dag calls access() once per access of a new dispatch: it reports the conflicts and updates
// the records in one pass. (Records the same dispatch changed earlier in that pass were reported
// when they were changed, so the set of conflicts equals that of querying first and recording
// afterwards.) auto_barrier asks first_conflict() and, when there is one, closes the group with a
// barrier and calls reset(), then record()s the dispatch.

#include <cstdint>
#include <span>
#include <vector>

#include "encore/recording.h"
#include "encore/types.h"

namespace encore::detail {

/// One access of a dispatch being recorded.
struct TrackedAccess {
  std::uint32_t resource = 0;
  ByteRange range;
  bool write = false;
};

/// A conflict between an access of the new dispatch and a recorded one.
struct Hazard {
  std::uint32_t node = 0;  ///< the earlier node
  DependencyKind kind = DependencyKind::ReadAfterWrite;
  std::uint32_t resource = 0;
  ByteRange earlier;
  ByteRange later;
};

class HazardTracker {
 public:
  /// Appends to `out` every recorded access of an earlier node that conflicts with `access`, then
  /// records `access` as made by `node`.
  void access(std::uint32_t node, const TrackedAccess& access, std::vector<Hazard>& out);
  /// Appends to `out` every recorded access that conflicts with `access` (no update).
  void collect_conflicts(const TrackedAccess& access, std::vector<Hazard>& out) const;
  /// The first recorded access conflicting with any of `accesses`, if any.
  bool first_conflict(std::span<const TrackedAccess> accesses, Hazard& out) const;
  /// Records the accesses of node `node` without reporting conflicts.
  void record(std::uint32_t node, std::span<const TrackedAccess> accesses);
  /// Forgets everything (an explicit or inferred barrier orders all of it).
  void reset();
  /// Number of records held; a diagnostic.
  std::size_t record_count() const;

 private:
  struct Record {
    ByteRange range;
    std::uint32_t node = 0;
  };
  struct PerResource {
    std::vector<Record> writes;      // sorted by begin, disjoint
    std::vector<Record> reads;       // sorted by begin, may overlap
    std::uint64_t longest_read = 0;  // bounds of the reads, for the scan window and the
    std::uint64_t reads_end = 0;     // "the write covers every read" fast path

    void clear_reads() {
      reads.clear();
      longest_read = 0;
      reads_end = 0;
    }
  };

  template <class Visit>
  static bool scan(const PerResource& r, const TrackedAccess& access, Visit&& visit);
  static void insert_sorted(std::vector<Record>& records, Record record);
  static void trim_writes(std::vector<Record>& writes, ByteRange written);
  void trim_reads(PerResource& r, ByteRange written);

  std::vector<PerResource> resources_;
  std::vector<std::uint32_t> touched_;  ///< resources that got records since the last reset
  std::vector<Record> right_parts_;     ///< scratch of trim_reads
  std::vector<Hazard> ignored_;         ///< scratch of record
};

}  // namespace encore::detail
