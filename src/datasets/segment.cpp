#include "datasets/segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace aimass::datasets {

namespace {

constexpr char kMagic[8] = {'A', 'M', 'S', 'E', 'G', '0', '0', '1'};
constexpr size_t kColumnHeaderBytes = 1 + 1 + 8 * 3 + 16;
constexpr int kZstdLevel = 1;  // fast: ingest speed matters more than the last percent of size

template <class T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
void PutArray(std::string& out, const std::vector<T>& v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Reads fixed-size values from a byte range, failing instead of reading past its end.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}
  template <class T>
  bool Get(T& v) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Take(size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

std::string RawBlock(const ColumnData& c) {
  std::string raw;
  bool nulls = !c.valid.empty();
  if (nulls) {
    std::string bits((c.rows + 7) / 8, '\0');
    for (size_t i = 0; i < c.rows; ++i) {
      if (c.valid[i]) bits[i / 8] = static_cast<char>(bits[i / 8] | (1 << (i % 8)));
    }
    raw += bits;
  }
  if (IsStringType(c.type)) {
    Put<uint32_t>(raw, static_cast<uint32_t>(c.dict_size()));
    PutArray(raw, c.dict_offsets);
    raw += c.dict_bytes;
    size_t n = c.dict_size();
    uint8_t width = n <= 0x100 ? 1 : n <= 0x10000 ? 2 : 4;
    Put<uint8_t>(raw, width);
    for (uint32_t code : c.codes) raw.append(reinterpret_cast<const char*>(&code), width);
  } else if (c.type == ColumnType::kFloat) {
    PutArray(raw, c.floats);
  } else {
    PutArray(raw, c.ints);
  }
  return raw;
}

void MinMax(const ColumnData& c, SegmentColumnInfo& info) {
  bool first = true;
  for (size_t i = 0; i < c.rows; ++i) {
    if (c.IsNull(i)) continue;
    if (c.type == ColumnType::kFloat) {
      double v = c.floats[i];
      if (first || v < info.min_float) info.min_float = v;
      if (first || v > info.max_float) info.max_float = v;
    } else if (!IsStringType(c.type)) {
      int64_t v = c.ints[i];
      if (first || v < info.min_int) info.min_int = v;
      if (first || v > info.max_int) info.max_int = v;
    } else {
      return;
    }
    first = false;
  }
}

Status Corrupt(std::string_view what) { return Status::Internal("corrupt dataset segment: " + std::string(what)); }

Result<ColumnData> DecodeBlock(const SegmentColumnInfo& info, uint32_t rows, std::string_view stored) {
  // The size the header claims must be the frame's own, before anything is allocated for it.
  unsigned long long framed = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (framed == ZSTD_CONTENTSIZE_ERROR || framed == ZSTD_CONTENTSIZE_UNKNOWN || framed != info.raw) {
    return Corrupt("column block size");
  }
  if (info.raw > (uint64_t{1} << 34)) return Corrupt("column too large");
  std::string raw(info.raw, '\0');
  size_t got = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(got) || got != raw.size()) return Corrupt("column block does not decompress");
  Cursor cur(raw);
  ColumnData c;
  c.type = info.type;
  c.rows = rows;
  if (info.has_nulls) {
    std::string_view bits;
    if (!cur.Take((size_t{rows} + 7) / 8, bits)) return Corrupt("null bitmap");
    c.valid.resize(rows);
    for (size_t i = 0; i < rows; ++i) c.valid[i] = (static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1;
  }
  auto read_array = [&](auto& vec) -> bool {
    using T = typename std::decay_t<decltype(vec)>::value_type;
    std::string_view bytes;
    if (!cur.Take(size_t{rows} * sizeof(T), bytes)) return false;
    vec.resize(rows);
    std::memcpy(vec.data(), bytes.data(), bytes.size());
    return true;
  };
  if (IsStringType(info.type)) {
    uint32_t n = 0;
    if (!cur.Get(n) || n > raw.size()) return Corrupt("dictionary size");
    c.dict_offsets.resize(size_t{n} + 1);
    std::string_view bytes;
    if (!cur.Take((size_t{n} + 1) * 4, bytes)) return Corrupt("dictionary offsets");
    std::memcpy(c.dict_offsets.data(), bytes.data(), bytes.size());
    if (c.dict_offsets[0] != 0) return Corrupt("dictionary offsets");
    for (size_t i = 0; i < n; ++i) {
      if (c.dict_offsets[i + 1] < c.dict_offsets[i]) return Corrupt("dictionary offsets");
    }
    std::string_view dict;
    if (!cur.Take(c.dict_offsets[n], dict)) return Corrupt("dictionary bytes");
    c.dict_bytes.assign(dict);
    uint8_t width = 0;
    if (!cur.Get(width) || (width != 1 && width != 2 && width != 4)) return Corrupt("code width");
    std::string_view codes;
    if (!cur.Take(size_t{rows} * width, codes)) return Corrupt("codes");
    c.codes.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      uint32_t code = 0;
      std::memcpy(&code, codes.data() + i * width, width);
      if (code >= n) return Corrupt("code out of the dictionary");
      c.codes[i] = code;
    }
  } else if (info.type == ColumnType::kFloat) {
    if (!read_array(c.floats)) return Corrupt("float values");
  } else {
    if (!read_array(c.ints)) return Corrupt("integer values");
  }
  if (!cur.done()) return Corrupt("trailing bytes in a column block");
  return c;
}

Result<std::vector<SegmentColumnInfo>> ParseHeader(std::string_view header, uint32_t& rows) {
  Cursor cur(header);
  uint32_t ncols = 0;
  if (!cur.Get(rows) || !cur.Get(ncols) || ncols > 100000) return Corrupt("header");
  std::vector<SegmentColumnInfo> cols(ncols);
  for (auto& c : cols) {
    uint8_t type = 0, flags = 0;
    if (!cur.Get(type) || !cur.Get(flags) || type > 5) return Corrupt("column type");
    c.type = static_cast<ColumnType>(type);
    c.has_nulls = flags & 1;
    if (!cur.Get(c.offset) || !cur.Get(c.stored) || !cur.Get(c.raw)) return Corrupt("column header");
    if (c.type == ColumnType::kFloat) {
      if (!cur.Get(c.min_float) || !cur.Get(c.max_float)) return Corrupt("column header");
    } else if (!cur.Get(c.min_int) || !cur.Get(c.max_int)) {
      return Corrupt("column header");
    }
  }
  if (!cur.done()) return Corrupt("header length");
  return cols;
}

}  // namespace

std::string EncodeSegment(const std::vector<ColumnData>& columns) {
  uint32_t rows = columns.empty() ? 0 : static_cast<uint32_t>(columns[0].rows);
  std::vector<std::string> blocks;
  std::vector<SegmentColumnInfo> infos(columns.size());
  uint32_t header_len = 8 + static_cast<uint32_t>(columns.size() * kColumnHeaderBytes);
  uint64_t offset = sizeof kMagic + 4 + header_len;
  for (size_t i = 0; i < columns.size(); ++i) {
    const ColumnData& c = columns[i];
    std::string raw = RawBlock(c);
    std::string stored(ZSTD_compressBound(raw.size()), '\0');
    size_t n = ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), kZstdLevel);
    stored.resize(ZSTD_isError(n) ? 0 : n);
    SegmentColumnInfo& info = infos[i];
    info.type = c.type;
    info.has_nulls = !c.valid.empty();
    info.offset = offset;
    info.stored = stored.size();
    info.raw = raw.size();
    MinMax(c, info);
    offset += stored.size();
    blocks.push_back(std::move(stored));
  }
  std::string out(kMagic, sizeof kMagic);
  Put<uint32_t>(out, header_len);
  Put<uint32_t>(out, rows);
  Put<uint32_t>(out, static_cast<uint32_t>(columns.size()));
  for (const auto& info : infos) {
    Put<uint8_t>(out, static_cast<uint8_t>(info.type));
    Put<uint8_t>(out, info.has_nulls ? 1 : 0);
    Put(out, info.offset);
    Put(out, info.stored);
    Put(out, info.raw);
    if (info.type == ColumnType::kFloat) {
      Put(out, info.min_float);
      Put(out, info.max_float);
    } else {
      Put(out, info.min_int);
      Put(out, info.max_int);
    }
  }
  for (const auto& b : blocks) out += b;
  return out;
}

Result<std::vector<ColumnData>> DecodeSegment(std::string_view bytes) {
  Cursor cur(bytes);
  std::string_view magic, header;
  uint32_t header_len = 0, rows = 0;
  if (!cur.Take(sizeof kMagic, magic) || std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) return Corrupt("magic");
  if (!cur.Get(header_len) || !cur.Take(header_len, header)) return Corrupt("header");
  AIMASS_ASSIGN_OR_RETURN(auto infos, ParseHeader(header, rows));
  std::vector<ColumnData> out;
  for (const auto& info : infos) {
    if (info.offset > bytes.size() || info.stored > bytes.size() - info.offset) return Corrupt("column block bounds");
    AIMASS_ASSIGN_OR_RETURN(ColumnData c, DecodeBlock(info, rows, bytes.substr(info.offset, info.stored)));
    out.push_back(std::move(c));
  }
  return out;
}

Result<SegmentFile> SegmentFile::Open(const std::string& path) {
  SegmentFile f;
  f.path_ = path;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) return Status::Internal("cannot open dataset segment " + path);
  char head[sizeof kMagic + 4];
  if (::pread(f.fd_, head, sizeof head, 0) != static_cast<ssize_t>(sizeof head) ||
      std::memcmp(head, kMagic, sizeof kMagic) != 0) {
    return Corrupt(path);
  }
  uint32_t header_len = 0;
  std::memcpy(&header_len, head + sizeof kMagic, 4);
  if (header_len > (64u << 20)) return Corrupt(path);
  std::string header(header_len, '\0');
  if (::pread(f.fd_, header.data(), header_len, sizeof head) != static_cast<ssize_t>(header_len)) return Corrupt(path);
  AIMASS_ASSIGN_OR_RETURN(f.columns_, ParseHeader(header, f.rows_));
  return f;
}

SegmentFile::SegmentFile(SegmentFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), rows_(o.rows_), columns_(std::move(o.columns_)) {}

SegmentFile& SegmentFile::operator=(SegmentFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    rows_ = o.rows_;
    columns_ = std::move(o.columns_);
  }
  return *this;
}

SegmentFile::~SegmentFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<ColumnData> SegmentFile::ReadColumn(size_t index) const {
  if (index >= columns_.size()) return Status::Internal("segment " + path_ + " has no column " + std::to_string(index));
  const SegmentColumnInfo& info = columns_[index];
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || info.offset > static_cast<uint64_t>(st.st_size) ||
      info.stored > static_cast<uint64_t>(st.st_size) - info.offset) {
    return Corrupt(path_ + " (a column block past its end)");
  }
  std::string stored(info.stored, '\0');
  size_t done = 0;
  while (done < stored.size()) {
    ssize_t n = ::pread(fd_, stored.data() + done, stored.size() - done, static_cast<off_t>(info.offset + done));
    if (n <= 0) return Corrupt(path_ + " (short read)");
    done += static_cast<size_t>(n);
  }
  return DecodeBlock(info, rows_, stored);
}

}  // namespace aimass::datasets
