#include "llm/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/file.hpp"

namespace aimass::llm {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // as the format's reference reader

DType ParseDType(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return DType::kOther;
}

size_t NamedSize(const std::string& s) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
      {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(s);
  return it == sizes.end() ? 0 : it->second;
}

// Parses a header of `header_len` bytes; `data_len` is what follows it in the file.
Result<std::map<std::string, TensorView>> ParseHeader(std::string_view header, uint64_t data_len,
                                                      const uint8_t* data) {
  nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Unprocessable("the safetensors header is not a JSON object");
  std::map<std::string, TensorView> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, t] : j.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor '" + name.substr(0, 200) + "'";
    if (!t.is_object() || !t.contains("dtype") || !t["dtype"].is_string() || !t.contains("shape") ||
        !t["shape"].is_array() || !t.contains("data_offsets") || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2) {
      return Status::Unprocessable(where + " needs dtype, shape and data_offsets");
    }
    TensorView v;
    v.name = name;
    v.dtype_name = t["dtype"].get<std::string>();
    v.dtype = ParseDType(v.dtype_name);
    const size_t esize = NamedSize(v.dtype_name);
    if (esize == 0) return Status::Unprocessable(where + " has an unknown dtype '" + v.dtype_name.substr(0, 20) + "'");
    uint64_t count = 1;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_unsigned()) return Status::Unprocessable(where + " has a bad shape");
      const uint64_t n = d.get<uint64_t>();
      if (n != 0 && count > (uint64_t(1) << 62) / n) return Status::Unprocessable(where + " is too large");
      count *= n;
      v.shape.push_back(static_cast<int64_t>(n));
    }
    const auto& off = t["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return Status::Unprocessable(where + " has bad data_offsets");
    }
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_len) return Status::Unprocessable(where + "'s bytes lie outside the file");
    if (end - begin != count * esize) {
      return Status::Unprocessable(where + " holds " + std::to_string(end - begin) + " bytes, its shape and dtype need " +
                                   std::to_string(count * esize));
    }
    v.bytes = end - begin;
    v.data = data ? data + begin : nullptr;
    ranges.emplace_back(begin, end);
    out.emplace(name, std::move(v));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) return Status::Unprocessable("two tensors of the safetensors file overlap");
  }
  return out;
}

Result<uint64_t> HeaderLength(const uint8_t* p, uint64_t file_size) {
  if (file_size < 8) return Status::Unprocessable("not a safetensors file: shorter than its header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  if (n > kMaxHeader || n + 8 > file_size) return Status::Unprocessable("not a safetensors file: bad header length");
  return n;
}

}  // namespace

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    default: return "other";
  }
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    default: return 0;
  }
}

int64_t TensorView::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::unique_ptr<SafeTensorsFile>> SafeTensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unprocessable("the weights file cannot be opened");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 8) {
    ::close(fd);
    return Status::Unprocessable("not a safetensors file: too short");
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Status::Internal("the weights file cannot be mapped");
  std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->map_ = m;
  f->size_ = static_cast<size_t>(st.st_size);
  AIMASS_ASSIGN_OR_RETURN(f->tensors_, ParseSafeTensors(std::string_view(static_cast<const char*>(m), f->size_)));
  return f;
}

Result<std::map<std::string, TensorView>> ParseSafeTensors(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  AIMASS_ASSIGN_OR_RETURN(uint64_t n, HeaderLength(p, bytes.size()));
  return ParseHeader(bytes.substr(8, n), bytes.size() - 8 - n, p + 8 + n);
}

Result<std::vector<TensorView>> SafeTensorsFile::ReadHeader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unprocessable("the weights file cannot be opened");
  struct stat st {};
  uint8_t len[8];
  if (::fstat(fd, &st) != 0 || ::pread(fd, len, 8, 0) != 8) {
    ::close(fd);
    return Status::Unprocessable("not a safetensors file: too short");
  }
  auto n = HeaderLength(len, static_cast<uint64_t>(st.st_size));
  if (!n.ok()) {
    ::close(fd);
    return n.status();
  }
  std::string header(*n, '\0');
  const bool read = ::pread(fd, header.data(), *n, 8) == static_cast<ssize_t>(*n);
  ::close(fd);
  if (!read) return Status::Unprocessable("the safetensors header cannot be read");
  AIMASS_ASSIGN_OR_RETURN(auto map, ParseHeader(header, static_cast<uint64_t>(st.st_size) - 8 - *n, nullptr));
  std::vector<TensorView> out;
  for (auto& [_, v] : map) out.push_back(std::move(v));
  return out;
}

SafeTensorsFile::~SafeTensorsFile() {
  if (map_) ::munmap(map_, size_);
}

namespace {

// The weight files of a model directory: the one file, or the shards its index names.
Result<std::vector<std::string>> WeightFileNames(const std::map<std::string, std::string>& files) {
  if (files.count("model.safetensors")) return std::vector<std::string>{"model.safetensors"};
  auto index = files.find("model.safetensors.index.json");
  if (index == files.end()) {
    return Status::Unprocessable("no model.safetensors (or model.safetensors.index.json with its shards)");
  }
  auto text = ReadFile(index->second);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return Status::Unprocessable("model.safetensors.index.json has no weight_map object");
  }
  std::vector<std::string> names;
  for (auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string()) return Status::Unprocessable("weight_map['" + tensor.substr(0, 200) + "'] is not a file name");
    std::string f = file.get<std::string>();
    if (!files.count(f)) return Status::Unprocessable("the shard '" + f.substr(0, 200) + "' the index names is missing");
    if (std::find(names.begin(), names.end(), f) == names.end()) names.push_back(f);
  }
  if (names.empty()) return Status::Unprocessable("model.safetensors.index.json names no shard");
  return names;
}

Status AddAll(std::map<std::string, TensorView>& all, std::map<std::string, TensorView> more) {
  for (auto& [name, v] : more) {
    if (!all.emplace(name, std::move(v)).second) {
      return Status::Unprocessable("tensor '" + name.substr(0, 200) + "' is in two shards");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<WeightFiles>> WeightFiles::Open(const std::map<std::string, std::string>& files) {
  AIMASS_ASSIGN_OR_RETURN(auto names, WeightFileNames(files));
  auto w = std::make_unique<WeightFiles>();
  for (const auto& n : names) {
    AIMASS_ASSIGN_OR_RETURN(auto f, SafeTensorsFile::Open(files.at(n)));
    AIMASS_RETURN_IF_ERROR(AddAll(w->all_, f->tensors()));
    w->files_.push_back(std::move(f));
  }
  return w;
}

Result<std::map<std::string, TensorView>> WeightFiles::Headers(const std::map<std::string, std::string>& files) {
  AIMASS_ASSIGN_OR_RETURN(auto names, WeightFileNames(files));
  std::map<std::string, TensorView> all;
  for (const auto& n : names) {
    AIMASS_ASSIGN_OR_RETURN(auto list, SafeTensorsFile::ReadHeader(files.at(n)));
    std::map<std::string, TensorView> m;
    for (auto& v : list) m.emplace(v.name, std::move(v));
    AIMASS_RETURN_IF_ERROR(AddAll(all, std::move(m)));
  }
  return all;
}

const TensorView* WeightFiles::Find(const std::string& name) const {
  auto it = all_.find(name);
  return it == all_.end() ? nullptr : &it->second;
}

std::string EncodeSafeTensors(const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = t.second.size() * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.first}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // data starts 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
  out += h;
  for (const auto& [_, t] : tensors) out.append(reinterpret_cast<const char*>(t.second.data()), t.second.size() * 4);
  return out;
}

}  // namespace aimass::llm
