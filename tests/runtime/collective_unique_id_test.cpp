// The text form of a group's unique id (runtime/unique_id.h): bytes survive the round trip,
// malformed text is refused naming what is wrong, and CPU devices make fresh ids that ranks join
// with.

#include <cstddef>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

#include "encore/encore.h"

#include "runtime/unique_id.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;

// Every byte value, NCCL's id size, survives encoding and decoding; upper case decodes too.
TEST(UniqueId, BytesSurviveTheRoundTrip) {
  std::vector<std::byte> bytes(128);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 2 + 1);
  const std::string text = detail::encode_unique_id(bytes);
  EXPECT_EQ(text.size(), 256U);
  EXPECT_EQ(text.substr(0, 6), "010305");
  EXPECT_EQ(detail::decode_unique_id(text), bytes);
  EXPECT_EQ(detail::decode_unique_id("00FFa0"),
            (std::vector<std::byte>{std::byte{0}, std::byte{0xFF}, std::byte{0xA0}}));
  EXPECT_TRUE(detail::decode_unique_id("").empty());
}

// Odd lengths and characters that are not hex digits are refused.
TEST(UniqueId, MalformedTextIsRefused) {
  Error e = error_from([] { (void)detail::decode_unique_id("abc"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "has 3 hex digits; an encoded id has two per byte")) << e.what();
  e = error_from([] { (void)detail::decode_unique_id("00g1"); });
  EXPECT_TRUE(mentions(e.what(), "character 2 is 'g'")) << e.what();
}

// On CPU devices new_unique_id never repeats, and ranks join a group with it.
TEST(UniqueId, CpuIdsAreFreshAndFormAGroup) {
  Device a = testing::make_cpu_device();
  Device b = testing::make_cpu_device();
  const std::string id = Communicator::new_unique_id(a);
  EXPECT_NE(id, Communicator::new_unique_id(a));
  Communicator ca;
  std::thread other([&] { ca = Communicator::join(a, {.ranks = 2, .rank = 0, .unique_id = id}); });
  const Communicator cb = Communicator::join(b, {.ranks = 2, .rank = 1, .unique_id = id});
  other.join();
  ASSERT_TRUE(ca);
  EXPECT_EQ(ca.group_id(), cb.group_id());
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
