// The process-wide CUPTI session (see cupti_session.h for how records find their dispatch).
//
// Threads: API and resource callbacks run on the thread that calls CUDA (here: a committing
// thread, inside its device's commit lock); buffer callbacks on CUPTI's own thread or on the
// thread that flushes. The launch table's mutex guards launches and sinks; a sink has its own,
// taken after it (lock order: table, then sink).
//
// The session object is created once and never destroyed: CUPTI may call back into it until the
// process exits. Kernel collection is enabled while at least one lease is held.

#include "backends/cuda/cupti_session.h"

#include <atomic>
#include <cstdlib>
#include <vector>

#include "backends/cuda/cupti_library.h"

#ifndef ENCORE_CUDA_TOOLKIT_ROOT
#define ENCORE_CUDA_TOOLKIT_ROOT ""
#endif

namespace encore::detail {

namespace {

constexpr std::size_t kBufferBytes = 8U << 20;  // ~30k kernel records per buffer
constexpr std::size_t kBufferAlign = 8;

// Launch API functions whose calls are tagged; both domains, because a kernel record carries
// the correlation id of the call that launched it and encore's runtime calls enter the driver.
constexpr CUpti_CallbackId kRuntimeLaunches[] = {
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000,
};
constexpr CUpti_CallbackId kDriverLaunches[] = {
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,   CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch,    CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch_ptsz,
};

class Session;
std::atomic<Session*> g_session{nullptr};
std::mutex g_lease_mutex;  // guards creation and the lease count
int g_leases = 0;

class Session final : public CuptiSession {
 public:
  explicit Session(const CuptiLibrary& lib) : lib_(lib) {}

  // Subscribes and registers the buffer callbacks; false (with why) when CUPTI refuses.
  bool start(std::string& why) {
    CUptiResult r = lib_.subscribe(&subscriber_, &Session::on_callback, this);
    if (r != CUPTI_SUCCESS) {
      why = "CUPTI refused a subscriber (" + lib_.describe(r) +
            "); is another CUPTI client, such as Nsight Systems or Nsight Compute, attached?";
      return false;
    }
    r = lib_.register_callbacks(&Session::on_buffer_requested, &Session::on_buffer_completed);
    if (r != CUPTI_SUCCESS) {
      why = "CUPTI refused its buffer callbacks: " + lib_.describe(r);
      (void)lib_.unsubscribe(subscriber_);
      return false;
    }
    return true;
  }

  // Kernel records and the launch and clone callbacks, on or off together: while no device
  // profiles per dispatch, CUPTI adds nothing to any launch of the process.
  bool set_collection(bool on, std::string& why) {
    const std::uint32_t enable = on ? 1 : 0;
    CUptiResult r = on ? lib_.activity_enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL)
                       : lib_.activity_disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (r != CUPTI_SUCCESS && on) {
      why = "CUPTI refused kernel activity collection: " + lib_.describe(r);
      return false;
    }
    r = lib_.enable_callback(enable, subscriber_, CUPTI_CB_DOMAIN_RESOURCE,
                             CUPTI_CBID_RESOURCE_GRAPHNODE_CLONED);
    for (CUpti_CallbackId id : kRuntimeLaunches) {
      if (r == CUPTI_SUCCESS) {
        r = lib_.enable_callback(enable, subscriber_, CUPTI_CB_DOMAIN_RUNTIME_API, id);
      }
    }
    for (CUpti_CallbackId id : kDriverLaunches) {
      if (r == CUPTI_SUCCESS) {
        r = lib_.enable_callback(enable, subscriber_, CUPTI_CB_DOMAIN_DRIVER_API, id);
      }
    }
    if (r != CUPTI_SUCCESS && on) {
      why = "CUPTI refused its launch callbacks: " + lib_.describe(r);
      (void)lib_.activity_disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
      return false;
    }
    return true;
  }

  void attach(CuptiSink& sink) override { table_.attach(sink); }
  void expect_launch(LaunchTag& tag, const void* stream) override { table_.expect(tag, stream); }
  void detach(CuptiSink& sink) override { table_.detach(sink); }

  void flush() override { (void)lib_.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED); }

  std::uint64_t timestamp() override {
    std::uint64_t t = 0;
    (void)lib_.get_timestamp(&t);
    return t;
  }

  std::uint64_t node_id(cudaGraphNode_t node) override {
    std::uint64_t id = 0;
    if (lib_.graph_node_id(reinterpret_cast<CUgraphNode>(node), &id) != CUPTI_SUCCESS) return 0;
    return id;
  }

  std::string describe() const override {
    return "CUPTI " + std::to_string(lib_.version) + " (" + lib_.path + ")";
  }

 private:
  static void CUPTIAPI on_callback(void* self, CUpti_CallbackDomain domain, CUpti_CallbackId id,
                                   const void* data) {
    auto* session = static_cast<Session*>(self);
    if (domain == CUPTI_CB_DOMAIN_RESOURCE) {
      if (id == CUPTI_CBID_RESOURCE_GRAPHNODE_CLONED) session->on_clone(data);
      return;
    }
    const auto* call = static_cast<const CUpti_CallbackData*>(data);
    if (call->callbackSite == CUPTI_API_ENTER) session->on_launch(domain, id, *call);
  }

  // The stream a kernel launch call launches on, from its parameters (cupti.h declares their
  // structs); null for graph launches, which meet no expectation.
  static const void* launch_stream(CUpti_CallbackDomain domain, CUpti_CallbackId id,
                                   const void* params) {
    if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
      switch (id) {
        case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000:
          return static_cast<const cudaLaunchKernel_v7000_params*>(params)->stream;
        case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000:
          return static_cast<const cudaLaunchKernel_ptsz_v7000_params*>(params)->stream;
        case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060:
          return static_cast<const cudaLaunchKernelExC_v11060_params*>(params)->config->stream;
        case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060:
          return static_cast<const cudaLaunchKernelExC_ptsz_v11060_params*>(params)->config->stream;
        default:
          return nullptr;
      }
    }
    switch (id) {
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel:
        return static_cast<const cuLaunchKernel_params*>(params)->hStream;
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz:
        return static_cast<const cuLaunchKernel_ptsz_params*>(params)->hStream;
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx:
        return static_cast<const cuLaunchKernelEx_params*>(params)->config->hStream;
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz:
        return static_cast<const cuLaunchKernelEx_ptsz_params*>(params)->config->hStream;
      default:
        return nullptr;
    }
  }

  // Instantiation: template node -> executable node, for the capture of this thread.
  void on_clone(const void* data) {
    CloneCapture* capture = ScopedCloneCapture::current();
    if (capture == nullptr) return;  // not an instantiation encore asked to map
    const auto* resource = static_cast<const CUpti_ResourceData*>(data);
    const auto* graph = static_cast<const CUpti_GraphData*>(resource->resourceDescriptor);
    std::uint64_t original = 0;
    std::uint64_t cloned = 0;
    if (lib_.graph_node_id(graph->originalNode, &original) == CUPTI_SUCCESS &&
        lib_.graph_node_id(graph->node, &cloned) == CUPTI_SUCCESS) {
      capture->executable_of[original] = cloned;
    }
  }

  // A launch call entered: file its correlation id under the thread's tag, or, on a thread
  // without one (NCCL's, launching a collective of the stream path), under the dispatch that
  // expects a launch on its stream. Else it is not a profiled launch.
  void on_launch(CUpti_CallbackDomain domain, CUpti_CallbackId id, const CUpti_CallbackData& call) {
    if (LaunchTag* tag = LaunchTag::current()) {
      table_.on_launch(*tag, call.correlationId);
      return;
    }
    (void)table_.on_untagged_launch(launch_stream(domain, id, call.functionParams),
                                    call.correlationId, domain == CUPTI_CB_DOMAIN_DRIVER_API);
  }

  static void CUPTIAPI on_buffer_requested(std::uint8_t** buffer, std::size_t* size,
                                           std::size_t* max_records) {
    *buffer = static_cast<std::uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
    *size = *buffer != nullptr ? kBufferBytes : 0;
    *max_records = 0;
  }

  static void CUPTIAPI on_buffer_completed(CUcontext context, std::uint32_t stream,
                                           std::uint8_t* buffer, std::size_t /*size*/,
                                           std::size_t valid) {
    if (Session* session = g_session.load(std::memory_order_acquire)) {
      session->consume(context, stream, buffer, valid);
    }
    std::free(buffer);
  }

  void consume(CUcontext context, std::uint32_t stream, std::uint8_t* buffer, std::size_t valid) {
    CUpti_Activity* record = nullptr;
    while (valid > 0 && lib_.next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
      const auto& k = *reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      (void)table_.deliver(k.correlationId, k.graphNodeId, k.streamId, k.start, k.end);
    }
    std::size_t dropped = 0;
    if (lib_.dropped_records(context, stream, &dropped) == CUPTI_SUCCESS && dropped > 0) {
      table_.dropped(dropped);
    }
  }

  CuptiLibrary lib_;
  CUpti_SubscriberHandle subscriber_ = nullptr;
  LaunchTable table_;
};

void release_lease() {
  std::lock_guard lock(g_lease_mutex);
  Session* session = g_session.load(std::memory_order_acquire);
  if (--g_leases == 0 && session != nullptr) {
    session->flush();
    std::string ignored;
    (void)session->set_collection(false, ignored);
  }
}

}  // namespace

bool CuptiSession::loaded() noexcept {
  return g_session.load(std::memory_order_acquire) != nullptr;
}

std::shared_ptr<CuptiSession> CuptiSession::acquire(const DeviceOptions& options,
                                                    std::string& why) {
  std::lock_guard lock(g_lease_mutex);
  Session* session = g_session.load(std::memory_order_acquire);
  if (session == nullptr) {
    CuptiLibrary lib;
    if (!load_cupti(
            cupti_candidates(options.cupti_library, options.cuda_home, ENCORE_CUDA_TOOLKIT_ROOT),
            lib, why)) {
      return nullptr;
    }
    auto fresh = std::make_unique<Session>(lib);
    if (!fresh->start(why)) return nullptr;
    session = fresh.release();  // lives as long as the process: CUPTI may still call it
    g_session.store(session, std::memory_order_release);
  }
  if (g_leases == 0 && !session->set_collection(true, why)) return nullptr;
  ++g_leases;
  // The lease: the session itself, with a deleter that only gives the lease back.
  return std::shared_ptr<CuptiSession>(session, [](CuptiSession*) { release_lease(); });
}

}  // namespace encore::detail
