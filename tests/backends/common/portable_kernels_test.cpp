// The portable test kernels (support/portable_kernels.h) on every backend: the suite's devices
// really run on the backend under test and resolve every kernel the behaviour suites use (on CUDA
// that checks each registration against the compiled kernel's parameters), and fill_u32 and
// mix_u32 compute the documented formula bit for bit, past the last full block and on views that
// overlap, so CUDA and CPU results are comparable byte for byte.

#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/random_program.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class PortableKernels : public testing::BackendTest {};

// Initial contents of the test buffers: distinct, unpatterned values.
std::vector<std::uint32_t> scrambled(std::uint32_t count, std::uint64_t seed) {
  std::vector<std::uint32_t> out(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    out[i] = static_cast<std::uint32_t>(testing::splitmix64(seed + i));
  }
  return out;
}

Buffer upload_u32(Device& dev, const std::vector<std::uint32_t>& values) {
  Buffer b = dev.alloc(values.size() * sizeof(std::uint32_t));
  b.upload(std::span<const std::uint32_t>(values));
  return b;
}

// mix_u32 on host memory, as portable_kernels.h defines it: ascending element order, each element
// reading src before writing dst (elements are indices into `memory`).
void host_mix(std::vector<std::uint32_t>& memory, std::uint32_t src_first, std::uint32_t src_n,
              std::uint32_t dst_first, std::uint32_t n, std::uint32_t salt) {
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t s = memory[src_first + i % src_n];
    memory[dst_first + i] = memory[dst_first + i] * 31U + (s ^ salt);
  }
}

// The device is the backend's, and every kernel of the behaviour suites resolves on it.
TEST_P(PortableKernels, ResolveOnTheSuitesBackend) {
  Device dev = make_device();
  EXPECT_EQ(dev.backend(), backend()) << dev.name();
  for (const char* name : {"add_f32", "copy_f32", "fill_f32", "mul_f32", "scale_f32", "sum_f32",
                           "fill_u32", "mix_u32", "log_order", "big_value", "two_values"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(dev.kernel(name).name(), name);
  }
}

// fill_u32 writes v + i for i < n and nothing past n, though the last block has more threads;
// mix_u32 over disjoint views wraps around its shorter source.
TEST_P(PortableKernels, FillAndMixComputeTheDocumentedFormula) {
  Device dev = make_device();
  constexpr std::uint32_t kCount = 300;
  std::vector<std::uint32_t> want = scrambled(kCount, 17);
  Buffer memory = upload_u32(dev, want);
  Encoder enc = dev.encoder({.ordering = Ordering::Serial});
  // fill elements [5, 205) in blocks of 64 (4 blocks, the last one mostly idle).
  enc.dispatch(dev.kernel("fill_u32"), Launch::threads(200, 64),
               {out(memory.view_of<std::uint32_t>(5, 200)), value(1000U), value(200U)});
  // mix [210, 300) with the 7 elements [0, 7) as source.
  enc.dispatch(
      dev.kernel("mix_u32"), Launch::threads(90, 32),
      {in(memory.view_of<std::uint32_t>(0, 7)), inout(memory.view_of<std::uint32_t>(210, 90)),
       value(0xA5A5A5A5U), value(7U), value(90U)});
  enc.commit_and_wait();
  for (std::uint32_t i = 0; i < 200; ++i) want[5 + i] = 1000U + i;
  host_mix(want, 0, 7, 210, 90, 0xA5A5A5A5U);
  EXPECT_EQ(memory.download<std::uint32_t>(), want);
}

// A mix whose source and destination overlap, either way round, computes the ascending in-place
// result (on CUDA the kernel notices the overlap and runs that order on one thread).
TEST_P(PortableKernels, MixOfOverlappingViewsRunsInAscendingElementOrder) {
  Device dev = make_device();
  constexpr std::uint32_t kCount = 256;
  std::vector<std::uint32_t> want = scrambled(kCount, 99);
  Buffer memory = upload_u32(dev, want);
  const Kernel mix = dev.kernel("mix_u32");
  Encoder enc = dev.encoder({.ordering = Ordering::Serial});
  // dst ahead of src: each element reads values written earlier in the same dispatch.
  enc.dispatch(mix, Launch::threads(100, 32),
               {in(memory.view_of<std::uint32_t>(10, 40)),
                inout(memory.view_of<std::uint32_t>(30, 100)), value(3U), value(40U), value(100U)});
  // dst behind src, and src equal to dst.
  enc.dispatch(mix, Launch::threads(60, 32),
               {in(memory.view_of<std::uint32_t>(150, 60)),
                inout(memory.view_of<std::uint32_t>(140, 60)), value(5U), value(60U), value(60U)});
  enc.dispatch(mix, Launch::threads(16, 8),
               {in(memory.view_of<std::uint32_t>(220, 16)),
                inout(memory.view_of<std::uint32_t>(220, 16)), value(7U), value(16U), value(16U)});
  enc.commit_and_wait();
  host_mix(want, 10, 40, 30, 100, 3U);
  host_mix(want, 150, 60, 140, 60, 5U);
  host_mix(want, 220, 16, 220, 16, 7U);
  EXPECT_EQ(memory.download<std::uint32_t>(), want);
}

ENCORE_INSTANTIATE_BACKEND_SUITE(PortableKernels);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
