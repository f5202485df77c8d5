// Bad input is rejected at the call that made it, with a documented ErrorCode and a message that
// names what was wrong (kernel, arg index and parameter, dispatch and command buffer labels,
// buffer label and size), and a rejected dispatch leaves nothing half-recorded: the encoder's
// counts, the device counters and the edges of later dispatches are as if it never happened. On
// every backend; the launch and shared-memory limits are the device's own.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::download_floats;
using testing::error_from;
using testing::mentions;
using testing::upload_floats;

constexpr std::uint32_t kN = 4;
constexpr std::uint64_t kBytes = kN * sizeof(float);

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class BadInput : public testing::BackendTest {};

// A device with add_f32 and three buffers a, b, c of kN floats.
struct Fixture {
  explicit Fixture(Device device) : dev(std::move(device)) {
    add = dev.kernel("add_f32");
    a = upload_floats(dev, {1, 2, 3, 4}, "a");
    b = upload_floats(dev, {5, 6, 7, 8}, "b");
    c = dev.alloc(kBytes, "c");
  }
  Device dev;
  Kernel add;
  Buffer a, b, c;
};

// ---- argument lists ------------------------------------------------------------------------

// Too few args is SignatureMismatch listing the kernel's parameter names, the count given, the
// kernel and the dispatch label.
TEST_P(BadInput, WrongArgCountIsSignatureMismatchListingTheParameters) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder({.label = "step"});
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c)}, {.label = "blk.0.add"});
  });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "a, b, c, n"));
  EXPECT_TRUE(mentions(e.what(), "got 3"));
  EXPECT_TRUE(mentions(e.what(), "kernel 'add_f32'"));
  EXPECT_TRUE(mentions(e.what(), "'blk.0.add'"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'step'"));
}

// A value where the kernel expects a buffer is SignatureMismatch naming the arg index and
// parameter.
TEST_P(BadInput, ValueWhereBufferExpectedIsSignatureMismatch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {value(1.0F), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 0 ('a')"));
  EXPECT_TRUE(mentions(e.what(), "add_f32"));
}

// A buffer where the kernel expects a value is SignatureMismatch naming the arg index and
// parameter.
TEST_P(BadInput, BufferWhereValueExpectedIsSignatureMismatch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), in(f.a)});
  });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 3 ('n')"));
  EXPECT_TRUE(mentions(e.what(), "add_f32"));
}

// A buffer bound with less access than the parameter declares (in() for an out param, out() for
// an in param) is SignatureMismatch naming the arg and both accesses.
TEST_P(BadInput, AccessMismatchIsSignatureMismatch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error read_only = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), in(f.c), value(kN)}, {.label = "ro"});
  });
  EXPECT_EQ(read_only.code(), ErrorCode::SignatureMismatch) << read_only.what();
  EXPECT_TRUE(mentions(read_only.what(), "arg 2 ('c')"));
  EXPECT_TRUE(mentions(read_only.what(), "bound as in"));
  EXPECT_TRUE(mentions(read_only.what(), "declares out"));
  EXPECT_TRUE(mentions(read_only.what(), "'ro'"));

  const Error write_only = error_from([&] {
    enc.dispatch(f.add, cover(kN), {out(f.a), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(write_only.code(), ErrorCode::SignatureMismatch) << write_only.what();
  EXPECT_TRUE(mentions(write_only.what(), "arg 0 ('a')"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// Binding with at least the declared access is fine: inout for in and out params, and untagged
// buffer() (which counts as inout) anywhere.
TEST_P(BadInput, WiderAccessAndUntaggedBuffersAreAccepted) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.add, cover(kN), {inout(f.a), buffer(f.b), inout(f.c), value(kN)});
  enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), buffer(f.c), value(kN)});
  EXPECT_EQ(enc.dispatch_count(), 2U);
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{6, 8, 10, 12}));
}

// ---- views and buffers ---------------------------------------------------------------------

// A view beyond the buffer is OutOfRange naming the buffer's label and size; offsets that would
// overflow are caught too, and so are sub-views beyond their view.
TEST_P(BadInput, ViewOutOfRangeNamesTheBufferAndItsSize) {
  Fixture f(make_device());
  const Error e = error_from([&] { (void)f.a.view(8, 16); });
  EXPECT_EQ(e.code(), ErrorCode::OutOfRange) << e.what();
  EXPECT_TRUE(mentions(e.what(), "'a'"));
  EXPECT_TRUE(mentions(e.what(), "16 bytes"));

  EXPECT_EQ(error_from([&] { (void)f.a.view_of<float>(2, 3); }).code(), ErrorCode::OutOfRange);
  EXPECT_EQ(
      error_from([&] { (void)f.a.view(std::numeric_limits<std::uint64_t>::max(), 2); }).code(),
      ErrorCode::OutOfRange);
  EXPECT_EQ(error_from([&] { (void)f.a.view(4, 8).sub(4, 8); }).code(), ErrorCode::OutOfRange);
  EXPECT_EQ(f.a.view(8, 8).size(), 8U);  // the last bytes exactly fit
}

// A zero-byte allocation is InvalidArgument naming the label, and allocates nothing.
TEST_P(BadInput, ZeroByteAllocIsInvalidArgument) {
  Device dev = make_device();
  const Error e = error_from([&] { (void)dev.alloc(0, "empty"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
  EXPECT_TRUE(mentions(e.what(), "'empty'"));
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.allocations, 0U);
  EXPECT_EQ(stats.buffers_live, 0U);
}

// A buffer of another device is WrongDevice naming the arg, as an arg or as an extra range.
TEST_P(BadInput, BufferFromAnotherDeviceIsWrongDevice) {
  Fixture f(make_device());
  Device other = make_device();
  Buffer foreign = other.alloc(kBytes, "foreign");
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(foreign), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 1 ('b')"));
  EXPECT_TRUE(mentions(e.what(), "'foreign'"));
  EXPECT_TRUE(mentions(e.what(), "add_f32"));

  const BufferView extra[] = {foreign};
  const Error extra_error = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), value(kN)},
                 {.extra_writes = extra});
  });
  EXPECT_EQ(extra_error.code(), ErrorCode::WrongDevice) << extra_error.what();
  EXPECT_TRUE(mentions(extra_error.what(), "extra write 0"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// A null buffer handle is InvalidArgument naming the arg.
TEST_P(BadInput, NullBufferIsInvalidArgument) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Buffer null_buffer;
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(null_buffer), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 0 ('a')"));
}

// ---- kernels -------------------------------------------------------------------------------

// A kernel resolved on another device is WrongDevice naming the kernel.
TEST_P(BadInput, KernelFromAnotherDeviceIsWrongDevice) {
  Fixture f(make_device());
  Device other = make_device();
  const Kernel foreign_add = other.kernel("add_f32");
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(foreign_add, cover(kN), {in(f.a), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice) << e.what();
  EXPECT_TRUE(mentions(e.what(), "kernel 'add_f32'"));
}

// An unknown kernel name is UnknownKernel naming it and listing known kernels.
TEST_P(BadInput, UnknownKernelListsKnownNames) {
  Device dev = make_device();
  const Error e = error_from([&] { (void)dev.kernel("nope"); });
  EXPECT_EQ(e.code(), ErrorCode::UnknownKernel) << e.what();
  EXPECT_TRUE(mentions(e.what(), "'nope'"));
  EXPECT_TRUE(mentions(e.what(), "add_f32"));
  EXPECT_TRUE(mentions(e.what(), "copy_f32"));
}

// A null kernel handle is InvalidArgument.
TEST_P(BadInput, NullKernelIsInvalidArgument) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] { enc.dispatch(Kernel(), cover(kN), {in(f.a)}); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
}

// ---- launches ------------------------------------------------------------------------------

// An empty grid (zero blocks, zero threads, or a default Launch) is InvalidLaunch.
TEST_P(BadInput, EmptyGridIsInvalidLaunch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const auto launch_error = [&](const Launch& launch) {
    return error_from([&] {
      enc.dispatch(f.add, launch, {in(f.a), in(f.b), out(f.c), value(kN)});
    });
  };
  const Error groups = launch_error(Launch::groups({0, 1, 1}, 64));
  EXPECT_EQ(groups.code(), ErrorCode::InvalidLaunch) << groups.what();
  EXPECT_TRUE(mentions(groups.what(), "empty grid"));
  EXPECT_TRUE(mentions(groups.what(), "add_f32"));
  EXPECT_EQ(launch_error(Launch::groups({4, 1, 0}, 64)).code(), ErrorCode::InvalidLaunch);
  const Error threads = launch_error(Launch::threads(0, 64));
  EXPECT_EQ(threads.code(), ErrorCode::InvalidLaunch) << threads.what();
  EXPECT_TRUE(mentions(threads.what(), "empty grid"));
  EXPECT_EQ(launch_error(Launch()).code(), ErrorCode::InvalidLaunch);
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// An empty block is InvalidLaunch.
TEST_P(BadInput, EmptyBlockIsInvalidLaunch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, Launch::groups(1, {0, 1, 1}), {in(f.a), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::InvalidLaunch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "empty block"));
  EXPECT_EQ(
      error_from([&] {
        enc.dispatch(f.add, Launch::groups(1, {64, 0, 1}), {in(f.a), in(f.b), out(f.c), value(kN)});
      }).code(),
      ErrorCode::InvalidLaunch);
}

// A block of more than 1024 threads (in x alone or in total) and a grid with more than 65535
// blocks in y are InvalidLaunch naming the limit; launches exactly at the limits are accepted.
TEST_P(BadInput, OversizedLaunchIsInvalidLaunch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const auto dispatch_with = [&](const Launch& launch) {
    enc.dispatch(f.add, launch, {in(f.a), in(f.b), out(f.c), value(kN)});
  };
  const Error wide = error_from([&] { dispatch_with(Launch::groups(1, 1025)); });
  EXPECT_EQ(wide.code(), ErrorCode::InvalidLaunch) << wide.what();
  EXPECT_TRUE(mentions(wide.what(), "1024"));
  const Error total = error_from([&] { dispatch_with(Launch::groups(1, {32, 33, 1})); });
  EXPECT_EQ(total.code(), ErrorCode::InvalidLaunch) << total.what();
  EXPECT_TRUE(mentions(total.what(), "1056"));
  const Error tall = error_from([&] { dispatch_with(Launch::groups({1, 65536, 1}, 1)); });
  EXPECT_EQ(tall.code(), ErrorCode::InvalidLaunch) << tall.what();
  EXPECT_TRUE(mentions(tall.what(), "65535"));
  EXPECT_EQ(error_from([&] {
              dispatch_with(Launch::groups(1, {1, 1, 65}));
            }).code(),
            ErrorCode::InvalidLaunch);
  EXPECT_EQ(enc.dispatch_count(), 0U);

  dispatch_with(Launch::groups(1, 1024));
  dispatch_with(Launch::groups(1, {32, 32, 1}));
  dispatch_with(Launch::groups({1, 65535, 1}, 1));
  EXPECT_EQ(enc.dispatch_count(), 3U);
}

// Dynamic shared memory one byte over the device's limit is InvalidLaunch; at the limit it is
// accepted.
TEST_P(BadInput, SharedMemoryOverTheLimitIsInvalidLaunch) {
  Fixture f(make_device());
  const std::uint32_t limit = f.dev.limits().max_shared_bytes;
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN).shared(limit + 1), {in(f.a), in(f.b), out(f.c), value(kN)},
                 {.label = "greedy"});
  });
  EXPECT_EQ(e.code(), ErrorCode::InvalidLaunch) << e.what();
  EXPECT_TRUE(mentions(e.what(), std::to_string(limit + 1)));
  EXPECT_TRUE(mentions(e.what(), std::to_string(limit)));
  EXPECT_TRUE(mentions(e.what(), "'greedy'"));
  enc.dispatch(f.add, cover(kN).shared(limit), {in(f.a), in(f.b), out(f.c), value(kN)});
  EXPECT_EQ(enc.dispatch_count(), 1U);
}

// ---- values and slots ----------------------------------------------------------------------

// A value over the 4096-byte parameter limit is InvalidArgument naming its size and the limit;
// a value of exactly 4096 bytes is accepted.
TEST_P(BadInput, ValueOverTheParameterLimitIsInvalidArgument) {
  Fixture f(make_device());
  const Kernel big = f.dev.kernel("big_value");
  Encoder enc = f.dev.encoder();
  const std::vector<std::byte> too_big(5000);
  const Error e = error_from(
      [&] { enc.dispatch(big, Launch::groups(1, 1), {value_bytes(too_big)}, {.label = "huge"}); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
  EXPECT_TRUE(mentions(e.what(), "4096"));
  EXPECT_TRUE(mentions(e.what(), "5000"));
  EXPECT_TRUE(mentions(e.what(), "arg 0 ('v')"));
  EXPECT_TRUE(mentions(e.what(), "'huge'"));

  const std::vector<std::byte> largest(kMaxValueBytes);
  enc.dispatch(big, Launch::groups(1, 1), {value_bytes(largest)});
  EXPECT_EQ(enc.dispatch_count(), 1U);
  enc.commit_and_wait();
}

// A value of the wrong size is SignatureMismatch naming the arg and both sizes.
TEST_P(BadInput, WrongValueSizeIsSignatureMismatch) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), value(std::uint64_t{kN})});
  });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 3 ('n')"));
  EXPECT_TRUE(mentions(e.what(), "4-byte"));
  EXPECT_TRUE(mentions(e.what(), "8-byte"));
}

// A slot name keeps the size it was first recorded with: reusing it at another size in a later
// dispatch is SignatureMismatch naming the slot and both sizes.
TEST_P(BadInput, SlotSizeMismatchIsSignatureMismatch) {
  Fixture f(make_device());
  Buffer u = f.dev.alloc(kBytes, "u");
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.dev.kernel("fill_u32"), cover(kN),
               {out(u), slot("s", std::uint32_t{1}), value(kN)});
  const std::array<std::byte, kMaxValueBytes> wide{};
  const Error e = error_from(
      [&] { enc.dispatch(f.dev.kernel("big_value"), Launch::groups(1, 1), {slot("s", wide)}); });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "slot 's'"));
  EXPECT_TRUE(mentions(e.what(), "4096"));
  EXPECT_TRUE(mentions(e.what(), "big_value"));
  EXPECT_EQ(enc.dispatch_count(), 1U);
}

// Two slot args of one name but different sizes in the same dispatch are SignatureMismatch too:
// the slot has one size, so one of them would read bytes the slot does not have.
TEST_P(BadInput, SlotSizeMismatchWithinOneDispatchIsSignatureMismatch) {
  Device dev = make_device();  // two_values: (value u32 narrow, value u64 wide)
  Encoder enc = dev.encoder();
  const Error e = error_from([&] {
    enc.dispatch(dev.kernel("two_values"), Launch::groups(1, 1),
                 {slot("s", std::uint32_t{1}), slot("s", std::uint64_t{2})});
  });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "slot 's'"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

// ---- the encoder's state -------------------------------------------------------------------

// Committing twice is InvalidState and the message names the state and the command buffer.
TEST_P(BadInput, CommitTwiceIsInvalidStateNamingTheCommandBuffer) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  enc.commit_and_wait("once");
  const Error e = error_from([&] { enc.commit(); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidState) << e.what();
  EXPECT_TRUE(mentions(e.what(), "committed"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'once'"));
}

// Dispatching after commit is InvalidState naming the command buffer, and records nothing.
TEST_P(BadInput, DispatchAfterCommitIsInvalidStateNamingTheCommandBuffer) {
  Fixture f(make_device());
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), value(kN)});
  enc.commit_and_wait("done");
  const Error e = error_from([&] {
    enc.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::InvalidState) << e.what();
  EXPECT_TRUE(mentions(e.what(), "dispatch"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'done'"));
  EXPECT_EQ(enc.dispatch_count(), 1U);
  EXPECT_EQ(f.dev.stats().dispatches_encoded, 1U);
}

// ---- nothing half-recorded -----------------------------------------------------------------

std::string describe_dependencies(const NodeInfo& node) {
  std::string out;
  for (const Dependency& d : node.dependencies) {
    out += std::to_string(d.node) + ":" + std::string(to_string(d.kind)) + ":" +
           std::to_string(d.buffer) + ":" + std::to_string(d.earlier.begin) + "-" +
           std::to_string(d.earlier.end) + ":" + std::to_string(d.later.begin) + "-" +
           std::to_string(d.later.end) + ";";
  }
  return out;
}

std::string describe_accesses(const NodeInfo& node) {
  std::string out;
  for (const BufferAccess& a : node.accesses) {
    out += std::to_string(a.buffer) + ":" + std::to_string(a.bytes.begin) + "-" +
           std::to_string(a.bytes.end) + ":" + std::string(to_string(a.access)) + ":" +
           std::to_string(a.arg_index) + ";";
  }
  return out;
}

// Every way a dispatch can be rejected after binding some buffers leaves nothing behind: the
// encoder's counts do not move, later dispatches get exactly the edges and accesses they get
// without the rejected ones (a half-recorded write of d would add an edge), no slot appears,
// the device counters after commit count only valid work, and the results are right.
TEST_P(BadInput, NothingIsHalfRecordedAfterAnError) {
  Fixture f(make_device());
  Device other = make_device();
  Buffer foreign = other.alloc(kBytes, "foreign");
  Buffer d = f.dev.alloc(kBytes, "d");
  const Kernel copy = f.dev.kernel("copy_f32");
  const Kernel mix = f.dev.kernel("mix_u32");
  const BufferView foreign_extra[] = {foreign};
  const BufferView write_d[] = {d};
  const std::vector<std::byte> too_big(5000);

  // Each rejected dispatch binds d for writing (and a for reading) before its fault.
  const std::vector<std::function<void(Encoder&)>> rejected = {
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(d)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(d), value(1.0)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(d), in(d), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(d), in(f.c)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(foreign), out(d), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(d), value(kN)},
                   {.extra_writes = foreign_extra});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, Launch::groups(0, 64), {in(f.a), in(f.b), out(d), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, Launch::groups(1, 2048), {in(f.a), in(f.b), out(d), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(f.add, cover(kN).shared(1U << 30), {in(f.a), in(f.b), out(d), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(mix, Launch::groups(0, 1),
                   {in(f.a), inout(d), slot("salt", 1U), value(kN), value(kN)});
      },
      [&](Encoder& e) {
        e.dispatch(f.dev.kernel("big_value"), Launch::groups(1, 1), {value_bytes(too_big)},
                   {.extra_writes = write_d});
      },
  };

  // The reference: the valid program alone. Then the same program with every rejected dispatch
  // attempted before and between the valid ones.
  const auto valid_first = [&](Encoder& e) {
    e.dispatch(f.add, cover(kN), {in(f.a), in(f.b), out(f.c), value(kN)});
  };
  const auto valid_second = [&](Encoder& e) {
    e.dispatch(copy, cover(kN), {in(f.c), out(d), value(kN)});
  };
  Encoder reference = f.dev.encoder();
  valid_first(reference);
  valid_second(reference);
  const Recording expected = reference.finish();

  Encoder enc = f.dev.encoder({.label = "half"});
  for (std::size_t i = 0; i < rejected.size(); ++i) {
    SCOPED_TRACE("rejected dispatch " + std::to_string(i));
    EXPECT_THROW(rejected[i](enc), Error);
    EXPECT_EQ(enc.dispatch_count(), 0U);
  }
  valid_first(enc);
  for (std::size_t i = 0; i < rejected.size(); ++i) {
    SCOPED_TRACE("rejected dispatch " + std::to_string(i) + " after the first");
    const Error e = error_from([&] { rejected[i](enc); });
    EXPECT_TRUE(mentions(e.what(), "dispatch #1")) << "the next node index is still 1";
    EXPECT_EQ(enc.dispatch_count(), 1U);
    EXPECT_EQ(enc.barrier_count(), 0U);
  }
  valid_second(enc);
  const Recording got = enc.finish();

  ASSERT_EQ(got.node_count(), expected.node_count());
  EXPECT_EQ(got.edge_count(), expected.edge_count());
  EXPECT_TRUE(got.slot_names().empty());
  for (std::size_t i = 0; i < got.node_count(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(describe_dependencies(got.node(i)), describe_dependencies(expected.node(i)));
    EXPECT_EQ(describe_accesses(got.node(i)), describe_accesses(expected.node(i)));
  }

  f.dev.reset_stats();
  Encoder committed = f.dev.encoder();
  EXPECT_THROW(rejected[0](committed), Error);
  valid_first(committed);
  EXPECT_THROW(rejected[6](committed), Error);
  valid_second(committed);
  EXPECT_THROW(rejected[2](committed), Error);
  committed.commit_and_wait();
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.dispatches_encoded, 2U);
  EXPECT_EQ(stats.edges_inferred, 1U);
  EXPECT_EQ(stats.command_buffers, 1U);
  EXPECT_EQ(download_floats(d), (std::vector<float>{6, 8, 10, 12}));
}

ENCORE_INSTANTIATE_BACKEND_SUITE(BadInput);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
