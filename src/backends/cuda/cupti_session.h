#pragma once

// Per-dispatch GPU times on CUDA, from the CUPTI Activity API, joined back to the dispatches
// that launched them. This header uses no CUPTI type: CUPTI is loaded with dlopen only when a
// device profiles per dispatch (cupti_library.h), and builds without CUPTI headers compile a
// stub whose acquire() says so.
//
// How a kernel record finds its dispatch:
//  - Launch: around every launch a profiled backend makes, a LaunchTag names the submission
//    (sequence number) and, on the stream path, the dispatch. CUPTI's API callback (runtime and
//    driver domains, launch functions only) fires on the launching thread at entry and files
//    the call's correlation id under the tag. A kernel record carries the correlation id of the
//    call that launched it, so it finds the tag's submission.
//  - Graph node: kernels of a graph launch share the launch's correlation id and carry the id of
//    the *executable* graph's node, which differs from the node encore built. While encore
//    instantiates, a CloneCapture collects CUPTI's resource callback GRAPHNODE_CLONED (template
//    node -> executable node); GraphNodeMap then maps executable node ids to command-list node
//    indices, once per instantiation. Patching an executable keeps its node ids.
//  - A launch entry is dropped once every kernel it launched has reported, or when its sink
//    detaches.
// CUPTI allows one subscriber per process, so the session is process-wide and shared by every
// CUDA device that profiles per dispatch (kernel collection is on while at least one does). Each
// device has a CuptiSink that receives its records.

#include <cstdint>
#include <cuda_runtime_api.h>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "encore/options.h"

#include "profile/profiler.h"

namespace encore::detail {

/// Executable-graph node id (as CUPTI reports it) -> node index in the command list.
using GraphNodeMap = std::unordered_map<std::uint64_t, std::uint32_t>;

/// Dispatch of each kernel a graph runs without a reported executable node id (a collective's
/// NCCL kernels inside its child graph), in the order they run.
using KernelOrder = std::vector<std::uint32_t>;

/// What per-dispatch profiling knows of one graph executable.
struct GraphProfileNodes {
  std::shared_ptr<const GraphNodeMap> map;
  /// Kernels one launch runs: kernel dispatches plus the kernel nodes of collectives.
  std::uint32_t kernels = 0;
  std::shared_ptr<const KernelOrder> in_order;
};

/// The records of one device. Thread-safe.
class CuptiSink {
 public:
  /// `epoch` is the CUPTI timestamp that becomes 0 on the profile clock.
  explicit CuptiSink(std::uint64_t epoch) : epoch_(epoch) {}

  /// One kernel execution of dispatch `node` of submission `sequence` (CUPTI timestamps).
  void add(std::uint64_t sequence, std::uint32_t node, std::uint32_t stream, std::uint64_t start,
           std::uint64_t end);
  /// A kernel of this device that could not be attributed to a dispatch.
  void add_unattributed(std::uint64_t count);
  /// Records CUPTI dropped (its buffers were full).
  void add_dropped(std::uint64_t count);
  /// Kernel records of the process that matched no tagged launch (kernels launched outside
  /// encore, or a launch whose correlation CUPTI did not report).
  void add_foreign(std::uint64_t count);

  struct Drained {
    std::vector<RawDispatch> records;
    std::uint64_t unattributed = 0;
    std::uint64_t dropped = 0;
    std::uint64_t foreign = 0;
  };
  /// Takes everything received so far.
  Drained drain();
  /// Drops what was received and restarts the clock at `epoch`. Lanes keep their numbers.
  void reset(std::uint64_t epoch);

 private:
  std::mutex mutex_;
  std::uint64_t epoch_;
  std::map<std::uint32_t, std::uint32_t> lanes_;  // CUPTI stream id -> lane, in first-use order
  Drained pending_;
};

class LaunchTag;

/// Which dispatch each CUPTI correlation id launched: filled by the API callback (on_launch, on
/// the launching thread, under the tag), read when kernel records arrive (deliver). Holds the
/// session's one lock. CUPTI-free, so its joins are testable without a GPU.
class LaunchTable {
 public:
  /// The launch API call with `correlation_id` entered on a thread whose tag is `tag`. The
  /// runtime call and the driver call it makes are one launch: they share one entry.
  void on_launch(LaunchTag& tag, std::uint32_t correlation_id);
  /// A kernel record: attributed to its dispatch in its sink, or counted there as unattributed
  /// (unknown graph node, no timestamps). A graph launch's records of unknown nodes wait until
  /// the launch's last kernel reported, to be placed by their tag's in_order. False when no tagged
  /// launch has that correlation id; every attached sink then counts it as foreign.
  bool deliver(std::uint32_t correlation_id, std::uint64_t graph_node_id, std::uint32_t stream,
               std::uint64_t start, std::uint64_t end);
  void attach(CuptiSink& sink);
  /// Forgets the sink and its pending launches.
  void detach(CuptiSink& sink);
  /// A collective is about to be issued on `stream` under `tag` (stream path, after
  /// tag.next_dispatch): NCCL may launch its kernel from a thread of its own, where no tag is
  /// current, so the next untagged launch on `stream` is taken to be this dispatch's
  /// (expectations of one stream are met in order). A launch under the tag itself meets it.
  void expect(LaunchTag& tag, const void* stream);
  /// A launch call entered on a thread without a tag, on `stream`. `nested`: a driver call
  /// inside a runtime launch call of the same thread (one launch with it). True when it met an
  /// expectation (its kernel record will then be delivered as the expecting dispatch's).
  bool on_untagged_launch(const void* stream, std::uint32_t correlation_id, bool nested);
  /// Records CUPTI dropped: every attached sink is told (CUPTI cannot say whose they were).
  void dropped(std::uint64_t count);
  /// Launches still waiting for kernel records (for tests).
  std::size_t pending() const;

 private:
  struct Entry;
  static std::shared_ptr<Entry> entry_for(LaunchTag& tag);
  void file(const std::shared_ptr<Entry>& entry, std::uint32_t correlation_id);
  static void place_unplaced(Entry& entry);

  mutable std::mutex mutex_;
  std::vector<CuptiSink*> sinks_;
  std::unordered_map<std::uint32_t, std::shared_ptr<Entry>> launches_;
  std::unordered_map<const void*, std::deque<std::shared_ptr<Entry>>> expected_;
};

/// Template node id -> executable node id, collected during one instantiation.
struct CloneCapture {
  std::unordered_map<std::uint64_t, std::uint64_t> executable_of;
};

class CuptiSession {
 public:
  /// The process-wide session, with kernel collection on for as long as the returned lease
  /// lives. Null when CUPTI cannot be used, with `why` saying what was tried and what failed.
  /// The first acquire loads CUPTI (from options.cupti_library when set, else by searching); the
  /// library it loads serves every later device of the process.
  static std::shared_ptr<CuptiSession> acquire(const DeviceOptions& options, std::string& why);
  /// True once a session exists in this process (for tests of the fallback).
  static bool loaded() noexcept;

  virtual ~CuptiSession() = default;

  /// Starts delivering records of launches tagged with `sink` to it.
  virtual void attach(CuptiSink& sink) = 0;
  /// LaunchTable::expect in the session's table.
  virtual void expect_launch(LaunchTag& tag, const void* stream) = 0;
  /// Stops; pending launches of the sink are forgotten. After it returns the sink is not used.
  virtual void detach(CuptiSink& sink) = 0;
  /// Delivers every buffered record (forced flush); returns when the records are in the sinks.
  virtual void flush() = 0;
  /// CUPTI's current timestamp (the clock of kernel records), in ns.
  virtual std::uint64_t timestamp() = 0;
  /// CUPTI's id of a graph node (0 when CUPTI cannot tell).
  virtual std::uint64_t node_id(cudaGraphNode_t node) = 0;
  /// "CUPTI 130001 (libcupti.so.13)", for notes.
  virtual std::string describe() const = 0;
};

/// Tags the launches the calling thread makes while it lives (one per thread at a time).
class LaunchTag {
 public:
  /// Graph launch of submission `sequence`, which runs `kernels` kernels; `nodes` maps them to
  /// dispatches, and the kernels with an executable node id not in it go, in order of start,
  /// to the dispatches of `in_order` (when their numbers agree; else they are unattributed).
  LaunchTag(CuptiSink& sink, std::uint64_t sequence, std::shared_ptr<const GraphNodeMap> nodes,
            std::uint32_t kernels, std::shared_ptr<const KernelOrder> in_order = nullptr);
  /// Stream path of submission `sequence`: call next_dispatch() before each kernel launch, and
  /// expect_launch_on() before a collective's (through `session`, when given).
  LaunchTag(CuptiSink& sink, std::uint64_t sequence, CuptiSession* session = nullptr);
  ~LaunchTag();
  LaunchTag(const LaunchTag&) = delete;
  LaunchTag& operator=(const LaunchTag&) = delete;

  /// The next launch is dispatch `node` (stream path).
  void next_dispatch(std::uint32_t node) noexcept {
    node_ = node;
    launch_.reset();
  }

  /// The current dispatch (a collective) launches on `stream`, maybe from another thread.
  void expect_launch_on(const void* stream) {
    if (session_ != nullptr) session_->expect_launch(*this, stream);
  }

  // Read by the session's callback on this thread.
  CuptiSink& sink() const noexcept { return sink_; }
  std::uint64_t sequence() const noexcept { return sequence_; }
  std::uint32_t node() const noexcept { return node_; }
  const std::shared_ptr<const GraphNodeMap>& nodes() const noexcept { return nodes_; }
  const std::shared_ptr<const KernelOrder>& in_order() const noexcept { return in_order_; }
  /// Kernels the current launch runs.
  std::uint32_t kernels() const noexcept { return kernels_; }
  /// The session's entry for the current launch (shared by its runtime and driver callbacks).
  std::shared_ptr<void>& launch() noexcept { return launch_; }

  /// The tag of the calling thread, or null.
  static LaunchTag* current() noexcept;

 private:
  CuptiSink& sink_;
  std::uint64_t sequence_;
  std::uint32_t node_ = 0;
  std::uint32_t kernels_ = 1;
  std::shared_ptr<const GraphNodeMap> nodes_;
  std::shared_ptr<const KernelOrder> in_order_;
  std::shared_ptr<void> launch_;
  CuptiSession* session_ = nullptr;
  LaunchTag* previous_;
};

/// Collects GRAPHNODE_CLONED callbacks on the calling thread while it lives.
class ScopedCloneCapture {
 public:
  explicit ScopedCloneCapture(CloneCapture& capture);
  ~ScopedCloneCapture();
  ScopedCloneCapture(const ScopedCloneCapture&) = delete;
  ScopedCloneCapture& operator=(const ScopedCloneCapture&) = delete;

  /// The capture of the calling thread, or null.
  static CloneCapture* current() noexcept;

 private:
  CloneCapture* previous_;
};

}  // namespace encore::detail
