#include "clv/rfm.hpp"

#include <algorithm>

namespace aimass::clv {

namespace {

// 1 + ⌊5 × (values strictly below) / n⌋: quintiles by rank, ties together.
std::vector<int> Quintiles(const std::vector<double>& values) {
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const double n = static_cast<double>(values.size());
  std::vector<int> out;
  out.reserve(values.size());
  for (double v : values) {
    const double below = static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
    out.push_back(1 + std::min(4, static_cast<int>(5 * below / n)));
  }
  return out;
}

}  // namespace

std::string RfmSegment(int r, int f) {
  if (r <= 2) return f <= 2 ? "hibernating" : f <= 4 ? "at_risk" : "cannot_lose";
  if (r == 3) return f <= 2 ? "about_to_sleep" : f == 3 ? "need_attention" : "loyal";
  if (f >= 4) return r == 5 ? "champion" : "loyal";
  if (f >= 2) return "potential_loyalist";
  return r == 5 ? "new" : "promising";
}

std::vector<RfmScore> ScoreRfm(const std::vector<RfmInput>& customers) {
  std::vector<double> rec, freq, mon;
  for (const auto& c : customers) {
    rec.push_back(-c.recency);  // more recent scores higher
    freq.push_back(c.frequency);
    mon.push_back(c.monetary);
  }
  const auto r = Quintiles(rec), f = Quintiles(freq), m = Quintiles(mon);
  std::vector<RfmScore> out;
  out.reserve(customers.size());
  for (size_t i = 0; i < customers.size(); ++i) out.push_back({r[i], f[i], m[i], RfmSegment(r[i], f[i])});
  return out;
}

}  // namespace aimass::clv
