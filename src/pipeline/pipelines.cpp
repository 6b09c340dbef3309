#include "pipeline/pipelines.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "auth/auth.hpp"
#include "auth/rbac.hpp"
#include "cluster/cluster.hpp"
#include "common/name.hpp"
#include "common/sha256.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"
#include "pipeline/expression.hpp"
#include "pipeline/tuning.hpp"
#include "scheduler/scheduler.hpp"

namespace aimass::pipeline {

using nlohmann::json;

namespace {

constexpr const char* kVersion = "aimass 0.1.0";  // part of a built-in step's code digest

bool Finished(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "skipped";
}

std::string CronName(const std::string& pipeline) { return "pipeline-" + pipeline; }

// "train[2]" → "train-2": a job name.
std::string JobName(int64_t run, const std::string& step, int64_t attempt) {
  std::string s;
  for (char c : step) s.push_back(c == '[' || c == ']' ? '-' : c);
  while (!s.empty() && s.back() == '-') s.pop_back();
  return "pl" + std::to_string(run) + "-" + s + "-a" + std::to_string(attempt);
}

json Parsed(const std::string& text, json fallback) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// Spec order, then item index.
void SortSteps(const PipelineSpec& spec, std::vector<StepRun>& steps) {
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < spec.steps.size(); ++i) order[spec.steps[i].name] = i;
  std::stable_sort(steps.begin(), steps.end(), [&](const StepRun& a, const StepRun& b) {
    size_t oa = order.count(a.step) ? order[a.step] : SIZE_MAX, ob = order.count(b.step) ? order[b.step] : SIZE_MAX;
    return oa != ob ? oa < ob : a.item_index < b.item_index;
  });
}

// A tune step's trial: a row like a foreach item, whose item holds the inputs it tries.
StepRun TrialRow(int64_t run, const std::string& step, size_t index, const json& params, int64_t round) {
  StepRun r;
  r.run_id = run;
  r.name = step + "[" + std::to_string(index) + "]";
  r.step = step;
  r.item_index = static_cast<int64_t>(index);
  r.item = json{{"params", params}, {"round", round}}.dump();
  return r;
}

std::string EventJson(const PipelineRun& r) {
  return json{{"id", r.id}, {"pipeline", r.pipeline}, {"state", r.state}, {"owner", r.owner}, {"trigger", r.trigger}}.dump();
}

}  // namespace

json ParseOutputs(std::string_view log) {
  json out = json::object();
  constexpr std::string_view kMark = "::aimass-output ";
  size_t at = 0;
  while (at < log.size()) {
    size_t end = log.find('\n', at);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = log.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(kMark)) {
      std::string_view kv = line.substr(kMark.size());
      size_t eq = kv.find('=');
      if (eq != std::string_view::npos && eq > 0 && ValidateName("output", kv.substr(0, eq), 64).ok()) {
        std::string value(kv.substr(eq + 1));
        json v = json::parse(value, nullptr, false);
        out[std::string(kv.substr(0, eq))] = v.is_discarded() ? json(value) : v;
      }
    }
    at = end + 1;
  }
  return out;
}

Pipelines::Pipelines(storage::Db& db, cluster::Cluster& cluster, auth::AuthService& auth,
                     scheduler::Scheduler& scheduler, PipelinesOptions options)
    : store_(db), cluster_(cluster), auth_(auth), scheduler_(scheduler), o_(std::move(options)) {}

Pipelines::~Pipelines() { Stop(); }

void Pipelines::Start() {
  if (!o_.run_orchestrator || thread_.joinable()) return;
  if (o_.bus) subscription_ = o_.bus->Subscribe("cluster.job.>", [this](const events::Event&) { Wake(); });
  thread_ = std::thread([this] { Loop(); });
}

void Pipelines::Stop() {
  if (o_.bus && subscription_) {
    o_.bus->Unsubscribe(subscription_);
    subscription_ = 0;
  }
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Pipelines::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Pipelines::Loop() {
  NameThisThread("pipelines");
  while (!stopping_) {
    if (Status st = AdvanceAll(); !st.ok()) spdlog::warn("pipelines: {}", st.message());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(o_.tick_ms), [this] { return wake_ || stopping_.load(); });
    wake_ = false;
  }
}

void Pipelines::Publish(const std::string& topic, const PipelineRun& run) {
  if (o_.bus) o_.bus->Publish(topic, EventJson(run));
}

Status Pipelines::CheckPermissions(const PipelineSpec& spec, const Principal& who) {
  for (const auto& s : spec.steps) {
    if (s.uses != "command") continue;
    if (!s.sandbox && !auth::Allows(who.permissions, "jobs:unsandboxed")) {
      return Status::Forbidden("step '" + s.name + "' runs outside the sandbox, which needs jobs:unsandboxed");
    }
    if (s.network && !auth::Allows(who.permissions, "jobs:network")) {
      return Status::Forbidden("step '" + s.name + "' asks for the network, which needs jobs:network");
    }
  }
  return Status::Ok();
}

Status Pipelines::Schedule(const PipelineSpec& spec, const std::string& owner, bool existed) {
  if (spec.schedule.empty()) {
    if (existed) {
      Status st = scheduler_.Delete(CronName(spec.name));
      if (!st.ok() && st.code() != Code::kNotFound) return st;
    }
    return Status::Ok();
  }
  scheduler::JobSpec cron;
  cron.name = CronName(spec.name);
  cron.schedule = spec.schedule;
  cron.time_zone = spec.time_zone;
  cron.concurrency_policy = scheduler::ConcurrencyPolicy::kAllow;
  cron.timeout_s = 60;
  cron.target.type = scheduler::Target::Type::kHttp;
  cron.target.method = "POST";
  cron.target.path = "/api/v1/pipelines/" + spec.name + "/runs";
  cron.target.body = R"({"trigger":"schedule"})";
  cron.target.headers = {{"Content-Type", "application/json"}};
  auto r = existed ? scheduler_.Replace(cron, owner) : scheduler_.Create(cron, owner, false);
  if (existed && !r.ok() && r.status().code() == Code::kNotFound) r = scheduler_.Create(cron, owner, false);
  return r.status();
}

Result<Pipeline> Pipelines::Create(std::string_view text, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(PipelineSpec spec, ParsePipelineSpec(text));
  AIMASS_RETURN_IF_ERROR(CheckPermissions(spec, who));
  Pipeline p;
  p.name = spec.name;
  p.spec = PipelineSpecJson(spec).dump();
  p.owner = who.username;
  p.created_ms = p.updated_ms = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(Pipeline created, store_.Create(p));
  if (Status st = Schedule(spec, who.username, false); !st.ok()) {
    (void)store_.Delete(created.id);
    return st;
  }
  return created;
}

Result<Pipeline> Pipelines::Update(const std::string& name, std::string_view text, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(PipelineSpec spec, ParsePipelineSpec(text));
  if (spec.name != name) return Status::BadRequest("the spec's name is '" + spec.name + "', not '" + name + "'");
  AIMASS_RETURN_IF_ERROR(CheckPermissions(spec, who));
  AIMASS_ASSIGN_OR_RETURN(Pipeline before, store_.Get(name));
  auto old = PipelineSpecFromJson(Parsed(before.spec, json::object()));
  AIMASS_RETURN_IF_ERROR(Schedule(spec, before.owner, old.ok() && !old->schedule.empty()));
  return store_.Update(name, PipelineSpecJson(spec).dump(), UnixNowMs());
}

Result<Pipeline> Pipelines::Get(const std::string& name) { return store_.Get(name); }

Result<std::vector<Pipeline>> Pipelines::List(int64_t limit, int64_t offset) { return store_.List(limit, offset); }

Status Pipelines::Delete(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Pipeline p, store_.Get(name));
  AIMASS_ASSIGN_OR_RETURN(auto runs, store_.Runs(name, 1000000, 0));
  for (const auto& r : runs) {
    if (!Finished(r.state)) return Status::Conflict("pipeline '" + name + "' has run " + std::to_string(r.id) + " going; cancel it first");
  }
  Status st = scheduler_.Delete(CronName(name));
  if (!st.ok() && st.code() != Code::kNotFound) return st;
  return store_.Delete(p.id);
}

Result<RunView> Pipelines::StartRun(const std::string& name, const json& params, const std::string& trigger,
                                    const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Pipeline p, store_.Get(name));
  AIMASS_ASSIGN_OR_RETURN(PipelineSpec spec, PipelineSpecFromJson(Parsed(p.spec, json::object())));
  if (!params.is_null() && !params.is_object()) return Status::BadRequest("params is an object");
  json merged = spec.params;
  if (params.is_object()) {
    for (auto it = params.begin(); it != params.end(); ++it) {
      if (!merged.contains(it.key())) {
        return Status::BadRequest("unknown param '" + it.key().substr(0, 64) + "': the pipeline's are its spec's params");
      }
      merged[it.key()] = it.value();
    }
  }
  AIMASS_RETURN_IF_ERROR(CheckPermissions(spec, who));
  PipelineRun r;
  r.pipeline_id = p.id;
  r.pipeline = p.name;
  r.spec = p.spec;
  r.params = merged.dump();
  r.state = "queued";
  r.owner = who.username;
  r.trigger = trigger;
  r.created_ms = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(r.id, store_.CreateRun(r, {}));
  Publish("pipeline.run.queued", r);
  Wake();
  return GetRun(r.id);
}

Result<RunView> Pipelines::GetRun(int64_t id) {
  RunView v;
  AIMASS_ASSIGN_OR_RETURN(v.run, store_.GetRun(id));
  AIMASS_ASSIGN_OR_RETURN(v.steps, store_.Steps(id));
  auto spec = PipelineSpecFromJson(Parsed(v.run.spec, json::object()));
  if (spec.ok()) SortSteps(*spec, v.steps);
  return v;
}

Result<std::vector<PipelineRun>> Pipelines::Runs(const std::string& pipeline, int64_t limit, int64_t offset) {
  AIMASS_RETURN_IF_ERROR(store_.Get(pipeline).status());
  return store_.Runs(pipeline, limit, offset);
}

Result<RunView> Pipelines::Cancel(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(PipelineRun r, store_.GetRun(id));
  if (Finished(r.state)) return Status::Conflict("pipeline run " + std::to_string(id) + " has ended (" + r.state + ")");
  AIMASS_RETURN_IF_ERROR(store_.RequestCancel(id));
  Wake();
  return GetRun(id);
}

Result<RunView> Pipelines::Resume(int64_t id, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(PipelineRun old, store_.GetRun(id));
  if (old.state != "failed" && old.state != "cancelled") {
    return Status::Conflict("only a failed or cancelled run can be resumed; run " + std::to_string(id) + " is " + old.state);
  }
  AIMASS_ASSIGN_OR_RETURN(PipelineSpec spec, PipelineSpecFromJson(Parsed(old.spec, json::object())));
  AIMASS_RETURN_IF_ERROR(CheckPermissions(spec, who));
  AIMASS_ASSIGN_OR_RETURN(auto steps, store_.Steps(id));
  // A step is reused when all of it succeeded (every item of a foreach step).
  std::map<std::string, bool> whole;
  std::set<std::string> tunes;
  for (const auto& s : spec.steps) {
    if (s.uses == "tune") tunes.insert(s.name);
  }
  for (const auto& s : steps) {
    auto [it, added] = whole.emplace(s.step, true);
    if (tunes.count(s.step)) {
      // A tune step by its summary row (a failed trial does not make the search fail).
      bool has_summary = std::any_of(steps.begin(), steps.end(),
                                     [&](const StepRun& x) { return x.step == s.step && x.item_index < 0; });
      it->second = it->second && has_summary && (s.item_index >= 0 || s.state == "succeeded");
      continue;
    }
    it->second = it->second && s.state == "succeeded";
  }
  std::vector<StepRun> reused;
  for (const auto& s : steps) {
    if (!whole[s.step]) continue;
    StepRun c = s;
    c.cached = true;
    c.cached_from_run = s.cached_from_run ? *s.cached_from_run : s.run_id;
    c.reason = "reused from run " + std::to_string(*c.cached_from_run);
    c.job_id.reset();
    c.jobs = "[]";
    c.attempts = 0;
    reused.push_back(std::move(c));
  }
  PipelineRun r = old;
  r.state = "queued";
  r.owner = who.username;
  r.trigger = "resume";
  r.resumed_from = id;
  r.reason.clear();
  r.cancel_requested = false;
  r.created_ms = UnixNowMs();
  r.started_ms = r.finished_ms = 0;
  AIMASS_ASSIGN_OR_RETURN(r.id, store_.CreateRun(r, reused));
  Publish("pipeline.run.queued", r);
  Wake();
  return GetRun(r.id);
}

std::string Pipelines::FailureOf(const RunView& run) {
  std::string reason = run.run.reason;
  for (const auto& s : run.steps) {
    if (s.state != "failed") continue;
    reason = s.step + ": " + s.reason;
    auto log = StepLog(run.run.id, s.name, 4096);
    if (log.ok()) {
      const size_t at = log->rfind("error: ");
      if (at != std::string::npos) reason += ": " + log->substr(at + 7, log->find('\n', at) - at - 7);
    }
  }
  return reason.empty() ? run.run.state : reason;
}

Result<std::string> Pipelines::StepLog(int64_t id, const std::string& step, uint64_t max_bytes) {
  AIMASS_ASSIGN_OR_RETURN(auto steps, store_.Steps(id));
  auto it = std::find_if(steps.begin(), steps.end(), [&](const StepRun& s) { return s.name == step; });
  if (it == steps.end()) return Status::NotFound("run " + std::to_string(id) + " has no step '" + step + "' (yet)");
  return it->job_id ? LogTail(*it->job_id, max_bytes) : std::string();
}

std::string Pipelines::LogTail(int64_t job, uint64_t max_bytes) {
  std::ifstream in(cluster_.LogPath(job), std::ios::binary | std::ios::ate);
  if (!in) return std::string();
  auto size = static_cast<uint64_t>(in.tellg());
  uint64_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

Status Pipelines::AdvanceAll() {
  AIMASS_ASSIGN_OR_RETURN(auto runs, store_.ActiveRuns());
  for (auto& r : runs) {
    if (stopping_) break;
    int64_t id = r.id;
    if (Status st = Advance(std::move(r)); !st.ok()) spdlog::warn("pipelines: run {}: {}", id, st.message());
  }
  return Status::Ok();
}

Result<int64_t> Pipelines::Submit(const PipelineRun& run, const StepSpec& s, StepRun& row, const json& inputs) {
  const std::string name = JobName(run.id, row.name, row.attempts + 1);
  // An attempt submitted before a crash, its id not yet recorded, is taken up, not doubled.
  cluster::JobFilter f;
  f.name = name;
  f.owner = run.owner;
  f.limit = 1;
  AIMASS_ASSIGN_OR_RETURN(auto existing, cluster_.List(f));
  if (!existing.empty()) return existing[0].id;

  json job = {{"name", name},
              {"executor", s.executor},
              {"timeout_s", s.timeout_s},
              {"retries", 0},
              {"labels", {{"pipeline", run.pipeline}, {"pipeline_run", std::to_string(run.id)}, {"step", row.name}}}};
  if (!s.resources.empty()) job["resources"] = s.resources;
  AIMASS_ASSIGN_OR_RETURN(std::string token, auth_.IssueServiceToken(run.owner, s.timeout_s + 3600));
  json env = inputs.value("env", json::object());
  env["AIMASS_SERVER"] = o_.platform_url ? o_.platform_url() : "";
  env["AIMASS_TOKEN"] = token;
  env["AIMASS_PIPELINE"] = run.pipeline;
  env["AIMASS_PIPELINE_RUN"] = std::to_string(run.id);
  env["AIMASS_STEP"] = row.name;
  env["AIMASS_INPUTS"] = inputs.value("with", json::object()).dump();
  env["AIMASS_ITEM"] = row.item;
  job["env"] = env;
  if (s.uses == "command") {
    job["command"] = inputs["command"];
    job["sandbox"] = s.sandbox;
    job["network"] = s.network;
  } else {
    // The platform's own code, which calls the platform's API: sandboxed, with the network
    // (Slurm runs jobs as it runs them, outside the sandbox).
    job["command"] = json::array({o_.aimass_binary, "step", s.uses});
    job["sandbox"] = s.executor != "slurm";
    job["network"] = s.executor != "slurm";
  }
  AIMASS_ASSIGN_OR_RETURN(cluster::JobSpec spec, cluster::ParseJobSpec(job));
  AIMASS_ASSIGN_OR_RETURN(Principal who, auth_.PrincipalOf(run.owner));
  AIMASS_ASSIGN_OR_RETURN(cluster::Job submitted, cluster_.Submit(std::move(spec), who));
  return submitted.id;
}

Status Pipelines::AdvanceTune(const PipelineRun& run, const StepSpec& s, std::vector<StepRun*> mine,
                              std::vector<StepRun>& rows, int64_t now) {
  std::vector<StepRun*> trials_rows;
  for (StepRun* r : mine) {
    if (r->item_index < 0) return Status::Ok();  // decided already (or failed before it began)
    if (!Finished(r->state)) return Status::Ok();
    trials_rows.push_back(r);
  }
  if (trials_rows.empty()) return Status::Ok();
  std::sort(trials_rows.begin(), trials_rows.end(), [](const StepRun* a, const StepRun* b) { return a->item_index < b->item_index; });
  auto tune = ParseTuneSpec(s.with);
  std::vector<Trial> trials;
  json table = json::array();
  for (const StepRun* r : trials_rows) {
    json item = Parsed(r->item, json::object());
    Trial t;
    t.params = item.value("params", json::object());
    t.round = item.value("round", int64_t{0});
    t.succeeded = r->state == "succeeded";
    if (tune.ok()) t.score = ScoreAt(Parsed(r->outputs, json::object()), tune->metric);
    table.push_back({{"index", r->item_index}, {"params", t.params}, {"round", t.round}, {"state", r->state},
                     {"score", t.score ? json(*t.score) : json(nullptr)}});
    trials.push_back(std::move(t));
  }
  StepRun summary;
  summary.run_id = run.id;
  summary.name = s.name;
  summary.step = s.name;
  summary.started_ms = trials_rows.front()->started_ms;
  summary.finished_ms = now;
  if (!tune.ok()) {
    summary.state = "failed";
    summary.reason = tune.status().message();
  } else {
    std::vector<json> next = NextRound(*tune, trials);
    if (!next.empty()) {
      // A round's rows in one transaction: a crash leaves all of it or none (then it is made
      // again from the same trials).
      std::vector<StepRun> round;
      for (size_t k = 0; k < next.size(); ++k) {
        round.push_back(TrialRow(run.id, s.name, trials.size() + k, next[k], trials.back().round + 1));
      }
      AIMASS_RETURN_IF_ERROR(store_.PutSteps(round));
      rows.insert(rows.end(), round.begin(), round.end());
      return Status::Ok();
    }
    auto best = BestTrial(*tune, trials);
    if (!best) {
      summary.state = "failed";
      summary.reason = "no trial succeeded with a score at '" + tune->metric + "'";
      summary.outputs = json{{"trials", table}}.dump();
    } else {
      json out = Parsed(trials_rows[*best]->outputs, json::object());
      out["trials"] = table;
      out["best"] = {{"index", trials_rows[*best]->item_index}, {"params", trials[*best].params}, {"score", *trials[*best].score}};
      summary.state = "succeeded";
      summary.reason = "best: trial " + std::to_string(trials_rows[*best]->item_index) + " of " + std::to_string(trials.size());
      summary.outputs = out.dump();
    }
  }
  AIMASS_RETURN_IF_ERROR(store_.PutStep(summary));
  rows.push_back(std::move(summary));
  return Status::Ok();
}

Status Pipelines::Advance(PipelineRun run) {
  AIMASS_ASSIGN_OR_RETURN(PipelineSpec spec, PipelineSpecFromJson(Parsed(run.spec, json::object())));
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Steps(run.id));
  const int64_t now = UnixNowMs();
  // The rows of each spec step, foreach items in order (pointers into `rows`: built again
  // whenever rows are added).
  std::map<std::string, std::vector<StepRun*>> by_step;
  auto index = [&] {
    by_step.clear();
    for (auto& r : rows) by_step[r.step].push_back(&r);
    for (auto& [name, list] : by_step) {
      std::sort(list.begin(), list.end(), [](const StepRun* a, const StepRun* b) { return a->item_index < b->item_index; });
    }
  };
  index();
  auto put = [&](StepRun& row) { return store_.PutStep(row); };
  const std::string prior_state = run.state;
  std::map<std::string, const StepSpec*> spec_of;
  for (const auto& s : spec.steps) spec_of[s.name] = &s;
  auto is_tune = [&](const std::string& step) {
    auto it = spec_of.find(step);
    return it != spec_of.end() && it->second->uses == "tune";
  };
  // The rows that decide how a step went: a tune step's summary row (a trial may fail and the
  // search still succeed), every row of the others.
  auto decisive = [&](const std::string& step) {
    std::vector<StepRun*> out;
    for (StepRun* r : by_step[step]) {
      if (!is_tune(step) || r->item_index < 0) out.push_back(r);
    }
    return out;
  };

  // Cancelled: stop what runs, end what waits.
  if (run.cancel_requested) {
    for (auto& row : rows) {
      if (Finished(row.state)) continue;
      if (row.job_id && (row.state == "queued" || row.state == "running")) (void)cluster_.Cancel(*row.job_id);
      row.state = "cancelled";
      row.reason = "the run was cancelled";
      row.finished_ms = now;
      AIMASS_RETURN_IF_ERROR(put(row));
    }
    run.state = "cancelled";
    run.reason = "cancelled";
    run.finished_ms = now;
    AIMASS_RETURN_IF_ERROR(store_.UpdateRun(run));
    Publish("pipeline.run.cancelled", run);
    return Status::Ok();
  }

  // The context templates and conditions read.
  json context = {{"params", Parsed(run.params, json::object())},
                  {"run", {{"id", run.id}}},
                  {"pipeline", {{"name", run.pipeline}}},
                  {"steps", json::object()}};
  auto refresh = [&](const std::string& step) {
    auto it = by_step.find(step);
    if (it == by_step.end()) return;
    const StepSpec* s = nullptr;
    for (const auto& x : spec.steps) {
      if (x.name == step) s = &x;
    }
    json outputs;
    std::string state = it->second.front()->state;
    if (s && !s->foreach.is_null()) {
      outputs = json::array();
      for (const StepRun* r : it->second) outputs.push_back(Parsed(r->outputs, json::object()));
    } else if (s && s->uses == "tune") {
      auto summary = decisive(step);
      outputs = summary.empty() ? json::object() : Parsed(summary.front()->outputs, json::object());
      state = summary.empty() ? "running" : summary.front()->state;
    } else {
      outputs = Parsed(it->second.front()->outputs, json::object());
    }
    context["steps"][step] = {{"outputs", outputs}, {"state", state}};
  };
  for (const auto& [name, list] : by_step) refresh(name);

  bool any_started = false;
  for (const auto& s : spec.steps) {
    auto& list = by_step[s.name];
    if (list.empty()) {
      // Not begun: wait for its needs; skip it when one failed or its `when` says so.
      std::string blocked, failed;
      bool all_skipped_by_when = true;
      for (const auto& n : s.needs) {
        const auto needed = decisive(n);
        if (needed.empty()) {
          blocked = n;
          break;
        }
        for (const StepRun* r : needed) {
          if (!Finished(r->state)) blocked = n;
          else if (r->state == "failed" || r->state == "cancelled" ||
                   (r->state == "skipped" && !r->reason.starts_with("when"))) {
            failed = n;
          }
          if (!(r->state == "skipped" && r->reason.starts_with("when"))) all_skipped_by_when = false;
        }
      }
      if (!blocked.empty()) continue;
      std::vector<StepRun> made;
      auto one = [&](const std::string& state, const std::string& reason) {
        StepRun r;
        r.run_id = run.id;
        r.name = s.name;
        r.step = s.name;
        r.state = state;
        r.reason = reason;
        if (Finished(state)) r.finished_ms = now;
        made.push_back(std::move(r));
      };
      if (!failed.empty()) {
        one("skipped", "needs '" + failed + "', which did not succeed");
      } else if (!s.needs.empty() && all_skipped_by_when) {
        one("skipped", "when: every step it needs was skipped");
      } else {
        bool go = true;
        std::string why;
        if (!s.when.empty()) {
          std::string expr = s.when;
          if (expr.starts_with("${{") && expr.ends_with("}}")) expr = expr.substr(3, expr.size() - 5);
          auto v = Evaluate(expr, context);
          if (!v.ok()) {
            one("failed", "when: " + v.status().message());
            go = false;
          } else if (!Truthy(*v)) {
            one("skipped", "when: '" + s.when + "' is false");
            go = false;
          }
        }
        if (go && !s.foreach.is_null()) {
          auto items = s.foreach.is_string() ? Render(s.foreach, context) : Result<json>(s.foreach);
          if (items.ok() && items->is_string()) items = Evaluate(items->get<std::string>(), context);
          if (!items.ok()) {
            one("failed", "foreach: " + items.status().message());
          } else if (!items->is_array() || items->empty() || items->size() > 1000) {
            one("failed", "foreach: not an array of 1 to 1000 items");
          } else {
            for (size_t i = 0; i < items->size(); ++i) {
              StepRun r;
              r.run_id = run.id;
              r.name = s.name + "[" + std::to_string(i) + "]";
              r.step = s.name;
              r.item_index = static_cast<int64_t>(i);
              r.item = (*items)[i].dump();
              made.push_back(std::move(r));
            }
          }
        } else if (go && s.uses == "tune") {
          auto tune = ParseTuneSpec(s.with);
          if (!tune.ok()) {
            one("failed", tune.status().message());
          } else {
            auto first = FirstRound(*tune);
            for (size_t i = 0; i < first.size(); ++i) made.push_back(TrialRow(run.id, s.name, i, first[i], 0));
          }
        } else if (go) {
          one("pending", why);
        }
      }
      for (auto& r : made) {
        AIMASS_RETURN_IF_ERROR(put(r));
        rows.push_back(r);
      }
      index();
      refresh(s.name);
    }

    for (StepRun* row : by_step[s.name]) {
      if (row->state == "pending" && row->next_attempt_ms <= now) {
        json ctx = context;
        ctx["item"] = Parsed(row->item, json(nullptr));
        json inputs = {{"with", s.with}, {"command", s.command}, {"env", s.env}};
        auto rendered = Render(inputs, ctx);
        // A tune trial runs the tuned step with the trial's inputs over the base ones.
        const StepSpec* runs = &s;
        StepSpec trial;
        if (rendered.ok() && s.uses == "tune") {
          trial = s;
          trial.uses = s.with.value("uses", "");
          json base = (*rendered)["with"].value("with", json::object());
          const json params = ctx["item"].value("params", json::object());
          for (auto it = params.begin(); it != params.end(); ++it) base[it.key()] = it.value();
          (*rendered)["with"] = base;
          runs = &trial;
        }
        if (!rendered.ok()) {
          row->state = "failed";
          row->reason = rendered.status().message();
          row->finished_ms = now;
          AIMASS_RETURN_IF_ERROR(put(*row));
          continue;
        }
        bool strings = true;
        for (const auto& a : (*rendered)["command"]) strings = strings && a.is_string();
        for (const auto& [k, v] : (*rendered)["env"].items()) strings = strings && v.is_string();
        if (!strings) {
          row->state = "failed";
          row->reason = "command and env must render to text";
          row->finished_ms = now;
          AIMASS_RETURN_IF_ERROR(put(*row));
          continue;
        }
        row->inputs = rendered->dump();
        json key = {{"uses", runs->uses}, {"inputs", *rendered}, {"item", Parsed(row->item, json(nullptr))},
                    {"code", runs->uses == "command" ? "" : std::string(kVersion) + " " + runs->uses}};
        row->cache_key = "sha256:" + Sha256Hex(key.dump());
        if (s.cache && row->attempts == 0) {
          AIMASS_ASSIGN_OR_RETURN(auto hit, store_.CacheLookup(row->cache_key));
          if (hit) {
            row->state = "succeeded";
            row->cached = true;
            row->cached_from_run = hit->run_id;
            row->outputs = hit->outputs;
            row->reason = "cached: run " + std::to_string(hit->run_id) + " computed it";
            row->started_ms = row->finished_ms = now;
            AIMASS_RETURN_IF_ERROR(put(*row));
            any_started = true;
            continue;
          }
        }
        auto job = Submit(run, *runs, *row, *rendered);
        if (!job.ok()) {
          row->state = "failed";
          row->reason = "could not start: " + job.status().message();
          row->finished_ms = now;
          AIMASS_RETURN_IF_ERROR(put(*row));
          continue;
        }
        row->attempts += 1;
        row->job_id = *job;
        json jobs = Parsed(row->jobs, json::array());
        jobs.push_back(*job);
        row->jobs = jobs.dump();
        row->state = "queued";
        if (!row->started_ms) row->started_ms = now;
        AIMASS_RETURN_IF_ERROR(put(*row));
        any_started = true;
      } else if ((row->state == "queued" || row->state == "running") && row->job_id) {
        auto job = cluster_.Get(*row->job_id);
        if (!job.ok()) {
          if (job.status().code() != Code::kNotFound) return job.status();
          row->state = "failed";
          row->reason = "its job " + std::to_string(*row->job_id) + " is gone";
          row->finished_ms = now;
          AIMASS_RETURN_IF_ERROR(put(*row));
          continue;
        }
        std::string state = cluster::StateName(job->state);
        if (state == "queued" || state == "running") {
          if (row->state != state) {
            row->state = state;
            AIMASS_RETURN_IF_ERROR(put(*row));
          }
          any_started = any_started || state == "running";
          continue;
        }
        if (state == "succeeded") {
          row->outputs = ParseOutputs(LogTail(*row->job_id, 1 << 20)).dump();
          row->state = "succeeded";
          row->reason.clear();
          row->finished_ms = now;
          AIMASS_RETURN_IF_ERROR(put(*row));
          if (s.cache) {
            AIMASS_RETURN_IF_ERROR(store_.CachePut(row->cache_key, {run.id, row->name, row->outputs}, now));
          }
          continue;
        }
        std::string why = "attempt " + std::to_string(row->attempts) + " " + state +
                          (job->reason.empty() ? "" : " (" + job->reason + ")") +
                          (job->exit_code >= 0 ? ", exit code " + std::to_string(job->exit_code) : "");
        if (state != "cancelled" && row->attempts <= s.retries) {
          double backoff = s.retry_backoff_s * std::pow(2.0, static_cast<double>(row->attempts - 1));
          row->state = "pending";
          row->next_attempt_ms = now + static_cast<int64_t>(backoff * 1000);
          row->reason = why + "; retrying";
        } else {
          row->state = state == "cancelled" ? "cancelled" : "failed";
          row->reason = why;
          row->finished_ms = now;
        }
        AIMASS_RETURN_IF_ERROR(put(*row));
      }
    }
    if (s.uses == "tune") {
      AIMASS_RETURN_IF_ERROR(AdvanceTune(run, s, by_step[s.name], rows, now));
      index();
    }
    refresh(s.name);
  }

  // The run's state from its steps'.
  bool all_done = true, any_failed = false;
  for (const auto& s : spec.steps) {
    if (decisive(s.name).empty()) all_done = false;
    for (const StepRun* r : by_step[s.name]) {
      if (!Finished(r->state)) all_done = false;
    }
    for (const StepRun* r : decisive(s.name)) {
      if (r->state == "failed" || r->state == "cancelled") any_failed = true;
    }
  }
  if (all_done) {
    run.state = any_failed ? "failed" : "succeeded";
    run.finished_ms = now;
    if (any_failed) {
      for (const auto& r : rows) {
        if (r.state == "failed" && !(is_tune(r.step) && r.item_index >= 0)) {
          run.reason = "step '" + r.name + "' failed: " + r.reason;
          break;
        }
      }
    }
  } else if (any_started || run.state == "running") {
    run.state = "running";
  }
  if (run.state != "queued" && !run.started_ms) run.started_ms = now;
  if (run.state != prior_state || run.finished_ms == now) {
    AIMASS_RETURN_IF_ERROR(store_.UpdateRun(run));
    if (run.state != prior_state) Publish("pipeline.run." + run.state, run);
  }
  return Status::Ok();
}

}  // namespace aimass::pipeline
