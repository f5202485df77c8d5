// Recording passes on every backend (the CUDA instantiation is labelled gpu): what the passes
// build runs on the backend and gives the unoptimised results. Random programs (mix_u32 /
// fill_u32 over overlapping views, support/random_program.h) in every ordering mode through
// reorder and minimize, byte-identical to a serial run on the same backend; an encoder with
// passes committing on the backend; and fusion of a transformer block's norms into the op
// library's fused kernels, bit-exact on the CPU (its references do the same float operations
// fused or not) and within a float tolerance on CUDA, whose fused kernels may reduce a row in
// another order than the unfused ones.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/norm_kernels.h"
#include "support/random_program.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::Contents;
using testing::download_floats;
using testing::Program;
using testing::upload_floats;

class RecordingPasses : public testing::BackendTest {};

constexpr Ordering kOrderings[] = {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier,
                                   Ordering::AutoDag};

// Seeded random programs through reorder and minimize (the portable kernels whitelisted, so
// they move) in every ordering mode: every buffer byte-identical to the serial run.
TEST_P(RecordingPasses, ReorderAndMinimizeKeepTheResultsOfRandomPrograms) {
  Device dev = make_device();
  PassOptions options;
  options.check_invariants = true;
  options.reorderable = {"mix_u32", "fill_u32"};
  const PassPipeline pipeline({Pass::Reorder, Pass::Minimize}, options);
  std::uint64_t moved = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    testing::SeededChoices choices(seed);
    const Program p = testing::generate_program(choices);
    const Contents want = testing::run(dev, p, {.ordering = Ordering::Serial});
    for (const Ordering ordering : kOrderings) {
      const std::vector<Buffer> buffers = testing::make_buffers(dev, p);
      Encoder enc = dev.encoder({.ordering = ordering});
      testing::encode(dev, enc, p, buffers, nullptr);
      const PassResult r = pipeline.apply(enc.finish());
      moved += r.report.nodes_moved();
      dev.submit(r.recording).wait();
      const std::string diff = testing::first_difference(testing::download_all(buffers), want);
      ASSERT_EQ(diff, "") << "seed " << seed << ", " << to_string(ordering) << "\n"
                          << testing::describe(p) << "\n"
                          << r.report.to_string();
    }
  }
  EXPECT_GT(moved, 0U);
}

// An encoder with passes commits the pass-made command buffer to the backend.
TEST_P(RecordingPasses, EncoderWithPassesCommitsToTheBackend) {
  Device dev = make_device();
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = dev.alloc(16, "b"), c = dev.alloc(16, "c"), d = dev.alloc(16, "d");
  Encoder enc = dev.encoder(
      {.ordering = Ordering::Barriers, .passes = PassPipeline({Pass::Reorder, Pass::Minimize})});
  enc.dispatch(dev.kernel("copy_f32"), testing::cover(4), {in(a), out(b), value(4U)});
  enc.barrier();  // needed: c reads b
  enc.dispatch(dev.kernel("add_f32"), testing::cover(4), {in(b), in(a), out(c), value(4U)});
  enc.barrier();  // not needed: d is touched by nothing else
  enc.dispatch(dev.kernel("fill_f32"), testing::cover(4), {out(d), value(0.5F), value(4U)});
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(c), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(download_floats(d), (std::vector<float>(4, 0.5F)));
  EXPECT_EQ(dev.stats().barriers_removed, 1U);
}

// Two transformer-block norms: residual add then rms_norm then the weight multiply, and a plain
// rms_norm then multiply. Fused into add_rms_norm_mul_f32 and rms_norm_mul_f32, the results
// match the unfused ones (sum, normed outputs and what reads them).
TEST_P(RecordingPasses, FusedNormsMatchTheUnfusedOnes) {
  Device dev = make_device({}, testing::make_norm_registry());
  constexpr std::uint32_t kRows = 4, kN = 256, kElems = kRows * kN;
  std::vector<float> x0(kElems), t0(kElems), w0(kElems), w1(kElems);
  for (std::uint32_t i = 0; i < kElems; ++i) {
    x0[i] = std::sin(0.01F * static_cast<float>(i)) + 0.5F;
    t0[i] = std::cos(0.02F * static_cast<float>(i)) * 0.25F;
    w0[i] = 1.0F + 0.001F * static_cast<float>(i % kN);
    w1[i] = 0.5F + 0.002F * static_cast<float>(i % kN);
  }
  Buffer x = upload_floats(dev, x0, "x"), t = upload_floats(dev, t0, "t");
  Buffer w = upload_floats(dev, w0, "w"), v = upload_floats(dev, w1, "v");
  Buffer normed = dev.alloc(kElems * 4, "normed"), h = dev.alloc(kElems * 4, "h");
  Buffer g = dev.alloc(kElems * 4, "g"), result = dev.alloc(kElems * 4, "result");
  const Launch rows = Launch::groups(kRows, 256);
  const Launch elems = Launch::threads(kElems, 256);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("rms_norm_f32"), rows, {in(x), out(normed), value(kN), value(1e-5F)});
  enc.dispatch(dev.kernel("mul_f32"), elems, {in(normed), in(w), out(h), value(kElems)});
  enc.dispatch(dev.kernel("add_f32"), elems, {in(h), in(t), out(t), value(kElems)});
  enc.dispatch(dev.kernel("add_f32"), elems, {in(x), in(t), out(x), value(kElems)});
  enc.dispatch(dev.kernel("rms_norm_f32"), rows, {in(x), out(normed), value(kN), value(1e-5F)});
  enc.dispatch(dev.kernel("mul_f32"), elems, {in(v), in(normed), out(g), value(kElems)});
  enc.dispatch(dev.kernel("copy_f32"), elems, {in(g), out(result), value(kElems)});
  const Recording rec = enc.finish();
  const auto run = [&](const Recording& r) {
    x.upload(std::span<const float>(x0));
    t.upload(std::span<const float>(t0));
    dev.submit(r).wait();
    return std::vector<std::vector<float>>{download_floats(x), download_floats(t),
                                           download_floats(h), download_floats(result)};
  };
  const auto want = run(rec);
  PassOptions options;
  options.check_invariants = true;
  options.live_out = {x, t, h, result};
  const PassResult fused = PassPipeline({Pass::Fuse}, options).apply(rec);
  ASSERT_EQ(fused.report.nodes_fused(), 3U) << fused.report.to_string();
  const auto got = run(fused.recording);
  const float tolerance = backend() == BackendKind::Cpu ? 0.0F : 1e-5F;
  for (std::size_t k = 0; k < want.size(); ++k) {
    for (std::size_t i = 0; i < want[k].size(); ++i) {
      ASSERT_LE(std::fabs(got[k][i] - want[k][i]), tolerance * (1.0F + std::fabs(want[k][i])))
          << "buffer " << k << " element " << i;
    }
  }
}

ENCORE_INSTANTIATE_BACKEND_SUITE(RecordingPasses);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
