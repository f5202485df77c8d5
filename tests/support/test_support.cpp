#include "support/test_support.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "kernels/basic_kernels.h"
#include "support/portable_kernels.h"

namespace encore::testing {

void Gate::open() {
  {
    std::lock_guard lock(mutex_);
    open_ = true;
  }
  cv_.notify_all();
}

void Gate::wait() {
  std::unique_lock lock(mutex_);
  ++arrivals_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return open_; });
}

void Gate::wait_for_arrivals(int n) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return arrivals_ >= n; });
}

namespace {

// Calls f(i) for each global thread index i < n of the current block.
template <class F>
void each_thread(const CpuKernelContext& ctx, std::uint64_t n, F&& f) {
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  for (std::uint32_t t = 0; t < ctx.block().x; ++t) {
    if (first + t < n) f(static_cast<std::size_t>(first + t));
  }
}

void add_test_kernels(KernelRegistry& r, const std::shared_ptr<Gate>& gate,
                      const std::shared_ptr<ConcurrencyProbe>& probe) {
  r.add({.name = "fail_kernel", .params = {Param::in("x")}, .cpu = [](const CpuKernelContext&) {
           throw Error(ErrorCode::KernelFailed, "injected failure");
         }});
  r.add({.name = "throw_std", .params = {Param::in("x")}, .cpu = [](const CpuKernelContext&) {
           throw std::runtime_error("std failure");
         }});
  r.add({.name = "rogue_write",
         .params = {Param::in("x"), Param::out("y"), Param::value<std::uint32_t>("n")},
         .cpu = [](const CpuKernelContext& ctx) {
           float* x = ctx.ptr<float>(0);
           float* y = ctx.ptr<float>(1);
           each_thread(ctx, ctx.value<std::uint32_t>(2), [&](std::size_t i) { y[i] = x[i]; });
           if (ctx.block_index().x == 0) x[0] += 1.0F;  // not declared as written
         }});
  r.add({.name = "write_past_view",
         .params = {Param::out("y"), Param::value<std::uint32_t>("n")},
         .cpu = [](const CpuKernelContext& ctx) {
           float* y = ctx.ptr<float>(0);
           const auto n = ctx.value<std::uint32_t>(1);
           if (ctx.block_index().x == 0) {
             for (std::uint32_t i = 0; i <= n; ++i) y[i] = 7.0F;  // one past the view
           }
         }});
  r.add({.name = "gate_kernel",
         .params = {Param::inout("x")},
         .cpu = [gate](const CpuKernelContext&) {
           if (gate) gate->wait();
         }});
  r.add({.name = "probe_kernel",
         .params = {Param::inout("x")},
         .cpu = [probe](const CpuKernelContext&) {
           if (!probe) return;
           const int now = probe->running.fetch_add(1) + 1;
           int seen = probe->max_running.load();
           while (now > seen && !probe->max_running.compare_exchange_weak(seen, now)) {
           }
           std::this_thread::sleep_for(std::chrono::milliseconds(20));
           probe->running.fetch_sub(1);
         }});
}

}  // namespace

std::shared_ptr<KernelRegistry> make_test_registry(std::shared_ptr<Gate> gate,
                                                   std::shared_ptr<ConcurrencyProbe> probe) {
  auto registry = KernelRegistry::create();
  kernels::register_basic_kernels(*registry);
  register_portable_kernels(*registry);
  add_test_kernels(*registry, gate, probe);
  return registry;
}

std::shared_ptr<KernelRegistry> make_portable_registry() {
  auto registry = KernelRegistry::create();
  kernels::register_basic_kernels(*registry);
  register_portable_kernels(*registry);
  return registry;
}

Device make_cpu_device(DeviceOptions options, std::shared_ptr<KernelRegistry> registry) {
  options.backend = BackendKind::Cpu;
  if (options.cpu_threads == 0) options.cpu_threads = 4;
  options.registry = registry ? std::move(registry) : make_test_registry();
  return Device::open(options);
}

Buffer upload_floats(Device& device, const std::vector<float>& values, std::string_view label) {
  Buffer b = device.alloc(values.size() * sizeof(float), label);
  b.upload(std::span<const float>(values));
  return b;
}

std::vector<float> download_floats(const Buffer& buffer) { return buffer.download<float>(); }

std::vector<std::pair<std::string, std::uint64_t*>> named_counters(Stats& s) {
  return {
      {"dispatches_encoded", &s.dispatches_encoded},
      {"dispatches_replayed", &s.dispatches_replayed},
      {"barriers_explicit", &s.barriers_explicit},
      {"barriers_inferred", &s.barriers_inferred},
      {"dispatches_concurrent", &s.dispatches_concurrent},
      {"edges_inferred", &s.edges_inferred},
      {"edges_pruned", &s.edges_pruned},
      {"command_buffers", &s.command_buffers},
      {"command_buffers_discarded", &s.command_buffers_discarded},
      {"recordings_finished", &s.recordings_finished},
      {"recordings_submitted", &s.recordings_submitted},
      {"submissions_completed", &s.submissions_completed},
      {"submissions_failed", &s.submissions_failed},
      {"syncs", &s.syncs},
      {"fence_signals", &s.fence_signals},
      {"fence_waits", &s.fence_waits},
      {"allocations", &s.allocations},
      {"bytes_allocated", &s.bytes_allocated},
      {"buffers_live", &s.buffers_live},
      {"bytes_live", &s.bytes_live},
      {"bytes_uploaded", &s.bytes_uploaded},
      {"bytes_downloaded", &s.bytes_downloaded},
      {"dispatches_validated", &s.dispatches_validated},
      {"recordings_optimized", &s.recordings_optimized},
      {"nodes_fused", &s.nodes_fused},
      {"nodes_moved", &s.nodes_moved},
      {"barriers_removed", &s.barriers_removed},
      {"edges_removed", &s.edges_removed},
      {"graph_instantiations", &s.graph_instantiations},
      {"graph_cache_hits", &s.graph_cache_hits},
      {"graph_nodes_patched", &s.graph_nodes_patched},
      {"graph_cache_evictions", &s.graph_cache_evictions},
      {"graph_cache_entries", &s.graph_cache_entries},
      {"submissions_profiled", &s.submissions_profiled},
      {"dispatches_profiled", &s.dispatches_profiled},
      {"profile_records_unattributed", &s.profile_records_unattributed},
  };
}

std::vector<std::uint64_t> all_counters(Stats s) {
  std::vector<std::uint64_t> out;
  for (const auto& [name, counter] : named_counters(s)) {
    out.push_back(*counter);
  }
  return out;
}

void run_counter_workout(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c,
                         const Buffer& d) {
  const std::uint32_t n = 4;
  Fence fence = dev.create_fence();
  Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
  enc.dispatch(dev.kernel("add_f32"), cover(n), {in(a), in(b), out(c), value(n)});
  enc.dispatch(dev.kernel("add_f32"), cover(n), {in(c), in(b), out(a), value(n)});
  enc.barrier();
  enc.dispatch(dev.kernel("add_f32"), cover(n), {in(a), in(b), out(c), value(n)});
  enc.commit_and_wait({}, {.signal = fence});
  Encoder dag = dev.encoder();
  dag.wait(fence);
  dag.dispatch(dev.kernel("copy_f32"), cover(n), {in(a), out(c), value(n)});
  dag.dispatch(dev.kernel("copy_f32"), cover(n), {in(c), out(b), value(n)});
  dag.dispatch(dev.kernel("copy_f32"), cover(n), {in(c), out(d), value(n)});
  dag.dispatch(dev.kernel("copy_f32"), cover(n), {in(a), out(c), value(n)});  // prunes
  const Recording rec = dag.finish();
  dev.submit(rec).wait();

  // Recording passes (all but fusion, which needs the norm kernels): reorder pulls the third
  // copy into the first group, minimize drops the barrier no hazard crosses and the edge D -> A
  // that the path A -> B -> C -> D implies.
  const PassPipeline passes({Pass::Reorder, Pass::Minimize});
  const Kernel copy = dev.kernel("copy_f32");
  const auto half = [](const Buffer& buf, std::uint32_t i) { return buf.view_of<float>(i * 2, 2); };
  Encoder grouped = dev.encoder({.ordering = Ordering::AutoBarrier});
  grouped.dispatch(copy, cover(2), {in(half(a, 0)), out(half(c, 0)), value(2U)});
  grouped.dispatch(copy, cover(2), {in(half(c, 0)), out(half(d, 0)), value(2U)});
  grouped.dispatch(copy, cover(2), {in(half(a, 1)), out(half(c, 1)), value(2U)});
  grouped.barrier();
  grouped.dispatch(copy, cover(2), {in(half(b, 0)), out(half(b, 1)), value(2U)});
  dev.submit(dev.optimize(grouped.finish(), passes).recording).wait();
  Encoder chain = dev.encoder();
  chain.dispatch(copy, cover(n), {in(a), out(c), value(n)});
  chain.dispatch(copy, cover(n), {in(c), out(d), value(n)});
  chain.dispatch(copy, cover(n), {in(d), out(b), value(n)});
  chain.dispatch(dev.kernel("add_f32"), cover(n), {in(c), in(b), out(a), value(n)});
  dev.submit(dev.optimize(chain.finish(), passes).recording).wait();
}

AddProgram make_add_program(Device& dev) {
  return {upload_floats(dev, {1, 2, 3, 4}, "a"), upload_floats(dev, {5, 6, 7, 8}, "b"),
          dev.alloc(4 * sizeof(float), "c"), dev.kernel("add_f32")};
}

void dispatch_add(Encoder& enc, const AddProgram& p) {
  enc.dispatch(p.add, cover(4), {in(p.a), in(p.b), out(p.c), value(std::uint32_t{4})});
}

}  // namespace encore::testing
