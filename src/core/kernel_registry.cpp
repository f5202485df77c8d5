#include <algorithm>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "encore/error.h"
#include "encore/kernel.h"

namespace encore {

struct KernelRegistry::Impl {
  mutable std::mutex mutex;
  std::deque<KernelDef> defs;  // a deque never moves its elements
  std::unordered_map<std::string_view, const KernelDef*> by_name;
};

std::shared_ptr<KernelRegistry> KernelRegistry::create() {
  return std::make_shared<KernelRegistry>();
}

KernelRegistry::KernelRegistry() : impl_(std::make_unique<Impl>()) {}
KernelRegistry::~KernelRegistry() = default;

namespace {

void check_definition(const KernelDef& def) {
  const auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::InvalidArgument, "kernel '" + def.name + "': " + why);
  };
  if (def.name.empty()) throw Error(ErrorCode::InvalidArgument, "kernel name is empty");
  std::uint64_t value_bytes = 0;
  for (std::size_t i = 0; i < def.params.size(); ++i) {
    const Param& p = def.params[i];
    const std::string where = "param " + std::to_string(i);
    if (p.name.empty()) fail(where + " has no name");
    if (p.kind == Param::Kind::Value) {
      if (p.value_size == 0) fail(where + " '" + p.name + "' is a zero-size value");
      value_bytes += p.value_size;
    }
    if (p.read_before_wait && (p.kind != Param::Kind::Buffer || p.access == Access::Out)) {
      fail(where + " '" + p.name + "' is read before the wait but is not a buffer it reads");
    }
    if (p.read_before_wait && !def.programmatic_dependency) {
      fail(where + " '" + p.name +
           "' is read before the wait, but the kernel declares no programmatic dependency");
    }
  }
  if (value_bytes > kMaxValueBytes) {
    fail("value params total " + std::to_string(value_bytes) + " bytes, over the " +
         std::to_string(kMaxValueBytes) + "-byte limit");
  }
}

}  // namespace

const KernelDef& KernelRegistry::add(KernelDef def) {
  check_definition(def);
  std::lock_guard lock(impl_->mutex);
  if (impl_->by_name.contains(def.name)) {
    throw Error(ErrorCode::InvalidArgument, "kernel '" + def.name + "' is already registered");
  }
  const KernelDef& stored = impl_->defs.emplace_back(std::move(def));
  impl_->by_name.emplace(stored.name, &stored);
  return stored;
}

const KernelDef* KernelRegistry::find(std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::names() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> out;
  out.reserve(impl_->defs.size());
  for (const KernelDef& d : impl_->defs) out.push_back(d.name);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- CpuKernelContext ------------------------------------------------------------------------

std::uint64_t CpuKernelContext::size(std::size_t i) const {
  if (i >= args_.size()) {
    throw Error(ErrorCode::KernelFailed, "kernel asked for the size of arg " + std::to_string(i) +
                                             " but has " + std::to_string(args_.size()));
  }
  return args_[i].size;
}

const CpuArg& CpuKernelContext::buffer_arg(std::size_t i) const {
  if (i >= args_.size() || !args_[i].is_buffer) {
    throw Error(ErrorCode::KernelFailed, "kernel asked for buffer arg " + std::to_string(i) +
                                             " but it is " +
                                             (i >= args_.size() ? "missing" : "a value"));
  }
  return args_[i];
}

const CpuArg& CpuKernelContext::value_arg(std::size_t i, std::size_t bytes) const {
  if (i >= args_.size() || args_[i].is_buffer || args_[i].size != bytes) {
    throw Error(ErrorCode::KernelFailed,
                "kernel asked for a " + std::to_string(bytes) + "-byte value at arg " +
                    std::to_string(i) + " but it is " +
                    (i >= args_.size()    ? std::string("missing")
                     : args_[i].is_buffer ? std::string("a buffer")
                                          : std::to_string(args_[i].size) + " bytes"));
  }
  return args_[i];
}

}  // namespace encore
