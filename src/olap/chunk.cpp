#include "olap/chunk.hpp"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aimass::olap {

namespace {

constexpr char kMagic[4] = {'O', 'L', 'C', '1'};

uint8_t WidthFor(uint32_t max) { return max <= 0xff ? 1 : max <= 0xffff ? 2 : 4; }

template <typename T>
void PutRaw(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A block: its raw size, its compressed size and the zstd frame.
void PutBlock(std::string& out, const void* data, size_t bytes) {
  std::string z(ZSTD_compressBound(bytes), '\0');
  const size_t n = ZSTD_compress(z.data(), z.size(), data, bytes, 1);
  PutRaw<uint64_t>(out, bytes);
  PutRaw<uint64_t>(out, n);
  out.append(z.data(), n);
}

template <typename T>
void PutVector(std::string& out, const std::vector<T>& v) {
  PutBlock(out, v.data(), v.size() * sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Raw(T* v) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Block(std::vector<uint8_t>* out) {
    uint64_t raw, z;
    if (!Raw(&raw) || !Raw(&z) || data_.size() - pos_ < z || raw > (1ull << 34)) return false;
    out->resize(raw);
    const size_t n = ZSTD_decompress(out->data(), raw, data_.data() + pos_, z);
    pos_ += z;
    return !ZSTD_isError(n) && n == raw;
  }
  template <typename T>
  bool Vector(std::vector<T>* v, size_t expect) {
    std::vector<uint8_t> bytes;
    if (!Block(&bytes) || bytes.size() != expect * sizeof(T)) return false;
    v->resize(expect);
    if (expect) std::memcpy(v->data(), bytes.data(), bytes.size());
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void PutValues(std::string& out, const ValueColumn& c) {
  PutRaw<uint64_t>(out, c.values.size());
  PutVector(out, c.values);
  PutVector(out, c.valid);
}

bool GetValues(Reader& r, ValueColumn* c) {
  uint64_t n;
  if (!r.Raw(&n) || n > (1ull << 32) || !r.Vector(&c->values, n)) return false;
  std::vector<uint8_t> valid;
  if (!r.Block(&valid) || (!valid.empty() && valid.size() != n)) return false;
  c->valid = std::move(valid);
  c->ComputeZone();
  return true;
}

}  // namespace

CodeColumn::CodeColumn(const std::vector<uint32_t>& codes) {
  if (!codes.empty()) {
    auto [lo, hi] = std::minmax_element(codes.begin(), codes.end());
    min_ = *lo;
    max_ = *hi;
  }
  width_ = WidthFor(max_);
  bytes_.resize(codes.size() * width_);
  for (size_t i = 0; i < codes.size(); ++i) {
    if (width_ == 1) bytes_[i] = static_cast<uint8_t>(codes[i]);
    else if (width_ == 2) reinterpret_cast<uint16_t*>(bytes_.data())[i] = static_cast<uint16_t>(codes[i]);
    else reinterpret_cast<uint32_t*>(bytes_.data())[i] = codes[i];
  }
}

void ValueColumn::ComputeZone() {
  bool any = false;
  min = max = 0;
  decimals = 0;
  static constexpr double kPow[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  for (size_t i = 0; i < values.size(); ++i) {
    if (!Valid(i)) continue;
    const double v = values[i];
    if (!any) min = max = v, any = true;
    min = std::min(min, v);
    max = std::max(max, v);
    // Raise the scale until v × 10^d is a whole number but for the double's rounding.
    while (decimals >= 0) {
      const double x = v * kPow[decimals];
      if (std::fabs(x) < 4e15 && std::fabs(x - std::nearbyint(x)) <= 8 * 2.220446049250313e-16 * std::max(1.0, std::fabs(x))) break;
      decimals = decimals == 6 ? -1 : static_cast<int8_t>(decimals + 1);
    }
  }
}

size_t Chunk::memory() const {
  size_t m = time.memory() + weights.capacity() * 8;
  for (const auto& c : codes) m += c.memory();
  for (const auto& c : measures) m += c.memory();
  return m;
}

std::string ChunkCodec::Encode(const Chunk& chunk) {
  std::string out(kMagic, 4);
  PutRaw<uint64_t>(out, chunk.rows);
  PutRaw<uint32_t>(out, static_cast<uint32_t>(chunk.codes.size()));
  PutRaw<uint32_t>(out, static_cast<uint32_t>(chunk.measures.size()));
  for (const auto& c : chunk.codes) {
    PutRaw<uint8_t>(out, c.width_);
    PutVector(out, c.bytes_);
  }
  PutRaw<uint8_t>(out, chunk.time.offsets.empty() ? 0 : 1);
  if (!chunk.time.offsets.empty()) {
    PutRaw<int64_t>(out, chunk.time.min);
    PutVector(out, chunk.time.offsets);
  }
  PutVector(out, chunk.weights);
  for (const auto& m : chunk.measures) {
    PutValues(out, m.sum);
    PutValues(out, m.min);
    PutValues(out, m.max);
    PutVector(out, m.count);
    PutRaw<uint8_t>(out, m.distinct.codes.width_);
    PutVector(out, m.distinct.codes.bytes_);
    PutVector(out, m.distinct.offsets);
  }
  return out;
}

Result<Chunk> ChunkCodec::Decode(std::string_view data, size_t code_columns, size_t measures) {
  const Status bad = Status::Internal("a cube chunk file is damaged");
  if (data.size() < 4 || std::memcmp(data.data(), kMagic, 4) != 0) return bad;
  Reader r(data.substr(4));
  Chunk c;
  uint64_t rows;
  uint32_t ncodes, nmeasures;
  if (!r.Raw(&rows) || !r.Raw(&ncodes) || !r.Raw(&nmeasures) || rows > (1ull << 32)) return bad;
  if (ncodes != code_columns || nmeasures != measures) return Status::Internal("a cube chunk file does not match its table");
  c.rows = rows;
  auto get_codes = [&](CodeColumn* col, size_t expect, bool any_size) {
    uint8_t w;
    if (!r.Raw(&w) || (w != 1 && w != 2 && w != 4) || !r.Block(&col->bytes_)) return false;
    col->width_ = w;
    if (col->bytes_.size() % w != 0 || (!any_size && col->bytes_.size() != expect * w)) return false;
    const size_t n = col->bytes_.size() / w;
    col->min_ = n ? col->At(0) : 0;
    col->max_ = col->min_;
    for (size_t i = 0; i < n; ++i) {
      col->min_ = std::min(col->min_, col->At(i));
      col->max_ = std::max(col->max_, col->At(i));
    }
    return true;
  };
  c.codes.resize(ncodes);
  for (auto& col : c.codes) {
    if (!get_codes(&col, rows, false)) return bad;
  }
  uint8_t has_time;
  if (!r.Raw(&has_time)) return bad;
  if (has_time) {
    if (!r.Raw(&c.time.min) || !r.Vector(&c.time.offsets, rows)) return bad;
    uint32_t hi = 0;
    for (uint32_t o : c.time.offsets) hi = std::max(hi, o);
    c.time.max = c.time.min + hi;
  }
  std::vector<uint8_t> weights;
  if (!r.Block(&weights) || (!weights.empty() && weights.size() != rows * 8)) return bad;
  c.weights.resize(weights.size() / 8);
  if (!weights.empty()) std::memcpy(c.weights.data(), weights.data(), weights.size());
  c.measures.resize(nmeasures);
  for (auto& m : c.measures) {
    if (!GetValues(r, &m.sum) || !GetValues(r, &m.min) || !GetValues(r, &m.max)) return bad;
    if ((!m.sum.values.empty() && m.sum.values.size() != rows) || (!m.min.values.empty() && m.min.values.size() != rows) ||
        (!m.max.values.empty() && m.max.values.size() != rows)) {
      return bad;
    }
    std::vector<uint8_t> count;
    if (!r.Block(&count) || (!count.empty() && count.size() != rows * 8)) return bad;
    m.count.resize(count.size() / 8);
    if (!count.empty()) std::memcpy(m.count.data(), count.data(), count.size());
    if (!get_codes(&m.distinct.codes, 0, true)) return bad;
    std::vector<uint8_t> offsets;
    if (!r.Block(&offsets) || offsets.size() % 4 != 0) return bad;
    m.distinct.offsets.resize(offsets.size() / 4);
    if (!offsets.empty()) std::memcpy(m.distinct.offsets.data(), offsets.data(), offsets.size());
    const size_t n = m.distinct.codes.size();
    if (m.distinct.offsets.empty()) {
      if (n != 0 && n != rows) return bad;
    } else {
      if (m.distinct.offsets.size() != rows + 1 || m.distinct.offsets.front() != 0 || m.distinct.offsets.back() != n) return bad;
      if (!std::is_sorted(m.distinct.offsets.begin(), m.distinct.offsets.end())) return bad;
    }
  }
  if (!r.done()) return bad;
  return c;
}

}  // namespace aimass::olap
