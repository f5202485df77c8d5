#pragma once

// Helpers of the pass unit tests: a CPU device with the norm kernels, pipelines that check their
// invariants and explain themselves, and short views of a recording's nodes.

#include <cstdint>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/norm_kernels.h"
#include "support/test_support.h"

namespace encore::testing {

/// A CPU device (4 threads unless `options` says otherwise) on the portable registry plus the
/// norm kernels.
inline Device norm_device(DeviceOptions options = {}) {
  return make_cpu_device(std::move(options), make_norm_registry());
}

/// `passes` with invariant checks and explanations on (whatever the build type).
inline PassPipeline checked(std::vector<Pass> passes, PassOptions options = {}) {
  options.check_invariants = true;
  options.explain = true;
  return PassPipeline(std::move(passes), std::move(options));
}

/// One entry per node: `field` of the dispatch, or "|" for a barrier.
template <class Field>
std::vector<std::string> per_node(const Recording& r, Field field) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < r.node_count(); ++i) {
    const NodeInfo n = r.node(i);
    out.emplace_back(n.kind == NodeKind::Barrier ? std::string("|") : std::string(field(n)));
  }
  return out;
}

/// One entry per node: the dispatch's kernel name, or "|" for a barrier.
inline std::vector<std::string> kernels_of(const Recording& r) {
  return per_node(r, [](const NodeInfo& n) { return n.kernel; });
}

/// One entry per node: the dispatch's label, or "|" for a barrier.
inline std::vector<std::string> labels_of(const Recording& r) {
  return per_node(r, [](const NodeInfo& n) { return n.label; });
}

/// Every note of every stage, one per line.
inline std::string notes_of(const PassReport& report) {
  std::string out;
  for (const PassStage& s : report.stages) {
    for (const std::string& n : s.notes) out += n + "\n";
  }
  return out;
}

/// `n` floats 0.5, 1.5, 2.5, ... scaled by `scale`.
inline std::vector<float> ramp(std::size_t n, float scale = 1.0F) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i) + 0.5F) * scale;
  return v;
}

/// Submits `r`, waits, and returns the contents of `buffers`.
inline std::vector<std::vector<float>> run_floats(Device& device, const Recording& r,
                                                  const std::vector<Buffer>& buffers) {
  device.submit(r).wait();
  std::vector<std::vector<float>> out;
  for (const Buffer& b : buffers) out.push_back(b.download<float>());
  return out;
}

}  // namespace encore::testing
