// Buffers and views: zero-filled allocations, overflow-safe bounds checks, views relative to their
// parent, upload/download round trips at offsets, errors that name the buffer, null handles,
// allocation ids and device ids.

#include <cstddef>
#include <cstdint>
#include <gtest/gtest.h>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::make_cpu_device;
using testing::mentions;

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

class BufferTest : public ::testing::Test {
 protected:
  Device dev_ = make_cpu_device({.cpu_threads = 1});
};

// A fresh allocation reads as zeros, also when it reuses memory a dropped buffer had filled.
TEST_F(BufferTest, AllocationsAreZeroFilled) {
  constexpr std::size_t kBytes = 4096;
  {
    Buffer dirty = dev_.alloc(kBytes, "dirty");
    const std::vector<std::byte> ones(kBytes, std::byte{0xFF});
    dirty.upload(ones);
  }
  for (int i = 0; i < 4; ++i) {
    Buffer b = dev_.alloc(kBytes);
    EXPECT_EQ(b.download<std::uint8_t>(), std::vector<std::uint8_t>(kBytes, 0));
  }
}

// A zero-byte allocation is an InvalidArgument error naming its label.
TEST_F(BufferTest, ZeroByteAllocationThrows) {
  const Error e = error_from([&] { dev_.alloc(0, "empty"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "empty"));
}

// Size, label and whole-buffer views describe the allocation.
TEST_F(BufferTest, BufferReportsItsSizeAndLabel) {
  Buffer b = dev_.alloc(64, "weights");
  EXPECT_TRUE(b);
  EXPECT_EQ(b.size(), 64U);
  EXPECT_EQ(b.label(), "weights");
  const BufferView whole = b.view();
  EXPECT_EQ(whole.offset(), 0U);
  EXPECT_EQ(whole.size(), 64U);
  EXPECT_EQ(whole.range(), (ByteRange{0, 64}));
  const BufferView implicit = b;
  EXPECT_EQ(implicit.size(), 64U);
  EXPECT_EQ(b.view_of<float>(2, 3).range(), (ByteRange{8, 20}));
}

// Views that fit are accepted up to the last byte (including empty views at the end); anything
// past the end throws OutOfRange naming the buffer.
TEST_F(BufferTest, ViewsAreBoundsChecked) {
  Buffer b = dev_.alloc(64, "small");
  EXPECT_NO_THROW(b.view(0, 64));
  EXPECT_NO_THROW(b.view(63, 1));
  EXPECT_NO_THROW(b.view(64, 0));
  for (const auto& [offset, size] :
       std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 65}, {64, 1}, {65, 0}, {60, 8}}) {
    const Error e = error_from([&] { b.view(offset, size); });
    EXPECT_EQ(e.code(), ErrorCode::OutOfRange) << offset << "+" << size;
    EXPECT_TRUE(mentions(e.what(), "buf#" + std::to_string(b.id())));
    EXPECT_TRUE(mentions(e.what(), "small"));
  }
  EXPECT_EQ(error_from([&] { BufferView(b, 1, 64); }).code(), ErrorCode::OutOfRange);
}

// Bounds checks do not overflow: offsets and sizes near UINT64_MAX are rejected, never wrapped.
TEST_F(BufferTest, BoundsChecksAreOverflowSafe) {
  Buffer b = dev_.alloc(64);
  const std::uint64_t max = UINT64_MAX;
  const std::pair<std::uint64_t, std::uint64_t> cases[] = {{max, 1},   {max, 2},     {1, max},
                                                           {max, max}, {max - 1, 2}, {8, max - 7}};
  for (const auto& [offset, size] : cases) {
    EXPECT_EQ(error_from([&] { b.view(offset, size); }).code(), ErrorCode::OutOfRange)
        << offset << "+" << size;
    const BufferView v = b.view(16, 32);
    EXPECT_EQ(error_from([&] { v.sub(offset, size); }).code(), ErrorCode::OutOfRange)
        << offset << "+" << size;
  }
  std::vector<std::byte> one(1);
  EXPECT_EQ(error_from([&] { b.upload(one, max); }).code(), ErrorCode::OutOfRange);
  EXPECT_EQ(error_from([&] { b.download(one, max); }).code(), ErrorCode::OutOfRange);
  EXPECT_EQ(error_from([&] { b.view(16, 32).upload(one, max); }).code(), ErrorCode::OutOfRange);
  EXPECT_EQ(error_from([&] { b.view(16, 32).download(one, max); }).code(), ErrorCode::OutOfRange);
}

// A sub-view's offset is relative to its parent view, and it must fit in the parent view (not
// merely in the buffer).
TEST_F(BufferTest, SubViewsAreRelativeToTheirParent) {
  Buffer b = dev_.alloc(64);
  const BufferView v = b.view(16, 32);
  const BufferView s = v.sub(8, 8);
  EXPECT_EQ(s.offset(), 24U);
  EXPECT_EQ(s.size(), 8U);
  EXPECT_EQ(s.range(), (ByteRange{24, 32}));
  EXPECT_EQ(s.buffer().id(), b.id());
  EXPECT_EQ(s.sub(4, 4).range(), (ByteRange{28, 32}));
  EXPECT_NO_THROW(v.sub(32, 0));
  EXPECT_EQ(error_from([&] { v.sub(30, 4); }).code(), ErrorCode::OutOfRange);  // fits in b only
  EXPECT_EQ(error_from([&] { v.sub(33, 0); }).code(), ErrorCode::OutOfRange);
}

// Bytes uploaded at an offset come back from a download at that offset, through buffers and
// through views (whose offsets are relative to the view), and the rest stays zero.
TEST_F(BufferTest, UploadDownloadRoundTripsAtOffsets) {
  Buffer b = dev_.alloc(16, "rt");
  b.upload(bytes_of({1, 2, 3}), 2);
  const BufferView v = b.view(8, 8);
  v.upload(bytes_of({9, 8}), 3);  // bytes 11 and 12 of the buffer

  EXPECT_EQ(b.download<std::uint8_t>(),
            (std::vector<std::uint8_t>{0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 9, 8, 0, 0, 0}));
  std::vector<std::byte> part(3);
  b.download(part, 1);
  EXPECT_EQ(part, bytes_of({0, 1, 2}));
  std::vector<std::byte> from_view(2);
  v.download(from_view, 3);
  EXPECT_EQ(from_view, bytes_of({9, 8}));
  EXPECT_EQ(v.download<std::uint8_t>(), (std::vector<std::uint8_t>{0, 0, 0, 9, 8, 0, 0, 0}));

  const std::vector<float> floats = {1.5F, -2.0F};
  b.upload(std::span<const float>(floats), 8);
  EXPECT_EQ(b.view_of<float>(2, 2).download<float>(), floats);
}

// Uploads and downloads that do not fit throw OutOfRange naming the buffer and write nothing.
TEST_F(BufferTest, OutOfRangeTransfersThrowNamingTheBuffer) {
  Buffer b = dev_.alloc(8, "tiny");
  const std::vector<std::byte> four = bytes_of({1, 2, 3, 4});
  std::vector<std::byte> out(4);
  const std::string name = "buf#" + std::to_string(b.id()) + " 'tiny'";
  for (const Error& e :
       {error_from([&] { b.upload(four, 5); }), error_from([&] { b.download(out, 5); }),
        error_from([&] { b.view(4, 4).upload(four, 1); }),
        error_from([&] { b.view(4, 4).download(out, 1); })}) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfRange);
    EXPECT_TRUE(mentions(e.what(), name));
  }
  EXPECT_EQ(b.download<std::uint8_t>(), std::vector<std::uint8_t>(8, 0));
}

// download<T> of a size that is not a multiple of sizeof(T) throws instead of truncating.
TEST_F(BufferTest, TypedDownloadNeedsAWholeNumberOfElements) {
  Buffer b = dev_.alloc(6);
  EXPECT_EQ(error_from([&] { b.download<float>(); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_from([&] { b.view(0, 5).download<std::uint32_t>(); }).code(),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(b.download<std::uint16_t>().size(), 3U);
}

// Operations on a null Buffer throw InvalidArgument instead of crashing; its accessors are safe.
TEST_F(BufferTest, NullBufferOperationsThrow) {
  const Buffer null;
  EXPECT_FALSE(null);
  EXPECT_EQ(null.size(), 0U);
  EXPECT_EQ(null.id(), 0U);
  EXPECT_EQ(null.label(), "");
  EXPECT_EQ(null.device_id(), 0U);
  std::vector<std::byte> bytes(4);
  EXPECT_EQ(error_from([&] { null.upload(bytes); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_from([&] { null.download(bytes); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_from([&] { null.view(0, 0); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_from([&] { BufferView(null, 0, 0); }).code(), ErrorCode::InvalidArgument);
  const BufferView empty_view;
  EXPECT_EQ(error_from([&] { empty_view.upload(bytes); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_from([&] { empty_view.download(bytes); }).code(), ErrorCode::InvalidArgument);
}

// Allocation ids are unique and non-zero (across devices too), and shared by copies and views.
TEST_F(BufferTest, IdsAreUniqueAndSharedByCopies) {
  Device other = make_cpu_device({.cpu_threads = 1});
  std::set<std::uint64_t> ids;
  std::vector<Buffer> keep;
  for (int i = 0; i < 100; ++i) {
    keep.push_back((i % 2 == 0 ? dev_ : other).alloc(4));
    EXPECT_NE(keep.back().id(), 0U);
    ids.insert(keep.back().id());
  }
  EXPECT_EQ(ids.size(), 100U);
  const Buffer copy = keep[0];
  EXPECT_EQ(copy.id(), keep[0].id());
  EXPECT_EQ(keep[0].view(0, 4).buffer().id(), keep[0].id());
}

// A buffer reports the id of the device that allocated it.
TEST_F(BufferTest, DeviceIdMatchesTheAllocatingDevice) {
  Device other = make_cpu_device({.cpu_threads = 1});
  EXPECT_NE(dev_.id(), other.id());
  EXPECT_EQ(dev_.alloc(4).device_id(), dev_.id());
  EXPECT_EQ(other.alloc(4).device_id(), other.id());
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
