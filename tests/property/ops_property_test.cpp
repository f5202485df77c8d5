// Properties of the op library on the CPU backend, over random shapes and values (rapidcheck
// prints the seed and the shrunk case of a failure):
//  - argmax returns the lowest index holding the maximum, on both the one-block and the
//    two-stage paths, with many ties (values drawn from a handful);
//  - gemv equals a double-precision dot product per row, for every variant the table picks;
//  - attention over kv_len rows equals a plain softmax-weighted sum, for random GQA shapes.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

Device& cpu_device() {
  static Device dev = [] {
    DeviceOptions options;
    options.backend = BackendKind::Cpu;
    options.cpu_threads = 2;
    return Device::open(options);
  }();
  return dev;
}

template <class T>
Buffer upload(const std::vector<T>& v) {
  Buffer b = cpu_device().alloc(v.size() * sizeof(T));
  b.upload(std::span<const T>(v));
  return b;
}

float bf16_value(std::uint16_t bits) {
  const std::uint32_t word = std::uint32_t{bits} << 16;
  float f;
  std::memcpy(&f, &word, sizeof f);
  return f;
}

// Values from a small set, so the maximum is often tied; n spans both argmax paths.
RC_GTEST_PROP(OpsProperties, ArgmaxIsTheLowestIndexOfTheMaximum, ()) {
  const auto n = *rc::gen::inRange<std::uint32_t>(1, 20000);
  const auto values = *rc::gen::container<std::vector<int>>(n, rc::gen::inRange(-3, 4));
  std::vector<float> x(values.begin(), values.end());
  const auto want = static_cast<std::uint32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  Device& dev = cpu_device();
  const ops::OpEncoder ops(dev);
  Buffer xb = upload(x);
  Buffer token = dev.alloc(4);
  Buffer scratch = dev.alloc(ops::argmax_scratch_bytes(n));
  Encoder enc = dev.encoder();
  ops.argmax(enc, xb, token, scratch, n);
  enc.commit_and_wait();
  RC_ASSERT(token.download<std::uint32_t>()[0] == want);
}

// xorshift32 from a seed: cheap bulk data for the properties (rapidcheck draws the seed).
class Xorshift {
 public:
  explicit Xorshift(std::uint32_t seed) : state_(seed | 1U) {}
  std::uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  /// A value in [-1, 1) with 11 significant bits.
  float unit() { return static_cast<float>(next() % 2048) / 1024.0F - 1.0F; }

 private:
  std::uint32_t state_;
};

// Random shapes (rows up to 9000 reach every variant of the table) and values that are small
// integers times a power of two, so every product and partial sum is exact in f32 and in double:
// the result must equal the reference exactly, whatever the summation order.
RC_GTEST_PROP(OpsProperties, GemvIsTheExactDotProductOnExactlyRepresentableData, ()) {
  const auto rows = *rc::gen::inRange<std::uint32_t>(1, 9000);
  const auto cols = 8 * *rc::gen::inRange<std::uint32_t>(1, std::max(2U, 40000 / rows));
  Xorshift rng(*rc::gen::arbitrary<std::uint32_t>());
  std::vector<std::uint16_t> w(std::size_t{rows} * cols);
  for (std::uint16_t& b : w) {
    const float f = static_cast<float>(static_cast<int>(rng.next() % 17) - 8) * 0.25F;
    b = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(f) >> 16);  // exact in bf16
  }
  std::vector<float> x(cols);
  for (float& f : x) f = static_cast<float>(static_cast<int>(rng.next() % 17) - 8);
  Device& dev = cpu_device();
  const ops::OpEncoder ops(dev);
  Buffer wb = upload(w);
  Buffer xb = upload(x);
  Buffer yb = dev.alloc(std::size_t{rows} * 4);
  Encoder enc = dev.encoder();
  ops.gemv(enc, wb, xb, yb, rows, cols);
  enc.commit_and_wait();
  const std::vector<float> y = yb.download<float>();
  for (std::uint32_t r = 0; r < rows; ++r) {
    double want = 0;
    for (std::uint32_t c = 0; c < cols; ++c) {
      want += bf16_value(w[std::size_t{r} * cols + c]) * x[c];
    }
    RC_ASSERT(y[r] == static_cast<float>(want));
  }
}

// Random GQA shapes and lengths: the split attention equals the direct softmax-weighted sum.
RC_GTEST_PROP(OpsProperties, AttentionEqualsTheDirectSoftmaxWeightedSum, ()) {
  const auto n_kv = *rc::gen::inRange<std::uint32_t>(1, 4);
  const auto group = *rc::gen::inRange<std::uint32_t>(1, 9);
  const auto head_dim = *rc::gen::element<std::uint32_t>(64, 128);
  const auto max_ctx = *rc::gen::inRange<std::uint32_t>(1, 400);
  const auto kv_len = *rc::gen::inRange<std::uint32_t>(1, max_ctx + 1);
  const ops::AttentionShape s{n_kv * group, n_kv, head_dim, max_ctx};
  const auto seed = *rc::gen::arbitrary<std::uint32_t>();
  std::vector<float> q(std::size_t{s.n_heads} * head_dim);
  std::vector<std::uint16_t> k(std::size_t{max_ctx} * n_kv * head_dim);
  std::vector<std::uint16_t> v(k.size());
  Xorshift rng(seed);
  for (float& f : q) f = 2.0F * rng.unit();
  for (std::uint16_t& b : k)
    b = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(rng.unit()) >> 16);
  for (std::uint16_t& b : v)
    b = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(rng.unit()) >> 16);
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim));

  Device& dev = cpu_device();
  const ops::OpEncoder ops(dev);
  Buffer qb = upload(q);
  Buffer kb = upload(k);
  Buffer vb = upload(v);
  Buffer out = dev.alloc(q.size() * 4);
  Buffer scratch = dev.alloc(ops::attention_scratch_bytes(s));
  Encoder enc = dev.encoder();
  ops.attention_decode(enc, qb, kb, vb, out, scratch, s, value(kv_len), scale);
  enc.commit_and_wait();
  const std::vector<float> got = out.download<float>();
  for (std::uint32_t h = 0; h < s.n_heads; ++h) {
    const std::uint32_t g = h / group;
    std::vector<double> p(kv_len);
    double m = -1e300;
    for (std::uint32_t t = 0; t < kv_len; ++t) {
      double dot = 0;
      for (std::uint32_t i = 0; i < head_dim; ++i) {
        dot +=
            double{q[h * head_dim + i]} * bf16_value(k[(std::size_t{t} * n_kv + g) * head_dim + i]);
      }
      p[t] = dot * scale;
      m = std::max(m, p[t]);
    }
    double sum = 0;
    for (double& e : p) sum += (e = std::exp(e - m));
    for (std::uint32_t i = 0; i < head_dim; ++i) {
      double acc = 0;
      for (std::uint32_t t = 0; t < kv_len; ++t) {
        acc += p[t] * bf16_value(v[(std::size_t{t} * n_kv + g) * head_dim + i]);
      }
      RC_ASSERT(std::fabs(got[h * head_dim + i] - acc / sum) <= 1e-6 + 1e-5 * std::fabs(acc / sum));
    }
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
