// SafeTensors: the weights file format of Hugging Face models (an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes),
// memory-mapped read-only so that loading a model costs no copy of an F32 weight. A model in
// shards is a set of such files with `model.safetensors.index.json` saying which holds what.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::llm {

enum class DType { kF32, kF16, kBF16, kOther };
std::string_view DTypeName(DType t);
size_t DTypeSize(DType t);  // 0 for kOther

// One tensor inside a mapped file. `data` lives as long as the file it came from.
struct TensorView {
  std::string name;
  DType dtype = DType::kOther;
  std::string dtype_name;  // as the header wrote it ("F32", "I64", …)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  int64_t elements() const;
};

// One mapped .safetensors file. The header is checked whole at Open: every range inside the
// data, of the size its dtype and shape imply, none overlapping.
class SafeTensorsFile {
 public:
  static Result<std::unique_ptr<SafeTensorsFile>> Open(const std::string& path);
  // Parses only the header (from the file's first bytes): what a validator needs.
  static Result<std::vector<TensorView>> ReadHeader(const std::string& path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  size_t mapped_bytes() const { return size_; }

 private:
  SafeTensorsFile() = default;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

// A model's weights: one file, or the shards an index names (`weight_map`: tensor → file).
// `files` maps a name in the model's directory to the local path of that file.
class WeightFiles {
 public:
  // Opens `model.safetensors`, or every shard `model.safetensors.index.json` names.
  static Result<std::unique_ptr<WeightFiles>> Open(const std::map<std::string, std::string>& files);
  // The same check on headers only (no mapping): every tensor's name, dtype and shape.
  static Result<std::map<std::string, TensorView>> Headers(const std::map<std::string, std::string>& files);

  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, TensorView>& all() const { return all_; }

 private:
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;
  std::map<std::string, TensorView> all_;
};

// Checks a whole safetensors file held in memory (its header against its size) and gives its
// tensors, pointing into `bytes`: what Open does after mapping the file.
Result<std::map<std::string, TensorView>> ParseSafeTensors(std::string_view bytes);

// Writes a safetensors file (tests and tools): tensors as F32.
std::string EncodeSafeTensors(const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors);

}  // namespace aimass::llm
