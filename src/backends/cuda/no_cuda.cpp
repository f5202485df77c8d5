// Built when encore is configured without CUDA: the CUDA backend reports itself unavailable.

#include "backends/backend.h"

namespace encore::detail {

BackendOpenResult open_cuda_backend(const DeviceOptions& /*options*/, DeviceShared& /*shared*/,
                                    Profiler* /*profiler*/) {
  return {nullptr, "encore was built without the CUDA backend"};
}

}  // namespace encore::detail
