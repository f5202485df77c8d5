#pragma once

/// \file
/// Kernels: a parameter signature plus one implementation per backend, kept in a registry and
/// resolved on a device into a cheap `Kernel` handle.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "encore/types.h"

namespace encore {

/// Largest total of value bytes one dispatch may pass (CUDA's classic kernel parameter limit).
inline constexpr std::uint32_t kMaxValueBytes = 4096;

/// One kernel parameter: a buffer with the access the kernel makes, or a value of fixed size.
struct Param {
  enum class Kind : std::uint8_t { Buffer, Value };

  std::string name;
  Kind kind = Kind::Buffer;
  Access access = Access::InOut;  ///< buffers: what the kernel does with the memory
  std::uint32_t value_size = 0;   ///< values: exact size in bytes
  /// Buffers (in or inout) of a kernel with programmatic_dependency that it reads before its
  /// programmatic wait (weights, say), so while earlier kernels may still run; an inout one is
  /// written only after the wait.
  bool read_before_wait = false;

  static Param in(std::string name) { return {std::move(name), Kind::Buffer, Access::In, 0}; }
  /// An input the kernel reads before its programmatic wait (see KernelDef).
  static Param in_before_wait(std::string name) {
    return {std::move(name), Kind::Buffer, Access::In, 0, true};
  }
  static Param out(std::string name) { return {std::move(name), Kind::Buffer, Access::Out, 0}; }
  static Param inout(std::string name) { return {std::move(name), Kind::Buffer, Access::InOut, 0}; }
  template <class T>
  static Param value(std::string name) {
    static_assert(std::is_trivially_copyable_v<T>, "value params must be trivially copyable");
    return {std::move(name), Kind::Value, Access::In, static_cast<std::uint32_t>(sizeof(T))};
  }
};

/// One argument as a CPU kernel sees it: memory of a buffer view, or the bytes of a value.
struct CpuArg {
  std::byte* data = nullptr;
  std::uint64_t size = 0;
  bool is_buffer = false;
};

/// What a CPU kernel receives for one block: the launch shape, its block index, the arguments in
/// signature order, and a scratch area standing in for dynamic shared memory (not zeroed, like
/// CUDA's; in validation mode it is filled with a poison pattern).
class CpuKernelContext {
 public:
  CpuKernelContext(Dim3 grid, Dim3 block, std::span<const CpuArg> args, std::span<std::byte> shared)
      : grid_(grid), block_(block), args_(args), shared_(shared) {}

  Dim3 grid() const noexcept { return grid_; }
  Dim3 block() const noexcept { return block_; }
  Dim3 block_index() const noexcept { return block_index_; }
  std::span<std::byte> shared() const noexcept { return shared_; }
  std::size_t arg_count() const noexcept { return args_.size(); }

  /// Typed pointer to the start of buffer arg `i`'s view.
  template <class T>
  T* ptr(std::size_t i) const {
    return reinterpret_cast<T*>(buffer_arg(i).data);
  }
  /// Buffer arg `i` as elements of T (size / sizeof(T) of them).
  template <class T>
  std::span<T> span(std::size_t i) const {
    const CpuArg& a = buffer_arg(i);
    return {reinterpret_cast<T*>(a.data), static_cast<std::size_t>(a.size / sizeof(T))};
  }
  /// Value (or slot) arg `i`; throws Error(KernelFailed) if its size is not sizeof(T).
  template <class T>
  T value(std::size_t i) const {
    static_assert(std::is_trivially_copyable_v<T>);
    const CpuArg& a = value_arg(i, sizeof(T));
    T v;
    std::memcpy(&v, a.data, sizeof(T));
    return v;
  }
  /// Size in bytes of arg `i`.
  std::uint64_t size(std::size_t i) const;

  /// Set by the executor before each block.
  void set_block_index(Dim3 index) noexcept { block_index_ = index; }

 private:
  const CpuArg& buffer_arg(std::size_t i) const;
  const CpuArg& value_arg(std::size_t i, std::size_t size) const;

  Dim3 grid_;
  Dim3 block_;
  Dim3 block_index_{0, 0, 0};
  std::span<const CpuArg> args_;
  std::span<std::byte> shared_;
};

/// A CPU implementation, called once per block. It may throw; the submission then fails with
/// ErrorCode::KernelFailed naming the dispatch.
using CpuKernelFn = std::function<void(const CpuKernelContext&)>;

/// A kernel as registered: name, signature, default op kind, per-backend implementations.
struct KernelDef {
  std::string name;
  std::vector<Param> params;
  /// Op kind of dispatches that do not name one.
  OpKind op = OpKind::Other;
  /// CPU implementation; empty when the kernel has none.
  CpuKernelFn cpu;
  /// CUDA implementation: the address of a `__global__` function compiled into the program
  /// (filled by CUDA-built libraries; null when the kernel has none).
  const void* cuda = nullptr;
  /// CUDA: the kernel calls cudaGridDependencySynchronize() (griddepcontrol.wait) before it
  /// reads or writes any memory that earlier dispatches write or read, in at least one block of
  /// every launch (so a launch completes only after its predecessors). A dispatch of it may then
  /// be launched while the earlier kernel that all its other predecessors precede is still
  /// running (programmatic dependent launch), which shortens chains of small kernels. Before it
  /// waits the kernel may read only the buffers of its read_before_wait params (e.g. weights);
  /// a dispatch one of whose read_before_wait buffers overlaps memory an earlier dispatch of
  /// its command buffer writes is launched only after everything before it has completed.
  /// Declaring it for a kernel that does not wait is a race.
  bool programmatic_dependency = false;
};

/// A set of kernel definitions, looked up by name. Thread-safe; definitions never move, so a
/// `Kernel` resolved from the registry stays valid as long as the registry lives (devices,
/// encoders and recordings hold it).
class KernelRegistry {
 public:
  /// An empty registry.
  static std::shared_ptr<KernelRegistry> create();
  /// The process-wide registry holding encore's built-in kernels (created on first use).
  static std::shared_ptr<KernelRegistry> builtin();

  KernelRegistry();
  ~KernelRegistry();
  KernelRegistry(const KernelRegistry&) = delete;
  KernelRegistry& operator=(const KernelRegistry&) = delete;

  /// Adds a definition. Throws Error(InvalidArgument) on an empty or duplicate name, an unnamed
  /// parameter, a zero-size value parameter, or value parameters over kMaxValueBytes in total.
  const KernelDef& add(KernelDef def);
  /// The definition named `name`, or null.
  const KernelDef* find(std::string_view name) const;
  /// All names, sorted.
  std::vector<std::string> names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A kernel resolved on one device: a cheap, copyable handle. Obtain with `Device::kernel()`.
class Kernel {
 public:
  Kernel() = default;

  explicit operator bool() const noexcept { return def_ != nullptr; }
  std::string_view name() const noexcept { return def_ ? std::string_view(def_->name) : ""; }
  const KernelDef& def() const noexcept { return *def_; }
  std::uint32_t device_id() const noexcept { return device_id_; }

  /// Internal: created by Device::kernel.
  Kernel(const KernelDef* def, std::uint32_t device_id) noexcept
      : def_(def), device_id_(device_id) {}

 private:
  const KernelDef* def_ = nullptr;
  std::uint32_t device_id_ = 0;
};

}  // namespace encore
