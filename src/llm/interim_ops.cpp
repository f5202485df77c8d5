// INTERIM, removed when the op library lands (src/ops): a plain CPU implementation of the part
// of encore/ops.h that encore-llm calls, so the decoder is testable end to end before the real
// kernels exist. CMake compiles this file only while src/ops/ops.cpp is absent. Every kernel
// runs as one block and loops over its elements; accumulation is f32, as the op library states.

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>

#include "encore/error.h"
#include "encore/ops.h"

#include "llm/bf16.h"

namespace encore::ops {

namespace {

void check(bool ok, const char* op, std::string_view label, const std::string& why) {
  if (!ok) {
    throw Error(ErrorCode::InvalidArgument,
                std::string(op) + " '" + std::string(label) + "': " + why);
  }
}

float silu(float x) { return x / (1.0F + std::exp(-x)); }

float inv_rms(const float* x, std::uint32_t n, float eps) {
  float ss = 0.0F;
  for (std::uint32_t i = 0; i < n; ++i) ss += x[i] * x[i];
  return 1.0F / std::sqrt(ss / static_cast<float>(n) + eps);
}

void k_embedding(const CpuKernelContext& c) {
  const auto* table = c.ptr<const std::uint16_t>(0);
  const std::uint32_t token = c.ptr<const std::uint32_t>(1)[0];
  float* out = c.ptr<float>(2);
  const auto dim = c.value<std::uint32_t>(3);
  const std::uint64_t vocab = c.size(0) / 2 / dim;
  for (std::uint32_t i = 0; i < dim; ++i) {
    out[i] = token < vocab ? llm::bf16_to_float(table[std::uint64_t{token} * dim + i]) : 0.0F;
  }
}

void k_rms_norm_mul(const CpuKernelContext& c) {  // x, w, y, n, eps
  const float* x = c.ptr<const float>(0);
  const float* w = c.ptr<const float>(1);
  float* y = c.ptr<float>(2);
  const auto n = c.value<std::uint32_t>(3);
  const float r = inv_rms(x, n, c.value<float>(4));
  for (std::uint32_t i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
}

void k_rms_norm(const CpuKernelContext& c) {  // x, y, n, eps
  const float* x = c.ptr<const float>(0);
  float* y = c.ptr<float>(1);
  const auto n = c.value<std::uint32_t>(2);
  const float r = inv_rms(x, n, c.value<float>(3));
  for (std::uint32_t i = 0; i < n; ++i) y[i] = x[i] * r;
}

void k_add_rms_norm_mul(const CpuKernelContext& c) {  // a, b, w, sum, y, n, eps
  const float* a = c.ptr<const float>(0);
  const float* b = c.ptr<const float>(1);
  const float* w = c.ptr<const float>(2);
  float* sum = c.ptr<float>(3);
  float* y = c.ptr<float>(4);
  const auto n = c.value<std::uint32_t>(5);
  for (std::uint32_t i = 0; i < n; ++i) sum[i] = a[i] + b[i];
  const float r = inv_rms(sum, n, c.value<float>(6));
  for (std::uint32_t i = 0; i < n; ++i) y[i] = sum[i] * r * w[i];
}

void k_silu_mul(const CpuKernelContext& c) {
  const float* g = c.ptr<const float>(0);
  const float* u = c.ptr<const float>(1);
  float* o = c.ptr<float>(2);
  const auto n = c.value<std::uint32_t>(3);
  for (std::uint32_t i = 0; i < n; ++i) o[i] = silu(g[i]) * u[i];
}

void k_rope(const CpuKernelContext& c) {  // x, inv_freq, heads, head_dim, pos, style
  float* x = c.ptr<float>(0);
  const float* inv = c.ptr<const float>(1);
  const auto heads = c.value<std::uint32_t>(2);
  const auto hd = c.value<std::uint32_t>(3);
  const auto pos = c.value<std::uint32_t>(4);
  const bool neox = c.value<std::uint32_t>(5) == 0;
  const std::uint32_t half = hd / 2;
  for (std::uint32_t h = 0; h < heads; ++h) {
    float* head = x + std::uint64_t{h} * hd;
    for (std::uint32_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos) * inv[i];
      const float cs = std::cos(angle);
      const float sn = std::sin(angle);
      float& a = neox ? head[i] : head[2 * i];
      float& b = neox ? head[i + half] : head[2 * i + 1];
      const float a0 = a;
      const float b0 = b;
      a = a0 * cs - b0 * sn;
      b = b0 * cs + a0 * sn;
    }
  }
}

void gemv_rows(const CpuKernelContext& c, const float* bias) {
  const auto* w = c.ptr<const std::uint16_t>(0);
  const float* x = c.ptr<const float>(1);
  float* y = c.ptr<float>(2);
  const std::size_t v = bias != nullptr ? 4 : 3;
  const auto rows = c.value<std::uint32_t>(v);
  const auto cols = c.value<std::uint32_t>(v + 1);
  for (std::uint32_t r = 0; r < rows; ++r) {
    const std::uint16_t* row = w + std::uint64_t{r} * cols;
    float acc = 0.0F;
    for (std::uint32_t i = 0; i < cols; ++i) acc += llm::bf16_to_float(row[i]) * x[i];
    y[r] = acc + (bias != nullptr ? bias[r] : 0.0F);
  }
}

void k_gemv(const CpuKernelContext& c) { gemv_rows(c, nullptr); }
void k_gemv_bias(const CpuKernelContext& c) { gemv_rows(c, c.ptr<const float>(3)); }

void k_kv_append(const CpuKernelContext& c) {  // k, v, kc, vc, row_elems, pos
  const float* k = c.ptr<const float>(0);
  const float* v = c.ptr<const float>(1);
  auto* kc = c.ptr<std::uint16_t>(2);
  auto* vc = c.ptr<std::uint16_t>(3);
  const auto n = c.value<std::uint32_t>(4);
  const std::uint64_t row = std::uint64_t{c.value<std::uint32_t>(5)} * n;
  if ((row + n) * 2 > c.size(2)) throw Error(ErrorCode::KernelFailed, "kv_append: pos >= max_ctx");
  for (std::uint32_t i = 0; i < n; ++i) {
    kc[row + i] = llm::float_to_bf16(k[i]);
    vc[row + i] = llm::float_to_bf16(v[i]);
  }
}

// q, kc, vc, out, scratch, shape (4 x u32), kv_len, scale
void k_attention(const CpuKernelContext& c) {
  const float* q = c.ptr<const float>(0);
  const auto* kc = c.ptr<const std::uint16_t>(1);
  const auto* vc = c.ptr<const std::uint16_t>(2);
  float* out = c.ptr<float>(3);
  const auto shape = c.value<AttentionShape>(5);
  const auto kv_len = c.value<std::uint32_t>(6);
  const auto scale = c.value<float>(7);
  const std::uint32_t hd = shape.head_dim;
  const std::uint32_t kv_dim = shape.n_kv_heads * hd;
  const std::uint32_t group = shape.n_heads / shape.n_kv_heads;
  std::vector<float> scores(kv_len);
  for (std::uint32_t h = 0; h < shape.n_heads; ++h) {
    const float* qh = q + std::uint64_t{h} * hd;
    const std::uint64_t kv_off = std::uint64_t{h / group} * hd;
    float max_score = -std::numeric_limits<float>::infinity();
    for (std::uint32_t t = 0; t < kv_len; ++t) {
      float s = 0.0F;
      for (std::uint32_t i = 0; i < hd; ++i) {
        s += qh[i] * llm::bf16_to_float(kc[std::uint64_t{t} * kv_dim + kv_off + i]);
      }
      scores[t] = s * scale;
      max_score = std::max(max_score, scores[t]);
    }
    float total = 0.0F;
    for (float& s : scores) total += (s = std::exp(s - max_score));
    for (std::uint32_t i = 0; i < hd; ++i) {
      float acc = 0.0F;
      for (std::uint32_t t = 0; t < kv_len; ++t) {
        acc += scores[t] * llm::bf16_to_float(vc[std::uint64_t{t} * kv_dim + kv_off + i]);
      }
      out[std::uint64_t{h} * hd + i] = acc / total;
    }
  }
}

void k_argmax(const CpuKernelContext& c) {  // x, token, scratch, n
  const float* x = c.ptr<const float>(0);
  const auto n = c.value<std::uint32_t>(3);
  std::uint32_t best = 0;
  for (std::uint32_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  c.ptr<std::uint32_t>(1)[0] = best;
}

using P = Param;

void register_interim(KernelRegistry& r) {
  const auto u32 = [](const char* n) { return P::value<std::uint32_t>(n); };
  const auto f32 = [](const char* n) { return P::value<float>(n); };
  r.add({"interim_embedding",
         {P::in("table"), P::in("token"), P::out("out"), u32("dim")},
         OpKind::Embedding,
         k_embedding});
  r.add({"interim_rms_norm",
         {P::in("x"), P::out("y"), u32("n"), f32("eps")},
         OpKind::RmsNorm,
         k_rms_norm});
  r.add({"interim_rms_norm_mul",
         {P::in("x"), P::in("w"), P::out("y"), u32("n"), f32("eps")},
         OpKind::RmsNormMul,
         k_rms_norm_mul});
  r.add({"interim_add_rms_norm_mul",
         {P::in("a"), P::in("b"), P::in("w"), P::out("sum"), P::out("y"), u32("n"), f32("eps")},
         OpKind::AddRmsNorm,
         k_add_rms_norm_mul});
  r.add({"interim_silu_mul",
         {P::in("gate"), P::in("up"), P::out("out"), u32("n")},
         OpKind::SiluMul,
         k_silu_mul});
  r.add(
      {"interim_rope",
       {P::inout("x"), P::in("inv_freq"), u32("heads"), u32("head_dim"), u32("pos"), u32("style")},
       OpKind::Rope,
       k_rope});
  r.add({"interim_gemv",
         {P::in("w"), P::in("x"), P::out("y"), u32("rows"), u32("cols")},
         OpKind::Gemv,
         k_gemv});
  r.add({"interim_gemv_bias",
         {P::in("w"), P::in("x"), P::out("y"), P::in("bias"), u32("rows"), u32("cols")},
         OpKind::Gemv,
         k_gemv_bias});
  r.add({"interim_kv_append",
         {P::in("k"), P::in("v"), P::inout("k_cache"), P::inout("v_cache"), u32("n"), u32("pos")},
         OpKind::KvAppend,
         k_kv_append});
  r.add({"interim_attention",
         {P::in("q"), P::in("k_cache"), P::in("v_cache"), P::out("out"), P::inout("scratch"),
          P::value<AttentionShape>("shape"), u32("kv_len"), f32("scale")},
         OpKind::Sdpa,
         k_attention});
  r.add({"interim_argmax",
         {P::in("x"), P::out("token"), P::inout("scratch"), u32("n")},
         OpKind::Argmax,
         k_argmax});
}

const Launch kOne = Launch::groups(1, 1);

}  // namespace

struct OpEncoder::Kernels {
  Kernel add, mul, embedding, rms_norm, rms_norm_mul, add_rms_norm_mul, silu_mul, rope, gemv,
      gemv_bias, kv_append, attention, argmax;
};

Support can_gemv(std::uint32_t rows, std::uint32_t cols) { return {rows > 0 && cols > 0, "empty"}; }
Support can_rms_norm(std::uint32_t n) { return {n > 0, "empty"}; }
Support can_rope(std::uint32_t head_dim) { return {head_dim % 2 == 0, "odd head_dim"}; }
Support can_attention(const AttentionShape& s) {
  return {s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "heads"};
}
Support can_argmax(std::uint32_t n) { return {n > 0, "empty"}; }
std::uint64_t attention_scratch_bytes(const AttentionShape&) { return 4; }
std::uint64_t argmax_scratch_bytes(std::uint32_t) { return 4; }

OpEncoder::OpEncoder(const Device& device) {
  static std::mutex mutex;
  {
    const std::lock_guard lock(mutex);
    auto registry =
        device.options().registry ? device.options().registry : KernelRegistry::builtin();
    if (registry->find("interim_gemv") == nullptr) register_interim(*registry);
  }
  auto k = std::make_shared<Kernels>();
  const auto get = [&](const char* name) { return device.kernel(name); };
  *k = {get("add_f32"),
        get("mul_f32"),
        get("interim_embedding"),
        get("interim_rms_norm"),
        get("interim_rms_norm_mul"),
        get("interim_add_rms_norm_mul"),
        get("interim_silu_mul"),
        get("interim_rope"),
        get("interim_gemv"),
        get("interim_gemv_bias"),
        get("interim_kv_append"),
        get("interim_attention"),
        get("interim_argmax")};
  k_ = std::move(k);
}

void OpEncoder::add(Encoder& e, const BufferView& a, const BufferView& b, const BufferView& c,
                    std::string_view label) const {
  const auto n = static_cast<std::uint32_t>(c.size() / 4);
  e.dispatch(k_->add, Launch::threads(n, 256), {in(a), in(b), out(c), value(n)}, {.label = label});
}
void OpEncoder::mul(Encoder& e, const BufferView& a, const BufferView& b, const BufferView& c,
                    std::string_view label) const {
  const auto n = static_cast<std::uint32_t>(c.size() / 4);
  e.dispatch(k_->mul, Launch::threads(n, 256), {in(a), in(b), out(c), value(n)}, {.label = label});
}
void OpEncoder::silu_mul(Encoder& e, const BufferView& g, const BufferView& u, const BufferView& o,
                         std::string_view label) const {
  const auto n = static_cast<std::uint32_t>(o.size() / 4);
  e.dispatch(k_->silu_mul, kOne, {in(g), in(u), out(o), value(n)}, {.label = label});
}
void OpEncoder::rms_norm(Encoder& e, const BufferView& x, const BufferView& y, std::uint32_t n,
                         float eps, std::string_view label) const {
  check(x.size() == 4ULL * n, "rms_norm", label, "one row only in the interim ops");
  e.dispatch(k_->rms_norm, kOne, {in(x), out(y), value(n), value(eps)}, {.label = label});
}
void OpEncoder::rms_norm_mul(Encoder& e, const BufferView& x, const BufferView& w,
                             const BufferView& y, std::uint32_t n, float eps,
                             std::string_view label) const {
  e.dispatch(k_->rms_norm_mul, kOne, {in(x), in(w), out(y), value(n), value(eps)},
             {.label = label});
}
void OpEncoder::add_rms_norm_mul(Encoder& e, const BufferView& a, const BufferView& b,
                                 const BufferView& w, const BufferView& sum, const BufferView& y,
                                 std::uint32_t n, float eps, std::string_view label) const {
  e.dispatch(k_->add_rms_norm_mul, kOne,
             {in(a), in(b), in(w), out(sum), out(y), value(n), value(eps)}, {.label = label});
}
void OpEncoder::embedding(Encoder& e, const BufferView& table, const BufferView& token,
                          const BufferView& o, std::uint32_t dim, std::string_view label) const {
  e.dispatch(k_->embedding, kOne, {in(table), in(token), out(o), value(dim)}, {.label = label});
}
void OpEncoder::rope(Encoder& e, const BufferView& x, const BufferView& inv_freq,
                     std::uint32_t n_heads, std::uint32_t head_dim, const Arg& pos, RopeStyle style,
                     std::string_view label) const {
  e.dispatch(k_->rope, kOne,
             {inout(x), in(inv_freq), value(n_heads), value(head_dim), pos,
              value(static_cast<std::uint32_t>(style == RopeStyle::NeoX ? 0 : 1))},
             {.label = label});
}
void OpEncoder::gemv(Encoder& e, const BufferView& w, const BufferView& x, const BufferView& y,
                     std::uint32_t rows, std::uint32_t cols, const std::optional<BufferView>& bias,
                     std::string_view label) const {
  check(w.size() == 2ULL * rows * cols, "gemv", label, "W is not [rows, cols] bf16");
  if (bias) {
    e.dispatch(k_->gemv_bias, kOne, {in(w), in(x), out(y), in(*bias), value(rows), value(cols)},
               {.label = label});
  } else {
    e.dispatch(k_->gemv, kOne, {in(w), in(x), out(y), value(rows), value(cols)}, {.label = label});
  }
}
void OpEncoder::kv_append(Encoder& e, const BufferView& k, const BufferView& v,
                          const BufferView& kc, const BufferView& vc, std::uint32_t row_elems,
                          const Arg& pos, std::string_view label) const {
  e.dispatch(k_->kv_append, kOne, {in(k), in(v), inout(kc), inout(vc), value(row_elems), pos},
             {.label = label});
}
void OpEncoder::attention_decode(Encoder& e, const BufferView& q, const BufferView& kc,
                                 const BufferView& vc, const BufferView& o,
                                 const BufferView& scratch, const AttentionShape& shape,
                                 const Arg& kv_len, float scale, std::string_view label) const {
  e.dispatch(k_->attention, kOne,
             {in(q), in(kc), in(vc), out(o), inout(scratch), value(shape), kv_len, value(scale)},
             {.label = label});
}
void OpEncoder::argmax(Encoder& e, const BufferView& x, const BufferView& token,
                       const BufferView& scratch, std::uint32_t n, std::string_view label) const {
  e.dispatch(k_->argmax, kOne, {in(x), out(token), inout(scratch), value(n)}, {.label = label});
}

}  // namespace encore::ops
