// The differential test of the recording passes. Random programs (support/random_program.h with
// fusion patterns: mix_u32 / fill_u32 over overlapping views of uint32 buffers, and rms_norm_f32,
// mul_f32, add_f32 and fill_f32 over overlapping views of float buffers, many in the shapes the
// fusion pass matches) are recorded in a random ordering mode — barriers mode sometimes with a
// barrier before every dispatch, the seed's style — and sent through every pass combination:
// each order of each non-empty subset of {fuse, reorder, minimize}, 15 pipelines, with the
// invariant checker on. Every optimised recording must leave every buffer byte-identical to a
// serial run of the unoptimised program. Every buffer is declared live-out (the test reads them
// all), so fusion happens only where the intermediate is overwritten within the program.
//
// Each case runs on a 1-thread device that picks ready dispatches in an order drawn from the
// case's seed (reproducible from rapidcheck's reproduce string), so a dependency the recomputed
// ordering misses shows up as a wrong result; the full pipeline also runs on a shared 4-thread
// shuffled device (real concurrency, and ThreadSanitizer in the tsan preset).
//
// A seeded test outside rapidcheck checks that the generated programs do exercise the passes:
// fusion, moves and dropped barriers happen in a good share of them.

#include <cstdint>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "property/program_gen.h"
#include "support/norm_kernels.h"
#include "support/random_program.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::Contents;
using testing::download_all;
using testing::first_difference;
using testing::gen_program;
using testing::make_buffers;
using testing::Program;
using testing::reset_contents;

// Each order of each non-empty subset of the three passes.
std::vector<std::vector<Pass>> pass_combinations() {
  std::vector<std::vector<Pass>> out;
  const Pass all[] = {Pass::Fuse, Pass::Reorder, Pass::Minimize};
  for (const Pass a : all) {
    out.push_back({a});
    for (const Pass b : all) {
      if (b == a) continue;
      out.push_back({a, b});
      for (const Pass c : all) {
        if (c != a && c != b) out.push_back({a, b, c});
      }
    }
  }
  return out;
}

// Checked, with the portable kernels reorderable and every buffer live-out.
PassOptions options_for(const std::vector<Buffer>& buffers) {
  PassOptions o;
  o.check_invariants = true;
  o.reorderable = {"mix_u32", "fill_u32"};
  for (const Buffer& b : buffers) o.live_out.emplace_back(b);
  return o;
}

Device device_for(std::uint32_t threads, std::uint64_t seed) {
  return testing::make_cpu_device({.shuffle_seed = seed, .cpu_threads = threads},
                                  testing::make_norm_registry());
}

struct Recorded {
  std::vector<Buffer> buffers;
  Recording recording;
};

// The program on fresh buffers of `dev`, recorded in `ordering` (with a barrier before every
// dispatch when `barriers_everywhere`), without passes.
Recorded record(Device& dev, const Program& p, Ordering ordering, bool barriers_everywhere) {
  Recorded r{make_buffers(dev, p), {}};
  Encoder enc = dev.encoder({.ordering = ordering, .passes = PassPipeline()});
  const std::vector<bool> everywhere(p.steps.size(), true);
  testing::encode(dev, enc, p, r.buffers, barriers_everywhere ? &everywhere : nullptr);
  r.recording = enc.finish();
  return r;
}

Contents run(Device& dev, const Program& p, const Recorded& r, const Recording& rec) {
  reset_contents(r.buffers, p);
  dev.submit(rec).wait();
  return download_all(r.buffers);
}

RC_GTEST_PROP(PassProperties, EveryPassCombinationKeepsTheSerialResults, ()) {
  const Program p = *gen_program({.fusion_patterns = true});
  const Ordering ordering = *rc::gen::element(Ordering::Serial, Ordering::Barriers,
                                              Ordering::AutoBarrier, Ordering::AutoDag);
  const bool everywhere = ordering == Ordering::Barriers && *rc::gen::arbitrary<bool>();
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  Device dev = device_for(1, seed);
  const Recorded serial = record(dev, p, Ordering::Serial, false);
  const Contents want = run(dev, p, serial, serial.recording);
  const Recorded r = record(dev, p, ordering, everywhere);
  const PassOptions options = options_for(r.buffers);
  std::uint64_t fused = 0, moved = 0, barriers = 0;
  for (const std::vector<Pass>& passes : pass_combinations()) {
    const PassPipeline pipeline(passes, options);
    const PassResult optimised = pipeline.apply(r.recording);
    const std::string diff = first_difference(run(dev, p, r, optimised.recording), want);
    if (!diff.empty()) {
      RC_FAIL(pipeline.to_string() + " on " + std::string(to_string(ordering)) + ": " + diff +
              "\n" + optimised.report.to_string() + optimised.recording.to_string());
    }
    fused += optimised.report.nodes_fused();
    moved += optimised.report.nodes_moved();
    barriers += optimised.report.barriers_removed();
  }
  RC_CLASSIFY(fused > 0, "fused");
  RC_CLASSIFY(moved > 0, "moved");
  RC_CLASSIFY(barriers > 0, "barriers removed");

  // The full pipeline with real concurrency.
  static Device four = device_for(4, 7);
  const Recorded on_four = record(four, p, ordering, everywhere);
  const PassResult full =
      PassPipeline({Pass::Fuse, Pass::Reorder, Pass::Minimize}, options_for(on_four.buffers))
          .apply(on_four.recording);
  const std::string diff = first_difference(run(four, p, on_four, full.recording), want);
  if (!diff.empty()) RC_FAIL("fuse,reorder,minimize on 4 threads: " + diff);
}

// The generator with fusion patterns makes programs the passes have work in: over 300 seeded
// programs (auto_barrier ordering), fusion fires in at least a third, reorder moves a dispatch
// in at least a quarter, and minimize drops a barrier in at least a tenth (of barriers-everywhere
// recordings, most).
TEST(PassProperties, GeneratedProgramsExercisePasses) {
  Device dev = device_for(1, 1);
  int fused = 0, moved = 0, dropped = 0;
  constexpr int kPrograms = 300;
  for (int seed = 0; seed < kPrograms; ++seed) {
    testing::SeededChoices choices(static_cast<std::uint64_t>(seed));
    const Program p = testing::generate_program(choices, {.fusion_patterns = true});
    const Recorded r = record(dev, p, Ordering::AutoBarrier, false);
    const PassOptions options = options_for(r.buffers);
    fused += PassPipeline({Pass::Fuse}, options).apply(r.recording).report.nodes_fused() > 0;
    moved += PassPipeline({Pass::Reorder}, options).apply(r.recording).report.nodes_moved() > 0;
    const Recorded everywhere = record(dev, p, Ordering::Barriers, true);
    dropped += PassPipeline({Pass::Minimize}, options)
                   .apply(everywhere.recording)
                   .report.barriers_removed() > 0;
  }
  EXPECT_GE(fused, kPrograms / 3);
  EXPECT_GE(moved, kPrograms / 4);
  EXPECT_GE(dropped, kPrograms / 2);
  std::printf("of %d programs: fusion in %d, moves in %d, barriers dropped in %d\n", kPrograms,
              fused, moved, dropped);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
