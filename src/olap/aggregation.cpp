#include "olap/aggregation.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/cpus.hpp"
#include "olap/hyperloglog.hpp"

namespace aimass::olap {

namespace {

constexpr size_t kBatch = 2048;
constexpr uint64_t kDenseGroups = uint64_t{1} << 22;  // largest key space kept as a dense array
constexpr uint64_t kBitmapBits = uint64_t{1} << 28;   // largest groups × codes kept as a bitmap per thread (32 MiB)
constexpr double kInf = std::numeric_limits<double>::infinity();

// Open addressing (linear probing) from a 64-bit key to a dense index, in insertion order.
class KeyMap {
 public:
  KeyMap() { slots_.assign(1024, kEmpty); }
  uint32_t FindOrInsert(uint64_t key) {
    size_t mask = slots_.size() - 1;
    for (size_t i = HyperLogLog::Mix(key) & mask;; i = (i + 1) & mask) {
      const uint32_t s = slots_[i];
      if (s == kEmpty) {
        const auto index = static_cast<uint32_t>(keys_.size());
        slots_[i] = index;
        keys_.push_back(key);
        if (keys_.size() * 2 > slots_.size()) Grow();
        return index;
      }
      if (keys_[s] == key) return s;
    }
  }
  const std::vector<uint64_t>& keys() const { return keys_; }
  size_t memory() const { return slots_.size() * 4 + keys_.capacity() * 8; }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  void Grow() {
    std::vector<uint32_t> next(slots_.size() * 2, kEmpty);
    const size_t mask = next.size() - 1;
    for (uint32_t idx = 0; idx < keys_.size(); ++idx) {
      size_t i = HyperLogLog::Mix(keys_[idx]) & mask;
      while (next[i] != kEmpty) i = (i + 1) & mask;
      next[i] = idx;
    }
    slots_.swap(next);
  }
  std::vector<uint32_t> slots_;
  std::vector<uint64_t> keys_;
};

// A set of 64-bit values (group index << 32 | code), open addressing with 0 as the empty slot.
class PairSet {
 public:
  PairSet() { slots_.assign(1024, 0); }
  void Insert(uint64_t v) {
    ++v;  // never 0
    size_t mask = slots_.size() - 1;
    for (size_t i = HyperLogLog::Mix(v) & mask;; i = (i + 1) & mask) {
      if (slots_[i] == v) return;
      if (slots_[i] == 0) {
        slots_[i] = v;
        if (++size_ * 2 > slots_.size()) Grow();
        return;
      }
    }
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (uint64_t s : slots_) {
      if (s) f(s - 1);
    }
  }
  size_t memory() const { return slots_.size() * 8; }

 private:
  void Grow() {
    std::vector<uint64_t> next(slots_.size() * 2, 0);
    const size_t mask = next.size() - 1;
    for (uint64_t s : slots_) {
      if (!s) continue;
      size_t i = HyperLogLog::Mix(s) & mask;
      while (next[i]) i = (i + 1) & mask;
      next[i] = s;
    }
    slots_.swap(next);
  }
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
};

struct KeyRange {
  int64_t lo = 0;
  uint64_t card = 1;
  uint64_t stride = 1;
};

// Month, quarter and year of each day over the table's days, so a batch maps a day to them by
// a lookup instead of the civil calendar's arithmetic per row.
struct CalendarTable {
  int64_t day_min = 0;
  std::vector<int32_t> month, quarter, year;
  void Build(int64_t t_min, int64_t t_max) {
    day_min = FloorDiv(t_min, 86400);
    const int64_t days = FloorDiv(t_max, 86400) - day_min + 1;
    if (days <= 0 || days > 4'000'000) return;  // beyond ~11,000 years: computed per row
    month.resize(days), quarter.resize(days), year.resize(days);
    for (int64_t d = 0; d < days; ++d) {
      int64_t y;
      unsigned m, dd;
      CivilFromDays(day_min + d, &y, &m, &dd);
      month[d] = static_cast<int32_t>(y * 12 + m - 1);
      quarter[d] = static_cast<int32_t>(y * 4 + (m - 1) / 3);
      year[d] = static_cast<int32_t>(y);
    }
  }
  bool covers() const { return !month.empty(); }
};

bool IsDistinct(Agg a) { return a == Agg::kCountDistinct || a == Agg::kApproxDistinct; }

// An aggregate's answer from its state: `value` the sum, minimum or maximum it keeps, `count` the
// values (or rows) it saw, `distinct` the values it counted exactly, `sketch` its estimate's.
std::optional<double> Final(Agg agg, double value, double count, double distinct, const HyperLogLog* sketch) {
  switch (agg) {
    case Agg::kRows:
    case Agg::kCount: return count;
    case Agg::kAvg: return count > 0 ? std::optional<double>(value / count) : std::nullopt;
    case Agg::kCountDistinct: return distinct;
    case Agg::kApproxDistinct: return sketch ? sketch->Estimate() : 0.0;
    default: return count > 0 ? std::optional<double>(value) : std::nullopt;
  }
}

struct Local {
  std::vector<double> st;        // groups × slots
  std::vector<uint8_t> touched;  // dense: which groups have rows
  KeyMap map;                    // hash: group key → index
  std::vector<std::vector<uint64_t>> bitmaps;  // per aggregate (exact distinct, dense, small)
  std::vector<PairSet> pairs;                  // per aggregate (exact distinct otherwise)
  std::vector<std::vector<int32_t>> hll_of;    // per aggregate: group → its sketch (approximate)
  std::vector<std::vector<HyperLogLog>> hlls;
  uint64_t scanned = 0, skipped = 0;
  size_t counted = 0;  // bytes reported to the shared count
};

class Executor {
 public:
  Executor(const Table& t, const AggregationQuery& q) : t_(t), q_(q) {}

  Result<AggregationResult> Run();

 private:
  Status Plan();
  void Scan(size_t worker, std::atomic<size_t>* next);
  void ProcessChunk(const Chunk& c, Local& L);
  size_t Filter(const Chunk& c, size_t start, size_t n, uint32_t* sel);
  void TimeKeys(const Chunk& c, TimeLevel level, const uint32_t* sel, size_t m, int64_t* out) const;
  void InitSlots(double* s) const;
  bool Charge(Local& L, size_t now_bytes);
  size_t LocalMemory(const Local& L) const;

  const Table& t_;
  const AggregationQuery& q_;
  std::vector<KeyRange> ranges_;
  uint64_t groups_ = 1;  // the key space
  bool dense_ = true;
  bool bitmap_ = false;
  size_t slots_ = 0;
  std::vector<double> scale_;  // per aggregate: 10^decimals of an exact sum, or 0
  CalendarTable cal_;
  std::vector<Local> locals_;
  std::atomic<size_t> memory_{0};
  std::atomic<bool> over_{false};
};

Status Executor::Plan() {
  if (q_.group_by.size() > 16) return Status::BadRequest("a query groups by at most 16 levels");
  slots_ = q_.aggregates.size() * 2;
  for (const auto& a : q_.aggregates) {
    if (a.agg != Agg::kRows && a.measure >= t_.schema.measures.size()) return Status::Internal("aggregate of an unknown measure");
    if (IsDistinct(a.agg) != (a.agg != Agg::kRows && t_.schema.measures[a.measure].distinct)) {
      return Status::BadRequest("measure '" + t_.schema.measures[a.measure].name + "' cannot be aggregated that way");
    }
  }
  for (const auto& f : q_.code_filters) {
    if (f.column >= t_.schema.code_columns.size()) return Status::Internal("filter on an unknown column");
  }
  // Exact sums: every chunk's values decimal, and no sum that could pass 2^62 units.
  scale_.assign(q_.aggregates.size(), 0);
  for (size_t a = 0; a < q_.aggregates.size(); ++a) {
    const Agg agg = q_.aggregates[a].agg;
    if (agg != Agg::kSum && agg != Agg::kAvg) continue;
    int digits = 0;
    for (const auto& c : t_.chunks) digits = std::max<int>(digits, c->measures[q_.aggregates[a].measure].sum.decimals < 0 ? 99 : c->measures[q_.aggregates[a].measure].sum.decimals);
    if (digits > 6) continue;
    const double scale = std::pow(10.0, digits);
    double bound = 0;
    for (const auto& c : t_.chunks) {
      const ValueColumn& v = c->measures[q_.aggregates[a].measure].sum;
      bound += std::max(std::fabs(v.min), std::fabs(v.max)) * scale * static_cast<double>(c->rows);
    }
    if (bound < 4.6e18) scale_[a] = scale;
  }
  const int64_t from = std::max(t_.time_min, q_.time_from);
  const int64_t to = std::min(t_.time_max, q_.time_to == std::numeric_limits<int64_t>::max() ? q_.time_to : q_.time_to - 1);
  bool calendar = false;
  for (const auto& g : q_.group_by) {
    KeyRange r;
    if (!g.time) {
      if (g.column >= t_.schema.code_columns.size()) return Status::Internal("group by an unknown column");
      r.card = t_.code_dicts[g.column]->size();
    } else {
      if (!t_.schema.has_time) return Status::BadRequest("the table has no time");
      if (g.level == TimeLevel::kWeekday) {
        r.lo = 1, r.card = 7;
      } else if (g.level == TimeLevel::kHourOfDay) {
        r.lo = 0, r.card = 24;
      } else if (from > to || t_.rows == 0) {
        r.lo = 0, r.card = 1;
      } else {
        r.lo = LevelKey(g.level, from);
        r.card = static_cast<uint64_t>(LevelKey(g.level, to) - r.lo + 1);
      }
      calendar |= g.level == TimeLevel::kMonth || g.level == TimeLevel::kQuarter || g.level == TimeLevel::kYear;
    }
    ranges_.push_back(r);
  }
  for (const auto& f : q_.time_key_filters) {
    calendar |= f.level == TimeLevel::kMonth || f.level == TimeLevel::kQuarter || f.level == TimeLevel::kYear;
  }
  // Strides: the first key most significant, so the packed key orders groups by their keys.
  unsigned __int128 space = 1;
  for (size_t i = ranges_.size(); i-- > 0;) {
    ranges_[i].stride = static_cast<uint64_t>(space);
    space *= std::max<uint64_t>(1, ranges_[i].card);
    if (space > (static_cast<unsigned __int128>(1) << 63)) {
      return Status::TooLarge("the levels grouped by have too many combinations to count (over 2^63): group by fewer levels");
    }
  }
  groups_ = static_cast<uint64_t>(space);
  if (calendar && t_.schema.has_time && t_.rows) cal_.Build(t_.time_min, t_.time_max);
  const size_t threads = static_cast<size_t>(q_.threads > 0 ? q_.threads : UsableCpus());
  dense_ = groups_ <= kDenseGroups && groups_ * (slots_ * 8 + 1) * threads <= q_.memory_limit / 2;
  uint64_t max_codes = 0;
  for (const auto& a : q_.aggregates) {
    if (a.agg == Agg::kCountDistinct) max_codes = std::max<uint64_t>(max_codes, t_.distinct_dicts[a.measure]->size());
  }
  bitmap_ = dense_ && max_codes && groups_ * max_codes <= kBitmapBits;
  return Status::Ok();
}

void Executor::InitSlots(double* s) const {
  for (size_t a = 0; a < q_.aggregates.size(); ++a) {
    s[2 * a] = q_.aggregates[a].agg == Agg::kMin ? kInf : q_.aggregates[a].agg == Agg::kMax ? -kInf : 0;
    s[2 * a + 1] = 0;
  }
}

template <typename T>
size_t FilterCodesT(const T* codes, const std::vector<uint8_t>& allowed, uint32_t* sel, size_t m) {
  size_t out = 0;
  const size_t n = allowed.size();
  for (size_t j = 0; j < m; ++j) {
    const uint32_t c = codes[sel[j]];
    sel[out] = sel[j];
    out += c < n && allowed[c];
  }
  return out;
}

size_t Executor::Filter(const Chunk& c, size_t start, size_t n, uint32_t* sel) {
  for (size_t j = 0; j < n; ++j) sel[j] = static_cast<uint32_t>(start + j);
  size_t m = n;
  for (const auto& f : q_.code_filters) {
    const CodeColumn& col = c.codes[f.column];
    if (col.width() == 1) m = FilterCodesT(col.data<uint8_t>(), f.allowed, sel, m);
    else if (col.width() == 2) m = FilterCodesT(col.data<uint16_t>(), f.allowed, sel, m);
    else m = FilterCodesT(col.data<uint32_t>(), f.allowed, sel, m);
  }
  if (t_.schema.has_time && (c.time.min < q_.time_from || (q_.time_to != std::numeric_limits<int64_t>::max() && c.time.max >= q_.time_to))) {
    // Offsets from the chunk's first second: the range as offsets, clamped.
    const int64_t lo = std::max<int64_t>(0, q_.time_from == std::numeric_limits<int64_t>::min() ? 0 : q_.time_from - c.time.min);
    const int64_t hi = q_.time_to == std::numeric_limits<int64_t>::max() ? int64_t{1} << 40 : q_.time_to - c.time.min;
    const uint32_t* off = c.time.offsets.data();
    size_t out = 0;
    for (size_t j = 0; j < m; ++j) {
      const int64_t o = off[sel[j]];
      sel[out] = sel[j];
      out += o >= lo && o < hi;
    }
    m = out;
  }
  if (!q_.time_key_filters.empty()) {
    int64_t keys[kBatch];
    for (const auto& f : q_.time_key_filters) {
      TimeKeys(c, f.level, sel, m, keys);
      size_t out = 0;
      for (size_t j = 0; j < m; ++j) {
        const bool in = std::binary_search(f.keys.begin(), f.keys.end(), keys[j]);
        sel[out] = sel[j];
        out += in != f.negate;
      }
      m = out;
    }
  }
  return m;
}

void Executor::TimeKeys(const Chunk& c, TimeLevel level, const uint32_t* sel, size_t m, int64_t* out) const {
  const uint32_t* off = c.time.offsets.data();
  const int64_t base = c.time.min;
  const std::vector<int32_t>* lut = nullptr;
  if (cal_.covers()) {
    lut = level == TimeLevel::kMonth ? &cal_.month : level == TimeLevel::kQuarter ? &cal_.quarter : level == TimeLevel::kYear ? &cal_.year : nullptr;
  }
  if (lut) {
    const int32_t* l = lut->data();
    for (size_t j = 0; j < m; ++j) out[j] = l[FloorDiv(base + off[sel[j]], 86400) - cal_.day_min];
    return;
  }
  switch (level) {
    case TimeLevel::kHour:
      for (size_t j = 0; j < m; ++j) out[j] = FloorDiv(base + off[sel[j]], 3600);
      return;
    case TimeLevel::kDay:
      for (size_t j = 0; j < m; ++j) out[j] = FloorDiv(base + off[sel[j]], 86400);
      return;
    default:
      for (size_t j = 0; j < m; ++j) out[j] = LevelKey(level, base + off[sel[j]]);
  }
}

template <typename T>
void AddCodeKeys(const T* codes, uint64_t stride, const uint32_t* sel, size_t m, uint64_t* keys) {
  for (size_t j = 0; j < m; ++j) keys[j] += static_cast<uint64_t>(codes[sel[j]]) * stride;
}

size_t Executor::LocalMemory(const Local& L) const {
  size_t m = L.st.capacity() * 8 + L.touched.capacity() + L.map.memory();
  for (const auto& b : L.bitmaps) m += b.capacity() * 8;
  for (const auto& p : L.pairs) m += p.memory();
  for (const auto& h : L.hlls) m += h.capacity() * sizeof(HyperLogLog);
  for (const auto& h : L.hll_of) m += h.capacity() * 4;
  return m;
}

bool Executor::Charge(Local& L, size_t now_bytes) {
  if (now_bytes > L.counted) {
    memory_ += now_bytes - L.counted;
    L.counted = now_bytes;
  }
  if (memory_.load() > q_.memory_limit) over_ = true;
  return !over_.load(std::memory_order_relaxed);
}

void Executor::ProcessChunk(const Chunk& c, Local& L) {
  uint32_t sel[kBatch];
  uint64_t keys[kBatch];
  uint32_t g[kBatch];
  int64_t tkeys[kBatch];
  const size_t S = slots_;
  for (size_t start = 0; start < c.rows; start += kBatch) {
    const size_t n = std::min(kBatch, c.rows - start);
    const size_t m = Filter(c, start, n, sel);
    L.scanned += n;
    if (m == 0) continue;
    std::fill(keys, keys + m, 0);
    for (size_t i = 0; i < q_.group_by.size(); ++i) {
      const GroupKey& k = q_.group_by[i];
      const KeyRange& r = ranges_[i];
      if (!k.time) {
        const CodeColumn& col = c.codes[k.column];
        if (col.width() == 1) AddCodeKeys(col.data<uint8_t>(), r.stride, sel, m, keys);
        else if (col.width() == 2) AddCodeKeys(col.data<uint16_t>(), r.stride, sel, m, keys);
        else AddCodeKeys(col.data<uint32_t>(), r.stride, sel, m, keys);
      } else {
        TimeKeys(c, k.level, sel, m, tkeys);
        for (size_t j = 0; j < m; ++j) keys[j] += static_cast<uint64_t>(tkeys[j] - r.lo) * r.stride;
      }
    }
    if (dense_) {
      for (size_t j = 0; j < m; ++j) {
        g[j] = static_cast<uint32_t>(keys[j]);
        L.touched[g[j]] = 1;
      }
    } else {
      for (size_t j = 0; j < m; ++j) {
        const size_t before = L.map.keys().size();
        g[j] = L.map.FindOrInsert(keys[j]);
        if (g[j] == before) {
          L.st.resize(L.st.size() + S);
          InitSlots(L.st.data() + L.st.size() - S);
        }
      }
    }
    double* st = L.st.data();
    for (size_t a = 0; a < q_.aggregates.size(); ++a) {
      const AggregateSpec& spec = q_.aggregates[a];
      const size_t slot = 2 * a;
      if (spec.agg == Agg::kRows) {
        if (c.weights.empty()) {
          for (size_t j = 0; j < m; ++j) st[g[j] * S + slot + 1] += 1;
        } else {
          for (size_t j = 0; j < m; ++j) st[g[j] * S + slot + 1] += c.weights[sel[j]];
        }
        continue;
      }
      const MeasureColumns& mc = c.measures[spec.measure];
      if (IsDistinct(spec.agg)) {
        const DistinctColumn& d = mc.distinct;
        auto add = [&](uint32_t group, uint32_t code) {
          if (code == 0) return;
          if (spec.agg == Agg::kApproxDistinct) {
            auto& idx = L.hll_of[a];
            if (idx.size() <= group) idx.resize(std::max<size_t>(group + 1, idx.size() * 2), -1);
            if (idx[group] < 0) {
              idx[group] = static_cast<int32_t>(L.hlls[a].size());
              L.hlls[a].emplace_back();
            }
            L.hlls[a][idx[group]].AddCode(code);
          } else if (bitmap_) {
            const uint64_t bit = static_cast<uint64_t>(group) * t_.distinct_dicts[spec.measure]->size() + code;
            L.bitmaps[a][bit >> 6] |= uint64_t{1} << (bit & 63);
          } else {
            L.pairs[a].Insert(static_cast<uint64_t>(group) << 32 | code);
          }
        };
        for (size_t j = 0; j < m; ++j) {
          const uint32_t r = sel[j];
          if (d.offsets.empty()) {
            add(g[j], d.codes.At(r));
          } else {
            for (uint32_t i = d.offsets[r]; i < d.offsets[r + 1]; ++i) add(g[j], d.codes.At(i));
          }
        }
        continue;
      }
      const ValueColumn& vc = (spec.agg == Agg::kMin && !mc.min.values.empty()) ? mc.min
                              : (spec.agg == Agg::kMax && !mc.max.values.empty()) ? mc.max
                                                                                   : mc.sum;
      const double* v = vc.values.data();
      const double* cnt = mc.count.empty() ? nullptr : mc.count.data();
      const double scale = scale_[a];
      if (scale > 0) {  // an exact sum: integers of the scale, in the slot's bits
        for (size_t j = 0; j < m; ++j) {
          const uint32_t r = sel[j];
          if (!vc.Valid(r)) continue;
          const double k = cnt ? cnt[r] : 1;
          if (k == 0) continue;
          double* p = st + g[j] * S + slot;
          p[0] = std::bit_cast<double>(std::bit_cast<int64_t>(p[0]) + std::llround(v[r] * scale));
          p[1] += k;
        }
        continue;
      }
      if (vc.valid.empty() && !cnt && spec.agg != Agg::kMin && spec.agg != Agg::kMax) {
        // The common case, branch-free: every row has a value and counts once.
        if (spec.agg == Agg::kCount) {
          for (size_t j = 0; j < m; ++j) st[g[j] * S + slot + 1] += 1;
        } else {
          for (size_t j = 0; j < m; ++j) {
            double* p = st + g[j] * S + slot;
            p[0] += v[sel[j]];
            p[1] += 1;
          }
        }
        continue;
      }
      for (size_t j = 0; j < m; ++j) {
        const uint32_t r = sel[j];
        if (!vc.Valid(r)) continue;
        const double k = cnt ? cnt[r] : 1;
        if (k == 0) continue;
        double* p = st + g[j] * S + slot;
        switch (spec.agg) {
          case Agg::kMin: p[0] = std::min(p[0], v[r]); break;
          case Agg::kMax: p[0] = std::max(p[0], v[r]); break;
          case Agg::kCount: break;
          default: p[0] += v[r];
        }
        p[1] += k;
      }
    }
    if (!Charge(L, LocalMemory(L))) return;
  }
}

void Executor::Scan(size_t worker, std::atomic<size_t>* next) {
  Local& L = locals_[worker];
  const size_t na = q_.aggregates.size();
  L.bitmaps.resize(na), L.pairs.resize(na), L.hll_of.resize(na), L.hlls.resize(na);
  if (dense_) {
    L.st.resize(groups_ * slots_);
    for (uint64_t gi = 0; gi < groups_; ++gi) InitSlots(L.st.data() + gi * slots_);
    L.touched.assign(groups_, 0);
    for (size_t a = 0; a < na; ++a) {
      if (bitmap_ && q_.aggregates[a].agg == Agg::kCountDistinct) {
        L.bitmaps[a].assign((groups_ * t_.distinct_dicts[q_.aggregates[a].measure]->size() + 63) / 64, 0);
      }
    }
  }
  if (!Charge(L, LocalMemory(L))) return;
  const int64_t to_incl = q_.time_to == std::numeric_limits<int64_t>::max() ? q_.time_to : q_.time_to - 1;
  for (;;) {
    const size_t i = next->fetch_add(1);
    if (i >= t_.chunks.size() || over_.load(std::memory_order_relaxed)) return;
    const Chunk& c = *t_.chunks[i];
    // Zone maps: a chunk wholly outside the time range, or with no allowed code between its
    // smallest and largest, is skipped unread.
    bool skip = t_.schema.has_time && (c.time.max < q_.time_from || c.time.min > to_incl);
    for (const auto& f : q_.code_filters) {
      if (skip) break;
      const CodeColumn& col = c.codes[f.column];
      const uint32_t hi = std::min<uint32_t>(col.max(), f.allowed.empty() ? 0 : static_cast<uint32_t>(f.allowed.size() - 1));
      bool any = false;
      for (uint32_t code = col.min(); code <= hi && !any; ++code) any = f.allowed[code];
      skip = !any;
    }
    if (skip) {
      ++L.skipped;
      continue;
    }
    ProcessChunk(c, L);
  }
}

Result<AggregationResult> Executor::Run() {
  AIMASS_RETURN_IF_ERROR(Plan());
  const size_t threads = std::max<size_t>(1, std::min<size_t>(q_.threads > 0 ? q_.threads : UsableCpus(), t_.chunks.size()));
  locals_.resize(threads);
  std::atomic<size_t> next{0};
  {
    std::vector<std::thread> pool;
    for (size_t w = 1; w < threads; ++w) pool.emplace_back([&, w] { Scan(w, &next); });
    Scan(0, &next);
    for (auto& th : pool) th.join();
  }
  auto refuse = [&] {
    return Status::TooLarge("the query needs more than " + std::to_string(q_.memory_limit >> 20) +
                            " MiB for its groups: filter more, group by coarser levels, or use approximate count distinct");
  };
  if (over_) return refuse();

  // Merge the threads' groups into one list of packed keys with their slots.
  const size_t S = slots_;
  std::vector<uint64_t> keys;
  std::vector<double> st;
  // A thread's group index to the merged one's: a dense group's index is its key, the same in
  // every thread (one table); a hashed group's is the thread's own.
  std::vector<std::vector<uint32_t>> local_to_global(dense_ ? 1 : threads);
  auto global_of = [&](size_t w, uint64_t local) { return local_to_global[dense_ ? 0 : w][local]; };
  auto merge_slots = [&](double* dst, const double* src) {
    for (size_t a = 0; a < q_.aggregates.size(); ++a) {
      const Agg agg = q_.aggregates[a].agg;
      if (agg == Agg::kMin) dst[2 * a] = std::min(dst[2 * a], src[2 * a]);
      else if (agg == Agg::kMax) dst[2 * a] = std::max(dst[2 * a], src[2 * a]);
      else if (scale_[a] > 0) dst[2 * a] = std::bit_cast<double>(std::bit_cast<int64_t>(dst[2 * a]) + std::bit_cast<int64_t>(src[2 * a]));
      else dst[2 * a] += src[2 * a];
      dst[2 * a + 1] += src[2 * a + 1];
    }
  };
  if (dense_) {
    std::vector<uint32_t>& index = local_to_global[0];
    index.assign(groups_, 0xffffffffu);
    for (uint64_t gi = 0; gi < groups_; ++gi) {
      for (size_t w = 0; w < threads; ++w) {
        if (!locals_[w].touched[gi]) continue;
        if (index[gi] == 0xffffffffu) {
          index[gi] = static_cast<uint32_t>(keys.size());
          keys.push_back(gi);
          st.resize(st.size() + S);
          InitSlots(st.data() + st.size() - S);
        }
        merge_slots(st.data() + index[gi] * S, locals_[w].st.data() + gi * S);
      }
    }
  } else {
    KeyMap global;
    for (size_t w = 0; w < threads; ++w) {
      const auto& lk = locals_[w].map.keys();
      local_to_global[w].resize(lk.size());
      for (size_t li = 0; li < lk.size(); ++li) {
        const uint32_t gi = global.FindOrInsert(lk[li]);
        if (gi == st.size() / S) {
          st.resize(st.size() + S);
          InitSlots(st.data() + st.size() - S);
        }
        merge_slots(st.data() + gi * S, locals_[w].st.data() + li * S);
        local_to_global[w][li] = gi;
      }
    }
    keys = global.keys();
  }
  // Key order, so a result reads in the order of its levels.
  std::vector<uint32_t> order(keys.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
  std::vector<uint32_t> rank(keys.size());
  for (uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;

  const size_t G = keys.size();
  AggregationResult result;
  for (const Local& L : locals_) {
    result.rows_scanned += L.scanned;
    result.chunks_skipped += L.skipped;
  }
  result.memory_used = memory_.load();
  const uint32_t all = q_.group_by.empty() ? 0 : (uint32_t{1} << q_.group_by.size()) - 1;
  auto decode = [&](uint64_t key) {
    std::vector<int64_t> d;
    d.reserve(ranges_.size());
    for (size_t k = 0; k < ranges_.size(); ++k) d.push_back(static_cast<int64_t>((key / ranges_[k].stride) % ranges_[k].card) + ranges_[k].lo);
    return d;
  };
  if (!q_.keep_states && (q_.grouping_sets.empty() || (q_.grouping_sets.size() == 1 && q_.grouping_sets[0] == all))) {
    // Only the finest groups: each row straight from its merged slots, distinct values counted
    // where they are, without a state per group.
    const size_t A = q_.aggregates.size();
    std::vector<std::vector<double>> distinct(A);
    std::vector<std::vector<HyperLogLog>> sketch(A);
    for (size_t a = 0; a < A; ++a) {
      const Agg agg = q_.aggregates[a].agg;
      if (agg == Agg::kCountDistinct) {
        distinct[a].assign(G, 0);
        if (bitmap_) {
          const uint64_t codes = t_.distinct_dicts[q_.aggregates[a].measure]->size();
          std::vector<uint64_t>& bits = locals_[0].bitmaps[a];
          for (size_t w = 1; w < threads; ++w) {
            for (size_t x = 0; x < bits.size(); ++x) bits[x] |= locals_[w].bitmaps[a][x];
          }
          for (size_t i = 0; i < G; ++i) {  // a dense group's bits are [key × codes, (key + 1) × codes)
            const uint64_t lo = keys[i] * codes, hi = lo + codes;
            double n = 0;
            for (uint64_t b = lo; b < hi;) {
              const uint64_t word = b >> 6, off = b & 63, take = std::min<uint64_t>(64 - off, hi - b);
              const uint64_t mask = take == 64 ? ~uint64_t{0} : ((uint64_t{1} << take) - 1) << off;
              n += __builtin_popcountll(bits[word] & mask);
              b += take;
            }
            distinct[a][i] = n;
          }
        } else {
          PairSet merged;
          for (size_t w = 0; w < threads; ++w) {
            locals_[w].pairs[a].ForEach([&](uint64_t v) { merged.Insert(static_cast<uint64_t>(global_of(w, v >> 32)) << 32 | (v & 0xffffffffu)); });
          }
          merged.ForEach([&](uint64_t v) { distinct[a][v >> 32] += 1; });
        }
      } else if (agg == Agg::kApproxDistinct) {
        sketch[a].resize(G);
        for (size_t w = 0; w < threads; ++w) {
          const auto& idx = locals_[w].hll_of[a];
          for (size_t li = 0; li < idx.size(); ++li) {
            if (idx[li] >= 0) sketch[a][global_of(w, li)].Merge(locals_[w].hlls[a][idx[li]]);
          }
        }
      }
    }
    locals_.clear();
    result.rows.reserve(G);
    for (size_t k = 0; k < G; ++k) {
      const size_t i = order[k];
      const double* p = st.data() + i * S;
      ResultRow row{decode(keys[i]), 0, {}};
      row.values.reserve(A);
      for (size_t a = 0; a < A; ++a) {
        const double n = p[2 * a + 1];
        double v = p[2 * a];
        if (scale_[a] > 0) v = static_cast<double>(std::bit_cast<int64_t>(v)) / scale_[a];
        row.values.push_back(Final(q_.aggregates[a].agg, v, n, distinct[a].empty() ? 0 : distinct[a][i],
                                   sketch[a].empty() ? nullptr : &sketch[a][i]));
      }
      result.rows.push_back(std::move(row));
    }
    return result;
  }
  std::vector<GroupState> finest(G);
  for (size_t i = 0; i < G; ++i) {
    GroupState& s = finest[rank[i]];
    const double* p = st.data() + i * S;
    s.sum.resize(q_.aggregates.size()), s.count.resize(q_.aggregates.size());
    s.min.resize(q_.aggregates.size()), s.max.resize(q_.aggregates.size()), s.distinct.resize(q_.aggregates.size());
    s.exact.assign(q_.aggregates.size(), 0);
    for (size_t a = 0; a < q_.aggregates.size(); ++a) {
      s.count[a] = p[2 * a + 1];
      s.sum[a] = s.min[a] = s.max[a] = p[2 * a];
      if (scale_[a] > 0) {
        s.exact[a] = std::bit_cast<int64_t>(p[2 * a]);
        s.sum[a] = static_cast<double>(s.exact[a]) / scale_[a];
      }
      if (q_.aggregates[a].agg == Agg::kRows) s.rows = p[2 * a + 1];
    }
  }
  std::vector<std::vector<HyperLogLog>> sketches(q_.aggregates.size());
  for (size_t a = 0; a < q_.aggregates.size(); ++a) {
    const Agg agg = q_.aggregates[a].agg;
    if (agg == Agg::kCountDistinct) {
      const uint64_t codes = t_.distinct_dicts[q_.aggregates[a].measure]->size();
      for (size_t w = 0; w < threads; ++w) {
        const Local& L = locals_[w];
        if (bitmap_) {
          const auto& bits = L.bitmaps[a];
          for (size_t word = 0; word < bits.size(); ++word) {
            for (uint64_t b = bits[word]; b; b &= b - 1) {
              const uint64_t bit = word * 64 + __builtin_ctzll(b);
              finest[rank[global_of(w, bit / codes)]].distinct[a].push_back(static_cast<uint32_t>(bit % codes));
            }
          }
        } else {
          L.pairs[a].ForEach([&](uint64_t v) { finest[rank[global_of(w, v >> 32)]].distinct[a].push_back(static_cast<uint32_t>(v)); });
        }
      }
      for (auto& s : finest) {
        auto& d = s.distinct[a];
        std::sort(d.begin(), d.end());
        d.erase(std::unique(d.begin(), d.end()), d.end());
      }
    } else if (agg == Agg::kApproxDistinct) {
      sketches[a].resize(G);
      for (size_t w = 0; w < threads; ++w) {
        const auto& idx = locals_[w].hll_of[a];
        for (size_t li = 0; li < idx.size(); ++li) {
          if (idx[li] >= 0) sketches[a][rank[global_of(w, li)]].Merge(locals_[w].hlls[a][idx[li]]);
        }
      }
    }
  }
  locals_.clear();
  // Each grouping set folds the finest groups on the keys it keeps.
  std::vector<uint32_t> sets = q_.grouping_sets;
  if (sets.empty()) sets.push_back(all);
  std::vector<std::vector<int64_t>> decoded(G);
  for (size_t i = 0; i < G; ++i) decoded[i] = decode(keys[order[i]]);
  auto value = [&](const AggregateSpec& spec, size_t a, const GroupState& s, const HyperLogLog* sketch) {
    const double v = spec.agg == Agg::kMin ? s.min[a] : spec.agg == Agg::kMax ? s.max[a] : s.sum[a];
    return Final(spec.agg, v, s.count[a], static_cast<double>(s.distinct[a].size()), sketch);
  };
  for (uint32_t set : sets) {
    if (set == all) {
      for (size_t i = 0; i < G; ++i) {
        ResultRow row{decoded[i], 0, {}};
        for (size_t a = 0; a < q_.aggregates.size(); ++a) {
          row.values.push_back(value(q_.aggregates[a], a, finest[i], sketches[a].empty() ? nullptr : &sketches[a][i]));
        }
        result.rows.push_back(std::move(row));
      }
      continue;
    }
    std::map<std::vector<int64_t>, size_t> at;
    std::vector<GroupState> folded;
    std::vector<std::vector<HyperLogLog>> fs(q_.aggregates.size());
    std::vector<std::vector<int64_t>> fkeys;
    for (size_t i = 0; i < G; ++i) {
      std::vector<int64_t> k = decoded[i];
      for (size_t b = 0; b < k.size(); ++b) {
        if (!(set >> b & 1)) k[b] = 0;
      }
      auto [it, added] = at.emplace(k, folded.size());
      if (added) {
        GroupState s = finest[i];
        for (auto& d : s.distinct) d.clear();
        s.rows = 0;
        for (size_t a = 0; a < q_.aggregates.size(); ++a) {
          s.sum[a] = 0, s.count[a] = 0, s.min[a] = kInf, s.max[a] = -kInf, s.exact[a] = 0;
          if (!sketches[a].empty()) fs[a].emplace_back();
        }
        folded.push_back(std::move(s));
        fkeys.push_back(k);
      }
      GroupState& s = folded[it->second];
      const GroupState& f = finest[i];
      s.rows += f.rows;
      for (size_t a = 0; a < q_.aggregates.size(); ++a) {
        s.sum[a] += f.sum[a];
        s.exact[a] += f.exact[a];
        s.count[a] += f.count[a];
        s.min[a] = std::min(s.min[a], f.min[a]);
        s.max[a] = std::max(s.max[a], f.max[a]);
        s.distinct[a].insert(s.distinct[a].end(), f.distinct[a].begin(), f.distinct[a].end());
        if (!sketches[a].empty()) fs[a][it->second].Merge(sketches[a][i]);
      }
    }
    for (const auto& [k, idx] : at) {
      GroupState& s = folded[idx];
      for (size_t a = 0; a < q_.aggregates.size(); ++a) {
        if (scale_[a] > 0) s.sum[a] = static_cast<double>(s.exact[a]) / scale_[a];
      }
      for (auto& d : s.distinct) {
        std::sort(d.begin(), d.end());
        d.erase(std::unique(d.begin(), d.end()), d.end());
      }
      ResultRow row{k, ~set & all, {}};
      for (size_t a = 0; a < q_.aggregates.size(); ++a) row.values.push_back(value(q_.aggregates[a], a, s, fs[a].empty() ? nullptr : &fs[a][idx]));
      result.rows.push_back(std::move(row));
    }
  }
  if (q_.keep_states) result.states = std::move(finest);
  return result;
}

}  // namespace

Result<AggregationResult> Aggregate(const Table& table, const AggregationQuery& query) {
  Executor e(table, query);
  AIMASS_ASSIGN_OR_RETURN(AggregationResult r, e.Run());
  return r;
}

}  // namespace aimass::olap
