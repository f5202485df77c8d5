#include "ops/op_common.h"

#include "encore/error.h"

namespace encore::ops::detail {

Support refuse(std::string reason) { return Support{false, std::move(reason)}; }

void throw_invalid(std::string_view op, std::string_view label, const std::string& reason) {
  std::string message(op);
  if (!label.empty()) message += " '" + std::string(label) + "'";
  message += ": " + reason;
  throw Error(ErrorCode::InvalidArgument, std::move(message));
}

void require(const Support& support, std::string_view op, std::string_view label) {
  if (!support) throw_invalid(op, label, support.reason);
}

bool views_overlap(const BufferView& a, const BufferView& b) {
  return a.buffer().id() == b.buffer().id() && overlaps(a.range(), b.range());
}

void expect_no_overlap(std::string_view op, std::string_view label, std::string_view name,
                       const BufferView& view, std::initializer_list<NamedView> others) {
  for (const NamedView& other : others) {
    if (views_overlap(view, other.view)) {
      throw_invalid(op, label, std::string(name) + " overlaps " + std::string(other.name));
    }
  }
}

std::uint64_t element_count(std::string_view op, std::string_view label, std::string_view name,
                            const BufferView& view, std::uint32_t element_bytes) {
  if (view.size() % element_bytes != 0) {
    throw_invalid(op, label,
                  std::string(name) + " holds " + std::to_string(view.size()) +
                      " bytes, not a whole number of " + std::to_string(element_bytes) +
                      "-byte elements");
  }
  return view.size() / element_bytes;
}

void expect_elements(std::string_view op, std::string_view label, std::string_view name,
                     const BufferView& view, std::uint64_t count, std::uint32_t element_bytes) {
  if (!view.buffer()) throw_invalid(op, label, std::string(name) + " is a null buffer");
  const std::uint64_t have = element_count(op, label, name, view, element_bytes);
  if (have != count) {
    throw_invalid(op, label,
                  std::string(name) + " holds " + std::to_string(have) + " elements, expected " +
                      std::to_string(count));
  }
}

void expect_aligned(std::string_view op, std::string_view label, std::string_view name,
                    const BufferView& view, std::uint32_t alignment) {
  if (view.offset() % alignment != 0) {
    throw_invalid(op, label,
                  std::string(name) + " starts at byte offset " + std::to_string(view.offset()) +
                      ", which is not a multiple of " + std::to_string(alignment));
  }
}

void expect_u32_scalar(std::string_view op, std::string_view label, std::string_view name,
                       const Arg& arg) {
  if (arg.kind() == Arg::Kind::Buffer || arg.bytes().size() != sizeof(std::uint32_t)) {
    throw_invalid(op, label,
                  std::string(name) +
                      " must be a u32 value or slot (value<std::uint32_t>(...) or "
                      "slot<std::uint32_t>(...))");
  }
}

void check_arg_bytes(const CpuKernelContext& ctx, std::size_t arg, std::uint64_t bytes,
                     std::string_view kernel) {
  if (ctx.size(arg) < bytes) {
    throw Error(ErrorCode::KernelFailed, std::string(kernel) + ": arg " + std::to_string(arg) +
                                             " holds " + std::to_string(ctx.size(arg)) +
                                             " bytes, the launch needs " + std::to_string(bytes));
  }
}

}  // namespace encore::ops::detail
