#include "analysis/labelling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "analysis/agreement.hpp"
#include "analysis/label_model.hpp"
#include "auth/auth.hpp"
#include "common/name.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "datasets/values.hpp"
#include "pipeline/pipelines.hpp"
#include "serving/serving.hpp"

namespace aimass::analysis {

using json = nlohmann::json;

// A project's items in memory, made on first use: what the queue, the labelling functions and
// the active learner read.
struct LabellingService::Pool {
  int64_t version_id = 0;
  std::vector<std::string> texts;  // the text column (or "")
  std::vector<json> rows;          // every column of a table's row; a file's path and media type
  std::vector<int64_t> shuffled;   // the items in the project's random order
  std::mutex mu;                   // the learner's state
  std::unique_ptr<ActiveLearner> learner;
  size_t trained_on = 0;
  std::vector<double> uncertainty;
};

namespace {

constexpr const char* kStates[] = {"unlabelled", "labelled", "accepted", "rejected", "all"};

std::string Text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// The project's settings, checked and with defaults.
Result<json> ParseConfig(const json& given, const LabelSchema& schema, const json& base) {
  json c = base.is_object() ? base : json{{"overlap", 1},         {"order", "sequential"}, {"seed", 0},
                                          {"instructions", ""},   {"language", "auto"},    {"prelabel", nullptr},
                                          {"active_learning", {{"strategy", "margin"}, {"retrain_every", 10}}},
                                          {"retrain", nullptr},   {"export_dataset", ""}};
  static const std::set<std::string> known = {"overlap", "order", "seed", "instructions", "language", "prelabel", "active_learning",
                                              "retrain", "export_dataset"};
  for (const auto& item : given.items()) {
    const std::string key = item.key();
    if (!known.count(key)) return Status::BadRequest("'" + key + "' is not a setting of a labelling project");
    c[key] = item.value();
  }
  if (!c["overlap"].is_number_integer() || c["overlap"].get<int64_t>() < 1 || c["overlap"].get<int64_t>() > 10) {
    return Status::BadRequest("overlap must be a whole number from 1 to 10");
  }
  const std::string order = c["order"].is_string() ? c["order"].get<std::string>() : "";
  if (order != "sequential" && order != "random" && order != "uncertainty") {
    return Status::BadRequest("order is sequential, random or uncertainty");
  }
  if (!c["seed"].is_number_integer()) return Status::BadRequest("seed must be a whole number");
  if (!c["instructions"].is_string() || !c["language"].is_string()) return Status::BadRequest("instructions and language are text");
  if (order == "uncertainty" && schema.kind != LabelKind::kSingle) {
    return Status::BadRequest("active learning (order uncertainty) needs a single-class schema");
  }
  const json& al = c["active_learning"];
  if (!al.is_object() || !al.value("strategy", json("")).is_string() || !al.value("retrain_every", json("")).is_number_integer()) {
    return Status::BadRequest("active_learning is {strategy: margin | entropy | least_confidence, retrain_every}");
  }
  const std::string strategy = al["strategy"];
  if (strategy != "margin" && strategy != "entropy" && strategy != "least_confidence") {
    return Status::BadRequest("active_learning.strategy is margin, entropy or least_confidence");
  }
  if (al["retrain_every"].get<int64_t>() < 1 || al["retrain_every"].get<int64_t>() > 100000) {
    return Status::BadRequest("active_learning.retrain_every must be between 1 and 100000");
  }
  const json& pre = c["prelabel"];
  if (!pre.is_null()) {
    if (!pre.is_object() || !pre.value("deployment", json()).is_string() || pre["deployment"].get<std::string>().empty()) {
      return Status::BadRequest("prelabel is {deployment, classes?, columns?}");
    }
    if (schema.kind == LabelKind::kBoxes || schema.kind == LabelKind::kSpans) {
      return Status::BadRequest("pre-labels are for single-class and multi-label schemas");
    }
    if (pre.contains("classes")) {
      if (!pre["classes"].is_array()) return Status::BadRequest("prelabel.classes lists the model's output classes in order");
      for (const auto& k : pre["classes"]) {
        if (!k.is_string() || std::find(schema.classes.begin(), schema.classes.end(), k.get<std::string>()) == schema.classes.end()) {
          return Status::BadRequest("prelabel.classes must be classes of the schema");
        }
      }
    }
  }
  const json& rt = c["retrain"];
  if (!rt.is_null()) {
    if (!rt.is_object() || !rt.value("pipeline", json()).is_string() || !rt.value("every", json()).is_number_integer() ||
        rt["every"].get<int64_t>() < 1) {
      return Status::BadRequest("retrain is {pipeline, every: labels (at least 1), params?}");
    }
    if (rt.contains("params") && !rt["params"].is_object()) return Status::BadRequest("retrain.params must be an object");
  }
  if (!c["export_dataset"].is_string()) return Status::BadRequest("export_dataset must be a dataset name");
  if (!c["export_dataset"].get<std::string>().empty()) AIMASS_RETURN_IF_ERROR(ValidateName("export_dataset", c["export_dataset"].get<std::string>(), 128));
  return c;
}

// The most common label of an item's labels, and whether all agree.
std::pair<std::string, bool> Majority(const std::vector<std::string>& labels) {
  std::map<std::string, int> count;
  for (const auto& l : labels) count[l]++;
  std::string best;
  int most = 0;
  for (const auto& [l, c] : count) {
    if (c > most) most = c, best = l;
  }
  return {best, count.size() == 1};
}

std::string CsvField(std::string_view s) {
  std::string out;
  datasets::AppendCsvField(out, s);
  return out;
}

}  // namespace

LabellingService::LabellingService(storage::Db& db, LabellingOptions o) : store_(db), o_(std::move(o)) {}
LabellingService::~LabellingService() = default;

Result<LabellingService::Project> LabellingService::Load(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(ProjectRow row, store_.Project(name));
  Project p;
  p.row = std::move(row);
  AIMASS_ASSIGN_OR_RETURN(p.schema, ParseLabelSchema(json::parse(p.row.schema, nullptr, false)));
  p.config = json::parse(p.row.config, nullptr, false);
  return p;
}

json LabellingService::ProjectJson(const Project& p) const {
  json j = {{"name", p.row.name},
            {"source", {{"dataset", p.row.dataset}, {"version", p.row.version}, {"kind", p.row.source_kind}}},
            {"items", p.row.items},
            {"schema", LabelSchemaJson(p.schema)},
            {"owner", p.row.owner},
            {"created_at", Rfc3339Ms(p.row.created_ms)},
            {"updated_at", Rfc3339Ms(p.row.updated_ms)}};
  for (const auto& item : p.config.items()) j[item.key()] = item.value();
  if (j["export_dataset"] == "") j["export_dataset"] = p.row.name + "-labels";
  return j;
}

Result<json> LabellingService::CreateProject(const json& body, const Principal& who) {
  if (!body.is_object()) return Status::BadRequest("the body must be a JSON object");
  const std::string name = body.value("name", "");
  AIMASS_RETURN_IF_ERROR(ValidateName("project", name, 128));
  if (!body.contains("dataset") || !body["dataset"].is_string()) return Status::BadRequest("dataset is required");
  if (!body.contains("schema")) return Status::BadRequest("schema is required");
  AIMASS_ASSIGN_OR_RETURN(LabelSchema schema, ParseLabelSchema(body["schema"]));
  json settings = json::object();
  for (const auto& item : body.items()) {
    const std::string k = item.key();
    if (k == "name" || k == "dataset" || k == "version" || k == "schema") continue;
    settings[k] = item.value();
  }
  AIMASS_ASSIGN_OR_RETURN(json config, ParseConfig(settings, schema, json()));
  std::string ref = "latest";
  if (body.contains("version")) {
    if (body["version"].is_number_integer()) {
      ref = std::to_string(body["version"].get<int64_t>());
    } else if (body["version"].is_string()) {
      ref = body["version"].get<std::string>();
    } else {
      return Status::BadRequest("version must be a version number, an alias or latest");
    }
  }
  const std::string dataset = body["dataset"];
  AIMASS_ASSIGN_OR_RETURN(datasets::Dataset d, o_.datasets->Get(dataset));
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetVersion v, o_.datasets->Resolve(dataset, ref));
  if (v.status != "ready") return Status::Conflict("version " + std::to_string(v.version) + " of '" + dataset + "' is " + v.status + ", not ready");
  if (v.row_count == 0) return Status::BadRequest("version " + std::to_string(v.version) + " of '" + dataset + "' has no items");
  if (v.row_count > o_.max_items) return Status::BadRequest("a labelling project holds at most " + std::to_string(o_.max_items) + " items");
  const bool files = d.kind == datasets::DatasetKind::kFiles;
  if (schema.kind == LabelKind::kBoxes && !files) return Status::BadRequest("a boxes schema labels images: a files dataset");
  if (!files) {
    for (const auto& c : schema.show_columns) {
      if (datasets::FindColumn(v.schema, c) < 0) return Status::BadRequest("no column '" + c + "' in the version");
    }
    if (!schema.text_column.empty() && datasets::FindColumn(v.schema, schema.text_column) < 0) {
      return Status::BadRequest("no column '" + schema.text_column + "' (schema.text_column) in the version");
    }
  } else if (schema.kind == LabelKind::kSpans) {
    return Status::BadRequest("a spans schema labels the text of a table's rows");
  }
  ProjectRow row;
  row.name = name;
  row.dataset = dataset;
  row.version = v.version;
  row.source_kind = files ? "files" : "table";
  row.items = static_cast<int64_t>(v.row_count);
  row.schema = LabelSchemaJson(schema).dump();
  row.config = config.dump();
  row.owner = who.username;
  row.created_ms = row.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.CreateProject(row));
  return GetProject(name);
}

Result<json> LabellingService::GetProject(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(name));
  json j = ProjectJson(p);
  // Progress: items with any label, with their full overlap, reviewed.
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(name));
  AIMASS_ASSIGN_OR_RETURN(auto reviews, store_.Reviews(name));
  std::map<int64_t, int> per;
  std::map<std::string, int64_t> by;
  for (const auto& a : anns) per[a.item]++, by[a.annotator]++;
  int64_t complete = 0;
  for (const auto& [item, n] : per) complete += n >= p.config["overlap"].get<int>();
  int64_t accepted = 0, rejected = 0;
  for (const auto& r : reviews) (r.status == "accepted" ? accepted : rejected)++;
  j["progress"] = {{"labels", anns.size()}, {"labelled_items", per.size()}, {"complete_items", complete}, {"accepted", accepted},
                   {"rejected", rejected}, {"annotators", by}, {"since_retrain", p.row.since_retrain}};
  return j;
}

Result<json> LabellingService::ListProjects() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Projects());
  json out = json::array();
  for (const auto& r : rows) {
    auto p = Load(r.name);
    if (p.ok()) out.push_back(ProjectJson(*p));
  }
  return json{{"projects", out}};
}

Result<json> LabellingService::UpdateProject(const std::string& name, const json& patch) {
  if (!patch.is_object()) return Status::BadRequest("the body must be a JSON object");
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(name));
  AIMASS_ASSIGN_OR_RETURN(json config, ParseConfig(patch, p.schema, p.config));
  AIMASS_RETURN_IF_ERROR(store_.UpdateConfig(name, config.dump(), UnixNowMs()));
  {
    std::lock_guard lock(mu_);
    pools_.erase(name);  // the order or the language may have changed
  }
  return GetProject(name);
}

Status LabellingService::DeleteProject(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(store_.DeleteProject(name));
  std::lock_guard lock(mu_);
  pools_.erase(name);
  return Status::Ok();
}

Result<std::shared_ptr<LabellingService::Pool>> LabellingService::PoolOf(const Project& p) {
  {
    std::lock_guard lock(mu_);
    auto it = pools_.find(p.row.name);
    if (it != pools_.end()) return it->second;
  }
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetVersion v, o_.datasets->Resolve(p.row.dataset, std::to_string(p.row.version)));
  AIMASS_ASSIGN_OR_RETURN(json rows, o_.datasets->Rows(v, 0, static_cast<uint64_t>(p.row.items), {}));
  auto pool = std::make_shared<Pool>();
  pool->version_id = v.id;
  for (auto& r : rows["rows"]) {
    pool->texts.push_back(p.schema.text_column.empty() ? "" : Text(r.value(p.schema.text_column, json())));
    pool->rows.push_back(std::move(r));
  }
  pool->shuffled.resize(pool->rows.size());
  std::iota(pool->shuffled.begin(), pool->shuffled.end(), 0);
  std::mt19937_64 rng(p.config.value("seed", 0));
  std::shuffle(pool->shuffled.begin(), pool->shuffled.end(), rng);
  if (p.config["order"] == "uncertainty") {
    if (!p.schema.text_column.empty()) {
      pool->learner = ActiveLearner::ForTexts(pool->texts, p.config.value("language", "auto"));
    } else {
      // The numeric columns of the rows.
      std::vector<std::string> cols;
      for (const auto& c : v.schema) {
        if (datasets::IsNumericType(c.type)) cols.push_back(c.name);
      }
      std::vector<std::vector<double>> x;
      for (const auto& r : pool->rows) {
        std::vector<double> row;
        for (const auto& c : cols) row.push_back(r.value(c, json(0.0)).is_number() ? r[c].get<double>() : 0.0);
        x.push_back(std::move(row));
      }
      pool->learner = ActiveLearner::ForNumbers(x);
    }
  }
  std::lock_guard lock(mu_);
  return pools_.emplace(p.row.name, pool).first->second;
}

Result<json> LabellingService::ItemData(const Project& p, int64_t item) {
  if (item < 0 || item >= p.row.items) return Status::NotFound("no task " + std::to_string(item) + " in '" + p.row.name + "'");
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  json data = pool->rows[static_cast<size_t>(item)];
  if (p.row.source_kind == "files") {
    data["url"] = "/api/v1/datasets/" + PercentEncode(p.row.dataset) + "/versions/" + std::to_string(p.row.version) + "/files/" +
                  PercentEncode(data.value("path", ""), true);
  }
  return data;
}

Result<std::map<int64_t, std::string>> LabellingService::Settled(const Project& p, bool agreed) {
  std::map<int64_t, std::string> out;
  AIMASS_ASSIGN_OR_RETURN(auto reviews, store_.Reviews(p.row.name));
  std::set<int64_t> rejected;
  for (const auto& r : reviews) {
    if (r.status == "accepted") out[r.item] = r.value;
    if (r.status == "rejected") rejected.insert(r.item);
  }
  if (agreed) {
    AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(p.row.name));
    std::map<int64_t, std::vector<std::string>> per;
    for (const auto& a : anns) per[a.item].push_back(a.value);
    for (const auto& [item, labels] : per) {
      if (out.count(item) || rejected.count(item)) continue;
      const auto [label, all] = Majority(labels);
      if (all && static_cast<int64_t>(labels.size()) >= p.config["overlap"].get<int64_t>()) out[item] = label;
    }
  }
  return out;
}

Status LabellingService::MaybeRetrainLearner(const Project& p) {
  if (p.config["order"] != "uncertainty") return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  // The learner trains on every item's settled label, else the majority of its labels.
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(p.row.name));
  AIMASS_ASSIGN_OR_RETURN(auto settled, Settled(p, false));
  std::map<int64_t, std::vector<std::string>> per;
  for (const auto& a : anns) per[a.item].push_back(a.value);
  std::vector<std::pair<size_t, int>> labelled;
  auto add = [&](int64_t item, const std::string& value) {
    const json v = json::parse(value, nullptr, false);
    if (!v.is_string()) return;
    const auto it = std::find(p.schema.classes.begin(), p.schema.classes.end(), v.get<std::string>());
    if (it != p.schema.classes.end()) labelled.emplace_back(static_cast<size_t>(item), static_cast<int>(it - p.schema.classes.begin()));
  };
  for (const auto& [item, value] : settled) add(item, value);
  for (const auto& [item, labels] : per) {
    if (!settled.count(item)) add(item, Majority(labels).first);
  }
  std::lock_guard lock(pool->mu);
  const size_t every = p.config["active_learning"]["retrain_every"].get<size_t>();
  if (pool->learner->trained() && labelled.size() < pool->trained_on + every) return Status::Ok();
  if (labelled.size() == pool->trained_on) return Status::Ok();
  if (!pool->learner->Train(labelled, static_cast<int>(p.schema.classes.size())).ok()) return Status::Ok();  // one class so far
  pool->trained_on = labelled.size();
  const std::string strategy = p.config["active_learning"]["strategy"];
  pool->uncertainty.assign(pool->rows.size(), 0.0);
  for (size_t i = 0; i < pool->rows.size(); ++i) pool->uncertainty[i] = pool->learner->Uncertainty(i, strategy);
  return Status::Ok();
}

Result<std::optional<json>> LabellingService::NextTask(const std::string& project, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  const int64_t now = UnixNowMs();
  const int64_t overlap = p.config["overlap"];
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(project));
  AIMASS_ASSIGN_OR_RETURN(auto reviews, store_.Reviews(project));
  AIMASS_ASSIGN_OR_RETURN(auto held, store_.Reservations(project, now));
  std::vector<int64_t> count(static_cast<size_t>(p.row.items), 0);
  std::vector<uint8_t> mine(static_cast<size_t>(p.row.items), 0), done(static_cast<size_t>(p.row.items), 0);
  for (const auto& a : anns) {
    count[static_cast<size_t>(a.item)]++;
    if (a.annotator == who.username) mine[static_cast<size_t>(a.item)] = 1;
  }
  for (const auto& r : reviews) {
    if (r.status == "accepted") done[static_cast<size_t>(r.item)] = 1;
  }
  // A task this annotator holds and has not labelled comes first.
  for (const auto& [item, users] : held) {
    if (std::find(users.begin(), users.end(), who.username) != users.end() && !mine[static_cast<size_t>(item)] && !done[static_cast<size_t>(item)]) {
      AIMASS_RETURN_IF_ERROR(store_.Reserve(project, item, who.username, now + o_.lease_ms));
      AIMASS_ASSIGN_OR_RETURN(json t, TaskJson(p, item, who.username));
      return std::optional<json>(std::move(t));
    }
  }
  auto open = [&](int64_t i) {
    const size_t k = static_cast<size_t>(i);
    if (mine[k] || done[k]) return false;
    int64_t others = 0;
    if (auto it = held.find(i); it != held.end()) others = static_cast<int64_t>(it->second.size());
    return count[k] + others < overlap;
  };
  int64_t pick = -1;
  const std::string order = p.config["order"];
  if (order == "uncertainty") {
    AIMASS_RETURN_IF_ERROR(MaybeRetrainLearner(p));
    std::lock_guard lock(pool->mu);
    if (!pool->uncertainty.empty()) {
      double best = -1;
      for (int64_t i : pool->shuffled) {  // ties: the random order
        if (open(i) && pool->uncertainty[static_cast<size_t>(i)] > best) best = pool->uncertainty[static_cast<size_t>(i)], pick = i;
      }
    }
  }
  if (pick < 0) {
    if (order == "sequential") {
      for (int64_t i = 0; i < p.row.items && pick < 0; ++i) {
        if (open(i)) pick = i;
      }
    } else {
      for (int64_t i : pool->shuffled) {
        if (open(i)) {
          pick = i;
          break;
        }
      }
    }
  }
  if (pick < 0) return std::optional<json>();
  AIMASS_RETURN_IF_ERROR(store_.Reserve(project, pick, who.username, now + o_.lease_ms));
  AIMASS_ASSIGN_OR_RETURN(json t, TaskJson(p, pick, who.username));
  return std::optional<json>(std::move(t));
}

Result<json> LabellingService::Task(const std::string& project, int64_t item, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  return TaskJson(p, item, who.username);
}

Result<json> LabellingService::TaskJson(const Project& p, int64_t item, const std::string& user) {
  AIMASS_ASSIGN_OR_RETURN(json data, ItemData(p, item));
  json t = {{"id", item}, {"project", p.row.name}, {"data", data}};
  if (!p.schema.text_column.empty()) t["text"] = data.value(p.schema.text_column, json(""));
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(p.row.name));
  json labels = json::array();
  for (const auto& a : anns) {
    if (a.item != item) continue;
    if (a.annotator == user) t["mine"] = json::parse(a.value, nullptr, false);
    labels.push_back({{"annotator", a.annotator}, {"value", json::parse(a.value, nullptr, false)}, {"at", Rfc3339Ms(a.created_ms)}});
  }
  t["labels"] = labels;
  // Pre-labels: the model's (made now when there is none yet), the labelling functions'.
  if (!p.config["prelabel"].is_null()) {
    auto pre = PrelabelItem(p, item);
    if (pre.ok() && *pre) {
      t["prelabel"] = {{"source", "model"}, {"value", json::parse((*pre)->value, nullptr, false)}, {"score", (*pre)->score},
                       {"model_version", (*pre)->model_version}};
    } else if (!pre.ok()) {
      t["prelabel_error"] = pre.status().message();
    }
  }
  if (!t.contains("prelabel")) {
    AIMASS_ASSIGN_OR_RETURN(auto votes, store_.PredictionOf(p.row.name, item, "functions"));
    if (votes) t["prelabel"] = {{"source", "functions"}, {"value", json::parse(votes->value, nullptr, false)}, {"score", votes->score}};
  }
  return t;
}

Result<std::vector<Prediction>> LabellingService::Predict(const Project& p, const std::vector<int64_t>& items) {
  if (!o_.serving) return Status::Unavailable("no serving module in this process for pre-labels");
  const json& pre = p.config["prelabel"];
  const std::string deployment = pre["deployment"];
  AIMASS_ASSIGN_OR_RETURN(serving::ModelMetadata meta, o_.serving->Metadata(deployment, std::nullopt));
  if (meta.signature.inputs.empty()) return Status::BadRequest("deployment '" + deployment + "' declares no input");
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  std::vector<std::string> classes = p.schema.classes;
  if (pre.contains("classes")) {
    classes = pre["classes"].get<std::vector<std::string>>();
  } else {
    std::sort(classes.begin(), classes.end());  // a fastText model's labels, sorted
  }
  const std::string in_name = meta.signature.inputs[0].name;
  const bool bytes_in = meta.signature.inputs[0].datatype == "BYTES";
  std::vector<Prediction> out;
  constexpr size_t kBatch = 64;
  for (size_t from = 0; from < items.size(); from += kBatch) {
    const size_t n = std::min(kBatch, items.size() - from);
    std::vector<serving::Tensor> inputs;
    if (bytes_in) {
      std::vector<std::string> texts;
      for (size_t k = 0; k < n; ++k) texts.push_back(pool->texts[static_cast<size_t>(items[from + k])]);
      inputs.push_back(serving::BytesTensor(in_name, texts, 0, texts.size()));
    } else {
      // FP32 rows of the columns named (default every number of the row).
      serving::Tensor t;
      t.name = in_name;
      t.dtype = serving::DataType::kFp32;
      std::vector<std::string> cols;
      if (pre.contains("columns")) cols = pre["columns"].get<std::vector<std::string>>();
      if (cols.empty()) {
        for (const auto& item : pool->rows[0].items()) {
          if (item.value().is_number()) cols.push_back(item.key());
        }
      }
      for (size_t k = 0; k < n; ++k) {
        const json& r = pool->rows[static_cast<size_t>(items[from + k])];
        for (const auto& c : cols) {
          const float v = r.value(c, json(0.0)).is_number() ? r[c].get<float>() : 0.0f;
          t.data.append(reinterpret_cast<const char*>(&v), sizeof v);
        }
      }
      t.shape = {static_cast<int64_t>(n), static_cast<int64_t>(cols.size())};
      inputs.push_back(std::move(t));
    }
    AIMASS_ASSIGN_OR_RETURN(serving::InferResult r, o_.serving->Infer(deployment, std::nullopt, std::move(inputs)));
    if (r.outputs.empty() || r.outputs[0].dtype != serving::DataType::kFp32 || r.outputs[0].shape.size() != 2 ||
        r.outputs[0].shape[0] != static_cast<int64_t>(n)) {
      return Status::BadRequest("deployment '" + deployment + "' must answer FP32 class scores [items, classes] as its first output");
    }
    const size_t k = static_cast<size_t>(r.outputs[0].shape[1]);
    if (k != classes.size()) {
      return Status::BadRequest("deployment '" + deployment + "' answers " + std::to_string(k) + " class scores; the project expects " +
                                std::to_string(classes.size()) + " (set prelabel.classes to its classes in order)");
    }
    const float* s = reinterpret_cast<const float*>(r.outputs[0].data.data());
    for (size_t i = 0; i < n; ++i) {
      // Scores that are not probabilities go through a softmax.
      std::vector<double> prob(s + i * k, s + (i + 1) * k);
      double sum = 0;
      bool probs = true;
      for (double v : prob) sum += v, probs = probs && v >= 0 && v <= 1;
      if (!probs || std::abs(sum - 1) > 0.05) {
        const double top = *std::max_element(prob.begin(), prob.end());
        sum = 0;
        for (double& v : prob) sum += v = std::exp(v - top);
        for (double& v : prob) v /= sum;
      }
      const size_t best = static_cast<size_t>(std::max_element(prob.begin(), prob.end()) - prob.begin());
      json value;
      if (p.schema.kind == LabelKind::kMulti) {
        value = json::array();
        for (size_t c = 0; c < k; ++c) {
          if (prob[c] >= 0.5) value.push_back(classes[c]);
        }
        AIMASS_ASSIGN_OR_RETURN(value, CheckLabel(p.schema, value, ""));
      } else {
        value = classes[best];
      }
      out.push_back({items[from + i], "model", value.dump(), prob[best], deployment + ":" + std::to_string(r.version)});
    }
  }
  return out;
}

Result<std::optional<Prediction>> LabellingService::PrelabelItem(const Project& p, int64_t item) {
  AIMASS_ASSIGN_OR_RETURN(auto have, store_.PredictionOf(p.row.name, item, "model"));
  if (have) return have;
  AIMASS_ASSIGN_OR_RETURN(auto made, Predict(p, {item}));
  AIMASS_RETURN_IF_ERROR(store_.PutPredictions(p.row.name, made));
  return std::optional<Prediction>(made.front());
}

Result<json> LabellingService::Prelabel(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  if (p.config["prelabel"].is_null()) return Status::BadRequest("the project has no prelabel deployment");
  std::vector<int64_t> items(static_cast<size_t>(p.row.items));
  std::iota(items.begin(), items.end(), 0);
  AIMASS_ASSIGN_OR_RETURN(auto made, Predict(p, items));
  AIMASS_RETURN_IF_ERROR(store_.PutPredictions(project, made));
  return json{{"items", made.size()}, {"model_version", made.empty() ? "" : made.front().model_version}};
}

Result<json> LabellingService::Label(const std::string& project, int64_t item, const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  if (!body.is_object() || !body.contains("value")) return Status::BadRequest("the body is {value, lead_ms?}");
  AIMASS_ASSIGN_OR_RETURN(json data, ItemData(p, item));
  const std::string text = p.schema.text_column.empty() ? "" : Text(data.value(p.schema.text_column, json("")));
  AIMASS_ASSIGN_OR_RETURN(json value, CheckLabel(p.schema, body["value"], text));
  int64_t lead = 0;
  if (body.contains("lead_ms")) {
    if (!body["lead_ms"].is_number_integer() || body["lead_ms"].get<int64_t>() < 0) return Status::BadRequest("lead_ms must be a whole number");
    lead = body["lead_ms"];
  }
  Annotation a{item, who.username, value.dump(), lead, UnixNowMs()};
  AIMASS_ASSIGN_OR_RETURN(int64_t since, store_.Annotate(project, a, !p.config["retrain"].is_null()));
  json out = {{"task", item}, {"annotator", who.username}, {"value", value}, {"at", Rfc3339Ms(a.created_ms)}};
  AIMASS_RETURN_IF_ERROR(MaybeRetrainLearner(p));
  const json& rt = p.config["retrain"];
  if (!rt.is_null() && since >= rt["every"].get<int64_t>()) {
    auto started = StartRetrain(p);
    if (started.ok()) {
      out["retrain"] = *started;
    } else {
      spdlog::warn("labelling: project {}: the retrain pipeline did not start: {}", project, started.status().message());
      out["retrain"] = {{"error", started.status().message()}};
    }
  }
  return out;
}

Result<json> LabellingService::StartRetrain(const Project& p) {
  if (!o_.pipelines || !o_.auth) return Status::Unavailable("no pipeline module in this process to retrain with");
  AIMASS_RETURN_IF_ERROR(store_.ResetRetrainCount(p.row.name));
  AIMASS_ASSIGN_OR_RETURN(Principal owner, o_.auth->PrincipalOf(p.row.owner));
  AIMASS_ASSIGN_OR_RETURN(json exported, Export(p.row.name, json{{"include", "agreed"}}, owner));
  json params = p.config["retrain"].value("params", json::object());
  params["dataset"] = exported["dataset"];
  params["version"] = std::to_string(exported["version"].get<int64_t>());
  AIMASS_ASSIGN_OR_RETURN(pipeline::RunView run, o_.pipelines->StartRun(p.config["retrain"]["pipeline"], params, "labelling", owner));
  json e = {{"project", p.row.name}, {"pipeline", p.config["retrain"]["pipeline"]}, {"run", run.run.id}, {"dataset", exported["dataset"]},
            {"version", exported["version"]}};
  if (o_.bus) o_.bus->Publish("labelling.retrain.started", e.dump());
  return e;
}

Status LabellingService::Unlabel(const std::string& project, int64_t item, const Principal& who) {
  AIMASS_RETURN_IF_ERROR(Load(project).status());
  return store_.Unannotate(project, item, who.username);
}

Result<json> LabellingService::Review(const std::string& project, int64_t item, const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(json data, ItemData(p, item));
  if (!body.is_object()) return Status::BadRequest("the body is {status: accepted | rejected, value?}");
  const std::string status = body.value("status", "");
  if (status != "accepted" && status != "rejected") return Status::BadRequest("status is accepted or rejected");
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(project));
  std::vector<std::string> labels;
  for (const auto& a : anns) {
    if (a.item == item) labels.push_back(a.value);
  }
  analysis::Review r{item, status, "", who.username, UnixNowMs()};
  if (status == "accepted") {
    if (body.contains("value")) {
      const std::string text = p.schema.text_column.empty() ? "" : Text(data.value(p.schema.text_column, json("")));
      AIMASS_ASSIGN_OR_RETURN(json value, CheckLabel(p.schema, body["value"], text));
      r.value = value.dump();
    } else if (!labels.empty()) {
      r.value = Majority(labels).first;
    } else {
      return Status::BadRequest("task " + std::to_string(item) + " has no label to accept: give a value");
    }
  } else {
    // Rejected: its labels are dropped and the item goes back to the queue.
    for (const auto& a : anns) {
      if (a.item == item) AIMASS_RETURN_IF_ERROR(store_.Unannotate(project, item, a.annotator));
    }
  }
  AIMASS_RETURN_IF_ERROR(store_.SetReview(project, r));
  json out = {{"task", item}, {"status", status}, {"reviewer", who.username}, {"at", Rfc3339Ms(r.created_ms)}};
  if (!r.value.empty()) out["value"] = json::parse(r.value, nullptr, false);
  return out;
}

Result<json> LabellingService::AcceptAgreed(const std::string& project, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(auto reviews, store_.Reviews(project));
  std::set<int64_t> reviewed;
  for (const auto& r : reviews) reviewed.insert(r.item);
  AIMASS_ASSIGN_OR_RETURN(auto agreed, Settled(p, true));
  int64_t accepted = 0;
  for (const auto& [item, value] : agreed) {
    if (reviewed.count(item)) continue;
    AIMASS_RETURN_IF_ERROR(store_.SetReview(project, {item, "accepted", value, who.username, UnixNowMs()}));
    ++accepted;
  }
  return json{{"accepted", accepted}};
}

Result<json> LabellingService::Items(const std::string& project, const std::string& state, int64_t offset, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  if (std::find(std::begin(kStates), std::end(kStates), state) == std::end(kStates)) {
    return Status::BadRequest("state is unlabelled, labelled, accepted, rejected or all");
  }
  if (offset < 0 || limit < 1 || limit > 1000) return Status::BadRequest("limit must be between 1 and 1000, offset at least 0");
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(project));
  AIMASS_ASSIGN_OR_RETURN(auto reviews, store_.Reviews(project));
  std::map<int64_t, json> labels;
  for (const auto& a : anns) labels[a.item].push_back({{"annotator", a.annotator}, {"value", json::parse(a.value, nullptr, false)}});
  std::map<int64_t, const analysis::Review*> review;
  for (const auto& r : reviews) review[r.item] = &r;
  json out = json::array();
  int64_t matched = 0;
  for (int64_t i = 0; i < p.row.items; ++i) {
    const bool has = labels.count(i) > 0;
    const analysis::Review* r = review.count(i) ? review[i] : nullptr;
    const std::string s = r ? r->status : has ? "labelled" : "unlabelled";
    if (state != "all" && s != state) continue;
    if (matched++ < offset || static_cast<int64_t>(out.size()) >= limit) continue;
    json item = {{"id", i}, {"state", s}, {"labels", has ? labels[i] : json::array()}};
    if (r && !r->value.empty()) item["accepted"] = json::parse(r->value, nullptr, false);
    out.push_back(std::move(item));
  }
  return json{{"items", out}, {"total", matched}};
}

Result<json> LabellingService::Agreement(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(project));
  AIMASS_ASSIGN_OR_RETURN(auto settled, Settled(p, false));
  std::map<int64_t, std::map<std::string, std::string>> per;  // item → annotator → label
  std::set<std::string> annotators;
  for (const auto& a : anns) per[a.item][a.annotator] = a.value, annotators.insert(a.annotator);
  // Labels as text: a class as itself, other kinds as their canonical JSON.
  auto show = [](const std::string& v) {
    const json j = json::parse(v, nullptr, false);
    return j.is_string() ? j.get<std::string>() : v;
  };
  std::vector<std::vector<std::string>> all;
  for (const auto& [item, by] : per) {
    std::vector<std::string> l;
    for (const auto& [who, v] : by) l.push_back(show(v));
    all.push_back(std::move(l));
  }
  json out = {{"kind", KindName(p.schema.kind)}, {"items", per.size()}, {"fleiss", nullptr}};
  if (auto f = FleissKappa(all)) out["fleiss"] = {{"kappa", f->kappa}, {"items", f->items}, {"raters", f->raters}, {"per_label", f->per_label}};
  json pairs = json::array();
  std::map<std::string, std::vector<double>> kappas;
  const std::vector<std::string> names(annotators.begin(), annotators.end());
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) {
      std::vector<std::string> a, b;
      for (const auto& [item, by] : per) {
        auto x = by.find(names[i]), y = by.find(names[j]);
        if (x != by.end() && y != by.end()) a.push_back(show(x->second)), b.push_back(show(y->second));
      }
      if (a.empty()) continue;
      const auto k = CohensKappa(a, b);
      pairs.push_back({{"a", names[i]}, {"b", names[j]}, {"items", a.size()}, {"kappa", k ? json(*k) : json(nullptr)}});
      if (k) kappas[names[i]].push_back(*k), kappas[names[j]].push_back(*k);
    }
  }
  out["pairs"] = pairs;
  json people = json::array();
  for (const auto& name : names) {
    int64_t n = 0, checked = 0, right = 0;
    for (const auto& [item, by] : per) {
      auto x = by.find(name);
      if (x == by.end()) continue;
      ++n;
      if (auto s = settled.find(item); s != settled.end()) ++checked, right += s->second == x->second;
    }
    json person = {{"annotator", name}, {"labels", n}};
    const auto& ks = kappas[name];
    person["mean_kappa"] = ks.empty() ? json(nullptr) : json(std::accumulate(ks.begin(), ks.end(), 0.0) / static_cast<double>(ks.size()));
    person["accepted_agreement"] = checked ? json(static_cast<double>(right) / static_cast<double>(checked)) : json(nullptr);
    people.push_back(std::move(person));
  }
  out["annotators"] = people;
  return out;
}

Result<json> LabellingService::Export(const std::string& project, const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  if (!body.is_object()) return Status::BadRequest("the body is {dataset?, include?: accepted | agreed}");
  const std::string include = body.value("include", "accepted");
  if (include != "accepted" && include != "agreed") return Status::BadRequest("include is accepted or agreed");
  std::string target = body.value("dataset", p.config.value("export_dataset", ""));
  if (target.empty()) target = p.row.name + "-labels";
  AIMASS_RETURN_IF_ERROR(ValidateName("dataset", target, 128));
  AIMASS_ASSIGN_OR_RETURN(auto settled, Settled(p, include == "agreed"));
  if (settled.empty()) return Status::Conflict("no " + include + " labels to export yet");
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  // The rows' own columns (a file's path), then `label`: a class, or the value as JSON.
  std::vector<std::string> cols;
  for (const auto& item : pool->rows[0].items()) {
    if (item.key() != "label") cols.push_back(item.key());
  }
  std::string csv;
  for (const auto& c : cols) csv += CsvField(c) + ",";
  csv += "label\n";
  for (const auto& [item, value] : settled) {
    const json& r = pool->rows[static_cast<size_t>(item)];
    for (const auto& c : cols) csv += CsvField(Text(r.value(c, json()))) + ",";
    const json v = json::parse(value, nullptr, false);
    csv += CsvField(v.is_string() ? v.get<std::string>() : value) + "\n";
  }
  auto existing = o_.datasets->Get(target);
  if (!existing.ok()) {
    if (existing.status().code() != Code::kNotFound) return existing.status();
    AIMASS_RETURN_IF_ERROR(
        o_.datasets->Create(target, "labels of labelling project " + p.row.name, datasets::DatasetKind::kTable, who.username).status());
  }
  datasets::Upload u;
  u.content_type = "text/csv";
  u.lineage_json = json{{"source", "labelling"},
                        {"project", p.row.name},
                        {"dataset", p.row.dataset},
                        {"version", p.row.version},
                        {"include", include},
                        {"labels", settled.size()}}
                       .dump();
  u.message = "labels of project " + p.row.name;
  AIMASS_ASSIGN_OR_RETURN(datasets::AddedVersion added, o_.datasets->AddVersionFromBytes(target, csv, std::move(u), who));
  return json{{"dataset", target}, {"version", added.version.version}, {"rows", settled.size()}};
}

Result<json> LabellingService::PutFunction(const std::string& project, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(LabelingFunction f, ParseLabelingFunction(body, p.schema.classes));
  if (p.schema.kind != LabelKind::kSingle) return Status::BadRequest("labelling functions vote for one class: a single-class schema");
  if (f.kind == "rule" && p.row.source_kind == "files") return Status::BadRequest("rules read a table's columns");
  AIMASS_RETURN_IF_ERROR(store_.PutFunction(project, f.name, LabelingFunctionJson(f).dump()));
  return LabelingFunctionJson(f);
}

Result<json> LabellingService::Functions(const std::string& project) {
  AIMASS_RETURN_IF_ERROR(Load(project).status());
  AIMASS_ASSIGN_OR_RETURN(auto fs, store_.Functions(project));
  json out = json::array();
  for (const auto& [name, spec] : fs) out.push_back(json::parse(spec, nullptr, false));
  return json{{"functions", out}};
}

Status LabellingService::DeleteFunction(const std::string& project, const std::string& name) {
  AIMASS_RETURN_IF_ERROR(Load(project).status());
  return store_.DeleteFunction(project, name);
}

Result<json> LabellingService::ApplyFunctions(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(Project p, Load(project));
  AIMASS_ASSIGN_OR_RETURN(auto specs, store_.Functions(project));
  if (specs.empty()) return Status::BadRequest("the project has no labelling functions");
  std::vector<LabelingFunctionRunner> runners;
  std::vector<std::string> names;
  for (const auto& [name, spec] : specs) {
    AIMASS_ASSIGN_OR_RETURN(LabelingFunction f, ParseLabelingFunction(json::parse(spec, nullptr, false), p.schema.classes));
    AIMASS_ASSIGN_OR_RETURN(auto r, LabelingFunctionRunner::Compile(f, p.schema.classes));
    runners.push_back(std::move(r));
    names.push_back(name);
  }
  AIMASS_ASSIGN_OR_RETURN(auto pool, PoolOf(p));
  std::vector<std::vector<int>> votes(pool->rows.size(), std::vector<int>(runners.size(), -1));
  for (size_t i = 0; i < pool->rows.size(); ++i) {
    for (size_t j = 0; j < runners.size(); ++j) votes[i][j] = runners[j].Vote(pool->texts[i], pool->rows[i]);
  }
  const LabelModelFit fit = FitLabelModel(votes, static_cast<int>(p.schema.classes.size()));
  std::vector<Prediction> preds;
  for (size_t i = 0; i < fit.label.size(); ++i) {
    if (fit.label[i] >= 0) {
      preds.push_back({static_cast<int64_t>(i), "functions", json(p.schema.classes[static_cast<size_t>(fit.label[i])]).dump(), fit.confidence[i], ""});
    }
  }
  AIMASS_RETURN_IF_ERROR(store_.PutPredictions(project, preds));
  // Against the labels people gave (settled or majority), where there are any.
  AIMASS_ASSIGN_OR_RETURN(auto anns, store_.Annotations(project));
  std::map<int64_t, std::vector<std::string>> per;
  for (const auto& a : anns) per[a.item].push_back(a.value);
  json fns = json::array();
  for (size_t j = 0; j < runners.size(); ++j) {
    int64_t seen = 0, right = 0;
    for (const auto& [item, labels] : per) {
      const int v = votes[static_cast<size_t>(item)][j];
      if (v < 0) continue;
      ++seen;
      right += json::parse(Majority(labels).first, nullptr, false) == json(p.schema.classes[static_cast<size_t>(v)]);
    }
    fns.push_back({{"name", names[j]},
                   {"coverage", fit.coverage[j]},
                   {"conflict", fit.conflict[j]},
                   {"estimated_accuracy", fit.accuracy[j]},
                   {"labelled_accuracy", seen ? json(static_cast<double>(right) / static_cast<double>(seen)) : json(nullptr)}});
  }
  int64_t right = 0, seen = 0;
  for (const auto& [item, labels] : per) {
    if (fit.label[static_cast<size_t>(item)] < 0) continue;
    ++seen;
    right += json::parse(Majority(labels).first, nullptr, false) == json(p.schema.classes[static_cast<size_t>(fit.label[static_cast<size_t>(item)])]);
  }
  return json{{"functions", fns},
              {"labelled_items", preds.size()},
              {"coverage", pool->rows.empty() ? 0.0 : static_cast<double>(preds.size()) / static_cast<double>(pool->rows.size())},
              {"accuracy_on_labels", seen ? json(static_cast<double>(right) / static_cast<double>(seen)) : json(nullptr)}};
}

}  // namespace aimass::analysis
