#pragma once

// CUDA against the CPU reference for the op tests (label gpu): the same program, given a device,
// runs on a CUDA device and on a CPU device, and each output is compared with its tolerance.

#include <functional>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/op_test_support.h"

namespace encore::testing {

/// One output of a program: its name, the values, and how close CUDA must come to the CPU.
struct NamedOutput {
  std::string name;
  std::vector<float> values;
  Tolerance tolerance;
};

/// Runs the op sequence on `device` (uploads, encodes, commits, waits) and returns its outputs.
using OpProgram = std::function<std::vector<NamedOutput>(Device& device)>;

/// A CUDA device on the built-in registry (graph path, PDL on), or nullopt with `why` set when
/// CUDA cannot be opened.
std::optional<Device> open_cuda_ops_device(std::string& why);

/// Success when every output of `program` on `cuda` is within its tolerance of the same output
/// on a fresh CPU device (validation mode), reporting the first output that is not.
::testing::AssertionResult cuda_matches_cpu(Device& cuda, const OpProgram& program);

}  // namespace encore::testing

/// Declares `Device& dev`, a CUDA device on the built-in registry, or skips the test (a CTest
/// skip, not a pass) with the reason.
#define ENCORE_OPEN_CUDA_OR_SKIP(dev)                                                             \
  std::string dev##_why;                                                                          \
  std::optional<::encore::Device> dev##_opt = ::encore::testing::open_cuda_ops_device(dev##_why); \
  if (!dev##_opt) GTEST_SKIP() << dev##_why;                                                      \
  ::encore::Device& dev = *dev##_opt
