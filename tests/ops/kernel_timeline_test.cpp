// The kernel timeline is a build option (ENCORE_KERNEL_TIMELINE): without it the dump refuses
// clearly instead of writing an empty file.

#include <filesystem>
#include <gtest/gtest.h>

#include "encore/error.h"
#include "encore/ops.h"

namespace encore::ops {
namespace {
namespace ENCORE_TEST_FILE {

TEST(KernelTimeline, WithoutTheBuildOptionTheDumpSaysWhatIsMissing) {
  if (kernel_timeline_enabled()) GTEST_SKIP() << "built with ENCORE_KERNEL_TIMELINE";
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "encore_kernel_timeline_test.txt";
  std::filesystem::remove(path);
  try {
    write_kernel_timeline(path.string());
    FAIL() << "write_kernel_timeline succeeded without the build option";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidState);
    EXPECT_NE(std::string(e.what()).find("ENCORE_KERNEL_TIMELINE=ON"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::ops
