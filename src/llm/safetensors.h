#pragma once

/// \file
/// Reading (and, for tests and tools, writing) Hugging Face `.safetensors` files.
///
/// Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
/// {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the byte after the
/// header), an optional "__metadata__" entry, then the data. Files are memory-mapped; tensor
/// data is borrowed from the mapping, so a Checkpoint must outlive the spans it hands out.
///
/// A checkpoint directory holds either `model.safetensors` or shards listed by
/// `model.safetensors.index.json` ({"weight_map": {tensor: file}}).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace encore::llm {

/// One tensor of a checkpoint.
struct TensorInfo {
  std::string name;
  std::string dtype;  ///< as in the file: "BF16", "F16", "F32", ...
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data;  ///< borrowed from the file's mapping
  std::string file;                 ///< the file it lives in

  std::uint64_t elements() const;
};

/// Bytes per element of a safetensors dtype name; 0 when unknown.
std::size_t dtype_size(std::string_view dtype) noexcept;

/// "[2048, 8192]".
std::string shape_string(std::span<const std::uint64_t> shape);

/// One memory-mapped .safetensors file. Move-only; unmaps on destruction.
class SafetensorsFile {
 public:
  /// Maps and parses `path`. Throws Error(InvalidArgument) naming the file for a missing file, a
  /// truncated or malformed header, an unknown dtype, or data offsets that disagree with the
  /// shape or lie outside the file.
  static SafetensorsFile open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const noexcept { return path_; }
  /// Tensors by name.
  const std::map<std::string, TensorInfo, std::less<>>& tensors() const noexcept {
    return tensors_;
  }

 private:
  SafetensorsFile() = default;
  void unmap() noexcept;

  std::string path_;
  void* mapping_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::map<std::string, TensorInfo, std::less<>> tensors_;
};

/// The tensors of a checkpoint directory (one file or index + shards).
class Checkpoint {
 public:
  /// Opens `directory`/model.safetensors, or the shards named by
  /// `directory`/model.safetensors.index.json. Throws Error(InvalidArgument) naming the
  /// directory when neither exists, or naming the file for a malformed file or index, or a
  /// tensor the index maps to a file that does not hold it.
  static Checkpoint open(const std::string& directory);

  const std::string& directory() const noexcept { return directory_; }
  /// The tensor, or null.
  const TensorInfo* find(std::string_view name) const;
  /// The tensor, checked: throws Error(InvalidArgument) naming the tensor (and its file) when it
  /// is missing, its dtype is not one of `dtypes`, or its shape is not `shape`.
  const TensorInfo& require(std::string_view name, std::span<const std::string_view> dtypes,
                            std::span<const std::uint64_t> shape) const;
  std::size_t tensor_count() const noexcept { return index_.size(); }

 private:
  std::string directory_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> index_;
};

/// A tensor to write.
struct TensorData {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> bytes;
};

/// Writes `tensors` as one .safetensors file (header padded to 8 bytes, data in the given
/// order). Throws Error(InvalidArgument) when a tensor's byte count disagrees with its dtype and
/// shape or the file cannot be written.
void write_safetensors(const std::string& path, std::span<const TensorData> tensors);

}  // namespace encore::llm
