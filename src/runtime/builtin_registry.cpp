// The process-wide registry of encore's own kernels: the one piece of global state besides the
// counters, created on first use and never destroyed (devices may outlive static destruction).

#include "encore/kernel.h"
#include "encore/ops.h"

#include "kernels/basic_kernels.h"
#include "runtime/collective_group.h"

namespace encore {

std::shared_ptr<KernelRegistry> KernelRegistry::builtin() {
  static const auto* const registry = [] {
    auto* r = new std::shared_ptr<KernelRegistry>(KernelRegistry::create());
    kernels::register_basic_kernels(**r);
    ops::register_ops(**r);
    detail::register_collective_kernels(**r);
    return r;
  }();
  return *registry;
}

}  // namespace encore
