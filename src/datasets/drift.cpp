#include "datasets/drift.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "datasets/column_values.hpp"

namespace aimass::datasets {

using nlohmann::json;

namespace {

constexpr uint64_t kLimit = 8'000'000;
constexpr double kEpsilon = 1e-4;  // an empty bin counts as this fraction (PSI's usual guard)

double Psi(const std::vector<double>& expected, const std::vector<double>& actual) {
  double psi = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    double e = std::max(expected[i], kEpsilon), a = std::max(actual[i], kEpsilon);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

std::vector<double> Fractions(const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  std::vector<double> out(counts.size(), 0);
  for (size_t i = 0; i < counts.size(); ++i) out[i] = total ? static_cast<double>(counts[i]) / static_cast<double>(total) : 0;
  return out;
}

// Counts of sorted keys in bins whose upper edges are `uppers` (the last bin open).
std::vector<uint64_t> BinCounts(const std::vector<uint64_t>& keys, const std::vector<uint64_t>& uppers) {
  std::vector<uint64_t> counts(uppers.size() + 1, 0);
  size_t prev = 0;
  for (size_t b = 0; b < uppers.size(); ++b) {
    size_t end = std::upper_bound(keys.begin(), keys.end(), uppers[b]) - keys.begin();
    counts[b] = end - std::min(prev, end);
    prev = std::max(prev, end);
  }
  counts.back() = keys.size() - std::min(prev, keys.size());
  return counts;
}

double KsStatistic(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  size_t i = 0, j = 0;
  double d = 0;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  while (i < a.size() && j < b.size()) {
    uint64_t x = std::min(a[i], b[j]);
    while (i < a.size() && a[i] == x) ++i;
    while (j < b.size() && b[j] == x) ++j;
    d = std::max(d, std::fabs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
  }
  return d;
}

Result<json> ColumnDrift(const Table& cur, size_t ci, const Table& ref, size_t ri) {
  const ColumnSpec& spec = cur.schema()[ci];
  AIMASS_ASSIGN_OR_RETURN(ColumnValues a, GatherColumn(cur, ci, kLimit, false));
  AIMASS_ASSIGN_OR_RETURN(ColumnValues e, GatherColumn(ref, ri, kLimit, false));
  json j = {{"name", spec.name}, {"type", TypeName(spec.type)}, {"count", a.count}, {"reference_count", e.count}};
  const uint64_t rows_a = a.count + a.missing, rows_e = e.count + e.missing;
  j["missing_fraction"] = rows_a ? static_cast<double>(a.missing) / static_cast<double>(rows_a) : 0.0;
  j["reference_missing_fraction"] = rows_e ? static_cast<double>(e.missing) / static_cast<double>(rows_e) : 0.0;
  if (a.keys.empty() || e.keys.empty()) {
    j["psi"] = nullptr;
    j["drifted"] = a.keys.empty() != e.keys.empty();
    return j;
  }
  double psi;
  const ColumnType rt = ref.schema()[ri].type;
  // An integer column against a float one compares values: integer keys become float keys
  // (a monotonic map, so the keys stay sorted).
  if (IsNumericType(spec.type) && IsNumericType(rt) && spec.type != rt) {
    ColumnValues& ints = spec.type == ColumnType::kInteger ? a : e;
    for (uint64_t& k : ints.keys) k = FloatKey(static_cast<double>(KeyInt(k)));
    ints.type = ColumnType::kFloat;
  }
  const bool numeric = IsNumericType(spec.type) || spec.type == ColumnType::kTimestamp;
  if (numeric && a.type == e.type) {
    std::vector<uint64_t> uppers;
    for (int d = 1; d < 10; ++d) {
      uint64_t q = e.keys[std::min(e.keys.size() - 1, e.keys.size() * d / 10)];
      if (uppers.empty() || q > uppers.back()) uppers.push_back(q);
    }
    psi = Psi(Fractions(BinCounts(e.keys, uppers)), Fractions(BinCounts(a.keys, uppers)));
    double d = KsStatistic(a.keys, e.keys);
    j["ks_statistic"] = d;
    j["ks_p_value"] = KsPValue(d, a.keys.size(), e.keys.size());
  } else {
    // By value: the reference's most common values, the rest together.
    auto runs = Runs(e.keys);
    std::sort(runs.begin(), runs.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    if (runs.size() > 50) runs.resize(50);
    std::unordered_map<uint64_t, size_t> bin;
    for (size_t i = 0; i < runs.size(); ++i) bin.emplace(runs[i].first, i);
    auto count = [&](const std::vector<uint64_t>& keys) {
      std::vector<uint64_t> c(runs.size() + 1, 0);
      for (uint64_t k : keys) {
        auto it = bin.find(k);
        c[it == bin.end() ? runs.size() : it->second]++;
      }
      return c;
    };
    psi = Psi(Fractions(count(e.keys)), Fractions(count(a.keys)));
  }
  j["psi"] = psi;
  j["drifted"] = psi >= kDriftPsiThreshold;
  return j;
}

}  // namespace

double KsPValue(double d, uint64_t n, uint64_t m) {
  if (n == 0 || m == 0) return 1;
  double en = std::sqrt(static_cast<double>(n) * static_cast<double>(m) / static_cast<double>(n + m));
  double lambda = (en + 0.12 + 0.11 / en) * d;  // Stephens' correction (Numerical Recipes' probks)
  if (lambda < 0.2) return 1;  // Q(λ) is 1 to double precision there (and the series converges slowly)
  double sum = 0, sign = 1;
  for (int k = 1; k <= 100; ++k) {
    double term = sign * std::exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (std::fabs(term) < 1e-10) break;
    sign = -sign;
  }
  return std::clamp(2 * sum, 0.0, 1.0);
}

Result<json> DriftReport(const Table& current, const Table& reference, int threads) {
  std::vector<std::pair<size_t, size_t>> pairs;
  json only_current = json::array(), only_reference = json::array();
  for (size_t c = 0; c < current.schema().size(); ++c) {
    int r = FindColumn(reference.schema(), current.schema()[c].name);
    if (r < 0) {
      only_current.push_back(current.schema()[c].name);
    } else {
      pairs.emplace_back(c, static_cast<size_t>(r));
    }
  }
  for (const auto& c : reference.schema()) {
    if (FindColumn(current.schema(), c.name) < 0) only_reference.push_back(c.name);
  }
  std::vector<json> results(pairs.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status status = Status::Ok();
  auto work = [&] {
    for (size_t i = next++; i < pairs.size(); i = next++) {
      auto r = ColumnDrift(current, pairs[i].first, reference, pairs[i].second);
      std::lock_guard lock(mu);
      if (!r.ok()) {
        status = r.status();
        return;
      }
      results[i] = std::move(*r);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < std::max(1, threads); ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  AIMASS_RETURN_IF_ERROR(status);
  size_t drifted = 0;
  for (const auto& r : results) drifted += r.value("drifted", false);
  return json{{"columns", results},
              {"drifted_columns", drifted},
              {"psi_threshold", kDriftPsiThreshold},
              {"only_in_version", only_current},
              {"only_in_reference", only_reference}};
}

}  // namespace aimass::datasets
