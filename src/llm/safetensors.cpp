// Memory-mapped safetensors reading, sharded checkpoints and a small writer.

#include "llm/safetensors.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "encore/error.h"

namespace encore::llm {

namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view where, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, std::string(where) + ": " + what);
}

std::uint64_t read_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

// One header entry -> TensorInfo, checked against the data section of `data_bytes` bytes.
TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       const std::byte* data, std::uint64_t data_bytes) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!entry.is_object()) fail(where, "header entry is not an object");
  TensorInfo t;
  t.name = name;
  t.file = path;
  const auto dtype = entry.find("dtype");
  const auto shape = entry.find("shape");
  const auto offsets = entry.find("data_offsets");
  if (dtype == entry.end() || !dtype->is_string()) fail(where, "missing or non-string 'dtype'");
  if (shape == entry.end() || !shape->is_array()) fail(where, "missing or non-array 'shape'");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    fail(where, "'data_offsets' must be two unsigned integers");
  }
  t.dtype = dtype->get<std::string>();
  const std::size_t element = dtype_size(t.dtype);
  if (element == 0) fail(where, "unknown dtype '" + t.dtype + "'");
  for (const json& d : *shape) {
    if (!d.is_number_unsigned()) fail(where, "shape entries must be unsigned integers");
    t.shape.push_back(d.get<std::uint64_t>());
  }
  const auto begin = (*offsets)[0].get<std::uint64_t>();
  const auto end = (*offsets)[1].get<std::uint64_t>();
  if (begin > end || end > data_bytes) {
    fail(where, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                    ") lie outside the " + std::to_string(data_bytes) + "-byte data section");
  }
  if (end - begin != t.elements() * element) {
    fail(where, "data_offsets hold " + std::to_string(end - begin) + " bytes but " + t.dtype + " " +
                    shape_string(t.shape) + " needs " + std::to_string(t.elements() * element));
  }
  t.data = {data + begin, static_cast<std::size_t>(end - begin)};
  return t;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  if (!file) fail(path, "cannot open");
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

std::uint64_t TensorInfo::elements() const {
  std::uint64_t n = 1;
  for (const std::uint64_t d : shape) n *= d;
  return n;
}

std::size_t dtype_size(std::string_view dtype) noexcept {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "BF16" || dtype == "F16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2") {
    return 1;
  }
  return 0;
}

std::string shape_string(std::span<const std::uint64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    // Appended piece by piece: GCC 12 misreports `"literal" + std::string` under LTO.
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(errno));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path, "truncated: " + std::to_string(size) + " bytes, no header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  f.mapping_ = map;
  f.mapped_bytes_ = size;

  const auto* base = static_cast<const std::byte*>(map);
  const std::uint64_t header_bytes = read_le64(base);
  if (header_bytes > size - 8) {
    fail(path, "header length " + std::to_string(header_bytes) + " exceeds the file size " +
                   std::to_string(size));
  }
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(base + 8),
                         reinterpret_cast<const char*>(base + 8 + header_bytes));
  } catch (const json::parse_error& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const std::byte* data = base + 8 + header_bytes;
  const std::uint64_t data_bytes = size - 8 - header_bytes;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    f.tensors_.emplace(name, parse_entry(path, name, entry, data, data_bytes));
  }
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      mapping_(std::exchange(other.mapping_, nullptr)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      tensors_(std::move(other.tensors_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    tensors_ = std::move(other.tensors_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

void SafetensorsFile::unmap() noexcept {
  if (mapping_ != nullptr) ::munmap(mapping_, mapped_bytes_);
  mapping_ = nullptr;
  mapped_bytes_ = 0;
}

Checkpoint Checkpoint::open(const std::string& directory) {
  namespace fs = std::filesystem;
  Checkpoint c;
  c.directory_ = directory;
  const fs::path dir(directory);
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    json j;
    try {
      j = json::parse(read_text(index.string()));
    } catch (const json::parse_error& e) {
      fail(index.string(), std::string("not valid JSON: ") + e.what());
    }
    const auto map = j.find("weight_map");
    if (map == j.end() || !map->is_object()) fail(index.string(), "missing object 'weight_map'");
    std::map<std::string, std::size_t, std::less<>> file_slot;
    for (const auto& [tensor, file] : map->items()) {
      if (!file.is_string()) fail(index.string(), "weight_map['" + tensor + "'] is not a string");
      const std::string name = file.get<std::string>();
      auto [it, added] = file_slot.emplace(name, c.files_.size());
      if (added) {
        c.files_.push_back(
            std::make_unique<SafetensorsFile>(SafetensorsFile::open((dir / name).string())));
      }
      const SafetensorsFile& shard = *c.files_[it->second];
      const auto found = shard.tensors().find(tensor);
      if (found == shard.tensors().end()) {
        fail(index.string(),
             "maps tensor '" + tensor + "' to " + shard.path() + ", which does not hold it");
      }
      c.index_.emplace(tensor, &found->second);
    }
  } else if (fs::exists(single)) {
    c.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(single.string())));
    for (const auto& [name, info] : c.files_.front()->tensors()) c.index_.emplace(name, &info);
  } else {
    fail(directory, "no model.safetensors or model.safetensors.index.json in this directory");
  }
  return c;
}

const TensorInfo* Checkpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorInfo& Checkpoint::require(std::string_view name,
                                      std::span<const std::string_view> dtypes,
                                      std::span<const std::uint64_t> shape) const {
  const TensorInfo* t = find(name);
  if (t == nullptr) {
    fail(directory_, "missing tensor '" + std::string(name) + "' (checkpoint has " +
                         std::to_string(index_.size()) + " tensors)");
  }
  bool dtype_ok = false;
  std::string wanted;
  for (const std::string_view d : dtypes) {
    dtype_ok = dtype_ok || t->dtype == d;
    if (!wanted.empty()) wanted += " or ";
    wanted += d;
  }
  if (!dtype_ok) {
    fail(t->file, "tensor '" + t->name + "' has dtype " + t->dtype + ", expected " + wanted);
  }
  if (!std::equal(t->shape.begin(), t->shape.end(), shape.begin(), shape.end())) {
    fail(t->file, "tensor '" + t->name + "' has shape " + shape_string(t->shape) + ", expected " +
                      shape_string(shape));
  }
  return *t;
}

void write_safetensors(const std::string& path, std::span<const TensorData> tensors) {
  json header = json::object();
  std::uint64_t offset = 0;
  for (const TensorData& t : tensors) {
    std::uint64_t elements = 1;
    for (const std::uint64_t d : t.shape) elements *= d;
    if (dtype_size(t.dtype) == 0 || elements * dtype_size(t.dtype) != t.bytes.size()) {
      fail(path, "tensor '" + t.name + "': " + std::to_string(t.bytes.size()) +
                     " bytes do not match " + t.dtype + " " + shape_string(t.shape));
    }
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::ofstream out(path, std::ios::binary);
  if (!out) fail(path, "cannot create");
  std::byte length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xFF);
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorData& t : tensors) {
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  }
  if (!out) fail(path, "write failed");
}

}  // namespace encore::llm
