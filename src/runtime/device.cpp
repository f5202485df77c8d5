#include "encore/device.h"

#include <algorithm>
#include <string>

#include "core/allocation.h"
#include "core/command_list.h"
#include "core/fence_state.h"
#include "runtime/device_impl.h"
#include "runtime/encoder_impl.h"

namespace encore {

Device Device::open() { return open(options_from_env()); }

Device Device::open(const DeviceOptions& options) {
  return Device(detail::DeviceImpl::open(options));
}

BackendKind Device::backend() const noexcept { return impl_->backend->kind(); }
std::string Device::name() const { return impl_->backend->name(); }
std::string_view Device::fallback_reason() const noexcept { return impl_->fallback_reason; }
const DeviceOptions& Device::options() const noexcept { return impl_->options; }
const DeviceLimits& Device::limits() const noexcept { return impl_->backend->limits(); }
std::uint32_t Device::id() const noexcept { return impl_->shared->device_id; }

Buffer Device::alloc(std::uint64_t bytes, std::string_view label) {
  return Buffer(std::make_shared<detail::Allocation>(impl_->shared, bytes, std::string(label)));
}

Kernel Device::kernel(std::string_view name) const {
  const KernelDef* def = impl_->registry->find(name);
  if (def == nullptr) {
    const std::vector<std::string> names = impl_->registry->names();
    std::string known;
    for (std::size_t i = 0; i < names.size() && i < 12; ++i) {
      known += (i == 0 ? "" : ", ") + names[i];
    }
    if (names.size() > 12) known += ", ...";
    throw Error(ErrorCode::UnknownKernel,
                "no kernel named '" + std::string(name) +
                    "' is registered (known: " + (known.empty() ? "none" : known) + ")");
  }
  if (!impl_->backend->implements(*def)) {
    throw Error(ErrorCode::UnknownKernel, "kernel '" + def->name + "' has no " +
                                              std::string(to_string(backend())) +
                                              " implementation");
  }
  if (std::string problem = impl_->backend->check_signature(*def); !problem.empty()) {
    throw Error(ErrorCode::SignatureMismatch, "kernel '" + def->name + "': " + problem);
  }
  return Kernel(def, id());
}

Encoder Device::encoder(const EncoderOptions& options) {
  return Encoder(std::make_unique<detail::EncoderImpl>(impl_, options));
}

Submission Device::submit(const Recording& recording, std::string_view label,
                          const CommitOptions& options) {
  if (!recording) throw Error(ErrorCode::InvalidArgument, "submit of an empty Recording");
  if (recording.device_id() != id()) {
    throw Error(ErrorCode::WrongDevice,
                "recording was made on device " + std::to_string(recording.device_id()) +
                    " and cannot be submitted to device " + std::to_string(id()));
  }
  if (options.signal) impl_->check_fence(options.signal, "cannot signal");
  auto s = std::make_shared<detail::SubmissionState>();
  s->device = impl_->shared;
  s->label = label.empty() ? std::string(recording.label()) : std::string(label);
  s->replay = true;
  s->commands = recording.shared_commands();
  const auto values = recording.slot_values();
  s->slot_values.assign(values.begin(), values.end());
  detail::StatsCounters& c = impl_->shared->counters;
  detail::StatsCounters::add(c.recordings_submitted, 1);
  detail::StatsCounters::add(c.dispatches_replayed, recording.dispatch_count());
  return impl_->enqueue(std::move(s), options.signal.state());
}

PassResult Device::optimize(const Recording& recording, const PassPipeline& pipeline) {
  if (!recording) throw Error(ErrorCode::InvalidArgument, "optimize of an empty Recording");
  if (recording.device_id() != id()) {
    throw Error(ErrorCode::WrongDevice,
                "recording was made on device " + std::to_string(recording.device_id()) +
                    " and cannot be optimised for device " + std::to_string(id()));
  }
  return impl_->apply_passes(pipeline, recording);
}

const PassPipeline& Device::passes() const noexcept { return impl_->passes; }

Fence Device::create_fence() { return Fence(std::make_shared<detail::FenceState>(id())); }

void Device::wait_idle() {
  detail::StatsCounters::add(impl_->shared->counters.syncs, 1);
  impl_->backend->wait_idle();
}

Stats Device::stats() const { return impl_->shared->counters.snapshot(); }
void Device::reset_stats() { impl_->shared->counters.reset(); }

ProfileMode Device::profile_mode() const noexcept {
  return impl_->profiler ? impl_->profiler->mode() : ProfileMode::Off;
}
std::string_view Device::profile_note() const noexcept {
  return impl_->profiler ? std::string_view(impl_->profiler->note()) : std::string_view();
}
Profile Device::profile() const { return impl_->profile(); }
void Device::reset_profile() {
  if (!impl_->profiler) return;
  impl_->backend->collect_profile();  // so that nothing collected later predates the reset
  impl_->profiler->reset();
  impl_->backend->reset_profile();
}

}  // namespace encore
