#include "support/backend_test.h"

#include "support/test_support.h"

namespace encore::testing {

void BackendTest::SetUp() {
  try {
    (void)make_device();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::BackendUnavailable) throw;
    GTEST_SKIP() << to_string(backend()) << " backend unavailable: " << e.what();
  }
}

Device BackendTest::make_device(DeviceOptions options,
                                std::shared_ptr<KernelRegistry> registry) const {
  options.backend = backend();
  if (options.cpu_threads == 0) options.cpu_threads = 4;
  options.registry = registry ? std::move(registry) : make_portable_registry();
  return Device::open(options);
}

std::string BackendName::operator()(const ::testing::TestParamInfo<BackendKind>& info) const {
  return std::string(to_string(info.param));
}

}  // namespace encore::testing
