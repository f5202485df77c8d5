#pragma once

// Instantiated CUDA graphs, reused across submissions.
//
// Key: the structure of a command list (describe_structure: kernels, launch shapes, shared
// memory, edges), hashed with xxHash and compared in full on a hit, so a hash collision can never
// launch the wrong graph. A hit with other argument values patches only the kernel nodes whose
// packed arguments changed (cudaGraphExecKernelNodeSetParams, a few ns per node). Submitting the
// same recording again with unchanged slots is an O(1) check and a cudaGraphLaunch.
// Bounded: the least recently used executable is destroyed when the cache is full.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cuda_handles.h"
#include "backends/cuda/cupti_session.h"

namespace encore::detail {

struct GraphEntry {
  /// What the executable's captured work needs alive (the NCCL groups of its collectives);
  /// first, so it is released after the executable.
  std::shared_ptr<const void> keep_alive;
  std::uint64_t key = 0;
  std::vector<std::uint64_t> structure;
  Graph graph;
  GraphExec exec;
  std::vector<cudaGraphNode_t> nodes;
  /// The argument bytes the executable holds now, and each node's range in them.
  std::vector<std::byte> params;
  std::vector<std::uint32_t> param_offsets;
  /// The command list and slot values of the last launch (for the O(1) replay check).
  std::uint64_t last_list = 0;
  std::vector<std::byte> last_slots;
  /// Per-dispatch profiling: executable node id -> dispatch index and the kernels a launch
  /// runs (a null map when not profiling). The same for every command list that shares this
  /// structure.
  GraphProfileNodes profile_nodes;
};

class GraphCache {
 public:
  explicit GraphCache(std::size_t capacity) : capacity_(capacity) {}

  /// The entry whose structure equals `structure` (hash `key`), moved to most recently used.
  GraphEntry* find(std::uint64_t key, std::span<const std::uint64_t> structure);
  /// The entry last launched with command list `list_id`, if still cached.
  GraphEntry* find_list(std::uint64_t list_id);
  /// Inserts an entry; returns it and the number of entries evicted to make room.
  std::pair<GraphEntry*, std::size_t> insert(std::unique_ptr<GraphEntry> entry);
  /// Records that `entry` was launched with command list `list_id`.
  void note_list(GraphEntry& entry, std::uint64_t list_id);

  std::size_t size() const noexcept { return lru_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  using Lru = std::list<std::unique_ptr<GraphEntry>>;

  std::size_t capacity_;
  Lru lru_;  // front: most recently used
  std::unordered_multimap<std::uint64_t, Lru::iterator> by_key_;
  std::unordered_map<std::uint64_t, Lru::iterator> by_list_;
};

}  // namespace encore::detail
