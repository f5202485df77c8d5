// Built when CMake found no CUPTI headers: per-dispatch profiling on CUDA is unavailable, and
// says so (the device profiles per submission).

#include "backends/cuda/cupti_session.h"

namespace encore::detail {

bool CuptiSession::loaded() noexcept { return false; }

std::shared_ptr<CuptiSession> CuptiSession::acquire(const DeviceOptions& /*options*/,
                                                    std::string& why) {
  why = "encore was built without the CUPTI headers (cupti.h was not found at configure time)";
  return nullptr;
}

}  // namespace encore::detail
