#include "analysis/mining_job.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_map>

#include "datasets/values.hpp"
#include "mining/dbscan.hpp"
#include "mining/fp_growth.hpp"
#include "mining/isolation_forest.hpp"
#include "mining/kmeans.hpp"
#include "mining/prefix_span.hpp"
#include "mining/projection.hpp"
#include "mining/silhouette.hpp"

namespace aimass::analysis {

using json = nlohmann::json;
using datasets::ColumnData;
using datasets::ColumnType;

namespace {

bool NumericOrBool(ColumnType t) { return datasets::IsNumericType(t) || t == ColumnType::kBoolean; }

// The numeric columns a clustering or outlier job reads: those named, or every numeric one.
Result<std::vector<size_t>> NumericColumns(const MiningSpec& spec, const datasets::Schema& schema) {
  std::vector<size_t> cols;
  const json& named = spec.params.value("columns", json::array());
  if (named.empty()) {
    for (size_t i = 0; i < schema.size(); ++i) {
      if (datasets::IsNumericType(schema[i].type)) cols.push_back(i);
    }
    if (cols.empty()) return Status::BadRequest("the version has no numeric column");
    return cols;
  }
  for (const auto& n : named) {
    const int c = datasets::FindColumn(schema, n.get<std::string>());
    if (c < 0) return Status::BadRequest("no column '" + n.get<std::string>() + "' in the version");
    if (!NumericOrBool(schema[static_cast<size_t>(c)].type)) {
      return Status::BadRequest("column '" + n.get<std::string>() + "' is " + std::string(datasets::TypeName(schema[static_cast<size_t>(c)].type)) +
                                ", not a number");
    }
    cols.push_back(static_cast<size_t>(c));
  }
  return cols;
}

Result<size_t> NamedColumn(const MiningSpec& spec, const datasets::Schema& schema, const char* param) {
  const std::string name = spec.params.value(param, "");
  const int c = datasets::FindColumn(schema, name);
  if (c < 0) return Status::BadRequest("no column '" + name + "' (params." + param + ") in the version");
  return static_cast<size_t>(c);
}

// A value as an item's or a group's name: text as it is, a float that is a whole number as
// that number (CSV readers make "17850.0" of an id column with gaps).
std::string KeyText(const ColumnData& c, size_t row) {
  if (datasets::IsStringType(c.type)) return std::string(c.Str(row));
  if (c.type == ColumnType::kFloat && std::isfinite(c.floats[row]) && c.floats[row] == std::floor(c.floats[row]) &&
      std::abs(c.floats[row]) < 9.0e15) {
    return std::to_string(static_cast<int64_t>(c.floats[row]));
  }
  return datasets::ValueText(c, row);
}

double Number(const ColumnData& c, size_t row) {
  return c.type == ColumnType::kFloat ? c.floats[row] : static_cast<double>(c.ints[row]);
}

struct Numbers {
  mining::Points points;
  std::vector<uint64_t> rows;  // each point's row in the version
  std::vector<std::string> columns;
  uint64_t skipped = 0;        // rows with a missing or non-finite value
};

Result<Numbers> ReadNumbers(const datasets::Table& t, const std::vector<size_t>& cols) {
  Numbers out;
  out.points.d = cols.size();
  for (size_t c : cols) out.columns.push_back(t.schema()[c].name);
  out.points.x.reserve(t.rows() * cols.size());
  for (size_t s = 0; s < t.segment_count(); ++s) {
    AIMASS_ASSIGN_OR_RETURN(auto data, t.ReadColumns(s, cols));
    const size_t n = t.segment_rows(s);
    for (size_t i = 0; i < n; ++i) {
      bool ok = true;
      for (const auto& c : data) ok = ok && !c.IsNull(i) && std::isfinite(Number(c, i));
      if (!ok) {
        ++out.skipped;
        continue;
      }
      for (const auto& c : data) out.points.x.push_back(Number(c, i));
      out.rows.push_back(t.segment_start(s) + i);
    }
  }
  out.points.n = out.rows.size();
  return out;
}

// Names numbered in the order first seen.
class Numbering {
 public:
  uint32_t Of(const std::string& key) {
    auto [it, added] = ids_.try_emplace(key, static_cast<uint32_t>(names_.size()));
    if (added) names_.push_back(key);
    return it->second;
  }
  const std::string& Name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<std::string> names_;
};

json Names(const std::vector<uint32_t>& ids, const Numbering& n) {
  json a = json::array();
  for (uint32_t i : ids) a.push_back(n.Name(i));
  return a;
}

double Round(double v, double digits = 1e9) { return std::round(v * digits) / digits; }

int64_t Ms(std::chrono::steady_clock::time_point from) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - from).count();
}

// The 2-D view of a clustering: the principal axes of all points, and up to `sample` of them.
json ProjectionJson(const mining::Points& p, const std::vector<int>& labels, size_t sample, uint64_t seed) {
  if (sample == 0 || p.n == 0) return nullptr;
  const mining::Projection2 pr = mining::PrincipalAxes(p);
  std::vector<size_t> pick(p.n);
  for (size_t i = 0; i < p.n; ++i) pick[i] = i;
  if (p.n > sample) {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < sample; ++i) std::swap(pick[i], pick[std::uniform_int_distribution<size_t>(i, p.n - 1)(rng)]);
    pick.resize(sample);
    std::sort(pick.begin(), pick.end());
  }
  json points = json::array();
  for (size_t i : pick) {
    const auto xy = pr.Apply(p.row(i));
    points.push_back({Round(xy[0], 1e6), Round(xy[1], 1e6), labels[i]});
  }
  return {{"explained", {Round(pr.explained[0], 1e6), Round(pr.explained[1], 1e6)}}, {"points", points}};
}

Status Cancelled(const MiningRun& run) {
  if (run.cancelled && run.cancelled->load()) return Status::Conflict("the job was cancelled");
  return Status::Ok();
}

void Phase(const MiningRun& run, const char* name) {
  if (run.phase) run.phase(name);
}

Result<json> Clusters(const MiningSpec& spec, const datasets::Table& t, const MiningRun& run) {
  Phase(run, "reading");
  auto t0 = std::chrono::steady_clock::now();
  AIMASS_ASSIGN_OR_RETURN(auto cols, NumericColumns(spec, t.schema()));
  AIMASS_ASSIGN_OR_RETURN(Numbers in, ReadNumbers(t, cols));
  const int64_t read_ms = Ms(t0);
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  Phase(run, "computing");
  t0 = std::chrono::steady_clock::now();
  const json& p = spec.params;
  std::vector<std::pair<double, double>> scale;
  if (p["standardize"].get<bool>()) scale = mining::Standardize(in.points);
  const uint64_t seed = p["seed"].get<uint64_t>();
  json r = {{"rows", in.points.n}, {"skipped_rows", in.skipped}, {"columns", in.columns}};
  std::vector<int> labels;
  if (spec.kind == "kmeans") {
    mining::KMeansOptions o;
    o.k = p["k"].get<int>();
    o.seed = seed;
    o.init = p["init"].get<std::string>();
    o.n_init = p["n_init"].get<int>();
    o.max_iter = p["max_iter"].get<int>();
    o.tol = p["tol"].get<double>();
    o.mini_batch = p["mini_batch"].get<bool>();
    o.batch_size = p["batch_size"].get<size_t>();
    o.threads = run.threads;
    o.stop = run.cancelled;
    AIMASS_ASSIGN_OR_RETURN(auto km, mining::KMeans(in.points, o));
    json centroids = json::array();
    for (int c = 0; c < o.k; ++c) {
      json row = json::array();
      for (size_t j = 0; j < in.points.d; ++j) {
        double v = km.centroids[static_cast<size_t>(c) * in.points.d + j];
        if (!scale.empty()) v = v * scale[j].second + scale[j].first;  // back in the column's units
        row.push_back(Round(v));
      }
      centroids.push_back(row);
    }
    r["k"] = o.k;
    r["inertia"] = km.inertia;
    r["iterations"] = km.iterations;
    r["centroids"] = centroids;
    r["sizes"] = km.sizes;
    labels = std::move(km.labels);
  } else {
    mining::DbscanOptions o;
    o.eps = p["eps"].get<double>();
    o.min_samples = p["min_samples"].get<size_t>();
    o.threads = run.threads;
    o.stop = run.cancelled;
    AIMASS_ASSIGN_OR_RETURN(auto db, mining::Dbscan(in.points, o));
    std::vector<int64_t> sizes(static_cast<size_t>(db.clusters), 0);
    for (int l : db.labels) {
      if (l >= 0) sizes[static_cast<size_t>(l)]++;
    }
    r["clusters"] = db.clusters;
    r["noise"] = db.noise;
    r["core"] = db.core;
    r["sizes"] = sizes;
    labels = std::move(db.labels);
  }
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  const size_t sil = p["silhouette_sample"].get<size_t>();
  r["silhouette"] = nullptr;
  if (sil > 0) {
    Phase(run, "scoring");
    if (auto s = mining::Silhouette(in.points, labels, sil, seed, run.threads)) r["silhouette"] = Round(*s);
    r["silhouette_sample"] = std::min<size_t>(sil, in.points.n);
  }
  r["projection"] = ProjectionJson(in.points, labels, p["projection_sample"].get<size_t>(), seed);
  r["timing_ms"] = {{"read", read_ms}, {"compute", Ms(t0)}};
  return r;
}

Result<json> Rules(const MiningSpec& spec, const datasets::Table& t, const MiningRun& run) {
  Phase(run, "reading");
  auto t0 = std::chrono::steady_clock::now();
  const json& p = spec.params;
  AIMASS_ASSIGN_OR_RETURN(size_t tc, NamedColumn(spec, t.schema(), "transaction_column"));
  AIMASS_ASSIGN_OR_RETURN(size_t ic, NamedColumn(spec, t.schema(), "item_column"));
  int lc = -1;
  if (!p["label_column"].get<std::string>().empty()) {
    AIMASS_ASSIGN_OR_RETURN(size_t c, NamedColumn(spec, t.schema(), "label_column"));
    lc = static_cast<int>(c);
  }
  Numbering baskets, items;
  std::vector<std::string> labels;
  mining::Transactions tx;
  uint64_t rows = 0, skipped = 0;
  for (size_t s = 0; s < t.segment_count(); ++s) {
    std::vector<size_t> want = {tc, ic};
    if (lc >= 0) want.push_back(static_cast<size_t>(lc));
    AIMASS_ASSIGN_OR_RETURN(auto data, t.ReadColumns(s, want));
    for (size_t i = 0; i < t.segment_rows(s); ++i) {
      if (data[0].IsNull(i) || data[1].IsNull(i)) {
        ++skipped;
        continue;
      }
      ++rows;
      const uint32_t b = baskets.Of(KeyText(data[0], i));
      const uint32_t item = items.Of(KeyText(data[1], i));
      if (b == tx.size()) tx.emplace_back();
      tx[b].push_back(item);
      if (lc >= 0 && item == labels.size()) labels.push_back(data[2].IsNull(i) ? "" : KeyText(data[2], i));
    }
  }
  const int64_t read_ms = Ms(t0);
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  Phase(run, "computing");
  t0 = std::chrono::steady_clock::now();
  mining::FrequentOptions fo;
  fo.min_support = p["min_support"].get<double>();
  fo.max_length = p["max_length"].get<size_t>();
  fo.stop = run.cancelled;
  AIMASS_ASSIGN_OR_RETURN(auto sets, mining::FpGrowth(tx, fo));
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  const auto rules = mining::AssociationRules(sets, tx.size(), {p["min_confidence"].get<double>(), p["min_lift"].get<double>()});
  const double n = static_cast<double>(tx.size());
  json r = {{"rows", rows}, {"skipped_rows", skipped}, {"transactions", tx.size()}, {"items", items.size()},
            {"itemset_count", sets.size()}, {"rule_count", rules.size()}};
  json out_sets = json::array(), out_rules = json::array();
  for (size_t i = 0; i < sets.size() && i < p["max_itemsets"].get<size_t>(); ++i) {
    out_sets.push_back({{"items", Names(sets[i].items, items)}, {"count", sets[i].count}, {"support", static_cast<double>(sets[i].count) / n}});
  }
  for (size_t i = 0; i < rules.size() && i < p["max_rules"].get<size_t>(); ++i) {
    const auto& x = rules[i];
    out_rules.push_back({{"antecedent", Names(x.antecedent, items)}, {"consequent", Names(x.consequent, items)}, {"count", x.count},
                         {"support", x.support}, {"confidence", x.confidence}, {"lift", x.lift}});
  }
  r["itemsets"] = out_sets;
  r["rules"] = out_rules;
  if (lc >= 0) {
    // The names of the items the result mentions.
    json names = json::object();
    for (const auto& s : sets) {
      for (uint32_t i : s.items) names[items.Name(i)] = labels[i];
    }
    r["labels"] = names;
  }
  r["timing_ms"] = {{"read", read_ms}, {"compute", Ms(t0)}};
  return r;
}

Result<json> Sequences(const MiningSpec& spec, const datasets::Table& t, const MiningRun& run) {
  Phase(run, "reading");
  auto t0 = std::chrono::steady_clock::now();
  const json& p = spec.params;
  AIMASS_ASSIGN_OR_RETURN(size_t sc, NamedColumn(spec, t.schema(), "sequence_column"));
  AIMASS_ASSIGN_OR_RETURN(size_t ic, NamedColumn(spec, t.schema(), "item_column"));
  int oc = -1;
  if (!p["order_column"].get<std::string>().empty()) {
    AIMASS_ASSIGN_OR_RETURN(size_t c, NamedColumn(spec, t.schema(), "order_column"));
    oc = static_cast<int>(c);
  }
  struct Event {
    double key_num;
    std::string key_text;
    uint64_t row;
    uint32_t item;
  };
  Numbering groups, items;
  std::vector<std::vector<Event>> events;
  uint64_t rows = 0, skipped = 0;
  for (size_t s = 0; s < t.segment_count(); ++s) {
    std::vector<size_t> want = {sc, ic};
    if (oc >= 0) want.push_back(static_cast<size_t>(oc));
    AIMASS_ASSIGN_OR_RETURN(auto data, t.ReadColumns(s, want));
    for (size_t i = 0; i < t.segment_rows(s); ++i) {
      if (data[0].IsNull(i) || data[1].IsNull(i) || (oc >= 0 && data[2].IsNull(i))) {
        ++skipped;
        continue;
      }
      ++rows;
      const uint32_t g = groups.Of(KeyText(data[0], i));
      if (g == events.size()) events.emplace_back();
      Event e{0, "", t.segment_start(s) + i, items.Of(KeyText(data[1], i))};
      if (oc >= 0) {
        if (datasets::IsStringType(data[2].type)) {
          e.key_text = std::string(data[2].Str(i));
        } else {
          e.key_num = Number(data[2], i);
        }
      }
      events[g].push_back(std::move(e));
    }
  }
  std::vector<std::vector<uint32_t>> seqs(events.size());
  for (size_t g = 0; g < events.size(); ++g) {
    // Ordered by the order column; ties (and no order column) keep the rows' order.
    std::stable_sort(events[g].begin(), events[g].end(), [](const Event& a, const Event& b) {
      return a.key_num != b.key_num ? a.key_num < b.key_num : a.key_text < b.key_text;
    });
    for (const auto& e : events[g]) seqs[g].push_back(e.item);
  }
  events.clear();
  const int64_t read_ms = Ms(t0);
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  Phase(run, "computing");
  t0 = std::chrono::steady_clock::now();
  mining::SequenceOptions o;
  o.min_support = p["min_support"].get<double>();
  o.max_length = p["max_length"].get<size_t>();
  o.contiguous = p["contiguous"].get<bool>();
  o.stop = run.cancelled;
  AIMASS_ASSIGN_OR_RETURN(auto patterns, mining::PrefixSpan(seqs, o));
  json out = json::array();
  for (size_t i = 0; i < patterns.size() && i < p["max_patterns"].get<size_t>(); ++i) {
    out.push_back({{"items", Names(patterns[i].items, items)},
                   {"count", patterns[i].count},
                   {"support", static_cast<double>(patterns[i].count) / static_cast<double>(seqs.size())}});
  }
  return json{{"rows", rows},       {"skipped_rows", skipped}, {"sequences", seqs.size()},
              {"items", items.size()}, {"pattern_count", patterns.size()}, {"patterns", out},
              {"timing_ms", {{"read", read_ms}, {"compute", Ms(t0)}}}};
}

Result<json> Outliers(const MiningSpec& spec, const datasets::Table& t, const MiningRun& run) {
  Phase(run, "reading");
  auto t0 = std::chrono::steady_clock::now();
  const json& p = spec.params;
  AIMASS_ASSIGN_OR_RETURN(auto cols, NumericColumns(spec, t.schema()));
  AIMASS_ASSIGN_OR_RETURN(Numbers in, ReadNumbers(t, cols));
  const int64_t read_ms = Ms(t0);
  AIMASS_RETURN_IF_ERROR(Cancelled(run));
  Phase(run, "computing");
  t0 = std::chrono::steady_clock::now();
  mining::IsolationForestOptions o;
  o.trees = p["trees"].get<int>();
  o.max_samples = p["max_samples"].get<size_t>();
  o.seed = p["seed"].get<uint64_t>();
  o.threads = run.threads;
  o.stop = run.cancelled;
  AIMASS_ASSIGN_OR_RETURN(auto forest, mining::IsolationForest::Fit(in.points, o));
  const std::vector<double> score = forest.Score(in.points, run.threads);
  std::vector<size_t> order(score.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  // "auto": above 0.5 (the paper's and scikit-learn's line); a fraction: the top share.
  const double contamination = p["contamination"].get<double>();
  double threshold = 0.5;
  if (contamination > 0 && !order.empty()) {
    const size_t take = std::max<size_t>(1, static_cast<size_t>(std::floor(contamination * static_cast<double>(order.size()))));
    threshold = score[order[std::min(take, order.size()) - 1]];
  }
  size_t flagged = 0;
  for (double s : score) flagged += contamination > 0 ? s >= threshold : s > threshold;
  // The top rows with their values (and their id when an id column is named).
  std::vector<std::string> ids;
  const std::string id_col = p["id_column"].get<std::string>();
  const size_t top = std::min<size_t>(p["top"].get<size_t>(), order.size());
  if (!id_col.empty()) {
    AIMASS_ASSIGN_OR_RETURN(size_t c, NamedColumn(spec, t.schema(), "id_column"));
    ids.resize(top);
    for (size_t k = 0; k < top; ++k) {
      const uint64_t row = in.rows[order[k]];
      const size_t seg = t.SegmentOf(row);
      AIMASS_ASSIGN_OR_RETURN(auto col, t.Read(seg, c));
      ids[k] = col.IsNull(row - t.segment_start(seg)) ? "" : KeyText(col, row - t.segment_start(seg));
    }
  }
  json list = json::array();
  for (size_t k = 0; k < top; ++k) {
    const size_t i = order[k];
    json values = json::object();
    for (size_t j = 0; j < in.points.d; ++j) values[in.columns[j]] = in.points.x[i * in.points.d + j];
    json o1 = {{"row", in.rows[i]}, {"score", Round(score[i])}, {"values", values}};
    if (!ids.empty()) o1["id"] = ids[k];
    list.push_back(o1);
  }
  // A histogram of the scores, twenty bins over [0, 1].
  std::vector<uint64_t> bins(20, 0);
  for (double s : score) bins[std::min<size_t>(19, static_cast<size_t>(s * 20))]++;
  return json{{"rows", in.points.n}, {"skipped_rows", in.skipped}, {"columns", in.columns}, {"threshold", Round(threshold)},
              {"outliers", flagged}, {"top", list}, {"histogram", bins}, {"timing_ms", {{"read", read_ms}, {"compute", Ms(t0)}}}};
}

}  // namespace

Status CheckColumns(const MiningSpec& spec, const datasets::Schema& schema) {
  const json& p = spec.params;
  if (spec.kind == "kmeans" || spec.kind == "dbscan" || spec.kind == "outliers") {
    AIMASS_RETURN_IF_ERROR(NumericColumns(spec, schema).status());
    if (spec.kind == "outliers" && !p["id_column"].get<std::string>().empty()) return NamedColumn(spec, schema, "id_column").status();
    return Status::Ok();
  }
  const bool rules = spec.kind == "association_rules";
  AIMASS_RETURN_IF_ERROR(NamedColumn(spec, schema, rules ? "transaction_column" : "sequence_column").status());
  AIMASS_RETURN_IF_ERROR(NamedColumn(spec, schema, "item_column").status());
  const char* optional = rules ? "label_column" : "order_column";
  if (!p[optional].get<std::string>().empty()) AIMASS_RETURN_IF_ERROR(NamedColumn(spec, schema, optional).status());
  return Status::Ok();
}

Result<json> RunMining(const MiningSpec& spec, const datasets::Table& table, const MiningRun& run) {
  AIMASS_RETURN_IF_ERROR(CheckColumns(spec, table.schema()));
  if (spec.kind == "association_rules") return Rules(spec, table, run);
  if (spec.kind == "sequences") return Sequences(spec, table, run);
  if (spec.kind == "outliers") return Outliers(spec, table, run);
  return Clusters(spec, table, run);
}

}  // namespace aimass::analysis
