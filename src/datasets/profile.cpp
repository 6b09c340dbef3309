#include "datasets/profile.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "datasets/column_values.hpp"
#include "datasets/values.hpp"

namespace aimass::datasets {

using nlohmann::json;

namespace {

constexpr double kQuantiles[] = {0.05, 0.25, 0.5, 0.75, 0.95};

json Rounded(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

json KeyJson(const ColumnValues& v, uint64_t key) {
  switch (v.type) {
    case ColumnType::kBoolean:
      return KeyInt(key) != 0;
    case ColumnType::kInteger:
      return KeyInt(key);
    case ColumnType::kTimestamp:
      return FormatTimestamp(KeyInt(key));
    case ColumnType::kFloat:
      return Rounded(KeyFloat(key));
    default: {
      auto it = v.text.find(key);
      return it == v.text.end() ? json(nullptr) : json(it->second);
    }
  }
}

// Finds the text of string hashes the gather did not keep (very many distinct values).
Status ResolveText(const Table& t, size_t column, ColumnValues& v, const std::vector<uint64_t>& hashes) {
  std::vector<uint64_t> missing;
  for (uint64_t h : hashes) {
    if (!v.text.count(h)) missing.push_back(h);
  }
  for (size_t s = 0; s < t.segment_count() && !missing.empty(); ++s) {
    AIMASS_ASSIGN_OR_RETURN(ColumnData c, t.Read(s, column));
    for (uint32_t d = 0; d < c.dict_size() && !missing.empty(); ++d) {
      uint64_t h = HashString(c.Entry(d));
      auto it = std::find(missing.begin(), missing.end(), h);
      if (it != missing.end()) {
        v.text.emplace(h, c.Entry(d));
        missing.erase(it);
      }
    }
  }
  return Status::Ok();
}

Result<json> ProfileColumn(const Table& t, size_t column, const ProfileOptions& o, std::vector<uint64_t>* row_acc,
                           double* mean_out) {
  const ColumnSpec& spec = t.schema()[column];
  AIMASS_ASSIGN_OR_RETURN(ColumnValues v, GatherColumn(t, column, o.exact_limit, row_acc != nullptr));
  if (row_acc) {
    const uint64_t salt = Mix64(column + 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < v.row_hashes.size(); ++i) (*row_acc)[i] += Mix64(v.row_hashes[i] ^ salt);
    v.row_hashes = {};
  }
  const uint64_t rows = v.count + v.missing;
  json j = {{"name", spec.name},
            {"type", TypeName(spec.type)},
            {"nullable", spec.nullable},
            {"count", v.count},
            {"missing", v.missing},
            {"missing_fraction", rows ? static_cast<double>(v.missing) / static_cast<double>(rows) : 0.0}};
  const size_t k = static_cast<size_t>(std::max(0, o.top_values));
  RunSummary runs = SummarizeRuns(v.keys, k);
  const double sample_scale = v.keys.empty() ? 1.0 : static_cast<double>(v.count) / static_cast<double>(v.keys.size());
  if (v.sampled) {
    j["distinct"] = static_cast<uint64_t>(std::llround(v.hll.Estimate()));
    j["distinct_exact"] = false;
  } else {
    j["distinct"] = runs.distinct;
    j["distinct_exact"] = true;
  }
  j["distinct_fraction"] = v.count ? j["distinct"].get<double>() / static_cast<double>(v.count) : 0.0;

  // The most common values: highest count first, ties in value order.
  if (IsStringType(spec.type)) {
    std::vector<uint64_t> top_hashes;
    for (const auto& r : runs.top) top_hashes.push_back(r.first);
    AIMASS_RETURN_IF_ERROR(ResolveText(t, column, v, top_hashes));
  }
  json top = json::array();
  for (const auto& [key, n] : runs.top) {
    top.push_back({{"value", KeyJson(v, key)},
                   {"count", static_cast<uint64_t>(std::llround(static_cast<double>(n) * sample_scale))}});
  }
  j["top"] = std::move(top);
  if (v.sampled) j["approximate"] = true;

  if (IsStringType(spec.type)) {
    if (v.count) {
      j["min"] = v.min_str;
      j["max"] = v.max_str;
      j["min_length"] = v.min_len;
      j["max_length"] = v.max_len;
      j["mean_length"] = v.total_len / static_cast<double>(v.count);
    }
    return j;
  }
  const double var = v.count > 1 ? v.m2 / static_cast<double>(v.count - 1) : 0.0;
  *mean_out = v.mean;
  if (spec.type == ColumnType::kBoolean) {
    if (v.count) j["mean"] = v.mean;  // the fraction that is true
    return j;
  }
  if (!v.count) return j;
  const bool ts = spec.type == ColumnType::kTimestamp;
  auto number = [&](double x) { return NumberJson(spec.type, x); };
  double lo = v.Value(v.min_key), hi = v.Value(v.max_key);
  j["min"] = number(lo);
  j["max"] = number(hi);
  j["mean"] = ts ? json(FormatTimestamp(std::llround(v.mean * 1e6))) : Rounded(v.mean);
  j["std"] = Rounded(std::sqrt(var));  // timestamps: seconds
  json q = json::object();
  for (double p : kQuantiles) {
    char key[16];
    std::snprintf(key, sizeof key, "%g", p);
    q[key] = number(Quantile(v, p));
  }
  j["quantiles"] = std::move(q);
  if (!ts) {
    uint64_t zero = spec.type == ColumnType::kFloat ? FloatKey(0) : IntKey(0);
    auto [zlo, zhi] = std::equal_range(v.keys.begin(), v.keys.end(), zero);
    j["zeros"] = static_cast<uint64_t>(std::llround(static_cast<double>(zhi - zlo) * sample_scale));
    j["negatives"] = static_cast<uint64_t>(std::llround(static_cast<double>(zlo - v.keys.begin()) * sample_scale));
  }
  // Equal-width bins over [min, max]; the last bin includes max.
  int bins = hi > lo ? o.histogram_bins : 1;
  if (spec.type == ColumnType::kInteger && hi - lo + 1 < bins) bins = static_cast<int>(hi - lo + 1);
  std::vector<double> edges(bins + 1);
  for (int b = 0; b <= bins; ++b) edges[b] = lo + (hi - lo) * b / bins;
  std::vector<uint64_t> counts(bins, 0);
  for (uint64_t key : v.keys) {
    double x = v.Value(key);
    int b = hi > lo ? static_cast<int>((x - lo) / (hi - lo) * bins) : 0;
    counts[std::clamp(b, 0, bins - 1)]++;
  }
  json e = json::array(), c = json::array();
  for (double x : edges) e.push_back(number(x));
  for (uint64_t n : counts) c.push_back(static_cast<uint64_t>(std::llround(static_cast<double>(n) * sample_scale)));
  j["histogram"] = {{"edges", e}, {"counts", c}};
  return j;
}

// Pearson correlation over pairwise-complete rows, accumulated per segment around the means.
struct PairSums {
  double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
};

// A dot product in SIMD lanes (GCC's vector extension: SSE2 on any x86-64), with four
// accumulators so that additions do not wait on each other.
double Dot(const double* a, const double* b, size_t n) {
  typedef double V __attribute__((vector_size(16)));
  V s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
  auto load = [](const double* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += load(a + i) * load(b + i);
    s1 += load(a + i + 2) * load(b + i + 2);
    s2 += load(a + i + 4) * load(b + i + 4);
    s3 += load(a + i + 6) * load(b + i + 6);
  }
  V s = (s0 + s1) + (s2 + s3);
  double out = s[0] + s[1];
  for (; i < n; ++i) out += a[i] * b[i];
  return out;
}

Result<json> Correlations(const Table& t, const std::vector<size_t>& cols, const std::vector<double>& means, int threads) {
  const size_t k = cols.size();
  std::vector<std::vector<PairSums>> per_thread(threads, std::vector<PairSums>(k * k));
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status status = Status::Ok();
  auto work = [&](int tid) {
    auto& acc = per_thread[tid];
    for (size_t s = next++; s < t.segment_count(); s = next++) {
      auto read = t.ReadColumns(s, cols);
      if (!read.ok()) {
        std::lock_guard lock(mu);
        status = read.status();
        return;
      }
      // Per column: values around the mean with 0 for missing ones, their squares, and where a
      // column has missing values a 0/1 mask; every sum over a pair is then a dot product.
      const size_t n = t.segment_rows(s);
      std::vector<std::vector<double>> x(k), sq(k), mask(k);
      std::vector<double> count(k), sum(k), sumsq(k);
      for (size_t a = 0; a < k; ++a) {
        const ColumnData& c = (*read)[a];
        x[a].resize(n);
        sq[a].resize(n);
        if (!c.valid.empty()) mask[a].resize(n);
        for (size_t i = 0; i < n; ++i) {
          bool present = !c.IsNull(i);
          double v = present ? (c.type == ColumnType::kFloat ? c.floats[i] : static_cast<double>(c.ints[i])) - means[a] : 0.0;
          x[a][i] = v;
          sq[a][i] = v * v;
          if (!mask[a].empty()) mask[a][i] = present ? 1.0 : 0.0;
          count[a] += present;
          sum[a] += v;
          sumsq[a] += v * v;
        }
      }
      for (size_t a = 0; a < k; ++a) {
        for (size_t b = a + 1; b < k; ++b) {
          PairSums& p = acc[a * k + b];
          const bool ma = !mask[a].empty(), mb = !mask[b].empty();
          p.sxy += Dot(x[a].data(), x[b].data(), n);  // zeros where either is missing
          if (!ma && !mb) {
            p.n += count[a];
            p.sx += sum[a], p.sy += sum[b], p.sxx += sumsq[a], p.syy += sumsq[b];
          } else if (ma && !mb) {
            p.n += count[a];
            p.sx += sum[a], p.sxx += sumsq[a];
            p.sy += Dot(x[b].data(), mask[a].data(), n), p.syy += Dot(sq[b].data(), mask[a].data(), n);
          } else if (!ma && mb) {
            p.n += count[b];
            p.sy += sum[b], p.syy += sumsq[b];
            p.sx += Dot(x[a].data(), mask[b].data(), n), p.sxx += Dot(sq[a].data(), mask[b].data(), n);
          } else {
            p.n += Dot(mask[a].data(), mask[b].data(), n);
            p.sx += Dot(x[a].data(), mask[b].data(), n), p.sxx += Dot(sq[a].data(), mask[b].data(), n);
            p.sy += Dot(x[b].data(), mask[a].data(), n), p.syy += Dot(sq[b].data(), mask[a].data(), n);
          }
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(work, i);
  work(0);
  for (auto& th : pool) th.join();
  AIMASS_RETURN_IF_ERROR(status);
  json names = json::array(), matrix = json::array();
  for (size_t a = 0; a < k; ++a) names.push_back(t.schema()[cols[a]].name);
  for (size_t a = 0; a < k; ++a) {
    json row = json::array();
    for (size_t b = 0; b < k; ++b) {
      if (a == b) {
        row.push_back(1.0);
        continue;
      }
      PairSums p;
      for (const auto& acc : per_thread) {
        const PairSums& q = acc[std::min(a, b) * k + std::max(a, b)];
        p.n += q.n;
        p.sx += q.sx;
        p.sy += q.sy;
        p.sxx += q.sxx;
        p.syy += q.syy;
        p.sxy += q.sxy;
      }
      if (a > b) std::swap(p.sx, p.sy), std::swap(p.sxx, p.syy);
      double cov = p.sxy - p.sx * p.sy / p.n;
      double vx = p.sxx - p.sx * p.sx / p.n, vy = p.syy - p.sy * p.sy / p.n;
      double r = p.n > 1 && vx > 0 && vy > 0 ? cov / std::sqrt(vx * vy) : std::nan("");
      row.push_back(Rounded(std::clamp(r, -1.0, 1.0)));
    }
    matrix.push_back(std::move(row));
  }
  return json{{"method", "pearson"}, {"columns", names}, {"matrix", matrix}};
}

}  // namespace

json NumberJson(ColumnType type, double v) {
  if (type == ColumnType::kTimestamp) return FormatTimestamp(std::llround(v));
  if (!std::isfinite(v)) return nullptr;
  if (type == ColumnType::kInteger && v == std::floor(v) && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
  return v;
}

Result<json> ProfileTable(const Table& t, const ProfileOptions& o) {
  auto started = std::chrono::steady_clock::now();
  const size_t ncols = t.schema().size();
  const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(std::max<size_t>(ncols, 1))));
  std::vector<json> columns(ncols);
  std::vector<double> means(ncols, 0);
  std::vector<std::vector<uint64_t>> row_acc(threads);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status status = Status::Ok();
  auto work = [&](int tid) {
    row_acc[tid].assign(t.rows(), 0);
    for (size_t c = next++; c < ncols; c = next++) {
      auto r = ProfileColumn(t, c, o, &row_acc[tid], &means[c]);
      std::lock_guard lock(mu);
      if (!r.ok()) {
        status = r.status();
        return;
      }
      columns[c] = std::move(*r);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(work, i);
  work(0);
  for (auto& th : pool) th.join();
  AIMASS_RETURN_IF_ERROR(status);

  // Duplicate rows: equal hashes of every column's value.
  std::vector<uint64_t> rows = std::move(row_acc[0]);
  for (int i = 1; i < threads; ++i) {
    for (size_t r = 0; r < rows.size(); ++r) rows[r] += row_acc[i][r];
    row_acc[i] = {};
  }
  RadixSort(rows);
  uint64_t distinct_rows = 0;
  for (size_t i = 0; i < rows.size(); ++i) distinct_rows += i == 0 || rows[i] != rows[i - 1];
  const uint64_t duplicates = t.rows() - distinct_rows;
  rows = {};

  std::vector<size_t> numeric;
  std::vector<double> numeric_means;
  uint64_t missing_cells = 0;
  for (size_t c = 0; c < ncols; ++c) {
    missing_cells += columns[c]["missing"].get<uint64_t>();
    if (IsNumericType(t.schema()[c].type) && columns[c]["count"].get<uint64_t>() > 0 &&
        numeric.size() < static_cast<size_t>(o.max_correlated_columns)) {
      numeric.push_back(c);
      numeric_means.push_back(means[c]);
    }
  }
  json out = {{"row_count", t.rows()},
              {"column_count", ncols},
              {"missing_cells", missing_cells},
              {"duplicate_rows", duplicates},
              {"duplicate_fraction", t.rows() ? static_cast<double>(duplicates) / static_cast<double>(t.rows()) : 0.0},
              {"columns", columns}};
  if (numeric.size() >= 2) {
    AIMASS_ASSIGN_OR_RETURN(out["correlations"], Correlations(t, numeric, numeric_means, o.threads));
  } else {
    out["correlations"] = {{"method", "pearson"}, {"columns", json::array()}, {"matrix", json::array()}};
  }
  out["took_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace aimass::datasets
