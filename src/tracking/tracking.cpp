#include "tracking/tracking.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/failpoint.hpp"
#include "common/metric_goal.hpp"
#include "common/name.hpp"
#include "common/time.hpp"
#include "storage/tree.hpp"
#include "tracking/run_search.hpp"

namespace aimass::tracking {

namespace {

constexpr size_t kMaxParamValue = 6000;
constexpr size_t kMaxTagValue = 8000;
constexpr size_t kMaxPerCall = 100;  // params, tags, links
constexpr size_t kMaxText = 4096;    // descriptions
constexpr size_t kMaxRunName = 250;
constexpr size_t kMaxCompare = 100;

Status CheckText(const char* what, const std::string& s, size_t max) {
  if (s.size() > max) return Status::BadRequest(std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\n' && c != '\t') return Status::BadRequest(std::string(what) + " holds a control character");
  }
  return Status::Ok();
}

Status CheckKey(const char* what, const std::string& key) {
  if (!ValidKey(key)) {
    return Status::BadRequest(std::string(what) + " key '" + key.substr(0, 64) +
                              "' must be 1 to 250 letters, digits, '_', '-', '.', '/' or spaces");
  }
  return Status::Ok();
}

Status CheckParams(const std::map<std::string, std::string>& params, const std::map<std::string, std::string>& tags) {
  if (params.size() > kMaxPerCall || tags.size() > kMaxPerCall) return Status::BadRequest("at most 100 params and 100 tags at once");
  for (const auto& [k, v] : params) {
    AIMASS_RETURN_IF_ERROR(CheckKey("param", k));
    if (v.size() > kMaxParamValue) return Status::BadRequest("param '" + k + "' is longer than 6000 bytes");
  }
  for (const auto& [k, v] : tags) {
    AIMASS_RETURN_IF_ERROR(CheckKey("tag", k));
    if (v.size() > kMaxTagValue) return Status::BadRequest("tag '" + k + "' is longer than 8000 bytes");
  }
  return Status::Ok();
}

std::string RunEvent(const Run& r) {
  nlohmann::json j = {{"id", r.id}, {"experiment", r.experiment}, {"name", r.name}, {"status", r.status}, {"owner", r.owner}};
  return j.dump();
}

}  // namespace

Tracking::Tracking(storage::Db& db, storage::BlobStore& blobs, TrackingOptions options)
    : store_(db, options.selective_runs, options.search_window), blobs_(blobs), options_(options) {}

Status Tracking::Open() {
  AIMASS_ASSIGN_OR_RETURN(auto pending, store_.PendingArtifacts());
  for (const auto& a : pending) {
    // The bytes arrived before the crash: finish what was acknowledged-to-be; else forget it.
    if (blobs_.Stat(a.digest).ok()) {
      Status st = store_.CompleteArtifact(a, UnixNowMs());
      if (!st.ok() && st.code() != Code::kNotFound) return st;
    } else {
      AIMASS_RETURN_IF_ERROR(store_.DropPendingArtifact(a));
    }
  }
  if (!pending.empty()) spdlog::info("tracking: settled {} artifact(s) a crash left pending", pending.size());
  return Status::Ok();
}

void Tracking::Publish(const std::string& topic, const Run& r) {
  if (options_.bus) options_.bus->Publish(topic, RunEvent(r));
}

Result<Experiment> Tracking::CreateExperiment(const std::string& name, const std::string& description,
                                              const std::string& owner) {
  AIMASS_RETURN_IF_ERROR(ValidateName("experiment", name, 128));
  AIMASS_RETURN_IF_ERROR(CheckText("description", description, kMaxText));
  Experiment e;
  e.name = name;
  e.description = description;
  e.owner = owner;
  e.created_ms = e.updated_ms = UnixNowMs();
  return store_.CreateExperiment(e);
}

Result<Experiment> Tracking::GetExperiment(const std::string& name) { return store_.GetExperiment(name); }

Result<std::vector<Experiment>> Tracking::ListExperiments(int64_t limit, int64_t offset) {
  return store_.ListExperiments(limit, offset);
}

Result<Experiment> Tracking::UpdateExperiment(const std::string& name, const std::string& description) {
  AIMASS_RETURN_IF_ERROR(CheckText("description", description, kMaxText));
  AIMASS_ASSIGN_OR_RETURN(int64_t id, store_.ExperimentId(name));
  AIMASS_RETURN_IF_ERROR(store_.UpdateExperiment(id, description, UnixNowMs()));
  return store_.GetExperiment(name);
}

Status Tracking::DeleteExperiment(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t id, store_.ExperimentId(name));
  return store_.DeleteExperiment(id);
}

Result<Run> Tracking::CreateRun(const NewRun& n, const std::string& owner) {
  AIMASS_RETURN_IF_ERROR(CheckText("name", n.name, kMaxRunName));
  AIMASS_RETURN_IF_ERROR(CheckText("description", n.description, kMaxText));
  AIMASS_RETURN_IF_ERROR(CheckParams(n.params, n.tags));
  std::string status = NormalizeStatus(n.status);
  if (status.empty()) return Status::BadRequest("status is queued, running, succeeded, failed or cancelled");
  AIMASS_ASSIGN_OR_RETURN(int64_t experiment_id, store_.ExperimentId(n.experiment));
  Run r;
  r.experiment_id = experiment_id;
  r.name = n.name;
  r.description = n.description;
  r.status = status;
  r.owner = owner;
  r.start_ms = UnixNowMs();
  if (TerminalStatus(status)) r.end_ms = r.start_ms;
  r.params = n.params;
  r.tags = n.tags;
  AIMASS_ASSIGN_OR_RETURN(int64_t id, store_.CreateRun(r));
  AIMASS_ASSIGN_OR_RETURN(Run created, store_.GetRun(id));
  Publish("tracking.run.created", created);
  return created;
}

Result<Run> Tracking::GetRun(int64_t id) { return store_.GetRun(id); }

Result<std::vector<Run>> Tracking::SearchRuns(const std::vector<std::string>& experiments, const std::string& filter,
                                              const std::string& order_by, int64_t limit, int64_t offset) {
  std::vector<int64_t> ids;
  for (const auto& name : experiments) {
    AIMASS_ASSIGN_OR_RETURN(int64_t id, store_.ExperimentId(name));
    ids.push_back(id);
  }
  TrackingStore::RunQuery q;
  q.experiment_ids = std::move(ids);
  AIMASS_ASSIGN_OR_RETURN(q.drive, CompileRunFilter(filter, TermForm::kDrive));
  AIMASS_ASSIGN_OR_RETURN(q.probe, CompileRunFilter(filter, TermForm::kProbe));
  AIMASS_ASSIGN_OR_RETURN(q.order, CompileRunOrder(order_by));
  return store_.SearchRuns(q, limit, offset);
}

Result<Run> Tracking::UpdateRun(int64_t id, const std::optional<std::string>& name, const std::optional<std::string>& status,
                                const std::optional<std::string>& description) {
  std::optional<std::string> normalized;
  if (status) {
    normalized = NormalizeStatus(*status);
    if (normalized->empty()) return Status::BadRequest("status is queued, running, succeeded, failed or cancelled");
  }
  if (name) {
    AIMASS_RETURN_IF_ERROR(CheckText("name", *name, kMaxRunName));
    if (name->empty()) return Status::BadRequest("name cannot be empty");
  }
  if (description) AIMASS_RETURN_IF_ERROR(CheckText("description", *description, kMaxText));
  AIMASS_ASSIGN_OR_RETURN(Run before, store_.GetRun(id));
  AIMASS_RETURN_IF_ERROR(store_.UpdateRun(id, name, normalized, description, UnixNowMs()));
  AIMASS_ASSIGN_OR_RETURN(Run after, store_.GetRun(id));
  if (after.status != before.status) Publish("tracking.run.updated", after);
  return after;
}

Status Tracking::DeleteRun(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(Run r, store_.GetRun(id));
  AIMASS_RETURN_IF_ERROR(store_.DeleteRun(id));
  Publish("tracking.run.deleted", r);
  return Status::Ok();
}

Status Tracking::Log(int64_t id, LogBatch batch) {
  if (static_cast<int64_t>(batch.metrics.size()) > options_.max_metrics_per_call) {
    return Status::BadRequest("at most " + std::to_string(options_.max_metrics_per_call) + " metric points per call");
  }
  if (batch.params.size() > kMaxPerCall || batch.tags.size() > kMaxPerCall || batch.links.size() > kMaxPerCall) {
    return Status::BadRequest("at most 100 params, 100 tags and 100 inputs/outputs per call");
  }
  const int64_t now = UnixNowMs();
  for (auto& m : batch.metrics) {
    AIMASS_RETURN_IF_ERROR(CheckKey("metric", m.key));
    if (!std::isfinite(m.value)) return Status::BadRequest("metric '" + m.key + "' has a value that is not a finite number");
    if (m.timestamp_ms == 0) m.timestamp_ms = now;
    if (m.timestamp_ms < 0) return Status::BadRequest("metric '" + m.key + "' has a negative timestamp");
  }
  std::map<std::string, std::string> seen;
  for (const auto& [k, v] : batch.params) {
    AIMASS_RETURN_IF_ERROR(CheckKey("param", k));
    if (v.size() > kMaxParamValue) return Status::BadRequest("param '" + k + "' is longer than 6000 bytes");
    auto [it, added] = seen.emplace(k, v);
    if (!added && it->second != v) return Status::BadRequest("param '" + k + "' is given twice with different values");
  }
  for (const auto& [k, v] : batch.tags) {
    AIMASS_RETURN_IF_ERROR(CheckKey("tag", k));
    if (v.size() > kMaxTagValue) return Status::BadRequest("tag '" + k + "' is longer than 8000 bytes");
  }
  for (const auto& l : batch.links) {
    if (l.direction != "input" && l.direction != "output") return Status::BadRequest("a link is an input or an output");
    if (l.kind != "dataset" && l.kind != "model") return Status::BadRequest("inputs and outputs are datasets or models");
    AIMASS_RETURN_IF_ERROR(ValidateName(l.kind, l.name, 128));
    if (l.version < 1) return Status::BadRequest(l.kind + " '" + l.name + "': version must be a positive integer");
  }
  return store_.Log(id, batch);
}

Status Tracking::DeleteTag(int64_t id, const std::string& key) { return store_.DeleteTag(id, key); }

Result<std::vector<ChunkPoint>> Tracking::MetricHistory(int64_t id, const std::string& key, int64_t offset, int64_t limit) {
  AIMASS_RETURN_IF_ERROR(CheckKey("metric", key));
  return store_.MetricHistory(id, key, offset, limit);
}

Result<Comparison> Tracking::Compare(const std::vector<int64_t>& ids, const std::map<std::string, std::string>& goals) {
  if (ids.empty()) return Status::BadRequest("runs: give the ids of the runs to compare");
  if (ids.size() > kMaxCompare) return Status::BadRequest("at most 100 runs at once");
  for (const auto& [k, g] : goals) {
    if (g != "max" && g != "min") return Status::BadRequest("goal of '" + k + "' is max or min");
  }
  std::set<int64_t> unique(ids.begin(), ids.end());
  if (unique.size() != ids.size()) return Status::BadRequest("runs: an id is given twice");
  Comparison c;
  AIMASS_ASSIGN_OR_RETURN(c.runs, store_.RunsById(ids));
  if (c.runs.size() != ids.size()) {
    for (int64_t id : ids) {
      if (std::none_of(c.runs.begin(), c.runs.end(), [id](const Run& r) { return r.id == id; })) {
        return Status::NotFound("run " + std::to_string(id) + " not found");
      }
    }
  }
  std::set<std::string> param_keys, metric_keys;
  for (const auto& r : c.runs) {
    for (const auto& [k, v] : r.params) param_keys.insert(k);
    for (const auto& [k, v] : r.metrics) metric_keys.insert(k);
  }
  for (const auto& key : param_keys) {
    Comparison::ParamRow row;
    row.key = key;
    for (const auto& r : c.runs) {
      auto it = r.params.find(key);
      row.values.push_back(it == r.params.end() ? std::nullopt : std::optional<std::string>(it->second));
    }
    for (const auto& v : row.values) row.differs = row.differs || v != row.values[0];
    c.params.push_back(std::move(row));
  }
  for (const auto& key : metric_keys) {
    Comparison::MetricRow row;
    row.key = key;
    auto g = goals.find(key);
    row.goal = g != goals.end() ? g->second : DefaultMetricGoal(key);
    for (size_t i = 0; i < c.runs.size(); ++i) {
      auto it = c.runs[i].metrics.find(key);
      if (it == c.runs[i].metrics.end()) {
        row.values.push_back(std::nullopt);
        continue;
      }
      row.values.push_back(it->second);
      // Best over each run's whole history: its max (or min) point, not only its last.
      double v = row.goal == "max" ? it->second.max : it->second.min;
      if (!row.best_run) {
        row.best_run = i;
      } else {
        const LatestMetric& b = *row.values[*row.best_run];
        double best = row.goal == "max" ? b.max : b.min;
        if (row.goal == "max" ? v > best : v < best) row.best_run = i;
      }
    }
    c.metrics.push_back(std::move(row));
  }
  return c;
}

Result<Artifact> Tracking::PutArtifact(int64_t id, const std::string& path, const std::string& spooled_path, uint64_t size,
                                       const std::string& sha256_hex) {
  AIMASS_ASSIGN_OR_RETURN(std::string normalized, storage::NormalizeTreePath(path));
  PendingArtifact a{id, normalized, "sha256:" + sha256_hex, size};
  // The reference first (decision 16): GC never sweeps bytes a row is about to name.
  AIMASS_RETURN_IF_ERROR(store_.AddPendingArtifact(a));
  if (AIMASS_FAILPOINT("tracking.after_artifact_pending")) {
    return failpoint::IoError("tracking.after_artifact_pending", EIO);
  }
  auto adopted = blobs_.Adopt(spooled_path, sha256_hex);
  if (!adopted.ok()) {
    (void)store_.DropPendingArtifact(a);
    return adopted.status();
  }
  AIMASS_RETURN_IF_ERROR(store_.CompleteArtifact(a, UnixNowMs()));
  return store_.GetArtifact(id, normalized);
}

Result<std::vector<Artifact>> Tracking::Artifacts(int64_t id) {
  AIMASS_RETURN_IF_ERROR(store_.GetRun(id).status());
  return store_.Artifacts(id);
}

Result<std::pair<Artifact, std::string>> Tracking::OpenArtifact(int64_t id, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(std::string normalized, storage::NormalizeTreePath(path));
  AIMASS_ASSIGN_OR_RETURN(Artifact a, store_.GetArtifact(id, normalized));
  AIMASS_ASSIGN_OR_RETURN(std::string local, blobs_.LocalPath(a.digest));
  return std::make_pair(std::move(a), std::move(local));
}

Status Tracking::DeleteArtifact(int64_t id, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(std::string normalized, storage::NormalizeTreePath(path));
  return store_.DeleteArtifact(id, normalized);
}

}  // namespace aimass::tracking
