#include "datasets/column_values.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>

namespace aimass::datasets {

uint64_t IntKey(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63); }
int64_t KeyInt(uint64_t k) { return static_cast<int64_t>(k ^ (uint64_t{1} << 63)); }

uint64_t FloatKey(double v) {
  if (v == 0) v = 0;  // -0 and 0 are one value
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
}

double KeyFloat(uint64_t k) {
  uint64_t bits = (k >> 63) ? k & ~(uint64_t{1} << 63) : ~k;
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

uint64_t HashString(std::string_view s) { return Mix64(std::hash<std::string_view>{}(s) + s.size()); }

void RadixSort(std::vector<uint64_t>& v) {
  const size_t n = v.size();
  if (n < 512) {
    std::sort(v.begin(), v.end());
    return;
  }
  // Sorted relative to the smallest key, a column of small numbers (of either sign: their
  // keys straddle 2^63) has high bytes that are all zero, and those passes are skipped.
  const uint64_t base = *std::min_element(v.begin(), v.end());
  // Eight passes of bytes (11-bit digits, six passes, measured slower here: 2,048 write streams).
  constexpr int kBits = 8, kPasses = 8;
  constexpr size_t kBuckets = size_t{1} << kBits;
  std::vector<std::array<size_t, kBuckets>> counts(kPasses);
  for (auto& c : counts) c.fill(0);
  for (uint64_t& x : v) {
    x -= base;
    for (int b = 0; b < kPasses; ++b) ++counts[b][(x >> (kBits * b)) & (kBuckets - 1)];
  }
  std::unique_ptr<uint64_t[]> tmp(new uint64_t[n]);  // not zeroed: every slot is written
  uint64_t* src = v.data();
  uint64_t* dst = tmp.get();
  for (int b = 0; b < kPasses; ++b) {
    auto& c = counts[b];
    if (*std::max_element(c.begin(), c.end()) == n) continue;  // every key has this byte
    size_t sum = 0;
    for (auto& x : c) {
      size_t t = x;
      x = sum;
      sum += t;
    }
    const int shift = kBits * b;
    for (size_t i = 0; i < n; ++i) {
      uint64_t x = src[i];
      dst[c[(x >> shift) & (kBuckets - 1)]++] = x;
    }
    std::swap(src, dst);
  }
  if (src != v.data()) std::memcpy(v.data(), src, n * sizeof(uint64_t));
  for (uint64_t& x : v) x += base;
}

void HyperLogLog::Add(uint64_t hash) {
  size_t idx = hash >> (64 - kPrecision);
  uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
  uint8_t rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
  if (rank > registers_[idx]) registers_[idx] = rank;
}

double HyperLogLog::Estimate() const {
  const double m = static_cast<double>(registers_.size());
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (e <= 2.5 * m && zeros) e = m * std::log(m / static_cast<double>(zeros));  // linear counting
  return e;
}

double ColumnValues::Value(uint64_t key) const {
  return type == ColumnType::kFloat ? KeyFloat(key) : static_cast<double>(KeyInt(key));
}

Result<ColumnValues> GatherColumn(const Table& table, size_t column, uint64_t limit, bool row_hashes) {
  ColumnValues v;
  v.type = table.schema()[column].type;
  const bool strings = IsStringType(v.type);
  const double scale = v.type == ColumnType::kTimestamp ? 1e-6 : 1.0;
  std::mt19937_64 rng(column + 1);
  if (row_hashes) v.row_hashes.reserve(table.rows());
  v.keys.reserve(std::min<uint64_t>(table.rows(), limit));
  const uint64_t null_hash = Mix64(0x6e756c6cull + column);
  // Only a column that may outgrow the limit needs the HyperLogLog.
  const bool need_hll = table.rows() > limit;
  bool first_str = true, first_num = true;
  double shift = 0, s1 = 0, s2 = 0;  // sums around the first value: no division per value
  for (size_t s = 0; s < table.segment_count(); ++s) {
    AIMASS_ASSIGN_OR_RETURN(ColumnData c, table.Read(s, column));
    std::vector<uint64_t> dict_hash;
    std::vector<uint32_t> uses;
    if (strings) {
      dict_hash.resize(c.dict_size());
      uses.assign(c.dict_size(), 0);
      for (uint32_t d = 0; d < c.dict_size(); ++d) dict_hash[d] = HashString(c.Entry(d));
    }
    for (size_t i = 0; i < c.rows; ++i) {
      if (c.IsNull(i)) {
        ++v.missing;
        if (row_hashes) v.row_hashes.push_back(null_hash);
        continue;
      }
      uint64_t key;
      if (strings) {
        key = dict_hash[c.codes[i]];
        ++uses[c.codes[i]];
      } else {
        key = v.type == ColumnType::kFloat ? FloatKey(c.floats[i]) : IntKey(c.ints[i]);
        v.min_key = std::min(v.min_key, key);
        v.max_key = std::max(v.max_key, key);
        double x = (v.type == ColumnType::kFloat ? c.floats[i] : static_cast<double>(c.ints[i])) * scale;
        if (first_num) {
          shift = x;
          first_num = false;
        }
        s1 += x - shift;
        s2 += (x - shift) * (x - shift);
      }
      ++v.count;
      uint64_t h = strings ? key : Mix64(key);
      if (need_hll) v.hll.Add(h);
      if (row_hashes) v.row_hashes.push_back(h);
      if (v.keys.size() < limit) {
        v.keys.push_back(key);
      } else {
        v.sampled = true;
        uint64_t j = rng() % v.count;
        if (j < limit) v.keys[j] = key;
      }
    }
    if (strings) {
      // Lengths and the smallest and largest value, once per dictionary entry in use.
      for (uint32_t d = 0; d < c.dict_size(); ++d) {
        if (!uses[d]) continue;
        std::string_view sv = c.Entry(d);
        uint64_t len = sv.size();
        if (first_str || len < v.min_len) v.min_len = len;
        if (first_str || len > v.max_len) v.max_len = len;
        if (first_str || sv < v.min_str) v.min_str = sv;
        if (first_str || sv > v.max_str) v.max_str = sv;
        first_str = false;
        v.total_len += static_cast<double>(len) * uses[d];
      }
      // Keep the text of the distinct values seen, up to a bound (top values need a few).
      if (v.text.size() < 50000) {
        for (uint32_t d = 0; d < c.dict_size(); ++d) {
          if (uses[d]) v.text.try_emplace(dict_hash[d], c.Entry(d));
        }
      }
    }
  }
  if (v.count) {
    const double n = static_cast<double>(v.count);
    v.mean = shift + s1 / n;
    v.m2 = std::max(0.0, s2 - s1 * s1 / n);
  }
  RadixSort(v.keys);
  return v;
}

std::vector<std::pair<uint64_t, uint64_t>> Runs(const std::vector<uint64_t>& sorted) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    out.emplace_back(sorted[i], j - i);
    i = j;
  }
  return out;
}

RunSummary SummarizeRuns(const std::vector<uint64_t>& sorted, size_t k) {
  RunSummary out;
  // A min-heap of the k longest runs so far: (count, key), the weakest on top.
  auto weaker = [](const std::pair<uint64_t, uint64_t>& a, const std::pair<uint64_t, uint64_t>& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  auto& heap = out.top;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    ++out.distinct;
    std::pair<uint64_t, uint64_t> run{sorted[i], j - i};
    if (heap.size() < k) {
      heap.push_back(run);
      std::push_heap(heap.begin(), heap.end(), weaker);
    } else if (k > 0 && weaker(run, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), weaker);
      heap.back() = run;
      std::push_heap(heap.begin(), heap.end(), weaker);
    }
    i = j;
  }
  std::sort(heap.begin(), heap.end(), weaker);
  return out;
}

double Quantile(const ColumnValues& v, double q) {
  if (v.keys.empty()) return 0;
  double pos = q * static_cast<double>(v.keys.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.keys.size() - 1);
  double a = v.Value(v.keys[lo]), b = v.Value(v.keys[hi]);
  return a + (b - a) * (pos - static_cast<double>(lo));
}

}  // namespace aimass::datasets
