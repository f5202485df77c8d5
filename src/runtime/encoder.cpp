#include "encore/encoder.h"

#include <string>

#include "core/fence_state.h"
#include "runtime/encoder_impl.h"

namespace encore {

std::string_view to_string(EncoderState state) noexcept {
  switch (state) {
    case EncoderState::Open:
      return "open";
    case EncoderState::Committed:
      return "committed";
    case EncoderState::Finished:
      return "finished";
    case EncoderState::Discarded:
      return "discarded";
  }
  return "?";
}

namespace detail {

namespace {
Ordering choose_ordering(const DeviceOptions& device, const EncoderOptions& options) {
  if (device.force_ordering) return device.ordering;
  return options.ordering.value_or(device.ordering);
}
}  // namespace

EncoderImpl::EncoderImpl(std::shared_ptr<DeviceImpl> device, const EncoderOptions& options)
    : device_(std::move(device)),
      ordering_(choose_ordering(device_->options, options)),
      retain_buffers_(options.retain_buffers.value_or(device_->options.retain_buffers)),
      passes_(options.passes.value_or(device_->passes)),
      builder_(CommandBuilderConfig{.pool = device_->command_lists,
                                    .device_id = device_->shared->device_id,
                                    .limits = &device_->backend->limits(),
                                    .ordering = ordering_,
                                    .path = options.path.value_or(device_->options.path),
                                    .registry = device_->registry,
                                    .label = options.label,
                                    .expected_nodes = device_->expected_nodes(),
                                    .expected_args = device_->expected_args()}) {}

std::string_view EncoderImpl::label() const noexcept {
  return closed_ ? std::string_view(closed_label_) : std::string_view(builder_.list().label);
}
std::size_t EncoderImpl::dispatch_count() const noexcept {
  return closed_ ? closed_dispatches_ : builder_.list().dispatch_count;
}
std::size_t EncoderImpl::barrier_count() const noexcept {
  return closed_ ? closed_barriers_ : builder_.list().barrier_count;
}

std::shared_ptr<CommandList> EncoderImpl::close() noexcept {
  const CommandList& list = builder_.list();
  device_->shared->counters.add_encoder_counts(builder_.counts());
  device_->remember_size(list.nodes.size(), list.args.size());
  closed_label_ = list.label;
  closed_dispatches_ = list.dispatch_count;
  closed_barriers_ = list.barrier_count;
  closed_ = true;
  return builder_.take();
}

std::shared_ptr<CommandList> EncoderImpl::optimized() {
  if (passes_.empty()) return nullptr;
  // A non-owning view of the list being built: the passes read it and build a new one.
  const CommandList& building = builder_.list();
  const Recording input(std::shared_ptr<const CommandList>(std::shared_ptr<void>(), &building),
                        building.slot_initial);
  Recording output = device_->apply_passes(passes_, input).recording;
  // The pipeline made this list for this encoder alone, so it may still be changed (unretained
  // mode drops its buffer references below).
  return std::const_pointer_cast<CommandList>(output.shared_commands());
}

Submission EncoderImpl::commit(std::string_view label, const CommitOptions& options) {
  if (options.signal) device_->check_fence(options.signal, "cannot signal");
  if (!label.empty()) builder_.set_label(std::string(label));
  std::shared_ptr<CommandList> list = optimized();
  StatsCounters::add(device_->shared->counters.command_buffers, 1);
  std::shared_ptr<CommandList> built = close();
  if (!list) list = std::move(built);
  // Unretained: the caller keeps the buffers alive until completion.
  if (!retain_buffers_) list->retained.clear();
  auto s = std::make_shared<SubmissionState>();
  s->device = device_->shared;
  s->label = list->label;
  s->slot_values = list->slot_initial;
  s->commands = std::move(list);
  return device_->enqueue(std::move(s), options.signal.state());
}

Recording EncoderImpl::finish() {
  std::shared_ptr<CommandList> list = optimized();
  StatsCounters::add(device_->shared->counters.recordings_finished, 1);
  std::shared_ptr<CommandList> built = close();
  if (!list) list = std::move(built);
  std::vector<std::byte> slots = list->slot_initial;
  return Recording(std::move(list), std::move(slots));
}

void EncoderImpl::discard() noexcept {
  if (!builder_.list().nodes.empty()) {
    StatsCounters::add(device_->shared->counters.command_buffers_discarded, 1);
  }
  close().reset();  // releases the buffers it bound
}

}  // namespace detail

Encoder::Encoder(std::unique_ptr<detail::EncoderImpl> impl) noexcept : impl_(std::move(impl)) {}

Encoder::Encoder(Encoder&& other) noexcept : impl_(std::move(other.impl_)), state_(other.state_) {}

Encoder& Encoder::operator=(Encoder&& other) noexcept {
  if (this != &other) {
    if (impl_ && state_ == EncoderState::Open) impl_->discard();
    impl_ = std::move(other.impl_);
    state_ = other.state_;
  }
  return *this;
}

Encoder::~Encoder() {
  if (impl_ && state_ == EncoderState::Open) impl_->discard();
}

detail::EncoderImpl& Encoder::live_impl(const char* operation) const {
  if (!impl_) {
    throw Error(ErrorCode::InvalidState,
                std::string("cannot ") + operation + ": the encoder was moved from");
  }
  return *impl_;
}

detail::EncoderImpl& Encoder::open_impl(const char* operation) const {
  live_impl(operation);
  if (state_ != EncoderState::Open) {
    Error e(ErrorCode::InvalidState, std::string("cannot ") + operation + ": the encoder is " +
                                         std::string(to_string(state_)) +
                                         "; take a new encoder from the device");
    if (!impl_->label().empty()) {
      e.add_context("command buffer '" + std::string(impl_->label()) + "'");
    }
    throw e;
  }
  return *impl_;
}

void Encoder::dispatch(const Kernel& kernel, const Launch& launch, std::span<const Arg> args,
                       const DispatchOptions& options) {
  // The hot path checks the state inline; open_impl() builds the error otherwise.
  detail::EncoderImpl& impl =
      impl_ && state_ == EncoderState::Open ? *impl_ : open_impl("dispatch");
  impl.builder().dispatch(kernel, launch, args, options);
}

void Encoder::barrier() { open_impl("record a barrier").builder().barrier(); }

void Encoder::wait(const Fence& fence) {
  detail::EncoderImpl& impl = open_impl("wait on a fence");
  if (!fence) throw Error(ErrorCode::InvalidArgument, "cannot wait on a null fence");
  impl.builder().wait(fence.state());
}

void Encoder::keep_hot(const BufferView& view) {
  open_impl("mark a view hot").builder().keep_hot(view);
}

Submission Encoder::commit(std::string_view label, const CommitOptions& options) {
  Submission s = open_impl("commit").commit(label, options);
  state_ = EncoderState::Committed;
  return s;
}

Submission Encoder::commit_and_wait(std::string_view label, const CommitOptions& options) {
  Submission s = commit(label, options);
  s.wait();
  return s;
}

Recording Encoder::finish() {
  Recording r = open_impl("finish").finish();
  state_ = EncoderState::Finished;
  return r;
}

void Encoder::discard() {
  open_impl("discard").discard();
  state_ = EncoderState::Discarded;
}

void Encoder::set_label(std::string_view label) {
  open_impl("set the label").builder().set_label(std::string(label));
}

std::string_view Encoder::label() const { return live_impl("read the label").label(); }
EncoderState Encoder::state() const noexcept { return state_; }
Ordering Encoder::ordering() const { return live_impl("read the ordering").ordering(); }
std::size_t Encoder::dispatch_count() const {
  return live_impl("count dispatches").dispatch_count();
}
std::size_t Encoder::barrier_count() const { return live_impl("count barriers").barrier_count(); }

}  // namespace encore
