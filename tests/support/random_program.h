#pragma once

// Random programs for differential tests: mix_u32 / fill_u32 dispatches (the portable test
// kernels) over random, often overlapping views of a few uint32 buffers, and the odd explicit
// barrier. One generator serves every driver: the ordering property test draws its choices from
// rapidcheck (which shrinks them), the CUDA-vs-CPU differential test from a seeded
// std::mt19937_64 (SeededChoices), so a program is reproducible from its seed alone.
//
// With GeneratorOptions::fusion_patterns the program also gets a few float buffers and f32 steps
// on them (rms_norm_f32, mul_f32, add_f32, fill_f32), many of them in the patterns the fusion pass
// matches (norm then mul of its output, add then norm of the sum, both), with random dispatches
// in between and, often, a fill that overwrites the intermediate afterwards. Float buffers start
// with values in [0.5, 1.5) and f32 steps only compute finite values from finite ones, so results
// are bit-exact whatever order the operands of a commutative multiply come in.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "encore/encore.h"

namespace encore::testing {

// ---- programs --------------------------------------------------------------------------------

/// Elements [first, first + count) of buffer `buffer` (4-byte elements: uint32, or float for
/// buffers from Program::float_first on).
struct ViewSpec {
  int buffer = 0;
  std::uint32_t first = 0;
  std::uint32_t count = 1;
};

enum class StepKind {
  Mix,
  Fill,
  Barrier,
  Norm,   ///< rms_norm_f32 src -> dst, rows of `row` elements (src.count / row rows)
  Mul,    ///< mul_f32 src, src2 -> dst (dst.count elements)
  Add,    ///< add_f32 src, src2 -> dst
  FillF,  ///< fill_f32 dst with the float whose bits are `value`
};

struct Step {
  StepKind kind = StepKind::Mix;
  ViewSpec src;   ///< Mix, Norm, Mul, Add
  ViewSpec src2;  ///< Mul, Add
  ViewSpec dst;   ///< every kind but Barrier
  std::uint32_t value = 0;
  std::uint32_t row = 0;  ///< Norm
};

struct Program {
  std::vector<std::uint32_t> sizes;  ///< elements per buffer
  std::size_t float_first = 0;       ///< buffers from here on hold floats (== sizes.size(): none)
  std::uint64_t data_seed = 0;       ///< initial contents (see make_buffers)
  std::vector<Step> steps;
};

struct GeneratorOptions {
  /// Float buffers and f32 steps in fusion patterns (see the file comment).
  bool fusion_patterns = false;
};

/// "b1[4, 12)".
std::string describe(ViewSpec v);
/// "mix_u32 src=b0[0, 4) dst=b1[4, 12) salt=7", "fill_u32 dst=... v=3", "barrier".
std::string describe(const Step& s);
/// The buffers, the data seed and one numbered line per step.
std::string describe(const Program& p);

// ---- generating ------------------------------------------------------------------------------

/// Where the generator's choices come from.
class ProgramChoices {
 public:
  virtual ~ProgramChoices() = default;
  /// A value in [low, high); requires low < high.
  virtual std::uint32_t in_range(std::uint32_t low, std::uint32_t high) = 0;
  virtual bool any_bool() = 0;
  virtual std::uint32_t any_u32() = 0;
  virtual std::uint64_t any_u64() = 0;
};

/// Choices drawn from a std::mt19937_64 seeded with `seed`: the same seed gives the same
/// program on every machine (the mapping to ranges is written here, not left to a distribution).
class SeededChoices final : public ProgramChoices {
 public:
  explicit SeededChoices(std::uint64_t seed) : engine_(seed) {}

  std::uint32_t in_range(std::uint32_t low, std::uint32_t high) override;
  bool any_bool() override { return (engine_() >> 63) != 0; }
  std::uint32_t any_u32() override { return static_cast<std::uint32_t>(engine_() >> 32); }
  std::uint64_t any_u64() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

/// A program of 3-4 buffers of 16-256 elements and 1-40 steps: 65% mix, 30% fill, 5% barrier;
/// half the views are short (at most 8 elements), so independent dispatches are common too.
/// Lower choices give simpler programs (rapidcheck shrinks toward mixes). With fusion patterns:
/// also 2-3 float buffers of 16-64 elements, and 45% of the steps start a fusion pattern, 15%
/// are a lone f32 step (see the file comment).
Program generate_program(ProgramChoices& choices, const GeneratorOptions& options = {});

// ---- running ---------------------------------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t x);

/// Fresh buffers b0, b1, ... of the program's sizes, filled from its data seed.
std::vector<Buffer> make_buffers(Device& device, const Program& p);
/// Puts the initial contents back into buffers made by make_buffers.
void reset_contents(const std::vector<Buffer>& buffers, const Program& p);

BufferView view_of(const std::vector<Buffer>& buffers, ViewSpec v);

/// Records the program on `enc` (kernels resolved on `device`); `inserted` (optional) adds a
/// barrier before the dispatches it marks.
void encode(Device& device, Encoder& enc, const Program& p, const std::vector<Buffer>& buffers,
            const std::vector<bool>* inserted);

/// Every buffer's elements.
using Contents = std::vector<std::vector<std::uint32_t>>;

Contents download_all(const std::vector<Buffer>& buffers);

/// How run() submits: commit the encoder, or finish it and submit the Recording.
enum class Submit { Commit, Recording };

/// Runs the program on `device` on fresh buffers, with an encoder of `options`, and returns the
/// buffers' final contents. Throws the submission's Error if it fails.
Contents run(Device& device, const Program& p, const EncoderOptions& options,
             const std::vector<bool>* inserted = nullptr, Submit how = Submit::Commit);

/// Empty when equal; else the first differing element, as "b1[7] is X, the serial run gives Y".
std::string first_difference(const Contents& got, const Contents& want);

}  // namespace encore::testing
