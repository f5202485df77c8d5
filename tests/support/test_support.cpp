#include "support/test_support.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "kernels/basic_kernels.h"

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
  r.add({.name = "log_order",
         .params = {Param::inout("log"), Param::value<std::uint32_t>("id")},
         .cpu = [](const CpuKernelContext& ctx) {
           auto* log = ctx.ptr<std::uint32_t>(0);
           log[1 + log[0]] = ctx.value<std::uint32_t>(1);
           ++log[0];
         }});
  r.add({.name = "mix_u32",
         .params = {Param::in("src"), Param::inout("dst"), Param::value<std::uint32_t>("salt")},
         .cpu = [](const CpuKernelContext& ctx) {
           const auto src = ctx.span<std::uint32_t>(0);
           const auto dst = ctx.span<std::uint32_t>(1);
           const auto salt = ctx.value<std::uint32_t>(2);
           each_thread(ctx, dst.size(), [&](std::size_t i) {
             const std::uint32_t s = src.empty() ? 0U : src[i % src.size()];
             dst[i] = dst[i] * 31U + (s ^ salt);
           });
         }});
  r.add({.name = "fill_u32",
         .params = {Param::out("dst"), Param::value<std::uint32_t>("v")},
         .cpu = [](const CpuKernelContext& ctx) {
           const auto dst = ctx.span<std::uint32_t>(0);
           const auto v = ctx.value<std::uint32_t>(1);
           each_thread(ctx, dst.size(),
                       [&](std::size_t i) { dst[i] = v + static_cast<std::uint32_t>(i); });
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
  r.add({.name = "big_value",
         .params = {{"v", Param::Kind::Value, Access::In, kMaxValueBytes}},
         .cpu = [](const CpuKernelContext&) {}});
}

}  // namespace

std::shared_ptr<KernelRegistry> make_test_registry(std::shared_ptr<Gate> gate,
                                                   std::shared_ptr<ConcurrencyProbe> probe) {
  auto registry = KernelRegistry::create();
  kernels::register_basic_kernels(*registry);
  add_test_kernels(*registry, gate, probe);
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

AddProgram make_add_program(Device& dev) {
  return {upload_floats(dev, {1, 2, 3, 4}, "a"), upload_floats(dev, {5, 6, 7, 8}, "b"),
          dev.alloc(4 * sizeof(float), "c"), dev.kernel("add_f32")};
}

void dispatch_add(Encoder& enc, const AddProgram& p) {
  enc.dispatch(p.add, cover(4), {in(p.a), in(p.b), out(p.c), value(std::uint32_t{4})});
}

}  // namespace encore::testing
