#include "support/differential.h"

namespace encore::testing {

std::optional<Device> open_cuda_ops_device(std::string& why) {
  try {
    DeviceOptions options;
    options.backend = BackendKind::Cuda;
    return Device::open(options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::BackendUnavailable) throw;
    why = e.what();
    return std::nullopt;
  }
}

::testing::AssertionResult cuda_matches_cpu(Device& cuda, const OpProgram& program) {
  Device cpu = make_ops_cpu_device();
  const std::vector<NamedOutput> want = program(cpu);
  const std::vector<NamedOutput> got = program(cuda);
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "the program returned " << got.size()
                                         << " outputs on CUDA and " << want.size() << " on CPU";
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    ::testing::AssertionResult r = all_near(got[i].values, want[i].values, want[i].tolerance);
    if (!r)
      return ::testing::AssertionFailure() << "output '" << want[i].name << "': " << r.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace encore::testing
