// encore::Error: what() renders "Code: message" plus the context chain innermost first, context
// frames accumulate as the error propagates, and every ErrorCode has its own stable name.

#include "encore/error.h"

#include <gtest/gtest.h>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

// Every ErrorCode with the name tools print and match (the values are documented as stable).
const std::pair<ErrorCode, std::string_view> kNames[] = {
    {ErrorCode::InvalidArgument, "InvalidArgument"},
    {ErrorCode::OutOfRange, "OutOfRange"},
    {ErrorCode::UnknownKernel, "UnknownKernel"},
    {ErrorCode::SignatureMismatch, "SignatureMismatch"},
    {ErrorCode::InvalidLaunch, "InvalidLaunch"},
    {ErrorCode::WrongDevice, "WrongDevice"},
    {ErrorCode::InvalidState, "InvalidState"},
    {ErrorCode::BackendUnavailable, "BackendUnavailable"},
    {ErrorCode::OutOfMemory, "OutOfMemory"},
    {ErrorCode::KernelFailed, "KernelFailed"},
    {ErrorCode::UndeclaredWrite, "UndeclaredWrite"},
    {ErrorCode::DependencyFailed, "DependencyFailed"},
    {ErrorCode::DeviceLost, "DeviceLost"},
    {ErrorCode::Internal, "Internal"},
    {ErrorCode::IoError, "IoError"},
};

// Without context, what() is "Code: message".
TEST(Error, WhatWithoutContextIsCodeAndMessage) {
  const Error e(ErrorCode::InvalidLaunch, "block (0, 1, 1) is empty");
  EXPECT_STREQ(e.what(), "InvalidLaunch: block (0, 1, 1) is empty");
  EXPECT_EQ(e.code(), ErrorCode::InvalidLaunch);
  EXPECT_EQ(e.message(), "block (0, 1, 1) is empty");
  EXPECT_TRUE(e.context().empty());
}

// Context frames are appended outward and rendered innermost first in brackets; the message
// itself does not change.
TEST(Error, WhatWithContextListsFramesInnermostFirst) {
  Error e(ErrorCode::SignatureMismatch, "arg 2 must be a buffer");
  e.add_context("kernel 'add_f32'");
  EXPECT_STREQ(e.what(), "SignatureMismatch: arg 2 must be a buffer [kernel 'add_f32']");
  e.add_context("dispatch #3 'blk.0.add'").add_context("command buffer 'step'");
  EXPECT_STREQ(e.what(),
               "SignatureMismatch: arg 2 must be a buffer [kernel 'add_f32', dispatch #3 "
               "'blk.0.add', command buffer 'step']");
  EXPECT_EQ(e.message(), "arg 2 must be a buffer");
  ASSERT_EQ(e.context().size(), 3U);
  EXPECT_EQ(e.context()[0], "kernel 'add_f32'");
  EXPECT_EQ(e.context()[2], "command buffer 'step'");
}

// add_context returns the error itself, so a handler can add a frame and rethrow it.
TEST(Error, AddContextReturnsTheSameErrorForRethrowing) {
  try {
    try {
      throw Error(ErrorCode::KernelFailed, "boom");
    } catch (Error& inner) {
      EXPECT_EQ(&inner.add_context("dispatch #0"), &inner);
      throw;
    }
  } catch (const Error& outer) {
    EXPECT_STREQ(outer.what(), "KernelFailed: boom [dispatch #0]");
  }
}

// A copied error keeps code, message, context and rendering; the copy grows independently.
TEST(Error, CopiesAreIndependent) {
  Error a(ErrorCode::OutOfRange, "view does not fit");
  a.add_context("arg 0");
  Error b = a;
  b.add_context("kernel 'copy_f32'");
  EXPECT_STREQ(a.what(), "OutOfRange: view does not fit [arg 0]");
  EXPECT_STREQ(b.what(), "OutOfRange: view does not fit [arg 0, kernel 'copy_f32']");
}

// An Error is a std::exception, so generic handlers see the rendered text.
TEST(Error, IsAStdException) {
  try {
    throw Error(ErrorCode::DeviceLost, "gone");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "DeviceLost: gone");
  }
}

// Every ErrorCode has its own name, equal to the enumerator's spelling.
TEST(Error, EveryCodeHasADistinctStableName) {
  std::set<std::string_view> seen;
  for (const auto& [code, name] : kNames) {
    EXPECT_EQ(to_string(code), name);
    seen.insert(to_string(code));
  }
  EXPECT_EQ(seen.size(), std::size(kNames));
  // The table covers every code: they are numbered 1..IoError (the last) without gaps.
  EXPECT_EQ(static_cast<int>(ErrorCode::InvalidArgument), 1);
  EXPECT_EQ(static_cast<std::size_t>(ErrorCode::IoError), std::size(kNames));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
