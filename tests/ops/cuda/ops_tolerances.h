#pragma once

// How close each op's CUDA kernel must come to its CPU reference, in one table:
// |cuda - cpu| <= abs + rel * |cpu| per element, unless the row says otherwise.
//
// | op                  | abs    | rel    | why                                                   |
// |---------------------|--------|--------|-------------------------------------------------------|
// | add, mul            | 0      | 0      | one f32 operation, same on both                       |
// | silu_mul            | 1e-6   | 1e-5   | expf vs std::exp                                      |
// | rms_norm family     | 1e-5   | 1e-5   | f32 tree sum + rsqrtf vs a double sum                 |
// | embedding           | 0      | 0      | a bf16 -> f32 widening is exact                       |
// | rope                | 1e-5   | 1e-5   | sincosf vs std::sin/cos of the same f32 angle         |
// | gemv                | see gemv test: 1e-5 * sum_k |w_k x_k| + 1e-6 per row  (f32 vs double)  |
// | kv_append           | 0      | 0      | bit-identical bf16 rounding                           |
// | attention_decode    | 2e-5   | 1e-4   | split softmax in f32 vs the CPU's double sums         |
// | attention_o_decode  | 2e-3   | 1e-3   | attention's error times W_o over thousands of columns,|
// |                     |        |        | plus an f32 dot product against the CPU's double one  |
// | softmax             | 1e-7   | 1e-5   | expf, f32 sums                                        |
// | argmax              | exact index                                                            |

#include "support/op_test_support.h"

namespace encore::testing {

inline constexpr Tolerance kSiluMulTolerance{1e-6, 1e-5};
inline constexpr Tolerance kNormTolerance{1e-5, 1e-5};
inline constexpr Tolerance kRopeTolerance{1e-5, 1e-5};
inline constexpr double kGemvRelativeToAbsSum = 1e-5;
inline constexpr Tolerance kAttentionTolerance{2e-5, 1e-4};
inline constexpr Tolerance kAttentionOTolerance{2e-3, 1e-3};
inline constexpr Tolerance kSoftmaxTolerance{1e-7, 1e-5};

}  // namespace encore::testing
