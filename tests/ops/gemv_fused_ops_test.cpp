// gemv_fused on the CPU backend: the rms_norm prologue (with and without the residual add), the
// silu*mul epilogue and the rope + kv-cache append epilogue give bit for bit what the unfused
// sequences give (rms_norm_mul / add_rms_norm_mul, gemv, silu_mul, rope_kv_append), on every
// variant of every family with partial last blocks; the silu output against a scalar reference;
// the variant tables; and refusals.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using ops::GemvFusion;
using ops::GemvNorm;
using testing::error_from;
using testing::mentions;
using testing::random_bf16;
using testing::random_floats;
using testing::upload;

constexpr float kEps = 1e-5F;

struct Case {
  std::uint32_t rows;
  std::uint32_t cols;
  bool add = false;   // norm with the residual add (else plain norm)
  bool norm = true;   // a norm prologue at all
  bool bias = false;  // y += bias
  bool silu = false;  // silu*mul output
};

std::string describe(const Case& c) {
  return std::to_string(c.rows) + "x" + std::to_string(c.cols) + (c.norm ? " norm" : "") +
         (c.add ? "+add" : "") + (c.bias ? " bias" : "") + (c.silu ? " silu" : "");
}

// What a run leaves: y and (with the add) sum.
struct Result {
  std::vector<float> y;
  std::vector<float> sum;
  std::string kernel;
  std::uint32_t blocks = 0;  // the fused dispatch's grid
};

class GemvFusedOps : public ::testing::Test {
 protected:
  // Runs the case fused (one dispatch) or as its unfused sequence, on the same data.
  Result run(const Case& c, bool fused) {
    const std::uint32_t weight_rows = c.rows * (c.silu ? 2 : 1);
    Buffer w = upload(dev_, random_bf16(std::size_t{weight_rows} * c.cols, c.rows + c.cols, 0.2F));
    Buffer x = upload(dev_, random_floats(c.cols, 1, -2.0F, 2.0F));
    Buffer add = upload(dev_, random_floats(c.cols, 2, -1.0F, 1.0F));
    Buffer norm_w = upload(dev_, random_floats(c.cols, 3, 0.5F, 1.5F));
    Buffer bias = upload(dev_, random_floats(c.rows, 4));
    Buffer sum = dev_.alloc(std::uint64_t{c.cols} * 4);
    Buffer normed = dev_.alloc(std::uint64_t{c.cols} * 4);
    Buffer wide = dev_.alloc(std::uint64_t{weight_rows} * 4);
    Buffer y = upload(dev_, std::vector<float>(c.rows, -7.0F));
    Encoder enc = dev_.encoder();
    Result r;
    if (fused) {
      GemvFusion f;
      if (c.norm) {
        f.norm = GemvNorm{.weight = norm_w, .eps = kEps};
        if (c.add) {
          f.norm->add = add.view();
          f.norm->sum = sum.view();
        }
      }
      if (c.bias) f.bias = bias.view();
      f.silu_mul = c.silu;
      ops_.gemv_fused(enc, w, x, y, c.rows, c.cols, f, "fused");
      const Recording rec = enc.finish();
      r.kernel = std::string(rec.node(0).kernel);
      r.blocks = rec.node(0).launch.grid().x;
      dev_.submit(rec).wait();
    } else {
      BufferView input = x;
      if (c.norm && c.add) {
        ops_.add_rms_norm_mul(enc, x, add, norm_w, sum, normed, c.cols, kEps);
        input = normed;
      } else if (c.norm) {
        ops_.rms_norm_mul(enc, x, norm_w, normed, c.cols, kEps);
        input = normed;
      }
      const std::optional<BufferView> b = c.bias ? std::optional<BufferView>(bias) : std::nullopt;
      if (c.silu) {
        ops_.gemv(enc, w, input, wide, weight_rows, c.cols);
        ops_.silu_mul(enc, wide.view_of<float>(0, c.rows), wide.view_of<float>(c.rows, c.rows), y);
      } else {
        ops_.gemv(enc, w, input, y, c.rows, c.cols, b);
      }
      enc.commit_and_wait();
    }
    r.y = y.download<float>();
    r.sum = sum.download<float>();
    return r;
  }

  void expect_fused_equals_unfused(const Case& c) {
    SCOPED_TRACE(describe(c));
    const Result fused = run(c, true);
    const Result split = run(c, false);
    EXPECT_TRUE(testing::all_identical(fused.y, split.y)) << "via " << fused.kernel;
    EXPECT_TRUE(testing::all_identical(fused.sum, split.sum)) << "via " << fused.kernel;
  }

  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// The decode step's fused gemvs (Qwen2.5-0.5B and Llama-3.2-1B shapes, scaled down where only
// the row count matters) equal their unfused sequences.
TEST_F(GemvFusedOps, DecodeShapesEqualTheirUnfusedSequencesBitForBit) {
  expect_fused_equals_unfused({1152, 896, false, true, true});         // qkv + bias, first layer
  expect_fused_equals_unfused({1152, 896, true, true, true});          // qkv + bias after a layer
  expect_fused_equals_unfused({300, 2048, true});                      // qkv, Llama width
  expect_fused_equals_unfused({4864, 896, true, true, false, true});   // gate|up + silu
  expect_fused_equals_unfused({1000, 2048, true, true, false, true});  // gate|up + silu, Llama
  expect_fused_equals_unfused({896, 4864, false, false, false, false});
  expect_fused_equals_unfused({37, 896, false, false, false, true});  // silu without a norm
}

// One shape per row of each table, with a partial last block, in every family.
TEST_F(GemvFusedOps, EveryVariantOfEveryFamilyEqualsItsUnfusedSequence) {
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> plain = {
      {8197, 16}, {4099, 32}, {2051, 1024}, {1027, 2048}, {301, 4096}};
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> silu = {
      {2049, 16}, {513, 1024}, {131, 2048}};
  for (const auto& [rows, cols] : plain) {
    for (const bool add : {false, true}) {
      for (const bool bias : {false, true})
        expect_fused_equals_unfused({rows, cols, add, true, bias});
    }
  }
  std::vector<std::string> seen;
  for (const auto& [rows, cols] : silu) {
    for (const bool norm : {false, true}) {
      expect_fused_equals_unfused({rows, cols, norm, norm, false, true});
    }
    seen.push_back(run({rows, cols, true, true, false, true}, true).kernel);
  }
  std::vector<std::string> table;
  for (const ops::KernelVariant& v : ops::gemv_silu_variant_table()) {
    table.push_back("gemv_add_norm_silu_bf16_" + v.variant);
  }
  EXPECT_EQ(seen, table);
}

// The silu output against a scalar reference: y[i] = silu(g_i) * u_i with g, u the dot products
// of gate row i and up row i.
// A norm family's grid holds at most 3 blocks per multiprocessor (the CPU device's 4 threads
// here): each block forms x once and strides over the row groups, and the result is still
// the unfused sequence's bit for bit. Without a norm there is one block per row group.
TEST_F(GemvFusedOps, NormFamiliesStrideOverTheRowGroupsOfAFewBlocksPerProcessor) {
  ASSERT_EQ(dev_.limits().multiprocessors, 4U);
  const std::uint32_t resident = 3 * dev_.limits().multiprocessors;
  // 1000 rows of 64 columns: r2s1, 16 rows a block, 63 row groups; silu (pairs): r1s1, 125.
  for (const Case& c : {Case{.rows = 1000, .cols = 64}, Case{.rows = 1000, .cols = 64, .add = true},
                        Case{.rows = 1000, .cols = 64, .add = true, .silu = true},
                        Case{.rows = 1003, .cols = 64, .bias = true}}) {
    SCOPED_TRACE(describe(c));
    const Result fused = run(c, true);
    EXPECT_EQ(fused.blocks, resident) << fused.kernel;
    EXPECT_TRUE(testing::all_identical(fused.y, run(c, false).y)) << fused.kernel;
  }
  const Result plain = run({.rows = 1000, .cols = 64, .norm = false}, true);
  EXPECT_EQ(plain.blocks, 63U) << plain.kernel;
  // Fewer row groups than the cap (9 rows: r1s4, 2 rows a block): one block each.
  EXPECT_EQ(run({.rows = 9, .cols = 64}, true).blocks, 5U);
}

// The CPU device's multiprocessors are its threads.
TEST(DeviceLimits, CpuMultiprocessorsAreItsThreads) {
  for (const std::uint32_t threads : {1U, 3U}) {
    DeviceOptions options;
    options.backend = BackendKind::Cpu;
    options.cpu_threads = threads;
    EXPECT_EQ(Device::open(options).limits().multiprocessors, threads);
  }
}

TEST_F(GemvFusedOps, SiluOutputMatchesTheScalarReference) {
  const std::uint32_t rows = 70;
  const std::uint32_t cols = 256;
  const std::vector<std::uint16_t> w = random_bf16(std::size_t{2 * rows} * cols, 11, 0.3F);
  const std::vector<float> x = random_floats(cols, 12);
  Buffer wb = upload(dev_, w);
  Buffer xb = upload(dev_, x);
  Buffer y = dev_.alloc(rows * 4);
  Encoder enc = dev_.encoder();
  ops_.gemv_fused(enc, wb, xb, y, rows, cols, {.silu_mul = true});
  enc.commit_and_wait();
  const std::vector<float> got = y.download<float>();
  for (std::uint32_t i = 0; i < rows; ++i) {
    double g = 0;
    double u = 0;
    for (std::uint32_t c = 0; c < cols; ++c) {
      g += double{testing::bf16_value(w[std::size_t{i} * cols + c])} * x[c];
      u += double{testing::bf16_value(w[std::size_t{rows + i} * cols + c])} * x[c];
    }
    const double want = g / (1.0 + std::exp(-g)) * u;
    ASSERT_NEAR(got[i], want, 1e-5 * (std::fabs(want) + 1)) << i;
  }
}

// The decode shapes pick the variants the tables document.
TEST_F(GemvFusedOps, DecodeShapesPickTheirVariants) {
  EXPECT_EQ(ops::gemv_silu_variant_table().back().predicate, "otherwise");
  Buffer w = dev_.alloc(std::uint64_t{9728} * 896 * 2);
  Buffer x = dev_.alloc(896 * 4);
  Buffer add = dev_.alloc(896 * 4);
  Buffer nw = dev_.alloc(896 * 4);
  Buffer sum = dev_.alloc(896 * 4);
  Buffer y = dev_.alloc(4864 * 4);
  Encoder enc = dev_.encoder();
  ops_.gemv_fused(enc, w, x, y, 4864, 896,
                  {.norm = GemvNorm{.weight = nw, .add = BufferView(add), .sum = BufferView(sum)},
                   .silu_mul = true});
  ops_.gemv_fused(enc, w.view(0, std::uint64_t{1152} * 896 * 2), x, y.view_of<float>(0, 1152), 1152,
                  896, {.norm = GemvNorm{.weight = nw}, .bias = y.view_of<float>(2000, 1152)});
  const Recording rec = enc.finish();
  EXPECT_EQ(rec.node(0).kernel, "gemv_add_norm_silu_bf16_r1s1");
  EXPECT_EQ(rec.node(0).op, OpKind::Gemv);
  EXPECT_EQ(rec.node(1).kernel, "gemv_norm_bias_bf16_r2s1");
}

// Shapes and views the kernels cannot take are refused before anything is recorded, naming the
// op, the label and the view.
TEST_F(GemvFusedOps, BadShapesAndViewsAreRefused) {
  EXPECT_TRUE(mentions(ops::can_gemv_fused(16, 16384, true, false).reason, "at most 12288"));
  EXPECT_TRUE(ops::can_gemv_fused(16, 16384, false, true));
  EXPECT_FALSE(ops::can_gemv_fused(16, 12, false, false));
  Buffer w = dev_.alloc(32 * 64 * 2);
  Buffer x = dev_.alloc(64 * 4);
  Buffer nw = dev_.alloc(64 * 4);
  Buffer act = dev_.alloc(4 * 64 * 4);
  const BufferView add = act.view_of<float>(0, 64);
  const BufferView sum = act.view_of<float>(64, 64);
  const BufferView y = act.view_of<float>(128, 16);
  Encoder enc = dev_.encoder();
  const auto fused = [&](const BufferView& yv, const GemvFusion& f) {
    ops_.gemv_fused(enc, w.view(0, 16 * 64 * 2 * (f.silu_mul ? 2 : 1)), x, yv, 16, 64, f,
                    "blk.1.ffn_gate_up");
  };
  const GemvNorm with_add{.weight = nw, .add = add, .sum = sum};
  Error e = error_from([&] { fused(y, {.norm = GemvNorm{.weight = nw, .add = add}}); });
  EXPECT_TRUE(mentions(e.what(), "gemv_fused 'blk.1.ffn_gate_up'"));
  EXPECT_TRUE(mentions(e.what(), "add and sum come together"));
  e = error_from([&] {
    fused(y, {.norm = GemvNorm{.weight = nw, .add = add, .sum = act.view_of<float>(32, 64)}});
  });
  EXPECT_TRUE(mentions(e.what(), "sum overlaps add"));
  e = error_from([&] { fused(act.view_of<float>(96, 16), {.norm = with_add}); });
  EXPECT_TRUE(mentions(e.what(), "y overlaps sum"));
  e = error_from([&] { fused(y, {.norm = with_add, .bias = y, .silu_mul = true}); });
  EXPECT_TRUE(mentions(e.what(), "bias does not combine with silu_mul"));
  e = error_from([&] { fused(y, {.norm = GemvNorm{.weight = nw, .eps = NAN}}); });
  EXPECT_TRUE(mentions(e.what(), "eps must be finite"));
  e = error_from(
      [&] { fused(y, {.norm = GemvNorm{.weight = nw, .add = act.view(4, 256), .sum = sum}}); });
  EXPECT_TRUE(mentions(e.what(), "add starts at byte offset 4"));
  e = error_from([&] { fused(y, {.norm = GemvNorm{.weight = nw.view(0, 128)}}); });
  EXPECT_TRUE(mentions(e.what(), "norm weight holds 32 elements, expected 64"));
  e = error_from(
      [&] { ops_.gemv_fused(enc, w.view(0, 16 * 64 * 2), x, y, 16, 64, {.silu_mul = true}); });
  EXPECT_TRUE(mentions(e.what(), "w holds 1024 elements, expected 2048"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
  fused(y, {.norm = with_add, .silu_mul = true});
  EXPECT_EQ(enc.dispatch_count(), 1U);
}

// The rope + kv-cache append epilogue of the q|k|v gemv leaves what gemv followed by
// rope_kv_append leaves (q, both caches), bit for bit: with and without a bias, with the norm
// prologue (and its add), both rope styles, positions inside and past the cache; staged (one-row
// caches), the same q and the row rope_kv_append writes at pos.
TEST_F(GemvFusedOps, RopeKvEpilogueEqualsGemvThenRopeKvAppendBitForBit) {
  struct Shape {
    std::uint32_t heads, kv_heads, head_dim, cols;
  };
  constexpr std::uint32_t kRows = 4;  // cache rows
  for (const Shape s :
       {Shape{14, 2, 64, 896}, Shape{8, 2, 128, 256}, Shape{3, 1, 8, 64}, Shape{4, 2, 16, 1024}}) {
    const std::uint32_t q_rows = s.heads * s.head_dim;
    const std::uint32_t kv_rows = s.kv_heads * s.head_dim;
    const std::uint32_t rows = q_rows + 2 * kv_rows;
    Buffer w = upload(dev_, random_bf16(std::size_t{rows} * s.cols, rows, 0.2F));
    Buffer x = upload(dev_, random_floats(s.cols, 5, -2.0F, 2.0F));
    Buffer add = upload(dev_, random_floats(s.cols, 6));
    Buffer norm_w = upload(dev_, random_floats(s.cols, 7, 0.5F, 1.5F));
    Buffer bias = upload(dev_, random_floats(rows, 8));
    std::vector<float> inv(s.head_dim / 2);
    for (std::uint32_t j = 0; j < inv.size(); ++j) inv[j] = std::pow(1e4F, -2.0F * j / s.head_dim);
    Buffer inv_freq = upload(dev_, inv);
    for (const bool with_bias : {false, true}) {
      for (const bool with_norm : {false, true}) {
        for (const ops::RopeStyle style : {ops::RopeStyle::NeoX, ops::RopeStyle::Interleaved}) {
          SCOPED_TRACE(std::to_string(s.heads) + "/" + std::to_string(s.kv_heads) + " heads of " +
                       std::to_string(s.head_dim) + (with_bias ? ", bias" : "") +
                       (with_norm ? ", add+norm" : "") +
                       (style == ops::RopeStyle::NeoX ? ", neox" : ", interleaved"));
          GemvFusion f;
          if (with_bias) f.bias = bias.view();
          Buffer sum = dev_.alloc(std::uint64_t{s.cols} * 4);
          if (with_norm) {
            f.norm = GemvNorm{.weight = norm_w, .eps = kEps, .add = add.view(), .sum = sum.view()};
          }
          // Unfused: the gemv into qkv, then rope_kv_append; fused: one dispatch.
          Buffer qkv = dev_.alloc(std::uint64_t{rows} * 4);
          Buffer q = dev_.alloc(std::uint64_t{q_rows} * 4);
          const std::vector<std::uint16_t> fill(std::size_t{kRows} * kv_rows, 0x1357);
          Buffer kc[2] = {upload(dev_, fill), upload(dev_, fill)};
          Buffer vc[2] = {upload(dev_, fill), upload(dev_, fill)};
          Encoder enc = dev_.encoder();
          ops_.gemv_fused(enc, w, x, qkv, rows, s.cols, f);
          ops_.rope_kv_append(
              enc, qkv.view_of<float>(0, q_rows), qkv.view_of<float>(q_rows, kv_rows),
              qkv.view_of<float>(q_rows + kv_rows, kv_rows), inv_freq, kc[0], vc[0], s.heads,
              s.kv_heads, s.head_dim, slot<std::uint32_t>("pos", 0), style);
          f.rope_kv = ops::GemvRopeKv{.inv_freq = inv_freq,
                                      .k_cache = kc[1],
                                      .v_cache = vc[1],
                                      .n_heads = s.heads,
                                      .n_kv_heads = s.kv_heads,
                                      .head_dim = s.head_dim,
                                      .pos = slot<std::uint32_t>("pos", 0),
                                      .style = style};
          ops_.gemv_fused(enc, w, x, q, rows, s.cols, f, "blk.0.qkv");
          // Staged: the same k and v rows into one-row caches whatever pos.
          Buffer q_staged = dev_.alloc(std::uint64_t{q_rows} * 4);
          Buffer ks = dev_.alloc(std::uint64_t{kv_rows} * 2);
          Buffer vs = dev_.alloc(std::uint64_t{kv_rows} * 2);
          f.rope_kv->k_cache = ks;
          f.rope_kv->v_cache = vs;
          f.rope_kv->staged = true;
          if (with_norm) f.norm->sum = dev_.alloc(std::uint64_t{s.cols} * 4).view();
          ops_.gemv_fused(enc, w, x, q_staged, rows, s.cols, f, "blk.0.qkv_staged");
          Recording rec = enc.finish();
          EXPECT_EQ(rec.node(rec.node_count() - 1).op, OpKind::Gemv);
          for (const std::uint32_t pos : {0U, 3U, kRows, 1000U, 1U}) {
            rec.set("pos", pos);
            dev_.submit(rec).wait();
            const std::vector<float> all = qkv.download<float>();
            EXPECT_TRUE(testing::all_identical(
                q.download<float>(), std::vector<float>(all.begin(), all.begin() + q_rows)))
                << "pos " << pos;
            EXPECT_EQ(kc[1].download<std::uint16_t>(), kc[0].download<std::uint16_t>()) << pos;
            EXPECT_EQ(vc[1].download<std::uint16_t>(), vc[0].download<std::uint16_t>()) << pos;
            EXPECT_TRUE(testing::all_identical(q_staged.download<float>(), q.download<float>()));
            if (pos < kRows) {
              const std::vector<std::uint16_t> k_all = kc[0].download<std::uint16_t>();
              const std::vector<std::uint16_t> v_all = vc[0].download<std::uint16_t>();
              const auto row = [&](const std::vector<std::uint16_t>& cache) {
                return std::vector<std::uint16_t>(cache.begin() + pos * kv_rows,
                                                  cache.begin() + (pos + 1) * kv_rows);
              };
              EXPECT_EQ(ks.download<std::uint16_t>(), row(k_all)) << "staged k, pos " << pos;
              EXPECT_EQ(vs.download<std::uint16_t>(), row(v_all)) << "staged v, pos " << pos;
            }
          }
          EXPECT_NE(kc[1].download<std::uint16_t>(), fill);  // rows were written
        }
      }
    }
  }
}

// The rope epilogue's shapes and views are checked like rope_kv_append's.
TEST_F(GemvFusedOps, RopeKvEpilogueRefusesBadShapesAndOverlaps) {
  const std::uint32_t rows = (4 + 2 * 2) * 64;
  Buffer w = dev_.alloc(std::uint64_t{rows} * 64 * 2);
  Buffer x = dev_.alloc(64 * 4);
  Buffer inv = dev_.alloc(32 * 4);
  Buffer caches = dev_.alloc(2 * 8 * 128 * 2);
  Buffer q = dev_.alloc(4 * 64 * 4);
  const BufferView kc = caches.view(0, 8 * 128 * 2);
  const BufferView vc = caches.view(8 * 128 * 2, 8 * 128 * 2);
  Encoder enc = dev_.encoder();
  const auto fused = [&](std::uint32_t n_rows, const BufferView& y, const BufferView& k_cache,
                         bool silu) {
    ops_.gemv_fused(enc, w.view(0, std::uint64_t{n_rows} * 64 * 2 * (silu ? 2 : 1)), x, y, n_rows,
                    64,
                    {.silu_mul = silu,
                     .rope_kv = ops::GemvRopeKv{.inv_freq = inv,
                                                .k_cache = k_cache,
                                                .v_cache = vc,
                                                .n_heads = 4,
                                                .n_kv_heads = 2,
                                                .head_dim = 64}},
                    "blk.4.qkv");
  };
  Error e = error_from([&] { fused(rows - 64, q, kc, false); });
  EXPECT_TRUE(mentions(e.what(), "gemv_fused 'blk.4.qkv'"));
  EXPECT_TRUE(mentions(e.what(), "rows must be (n_heads + 2 n_kv_heads) * head_dim = 512"));
  e = error_from([&] { fused(rows / 2, q, kc, true); });
  EXPECT_TRUE(mentions(e.what(), "rope_kv does not combine with silu_mul"));
  e = error_from([&] { fused(rows, q, caches.view(0, 100 * 2), false); });
  EXPECT_TRUE(mentions(e.what(), "n_kv_heads * head_dim = 128"));
  e = error_from([&] { fused(rows, caches.view(0, 4 * 64 * 4), kc, false); });
  EXPECT_TRUE(mentions(e.what(), "y overlaps k_cache"));
  e = error_from([&] {
    ops_.gemv_fused(enc, w.view(0, std::uint64_t{rows} * 64 * 2), x, q, rows, 64,
                    {.rope_kv = ops::GemvRopeKv{.inv_freq = inv,
                                                .k_cache = kc,
                                                .v_cache = vc,
                                                .n_heads = 4,
                                                .n_kv_heads = 2,
                                                .head_dim = 64,
                                                .staged = true}},
                    "blk.4.qkv");
  });
  EXPECT_TRUE(mentions(e.what(), "a staged k_cache is one row of n_kv_heads * head_dim = 128"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
  fused(rows, q, kc, false);
  EXPECT_EQ(enc.dispatch_count(), 1U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
