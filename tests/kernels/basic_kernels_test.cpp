// The basic f32 kernels against a scalar reference, on sizes around the block size and with
// launches whose last block is partial or lies wholly past n; copies between offset views; the
// two-pass sum; and sum_f32's shared-memory requirement.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::download_floats;
using testing::make_cpu_device;
using testing::upload_floats;

constexpr std::uint32_t kSizes[] = {1, 63, 64, 65, 1000};
constexpr float kSentinel = -777.0F;
// Output buffers have this many sentinel floats past n: a kernel must not touch them.
constexpr std::uint32_t kPad = 8;

std::uint32_t ceil_div(std::uint32_t n, std::uint32_t d) { return (n + d - 1) / d; }

// The launches each kernel is checked with: threads(n, 64) (partial last block unless 64 | n),
// and blocks of 48 with one extra block lying wholly past n.
std::vector<std::pair<std::string, Launch>> launches_for(std::uint32_t n) {
  return {{"threads(n, 64)", Launch::threads(n, 64)},
          {"groups(ceil(n/48) + 1, 48)", Launch::groups(ceil_div(n, 48) + 1, 48)}};
}

std::vector<float> inputs(std::uint32_t n, int salt) {
  std::vector<float> v(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    v[i] =
        static_cast<float>((i * 37 + static_cast<std::uint32_t>(salt) * 11) % 101) * 0.25F - 12.5F;
  }
  return v;
}

class BasicKernels : public ::testing::Test {
 protected:
  // An output of n floats plus kPad sentinels.
  Buffer padded_output(std::uint32_t n) {
    return upload_floats(dev_, std::vector<float>(n + kPad, kSentinel), "out");
  }

  // Checks out[0, n) == want and the padding untouched.
  static void expect_output(const Buffer& out, const std::vector<float>& want) {
    const std::vector<float> got = download_floats(out);
    ASSERT_EQ(got.size(), want.size() + kPad);
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "element " << i;
    }
    for (std::size_t i = want.size(); i < got.size(); ++i) {
      ASSERT_EQ(got[i], kSentinel) << "padding element " << i << " was written";
    }
  }

  void run(const char* kernel, const Launch& launch, std::initializer_list<Arg> args) {
    Encoder enc = dev_.encoder();
    enc.dispatch(dev_.kernel(kernel), launch, args);
    enc.commit_and_wait();
  }

  Device dev_ = make_cpu_device();
};

// fill_f32 sets y[0, n) to v.
TEST_F(BasicKernels, FillMatchesTheScalarReference) {
  for (std::uint32_t n : kSizes) {
    for (const auto& [name, launch] : launches_for(n)) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + name);
      Buffer y = padded_output(n);
      run("fill_f32", launch, {out(y), value(3.5F), value(n)});
      expect_output(y, std::vector<float>(n, 3.5F));
    }
  }
}

// copy_f32 copies x[0, n) to y.
TEST_F(BasicKernels, CopyMatchesTheScalarReference) {
  for (std::uint32_t n : kSizes) {
    for (const auto& [name, launch] : launches_for(n)) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + name);
      const std::vector<float> x = inputs(n, 1);
      Buffer xb = upload_floats(dev_, x, "x");
      Buffer y = padded_output(n);
      run("copy_f32", launch, {in(xb), out(y), value(n)});
      expect_output(y, x);
    }
  }
}

// add_f32 and mul_f32 compute c = a + b and c = a * b elementwise.
TEST_F(BasicKernels, AddAndMulMatchTheScalarReference) {
  for (std::uint32_t n : kSizes) {
    for (const auto& [name, launch] : launches_for(n)) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + name);
      const std::vector<float> a = inputs(n, 2);
      const std::vector<float> b = inputs(n, 3);
      std::vector<float> sum(n);
      std::vector<float> product(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        sum[i] = a[i] + b[i];
        product[i] = a[i] * b[i];
      }
      Buffer ab = upload_floats(dev_, a, "a");
      Buffer bb = upload_floats(dev_, b, "b");
      Buffer c = padded_output(n);
      run("add_f32", launch, {in(ab), in(bb), out(c), value(n)});
      expect_output(c, sum);
      Buffer d = padded_output(n);
      run("mul_f32", launch, {in(ab), in(bb), out(d), value(n)});
      expect_output(d, product);
    }
  }
}

// scale_f32 computes y = alpha * x.
TEST_F(BasicKernels, ScaleMatchesTheScalarReference) {
  for (std::uint32_t n : kSizes) {
    for (const auto& [name, launch] : launches_for(n)) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + name);
      const std::vector<float> x = inputs(n, 4);
      std::vector<float> want(n);
      for (std::uint32_t i = 0; i < n; ++i) want[i] = -1.75F * x[i];
      Buffer xb = upload_floats(dev_, x, "x");
      Buffer y = padded_output(n);
      run("scale_f32", launch, {in(xb), out(y), value(-1.75F), value(n)});
      expect_output(y, want);
    }
  }
}

// Copying the middle of one buffer into the middle of another writes exactly the destination
// view and leaves the rest of both buffers untouched.
TEST_F(BasicKernels, CopyBetweenOffsetViewsTouchesOnlyTheDestinationView) {
  const std::vector<float> src = inputs(100, 5);
  const std::vector<float> dst(100, kSentinel);
  Buffer a = upload_floats(dev_, src, "a");
  Buffer b = upload_floats(dev_, dst, "b");
  run("copy_f32", testing::cover(50),
      {in(a.view_of<float>(20, 50)), out(b.view_of<float>(30, 50)), value(50U)});
  std::vector<float> want = dst;
  for (int i = 0; i < 50; ++i) want[30 + i] = src[20 + i];
  EXPECT_EQ(download_floats(b), want);
  EXPECT_EQ(download_floats(a), src);
}

// Positive integer-valued inputs: every summation order gives the exact total (all sums stay
// below 2^24), and a dropped or doubled element changes it.
std::vector<float> integer_inputs(std::uint32_t n) {
  std::vector<float> v(n);
  for (std::uint32_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 7 + 1);
  return v;
}

// Sums x[0, n) with sum_f32 twice: `blocks` blocks of `threads` write partial sums, then one block
// sums the partials. Both passes are one command buffer (auto_dag orders them).
float two_pass_sum(Device& dev, const std::vector<float>& x, std::uint32_t blocks,
                   std::uint32_t threads) {
  const auto n = static_cast<std::uint32_t>(x.size());
  Buffer xb = upload_floats(dev, x, "x");
  Buffer partial = dev.alloc(blocks * sizeof(float), "partial");
  Buffer total = dev.alloc(sizeof(float), "total");
  const Kernel sum = dev.kernel("sum_f32");
  Encoder enc = dev.encoder();
  enc.dispatch(sum, Launch::groups(blocks, threads).shared(threads * 4),
               {in(xb), out(partial), value(n)});
  enc.dispatch(sum, Launch::groups(1, 32).shared(32 * 4), {in(partial), out(total), value(blocks)});
  enc.commit_and_wait();
  return download_floats(total)[0];
}

// The two-pass sum gives the exact total for sizes around the block size and for inputs much
// larger than the grid (grid-stride), with power-of-two and other block sizes.
TEST_F(BasicKernels, TwoPassSumGivesTheTotal) {
  for (std::uint32_t n : {1U, 63U, 64U, 65U, 1000U, 100000U}) {
    const std::vector<float> x = integer_inputs(n);
    double want = 0;
    for (float v : x) want += v;
    for (std::uint32_t threads : {64U, 48U, 1U}) {
      const std::uint32_t blocks = std::min(ceil_div(n, threads), 16U);
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + std::to_string(blocks) + " blocks of " +
                   std::to_string(threads));
      EXPECT_EQ(two_pass_sum(dev_, x, blocks, threads), static_cast<float>(want));
    }
  }
}

// sum_f32 without blockDim.x * 4 bytes of shared memory fails the submission with KernelFailed,
// saying how much it needs and got, and writes nothing.
TEST_F(BasicKernels, SumWithoutEnoughSharedMemoryFailsClearly) {
  Buffer x = upload_floats(dev_, integer_inputs(64), "x");
  for (std::uint32_t shared : {0U, 255U}) {
    SCOPED_TRACE("shared = " + std::to_string(shared));
    Buffer partial = upload_floats(dev_, {kSentinel}, "partial");
    Encoder enc = dev_.encoder();
    enc.dispatch(dev_.kernel("sum_f32"), Launch::groups(1, 64).shared(shared),
                 {in(x), out(partial), value(64U)}, {.label = "short sum"});
    const Submission s = enc.commit();
    try {
      s.wait();
      ADD_FAILURE() << "sum_f32 ran without enough shared memory";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
      const std::string what = e.what();
      EXPECT_NE(what.find("256 bytes of shared memory, got " + std::to_string(shared)),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("short sum"), std::string::npos) << what;
      EXPECT_NE(what.find("sum_f32"), std::string::npos) << what;
    }
    EXPECT_EQ(download_floats(partial), std::vector<float>{kSentinel});
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
