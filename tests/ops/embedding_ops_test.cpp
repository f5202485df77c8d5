// embedding on the CPU backend: rows copied exactly for tokens in range, zeros for tokens past
// the vocabulary, the token read from device memory, and refusals of inconsistent views.

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::all_identical;
using testing::error_from;
using testing::mentions;
using testing::upload;

class EmbeddingOps : public ::testing::Test {
 protected:
  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// Tokens in range give the bf16 row widened to f32; tokens >= vocab give zeros.
TEST_F(EmbeddingOps, GathersTheTokensRowOrZerosPastTheVocabulary) {
  for (const std::uint32_t dim : {1U, 37U, 300U}) {
    const std::uint32_t vocab = 50;
    const std::vector<std::uint16_t> table = testing::random_bf16(std::size_t{vocab} * dim, dim);
    Buffer tb = upload(dev_, table);
    for (const std::uint32_t token : {0U, 17U, vocab - 1, vocab, 0xFFFFFFFFU}) {
      SCOPED_TRACE("dim = " + std::to_string(dim) + ", token = " + std::to_string(token));
      Buffer tok = upload(dev_, std::vector<std::uint32_t>{token});
      Buffer out = upload(dev_, std::vector<float>(dim, -5.0F));
      Encoder enc = dev_.encoder();
      ops_.embedding(enc, tb, tok, out, dim, "tok_embd");
      enc.commit_and_wait();
      std::vector<float> want(dim, 0.0F);
      if (token < vocab) {
        for (std::uint32_t i = 0; i < dim; ++i) {
          want[i] = testing::bf16_value(table[std::size_t{token} * dim + i]);
        }
      }
      EXPECT_TRUE(all_identical(out.download<float>(), want));
    }
  }
}

// The token is read when the dispatch runs, so a recording replays for each new token.
TEST_F(EmbeddingOps, ReadsTheTokenWhenItRuns) {
  const std::uint32_t dim = 8;
  const std::vector<std::uint16_t> table = testing::random_bf16(4 * dim, 3);
  Buffer tb = upload(dev_, table);
  Buffer tok = upload(dev_, std::vector<std::uint32_t>{1});
  Buffer out = dev_.alloc(dim * 4);
  Encoder enc = dev_.encoder();
  ops_.embedding(enc, tb, tok, out, dim);
  const Recording rec = enc.finish();
  EXPECT_EQ(rec.node(0).op, OpKind::Embedding);
  for (const std::uint32_t token : {1U, 3U, 0U}) {
    tok.upload(std::span<const std::uint32_t>(&token, 1));
    dev_.submit(rec).wait();
    EXPECT_EQ(out.download<float>()[5], testing::bf16_value(table[token * dim + 5]));
  }
}

// Inconsistent views are refused naming the op, the label and the view.
TEST_F(EmbeddingOps, InconsistentViewsAreRefused) {
  Buffer table = dev_.alloc(10 * 8 * 2);
  Buffer tok = dev_.alloc(4);
  Buffer two = dev_.alloc(8);
  Buffer out = dev_.alloc(8 * 4);
  Encoder enc = dev_.encoder();
  Error e = error_from([&] { ops_.embedding(enc, table, tok, out, 7, "tok_embd"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "embedding 'tok_embd'"));
  EXPECT_TRUE(mentions(e.what(), "multiple of dim = 7"));
  e = error_from([&] { ops_.embedding(enc, table, two, out, 8); });
  EXPECT_TRUE(mentions(e.what(), "token holds 2"));
  e = error_from([&] { ops_.embedding(enc, table, tok, two, 8); });
  EXPECT_TRUE(mentions(e.what(), "out holds 2"));
  e = error_from([&] { ops_.embedding(enc, table, tok, out, 0); });
  EXPECT_TRUE(mentions(e.what(), "dim"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
