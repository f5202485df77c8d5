// attention_decode on the CPU backend against a plain softmax-attention reference: GQA groups of
// 1 to 8, head_dim 64 and 128, kv_len from 1 to max_ctx on one recording (kv_len a slot, so the
// launch shape must not depend on it), kv_len 0 and past max_ctx; the split plan (active splits
// follow kv_len), the merge reading active splits only and leaving its tickets at zero, and
// refusals. attention_o_decode (attention then the o projection in one dispatch) against the
// same reference times W_o, and its refusals.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "core/early_reads.h"
#include "ops/attention/attention.h"
#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using ops::AttentionShape;
using testing::all_near;
using testing::error_from;
using testing::mentions;
using testing::upload;

constexpr testing::Tolerance kTol{1e-6, 1e-5};

// out[h] = sum_t softmax_t(q_h . k_t * scale) v_t over t < kv_len, kv head h / group.
std::vector<float> reference_attention(const std::vector<float>& q,
                                       const std::vector<std::uint16_t>& k,
                                       const std::vector<std::uint16_t>& v, const AttentionShape& s,
                                       std::uint32_t kv_len, float scale) {
  const std::uint32_t d = s.head_dim;
  const std::uint32_t group = s.n_heads / s.n_kv_heads;
  std::vector<float> out(std::size_t{s.n_heads} * d, 0.0F);
  for (std::uint32_t h = 0; h < s.n_heads; ++h) {
    const std::uint32_t kvh = h / group;
    std::vector<double> score(kv_len);
    for (std::uint32_t t = 0; t < kv_len; ++t) {
      double dot = 0;
      for (std::uint32_t i = 0; i < d; ++i) {
        dot += double{q[std::size_t{h} * d + i]} *
               testing::bf16_value(k[(std::size_t{t} * s.n_kv_heads + kvh) * d + i]);
      }
      score[t] = dot * scale;
    }
    const double m = kv_len ? *std::max_element(score.begin(), score.end()) : 0.0;
    double sum = 0;
    for (double& x : score) sum += (x = std::exp(x - m));
    for (std::uint32_t i = 0; i < d; ++i) {
      double acc = 0;
      for (std::uint32_t t = 0; t < kv_len; ++t) {
        acc += score[t] * testing::bf16_value(v[(std::size_t{t} * s.n_kv_heads + kvh) * d + i]);
      }
      out[std::size_t{h} * d + i] = kv_len ? static_cast<float>(acc / sum) : 0.0F;
    }
  }
  return out;
}

class AttentionOps : public ::testing::Test {
 protected:
  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// One recording per shape, replayed for kv_len from 1 to max_ctx (and 0 and past the end).
TEST_F(AttentionOps, MatchesTheReferenceForEveryLengthOnOneRecording) {
  const std::vector<AttentionShape> shapes = {{4, 1, 64, 40},   {14, 2, 64, 300}, {32, 8, 64, 512},
                                              {8, 8, 128, 100}, {8, 1, 128, 33},  {2, 1, 64, 2000},
                                              {16, 1, 128, 200}};
  for (const AttentionShape& s : shapes) {
    const std::uint32_t d = s.head_dim;
    const auto [q, k, v] = testing::attention_inputs(s, s.max_ctx, 1);
    const float scale = 1.0F / std::sqrt(static_cast<float>(d));
    Buffer qb = upload(dev_, q);
    Buffer kb = upload(dev_, k);
    Buffer vb = upload(dev_, v);
    Buffer out = dev_.alloc(q.size() * 4);
    Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
    Encoder enc = dev_.encoder();
    ops_.attention_decode(enc, qb, kb, vb, out, scratch, s, slot<std::uint32_t>("kv_len", 1), scale,
                          "blk.0.attn");
    Recording rec = enc.finish();
    ASSERT_EQ(rec.dispatch_count(), 1U);
    EXPECT_EQ(rec.node(0).op, OpKind::Sdpa);
    for (const std::uint32_t kv_len :
         {1U, 2U, 7U, s.max_ctx / 2 + 3, s.max_ctx - 1, s.max_ctx, 0U}) {
      SCOPED_TRACE("heads " + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) +
                   ", head_dim " + std::to_string(d) + ", max_ctx " + std::to_string(s.max_ctx) +
                   ", kv_len " + std::to_string(kv_len));
      rec.set("kv_len", kv_len);
      dev_.submit(rec).wait();
      EXPECT_TRUE(
          all_near(out.download<float>(), reference_attention(q, k, v, s, kv_len, scale), kTol));
    }
    // Past max_ctx the length is clamped to max_ctx.
    rec.set("kv_len", s.max_ctx + 10);
    dev_.submit(rec).wait();
    EXPECT_TRUE(
        all_near(out.download<float>(), reference_attention(q, k, v, s, s.max_ctx, scale), kTol));
  }
}

// One cached row: attention returns its value row for every q head of the group.
TEST_F(AttentionOps, OneRowReturnsItsValues) {
  const AttentionShape s{4, 2, 64, 16};
  const std::vector<std::uint16_t> v = testing::random_bf16(std::size_t{16} * 2 * 64, 3);
  Buffer q = upload(dev_, testing::random_floats(4 * 64, 4));
  Buffer k = upload(dev_, testing::random_bf16(v.size(), 5));
  Buffer vb = upload(dev_, v);
  Buffer out = dev_.alloc(4 * 64 * 4);
  Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
  Encoder enc = dev_.encoder();
  ops_.attention_decode(enc, q, k, vb, out, scratch, s, value(1U), 0.125F);
  enc.commit_and_wait();
  const std::vector<float> got = out.download<float>();
  for (std::uint32_t h = 0; h < 4; ++h) {
    for (std::uint32_t i = 0; i < 64; ++i) {
      ASSERT_EQ(got[h * 64 + i], testing::bf16_value(v[(h / 2) * 64 + i])) << h << ", " << i;
    }
  }
}

// The number of active splits follows kv_len: about one per min_rows rows, at most the launched
// n_splits, every active split non-empty.
TEST(AttentionPlan, ActiveSplitsFollowTheKvLength) {
  for (const AttentionShape& s : {AttentionShape{14, 2, 64, 512}, AttentionShape{32, 8, 64, 8192},
                                  AttentionShape{8, 1, 128, 33}, AttentionShape{4, 4, 64, 1}}) {
    const ops::detail::AttentionPlan plan = ops::detail::attention_plan(s);
    ASSERT_GT(plan.n_splits, 0U);
    ASSERT_EQ(plan.n_splits % ops::detail::kAttentionClusterSplits, 0U);  // whole clusters
    EXPECT_LE(plan.min_rows, s.max_ctx);
    const ops::detail::AttentionParams p{.n_heads = s.n_heads,
                                         .n_kv_heads = s.n_kv_heads,
                                         .head_dim = s.head_dim,
                                         .max_ctx = s.max_ctx,
                                         .n_splits = plan.n_splits,
                                         .min_rows = plan.min_rows,
                                         .scale = 1.0F,
                                         .cluster_splits = ops::detail::kAttentionClusterSplits};
    for (std::uint32_t kv_len = 1; kv_len <= s.max_ctx; ++kv_len) {
      SCOPED_TRACE("max_ctx " + std::to_string(s.max_ctx) + ", kv_len " + std::to_string(kv_len));
      const ops::detail::AttentionSplits sp = ops::detail::attention_split_plan(p, kv_len);
      ASSERT_GE(sp.active, 1U);
      ASSERT_LE(sp.active, plan.n_splits);
      ASSERT_LT((sp.active - 1) * sp.chunk, kv_len);  // the last active split has rows
      ASSERT_GE(sp.active * sp.chunk, kv_len);        // the active splits cover every row
      // One split per min_rows rows; up to twice a cluster's splits, the cluster's splits only
      // (chunks of at most 2 min_rows rows), which merge in the cluster.
      const std::uint32_t wanted = (kv_len + plan.min_rows - 1) / plan.min_rows;
      const std::uint32_t cluster = ops::detail::kAttentionClusterSplits;
      ASSERT_EQ(sp.cluster, wanted <= 2 * cluster);
      ASSERT_EQ(sp.active, std::min(wanted, sp.cluster ? cluster : plan.n_splits));
      if (sp.cluster) {
        ASSERT_LE(sp.chunk, 2 * plan.min_rows);
      }
    }
    // Without clusters (attention_o_decode's kernel), always one split per min_rows rows.
    ops::detail::AttentionParams flat = p;
    flat.cluster_splits = 0;
    for (std::uint32_t kv_len = 1; kv_len <= s.max_ctx; kv_len += 7) {
      const ops::detail::AttentionSplits sp = ops::detail::attention_split_plan(flat, kv_len);
      ASSERT_FALSE(sp.cluster);
      ASSERT_EQ(sp.active, std::min((kv_len + plan.min_rows - 1) / plan.min_rows, plan.n_splits));
    }
    EXPECT_EQ(ops::detail::attention_split_plan(p, 0).active, 1U);
  }
  // Decode shapes: Qwen2.5-0.5B at 512 positions uses 8 splits of 64 rows (one batch of loads
  // each), not 128 of 4, merged in a cluster; at 600, 8 of 75; at 2048, 32 splits merged by
  // ticket. head_dim 128 takes 32-row batches.
  const ops::detail::AttentionPlan qwen = ops::detail::attention_plan({14, 2, 64, 8192});
  EXPECT_EQ(qwen.n_splits, 40U);  // about 512 blocks over 14 q heads, whole clusters
  const ops::detail::AttentionParams qwen_params{.n_heads = 14,
                                                 .n_kv_heads = 2,
                                                 .head_dim = 64,
                                                 .max_ctx = 8192,
                                                 .n_splits = qwen.n_splits,
                                                 .min_rows = qwen.min_rows,
                                                 .scale = 1.0F,
                                                 .cluster_splits = 8};
  const ops::detail::AttentionSplits at512 = ops::detail::attention_split_plan(qwen_params, 512);
  EXPECT_EQ(at512.active, 8U);
  EXPECT_TRUE(at512.cluster);
  EXPECT_EQ(ops::detail::attention_split_plan(qwen_params, 600).chunk, 75U);
  const ops::detail::AttentionSplits at2048 = ops::detail::attention_split_plan(qwen_params, 2048);
  EXPECT_EQ(at2048.active, 32U);
  EXPECT_FALSE(at2048.cluster);
  EXPECT_EQ(ops::detail::attention_plan({32, 8, 128, 8192}).min_rows, 32U);
}

// Stale partial results of splits that kv_len leaves inactive are never read by the merge, and
// the merge leaves every ticket at zero, so a scratch shared by consecutive dispatches (one per
// layer) works for every replay.
TEST_F(AttentionOps, MergeReadsActiveSplitsOnlyAndLeavesTheTicketsAtZero) {
  const AttentionShape s{8, 2, 64, 1024};
  const auto [q, k, v] = testing::attention_inputs(s, 9, 10);
  const float scale = 0.125F;
  const std::uint64_t words = ops::attention_scratch_bytes(s) / 4;
  const std::uint64_t ticket_words = s.n_heads;
  // Partial results that would dominate any merge they entered: m huge, l and acc non-zero.
  std::vector<float> stale(words, 1.0e6F);
  for (std::uint64_t i = words - ticket_words; i < words; ++i) stale[i] = 0.0F;
  Buffer qb = upload(dev_, q);
  Buffer kb = upload(dev_, k);
  Buffer vb = upload(dev_, v);
  Buffer out1 = dev_.alloc(q.size() * 4);
  Buffer out2 = dev_.alloc(q.size() * 4);
  Buffer scratch = upload(dev_, stale);
  Encoder enc = dev_.encoder();
  ops_.attention_decode(enc, qb, kb, vb, out1, scratch, s, slot<std::uint32_t>("kv_len", 1), scale);
  ops_.attention_decode(enc, qb, kb, vb, out2, scratch, s, slot<std::uint32_t>("kv_len", 1), scale);
  Recording rec = enc.finish();
  for (const std::uint32_t kv_len : {100U, 33U, 1024U, 64U, 2U}) {
    SCOPED_TRACE("kv_len " + std::to_string(kv_len));
    rec.set("kv_len", kv_len);
    dev_.submit(rec).wait();
    const std::vector<float> want = reference_attention(q, k, v, s, kv_len, scale);
    EXPECT_TRUE(all_near(out1.download<float>(), want, kTol));
    EXPECT_TRUE(all_near(out2.download<float>(), want, kTol));
    const std::vector<std::uint32_t> words_now = scratch.download<std::uint32_t>();
    for (std::uint64_t i = words - ticket_words; i < words; ++i) ASSERT_EQ(words_now[i], 0U) << i;
  }
}

// Shapes the kernels do not cover, and views of the wrong size, are refused.
TEST_F(AttentionOps, UnsupportedShapesAndViewsAreRefused) {
  EXPECT_TRUE(mentions(ops::can_attention({12, 8, 64, 16}).reason, "does not divide"));
  EXPECT_TRUE(ops::can_attention({32, 2, 64, 16}));  // any group size: one block per q head
  EXPECT_TRUE(mentions(ops::can_attention({8, 8, 96, 16}).reason, "64 or 128"));
  EXPECT_TRUE(mentions(ops::can_attention({8, 8, 64, 0}).reason, "max_ctx"));
  EXPECT_TRUE(ops::can_attention({32, 8, 64, 131072}));
  EXPECT_EQ(ops::attention_scratch_bytes({8, 8, 96, 16}), 0U);

  const AttentionShape s{4, 2, 64, 16};
  Buffer q = dev_.alloc(4 * 64 * 4);
  Buffer cache = dev_.alloc(16 * 2 * 64 * 2);
  Buffer small = dev_.alloc(4);
  Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
  Encoder enc = dev_.encoder();
  Error e = error_from([&] {
    ops_.attention_decode(enc, q, cache, cache, q, small, s, value(1U), 1.0F, "blk.3.attn");
  });
  EXPECT_TRUE(mentions(e.what(), "attention_decode 'blk.3.attn'"));
  EXPECT_TRUE(mentions(e.what(), "scratch holds 4 bytes"));
  e = error_from(
      [&] { ops_.attention_decode(enc, q, small, cache, q, scratch, s, value(1U), 1.0F); });
  EXPECT_TRUE(mentions(e.what(), "k_cache holds 2"));
  e = error_from([&] {
    ops_.attention_decode(enc, q, cache, cache, q, scratch, {4, 3, 64, 16}, value(1U), 1.0F);
  });
  EXPECT_TRUE(mentions(e.what(), "does not divide"));
  e = error_from([&] { ops_.attention_decode(enc, q, cache, cache, q, scratch, s, in(q), 1.0F); });
  EXPECT_TRUE(mentions(e.what(), "kv_len must be a u32"));
  e = error_from(
      [&] { ops_.attention_decode(enc, q, cache, cache, q, scratch, s, value(1U), 1.0F); });
  EXPECT_TRUE(mentions(e.what(), "out overlaps q"));
  Buffer out = dev_.alloc(4 * 64 * 4 + ops::attention_scratch_bytes(s));
  e = error_from([&] {
    ops_.attention_decode(enc, q, cache, cache, out.view(0, 4 * 64 * 4),
                          out.view(512, ops::attention_scratch_bytes(s)), s, value(1U), 1.0F);
  });
  EXPECT_TRUE(mentions(e.what(), "out overlaps scratch"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// With an append, row kv_len - 1 comes from the staged k and v and is written into the caches:
// the output is the reference over the caches with that row replaced (for every length on one
// recording, the caches reset before each), the caches change in that row only; past max_ctx
// nothing is written and the length is clamped, kv_len 0 writes zeros and no row.
TEST_F(AttentionOps, AppendAttendsToTheStagedRowAndWritesItIntoTheCaches) {
  for (const AttentionShape& s : {AttentionShape{14, 2, 64, 300}, AttentionShape{8, 1, 128, 100},
                                  AttentionShape{4, 4, 64, 2000}}) {
    const std::uint32_t d = s.head_dim;
    const std::size_t row = std::size_t{s.n_kv_heads} * d;
    const auto [q, k, v] = testing::attention_inputs(s, 6, 7);
    const std::vector<std::uint16_t> k_new = testing::random_bf16(row, 9, 2.0F);
    const std::vector<std::uint16_t> v_new = testing::random_bf16(row, 10);
    const float scale = 1.0F / std::sqrt(static_cast<float>(d));
    Buffer qb = upload(dev_, q);
    Buffer kb = upload(dev_, k);
    Buffer vb = upload(dev_, v);
    Buffer kn = upload(dev_, k_new);
    Buffer vn = upload(dev_, v_new);
    Buffer out = dev_.alloc(q.size() * 4);
    Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
    Encoder enc = dev_.encoder();
    ops_.attention_decode(enc, qb, kb, vb, out, scratch, s, slot<std::uint32_t>("kv_len", 1), scale,
                          "blk.0.attn", ops::AttentionAppend{kn, vn});
    Recording rec = enc.finish();
    ASSERT_EQ(rec.dispatch_count(), 1U);
    EXPECT_EQ(rec.node(0).kernel, "attention_append_decode_hd" + std::to_string(d) + "_bf16");
    for (const std::uint32_t kv_len :
         {1U, 2U, 64U, 65U, s.max_ctx / 2 + 3, s.max_ctx, s.max_ctx + 5, 0U}) {
      SCOPED_TRACE("max_ctx " + std::to_string(s.max_ctx) + ", kv_len " + std::to_string(kv_len));
      kb.upload(std::span<const std::uint16_t>(k));
      vb.upload(std::span<const std::uint16_t>(v));
      rec.set("kv_len", kv_len);
      dev_.submit(rec).wait();
      std::vector<std::uint16_t> k_want = k;
      std::vector<std::uint16_t> v_want = v;
      if (kv_len >= 1 && kv_len <= s.max_ctx) {
        std::copy(k_new.begin(), k_new.end(), k_want.begin() + (kv_len - 1) * row);
        std::copy(v_new.begin(), v_new.end(), v_want.begin() + (kv_len - 1) * row);
      }
      EXPECT_EQ(kb.download<std::uint16_t>(), k_want);
      EXPECT_EQ(vb.download<std::uint16_t>(), v_want);
      EXPECT_TRUE(all_near(
          out.download<float>(),
          reference_attention(q, k_want, v_want, s, std::min(kv_len, s.max_ctx), scale), kTol));
    }
  }
}

// The append's staged rows must be whole kv rows that overlap nothing the dispatch writes.
TEST_F(AttentionOps, AppendRefusesBadStagedRows) {
  const AttentionShape s{4, 2, 64, 16};
  Buffer q = dev_.alloc(4 * 64 * 4);
  Buffer out = dev_.alloc(4 * 64 * 4);
  Buffer k = dev_.alloc(16 * 2 * 64 * 2);
  Buffer v = dev_.alloc(16 * 2 * 64 * 2);
  Buffer row = dev_.alloc(2 * 64 * 2);
  Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
  Encoder enc = dev_.encoder();
  Error e = error_from([&] {
    ops_.attention_decode(enc, q, k, v, out, scratch, s, value(1U), 1.0F, "blk.1.attn",
                          ops::AttentionAppend{row.view(0, 64), row});
  });
  EXPECT_TRUE(mentions(e.what(), "attention_decode 'blk.1.attn'"));
  EXPECT_TRUE(mentions(e.what(), "append.k"));
  e = error_from([&] {
    ops_.attention_decode(enc, q, k, v, out, scratch, s, value(1U), 1.0F, "blk.1.attn",
                          ops::AttentionAppend{row, k.view(0, 2 * 64 * 2)});
  });
  EXPECT_TRUE(mentions(e.what(), "append.v overlaps k_cache"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// The caches of an appending attention are read before its wait: a dispatch before it that
// writes them (here kv_append) is an early-read hazard, and takes it out of the programmatic
// chain; the staged rows alone are not.
TEST_F(AttentionOps, AppendAfterACacheWriterIsAnEarlyReadHazard) {
  const AttentionShape s{4, 2, 64, 16};
  Buffer q = dev_.alloc(4 * 64 * 4);
  Buffer out = dev_.alloc(4 * 64 * 4);
  Buffer k = dev_.alloc(16 * 2 * 64 * 2);
  Buffer v = dev_.alloc(16 * 2 * 64 * 2);
  Buffer kn = dev_.alloc(2 * 64 * 2);
  Buffer vn = dev_.alloc(2 * 64 * 2);
  Buffer kf = dev_.alloc(2 * 64 * 4);
  Buffer scratch = dev_.alloc(ops::attention_scratch_bytes(s));
  for (const bool writes_cache : {false, true}) {
    Encoder enc = dev_.encoder();
    if (writes_cache) {
      ops_.kv_append(enc, kf, kf, k, v, 2 * 64, value(0U));
    } else {
      ops_.kv_append(enc, kf, kf, kn.view(), vn.view(), 2 * 64, value(0U));
    }
    ops_.attention_decode(enc, q, k, v, out, scratch, s, value(1U), 1.0F, "attn",
                          ops::AttentionAppend{kn, vn});
    const Recording rec = enc.finish();
    const std::vector<std::uint8_t> hazards = detail::early_read_hazards(rec.commands());
    ASSERT_EQ(hazards.size(), 2U);
    EXPECT_EQ(hazards[1], writes_cache ? 1 : 0) << writes_cache;
  }
}

// y[r] = sum_c W[r, c] x[c] in double, with the per-row sum of |W x| for the tolerance.
struct Projection {
  std::vector<float> y;
  std::vector<double> magnitude;
};
Projection project(const std::vector<std::uint16_t>& w, const std::vector<float>& x,
                   std::uint32_t rows) {
  const std::size_t cols = x.size();
  Projection p{std::vector<float>(rows), std::vector<double>(rows)};
  for (std::uint32_t r = 0; r < rows; ++r) {
    double sum = 0;
    double magnitude = 0;
    for (std::size_t c = 0; c < cols; ++c) {
      const double term = double{testing::bf16_value(w[r * cols + c])} * x[c];
      sum += term;
      magnitude += std::fabs(term);
    }
    p.y[r] = static_cast<float>(sum);
    p.magnitude[r] = magnitude;
  }
  return p;
}

::testing::AssertionResult projection_near(const std::vector<float>& got, const Projection& want) {
  for (std::size_t r = 0; r < got.size(); ++r) {
    const double err = std::fabs(double{got[r]} - want.y[r]);
    if (!(err <= 1e-5 * want.magnitude[r] + 1e-6)) {
      return ::testing::AssertionFailure()
             << "row " << r << ": got " << got[r] << ", want " << want.y[r] << " (sum |w x| "
             << want.magnitude[r] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// attention_o_decode = the reference attention times W_o, for every length on one recording
// (kv_len a slot), kv_len 0 (y = 0) and past max_ctx (clamped), GQA groups and both head dims.
TEST_F(AttentionOps, AttentionOMatchesTheProjectedReferenceForEveryLength) {
  struct Case {
    AttentionShape shape;
    std::uint32_t rows;
  };
  for (const Case& c : {Case{{4, 1, 64, 40}, 24}, Case{{14, 2, 64, 300}, 896},
                        Case{{8, 8, 128, 100}, 130}, Case{{16, 2, 128, 70}, 7}}) {
    const AttentionShape& s = c.shape;
    const std::uint32_t d = s.head_dim;
    const std::size_t q_dim = std::size_t{s.n_heads} * d;
    const auto [q, k, v] = testing::attention_inputs(s, s.max_ctx, 1);
    const std::vector<std::uint16_t> w = testing::random_bf16(c.rows * q_dim, 3);
    const float scale = 1.0F / std::sqrt(static_cast<float>(d));
    ASSERT_TRUE(ops_.attention_o_support(s, c.rows));
    Buffer qb = upload(dev_, q);
    Buffer kb = upload(dev_, k);
    Buffer vb = upload(dev_, v);
    Buffer wb = upload(dev_, w);
    Buffer y = dev_.alloc(std::size_t{c.rows} * 4);
    Buffer scratch = dev_.alloc(ops_.attention_o_scratch_bytes(s, c.rows));
    Encoder enc = dev_.encoder();
    ops_.attention_o_decode(enc, qb, kb, vb, wb, y, scratch, s, c.rows,
                            slot<std::uint32_t>("kv_len", 1), scale, "blk.0.attention_o");
    Recording rec = enc.finish();
    ASSERT_EQ(rec.dispatch_count(), 1U);
    EXPECT_EQ(rec.node(0).op, OpKind::Sdpa);
    for (const std::uint32_t kv_len : {1U, 2U, s.max_ctx / 2 + 3, s.max_ctx, 0U, s.max_ctx + 9}) {
      SCOPED_TRACE("heads " + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) +
                   ", head_dim " + std::to_string(d) + ", rows " + std::to_string(c.rows) +
                   ", kv_len " + std::to_string(kv_len));
      rec.set("kv_len", kv_len);
      dev_.submit(rec).wait();
      const std::vector<float> x =
          reference_attention(q, k, v, s, std::min(kv_len, s.max_ctx), scale);
      EXPECT_TRUE(projection_near(y.download<float>(), project(w, x, c.rows)));
    }
  }
}

// Shapes attention cannot run, no rows, views of the wrong size and overlapping outputs are
// refused before anything is encoded, naming the op and label.
TEST_F(AttentionOps, AttentionORefusesBadShapesAndViews) {
  EXPECT_TRUE(mentions(ops_.attention_o_support({12, 8, 64, 16}, 8).reason, "does not divide"));
  EXPECT_TRUE(mentions(ops_.attention_o_support({8, 8, 64, 16}, 0).reason, "rows"));
  EXPECT_EQ(ops_.attention_o_scratch_bytes({8, 8, 96, 16}, 8), 0U);

  const AttentionShape s{4, 2, 64, 16};
  const std::uint32_t rows = 8;
  Buffer q = dev_.alloc(4 * 64 * 4);
  Buffer cache = dev_.alloc(16 * 2 * 64 * 2);
  Buffer w = dev_.alloc(rows * 4 * 64 * 2);
  Buffer y = dev_.alloc(rows * 4);
  Buffer small = dev_.alloc(4);
  Buffer scratch = dev_.alloc(ops_.attention_o_scratch_bytes(s, rows));
  Encoder enc = dev_.encoder();
  Error e = error_from([&] {
    ops_.attention_o_decode(enc, q, cache, cache, w, y, small, s, rows, value(1U), 1.0F,
                            "blk.3.attention_o");
  });
  EXPECT_TRUE(mentions(e.what(), "attention_o_decode 'blk.3.attention_o'"));
  EXPECT_TRUE(mentions(e.what(), "scratch holds 4 bytes"));
  e = error_from([&] {
    ops_.attention_o_decode(enc, q, cache, cache, small, y, scratch, s, rows, value(1U), 1.0F);
  });
  EXPECT_TRUE(mentions(e.what(), "w_o holds"));
  e = error_from(
      [&] { ops_.attention_o_decode(enc, q, cache, cache, w, y, scratch, s, rows, in(q), 1.0F); });
  EXPECT_TRUE(mentions(e.what(), "kv_len must be a u32"));
  e = error_from([&] {
    ops_.attention_o_decode(enc, q, cache, cache, w, q.view(0, rows * 4), scratch, s, rows,
                            value(1U), 1.0F);
  });
  EXPECT_TRUE(mentions(e.what(), "y overlaps q"));
  e = error_from([&] {
    ops_.attention_o_decode(enc, q, cache, cache, w, y, scratch, s, rows, value(1U),
                            std::numeric_limits<float>::infinity());
  });
  EXPECT_TRUE(mentions(e.what(), "scale must be finite"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
