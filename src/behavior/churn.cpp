#include "behavior/churn.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "behavior/person_scan.hpp"
#include "common/fnv1a.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

constexpr int64_t kDayMs = 86'400'000;

// A label's value: 1, 0, or -1 when it is not one.
int LabelOf(const json* v) {
  if (!v || v->is_null()) return -1;
  if (v->is_boolean()) return v->get<bool>() ? 1 : 0;
  if (v->is_number()) {
    const double d = v->get<double>();
    return d == 1 ? 1 : d == 0 ? 0 : -1;
  }
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s == "1" || s == "true" || s == "yes" || s == "True" || s == "TRUE") return 1;
    if (s == "0" || s == "false" || s == "no" || s == "False" || s == "FALSE") return 0;
  }
  return -1;
}

// An event name as a column name: letters, digits and _ only.
std::string Column(const std::string& event) {
  std::string out = "n_";
  for (char c : event) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_');
  return out;
}

std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

bool HeldOut(const std::string& id) { return Fnv1a(id) % 5 == 0; }

Result<ChurnFeatures> BuildChurnFeatures(InsightContext& ctx, const json& req) {
  if (!req.is_object()) return Status::BadRequest("the request is an object {label_property, date_to, top_events}");
  AIMASS_ASSIGN_OR_RETURN(const std::string label_property, TextOf(req, "label_property", ""));
  if (label_property.empty()) return Status::BadRequest("label_property (the person property saying who churned) is required");
  AIMASS_ASSIGN_OR_RETURN(const int64_t top, IntOf(req, "top_events", 20));
  if (top < 0 || top > 200) return Status::BadRequest("top_events is 0-200");
  json r = {{"date_from", "1970-01-01"}, {"interval", "month"}, {"date_to", req.contains("date_to") ? req["date_to"] : json()}};
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(r, ctx.now_ms));
  const int64_t cut = range.to;
  // The most common events name the count columns.
  std::vector<std::pair<uint64_t, uint32_t>> counts;
  ctx.project.Read([&](const ProjectState& s) { counts.assign(s.events.size(), {0, 0}); });
  for (uint32_t c = 0; c < counts.size(); ++c) counts[c].second = c;
  for (const auto& part : ctx.snap.parts) {
    for (size_t r = 0; r < part->rows(); ++r) {
      if (part->cols.time[r] < cut) ++counts[part->cols.event[r]].first;
    }
  }
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<int> column_of(counts.size(), -1);
  ChurnFeatures f;
  f.names = {"recency_days", "tenure_days", "events", "active_days", "events_7d", "events_30d", "mean_gap_days"};
  const size_t fixed = f.names.size();
  ctx.project.Read([&](const ProjectState& s) {
    for (const auto& [n, code] : counts) {
      if (n == 0 || static_cast<int64_t>(f.names.size() - fixed) >= top) break;
      std::string name = Column(s.events.value(code));
      if (std::find(f.names.begin(), f.names.end(), name) != f.names.end()) continue;
      column_of[code] = static_cast<int>(f.names.size());
      f.names.push_back(std::move(name));
    }
  });
  const size_t width = f.names.size();
  struct Row {
    uint32_t root;
    std::vector<float> x;
  };
  std::vector<std::vector<Row>> per(static_cast<size_t>(ctx.threads));
  ScanPersons(
      ctx.snap, ctx.threads, {}, [&](const EventColumns& c, uint32_t row) { return c.time[row] < cut; },
      [&](int th, uint32_t root, std::span<const PersonEvent> events) {
        Row row{root, std::vector<float>(width, 0.0f)};
        const int64_t first = events.front().time, last = events.back().time;
        int64_t days = 0, prev_day = std::numeric_limits<int64_t>::min();
        for (const PersonEvent& e : events) {
          const int64_t day = olap::FloorDiv(e.time, kDayMs);
          if (day != prev_day) ++days, prev_day = day;
          if (cut - e.time <= 7 * kDayMs) row.x[4] += 1;
          if (cut - e.time <= 30 * kDayMs) row.x[5] += 1;
          if (e.event < column_of.size() && column_of[e.event] >= 0) row.x[static_cast<size_t>(column_of[e.event])] += 1;
        }
        row.x[0] = static_cast<float>(static_cast<double>(cut - last) / kDayMs);
        row.x[1] = static_cast<float>(static_cast<double>(cut - first) / kDayMs);
        row.x[2] = static_cast<float>(events.size());
        row.x[3] = static_cast<float>(days);
        row.x[6] = days > 1 ? static_cast<float>(static_cast<double>(last - first) / kDayMs / static_cast<double>(days - 1)) : 0.0f;
        per[static_cast<size_t>(th)].push_back(std::move(row));
      });
  std::vector<Row> rows;
  for (auto& v : per) std::move(v.begin(), v.end(), std::back_inserter(rows));
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.root < b.root; });
  f.x.reserve(rows.size() * width);
  ctx.project.Read([&](const ProjectState& s) {
    for (const Row& row : rows) {
      f.ids.push_back(s.distinct.value(row.root));
      f.x.insert(f.x.end(), row.x.begin(), row.x.end());
      const json* props = s.persons.Properties(row.root);
      const json* v = nullptr;
      if (props) {
        auto it = props->find(label_property);
        if (it != props->end()) v = &*it;
      }
      f.label.push_back(LabelOf(v));
    }
  });
  return f;
}

std::string TrainingCsv(const ChurnFeatures& f, size_t* rows) {
  std::string out = "distinct_id,label";
  for (const auto& n : f.names) out += "," + n;
  out += "\n";
  *rows = 0;
  char buf[32];
  const size_t width = f.names.size();
  for (size_t i = 0; i < f.ids.size(); ++i) {
    if (f.label[i] < 0 || HeldOut(f.ids[i])) continue;
    ++*rows;
    out += Csv(f.ids[i]) + "," + std::to_string(f.label[i]);
    for (size_t k = 0; k < width; ++k) {
      std::snprintf(buf, sizeof buf, ",%.6g", static_cast<double>(f.x[i * width + k]));
      out += buf;
    }
    out += "\n";
  }
  return out;
}

Result<std::vector<float>> ScoreChurn(const std::string& model_path, const ChurnFeatures& f, const std::vector<std::string>& model_features) {
  auto fail = [](const char* what) { return Status::Internal(std::string("XGBoost ") + what + ": " + XGBGetLastError()); };
  const size_t n = f.ids.size(), width = model_features.size();
  std::vector<float> x(n * width, std::numeric_limits<float>::quiet_NaN());
  for (size_t k = 0; k < width; ++k) {
    const auto at = std::find(f.names.begin(), f.names.end(), model_features[k]);
    if (at == f.names.end()) continue;
    const size_t src = static_cast<size_t>(at - f.names.begin());
    for (size_t i = 0; i < n; ++i) x[i * width + k] = f.x[i * f.names.size() + src];
  }
  BoosterHandle booster = nullptr;
  if (XGBoosterCreate(nullptr, 0, &booster) != 0) return fail("booster");
  struct Free {
    BoosterHandle b;
    DMatrixHandle m = nullptr;
    ~Free() {
      if (m) XGDMatrixFree(m);
      XGBoosterFree(b);
    }
  } guard{booster};
  if (XGBoosterLoadModel(booster, model_path.c_str()) != 0) return fail("model");
  if (n == 0) return std::vector<float>();
  if (XGDMatrixCreateFromMat(x.data(), n, width, std::numeric_limits<float>::quiet_NaN(), &guard.m) != 0) return fail("matrix");
  bst_ulong len = 0;
  const float* out = nullptr;
  if (XGBoosterPredict(booster, guard.m, 0, 0, 0, &len, &out) != 0) return fail("predict");
  if (len != n) return Status::Internal("the churn model is not a binary classifier (" + std::to_string(len) + " outputs for " + std::to_string(n) + " persons)");
  return std::vector<float>(out, out + n);
}

double RocAuc(const std::vector<float>& scores, const std::vector<int>& labels) {
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double pos = 0, neg = 0, rank_sum = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2;  // average rank, 1-based
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1) rank_sum += rank, ++pos;
      else ++neg;
    }
    i = j;
  }
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

}  // namespace aimass::behavior
