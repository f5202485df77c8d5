// Reading safetensors files and sharded checkpoints, and the errors for broken files.

#include "llm/safetensors.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/error.h"

#include "llm_support/temp_dir.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;
using testing::TempDir;

TensorData f32_tensor(std::string name, std::vector<std::uint64_t> shape,
                      const std::vector<float>& values) {
  std::vector<std::byte> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return {std::move(name), "F32", std::move(shape), std::move(bytes)};
}

void write_raw(const std::string& path, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << header << std::string(data_bytes, '\0');
}

std::string open_error(const std::string& path) {
  return error_from([&] { SafetensorsFile::open(path); }).what();
}

// What write_safetensors writes, SafetensorsFile reads back: dtype, shape and bytes.
TEST(LlmSafetensors, WrittenTensorsReadBackExactly) {
  TempDir dir;
  const std::vector<TensorData> tensors = {f32_tensor("a", {2, 3}, {1, 2, 3, 4, 5, 6}),
                                           f32_tensor("b.bias", {1}, {-7.5F})};
  write_safetensors(dir.file("x.safetensors"), tensors);
  const SafetensorsFile f = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2U);
  const TensorInfo& a = f.tensors().at("a");
  EXPECT_EQ(a.dtype, "F32");
  EXPECT_EQ(a.shape, (std::vector<std::uint64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), 24U);
  EXPECT_EQ(std::memcmp(a.data.data(), tensors[0].bytes.data(), 24), 0);
  EXPECT_EQ(std::memcmp(f.tensors().at("b.bias").data.data(), tensors[1].bytes.data(), 4), 0);
}

// Broken files are refused with the file name and the reason.
TEST(LlmSafetensors, BrokenFilesNameTheFileAndTheProblem) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  EXPECT_TRUE(mentions(open_error(path), "bad.safetensors: cannot open"));
  std::ofstream(path) << "abc";
  EXPECT_TRUE(mentions(open_error(path), "truncated: 3 bytes"));
  write_raw(path, "{}", 0);
  std::fstream(path, std::ios::in | std::ios::out | std::ios::binary).put('\x7f');
  EXPECT_TRUE(mentions(open_error(path), "header length 127 exceeds the file size"));
  write_raw(path, "{not json", 0);
  EXPECT_TRUE(mentions(open_error(path), "header is not valid JSON"));
  write_raw(path, R"({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 2]}})", 2);
  EXPECT_TRUE(mentions(open_error(path), "tensor 'w': unknown dtype 'Q4'"));
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8);
  EXPECT_TRUE(mentions(open_error(path), "data_offsets hold 8 bytes but F32 [3] needs 12"));
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  EXPECT_TRUE(mentions(open_error(path), "lie outside the 8-byte data section"));
}

// A directory with model.safetensors: find and require by name.
TEST(LlmSafetensors, CheckpointRequireChecksDtypeAndShape) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"),
                    std::vector<TensorData>{f32_tensor("w", {2, 2}, {1, 2, 3, 4})});
  const Checkpoint c = Checkpoint::open(dir.path());
  EXPECT_EQ(c.tensor_count(), 1U);
  EXPECT_EQ(c.find("missing"), nullptr);
  const std::string_view f32[] = {"F32"};
  const std::string_view bf16[] = {"BF16"};
  const std::uint64_t shape[] = {2, 2};
  const std::uint64_t wrong[] = {4};
  EXPECT_EQ(c.require("w", f32, shape).elements(), 4U);
  EXPECT_TRUE(
      mentions(error_from([&] { c.require("v", f32, shape); }).what(), "missing tensor 'v'"));
  EXPECT_TRUE(mentions(error_from([&] { c.require("w", bf16, shape); }).what(),
                       "tensor 'w' has dtype F32, expected BF16"));
  EXPECT_TRUE(mentions(error_from([&] { c.require("w", f32, wrong); }).what(),
                       "tensor 'w' has shape [2, 2], expected [4]"));
}

// model.safetensors.index.json maps tensors to shard files.
TEST(LlmSafetensors, ShardedCheckpointsFollowTheIndex) {
  TempDir dir;
  write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                    std::vector<TensorData>{f32_tensor("a", {1}, {1})});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                    std::vector<TensorData>{f32_tensor("b", {1}, {2})});
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                           "b": "model-00002-of-00002.safetensors"}})";
  const Checkpoint c = Checkpoint::open(dir.path());
  ASSERT_NE(c.find("a"), nullptr);
  ASSERT_NE(c.find("b"), nullptr);
  EXPECT_TRUE(mentions(c.find("b")->file, "model-00002-of-00002.safetensors"));
  float b = 0;
  std::memcpy(&b, c.find("b")->data.data(), 4);
  EXPECT_EQ(b, 2.0F);
}

// An index that maps a tensor to a shard without it, and a directory without weights, fail
// with the file named.
TEST(LlmSafetensors, BadIndexAndEmptyDirectoryAreReported) {
  TempDir dir;
  EXPECT_TRUE(mentions(error_from([&] { Checkpoint::open(dir.path()); }).what(),
                       "no model.safetensors or model.safetensors.index.json"));
  write_safetensors(dir.file("shard.safetensors"),
                    std::vector<TensorData>{f32_tensor("a", {1}, {1})});
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"weight_map": {"a": "shard.safetensors", "z": "shard.safetensors"}})";
  EXPECT_TRUE(
      mentions(error_from([&] { Checkpoint::open(dir.path()); }).what(), "maps tensor 'z' to"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
