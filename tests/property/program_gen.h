#pragma once

// The shared random program generator (support/random_program.h) as a rapidcheck generator, for
// the property tests: choices drawn from rapidcheck (so failures shrink) and programs printed
// whole when a case fails.

#include <cstdint>
#include <ostream>
#include <rapidcheck.h>

#include "support/random_program.h"

namespace encore::testing {

// rapidcheck prints generated values with showValue (found by ADL, so next to Program), so a
// failing case shows its whole program, element ranges in 4-byte elements.
inline void showValue(const Program& p, std::ostream& os) { os << describe(p); }

// Choices drawn from rapidcheck. Must be used inside a generator (it picks values with
// operator*).
class RapidcheckChoices final : public ProgramChoices {
 public:
  std::uint32_t in_range(std::uint32_t low, std::uint32_t high) override {
    return *rc::gen::inRange<std::uint32_t>(low, high);
  }
  bool any_bool() override { return *rc::gen::arbitrary<bool>(); }
  std::uint32_t any_u32() override { return *rc::gen::arbitrary<std::uint32_t>(); }
  std::uint64_t any_u64() override { return *rc::gen::arbitrary<std::uint64_t>(); }
};

// Generated at full size: rapidcheck scales inRange with the size of the case, which would make
// most programs a handful of steps over the first bytes of each buffer.
inline rc::Gen<Program> gen_program(GeneratorOptions options = {}) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::exec([options] {
                           RapidcheckChoices choices;
                           return generate_program(choices, options);
                         }));
}

}  // namespace encore::testing
