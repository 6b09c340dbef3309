#include "analysis/mining.hpp"

#include <cerrno>

#include <spdlog/spdlog.h>

#include "analysis/mining_job.hpp"
#include "analysis/mining_spec.hpp"
#include "auth/rbac.hpp"
#include "common/failpoint.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"

namespace aimass::analysis {

using json = nlohmann::json;

MiningService::MiningService(storage::Db& db, MiningOptions o) : store_(db), o_(std::move(o)) {}

MiningService::~MiningService() { Stop(); }

Status MiningService::Open() {
  if (!o_.run_workers) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(int64_t n, store_.Requeue());
  if (n > 0) spdlog::info("analysis: {} mining job(s) left running were queued again", n);
  return Status::Ok();
}

void MiningService::Start() {
  if (!o_.run_workers) return;
  for (int i = 0; i < std::max(1, o_.workers); ++i) workers_.emplace_back([this] { Work(); });
}

void MiningService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, flag] : running_) flag->store(true);  // a stopped job is queued again at the next start
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

Result<json> MiningService::Create(const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(MiningSpec spec, ParseMiningSpec(body));
  if (!auth::Allows(who.permissions, "datasets:read")) {
    return Status::Forbidden("reading dataset '" + spec.dataset + "' needs datasets:read");
  }
  AIMASS_ASSIGN_OR_RETURN(datasets::Dataset d, o_.datasets->Get(spec.dataset));
  if (d.kind != datasets::DatasetKind::kTable) return Status::BadRequest("dataset '" + spec.dataset + "' holds files, not a table");
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetVersion v, o_.datasets->Resolve(spec.dataset, spec.version));
  if (v.status != "ready") {
    return Status::Conflict("version " + std::to_string(v.version) + " of '" + spec.dataset + "' is " + v.status + ", not ready");
  }
  if (v.row_count > o_.max_rows) {
    return Status::BadRequest("version " + std::to_string(v.version) + " has " + std::to_string(v.row_count) +
                              " rows; a mining job reads at most " + std::to_string(o_.max_rows) + " (analysis.mining_max_rows)");
  }
  AIMASS_RETURN_IF_ERROR(CheckColumns(spec, v.schema));
  spec.version = std::to_string(v.version);  // pinned: "latest" is what it was now
  MiningRow r;
  r.kind = spec.kind;
  r.dataset = spec.dataset;
  r.version = v.version;
  r.spec = MiningSpecJson(spec).dump();
  r.state = "queued";
  r.owner = who.username;
  r.created_ms = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(r.id, store_.Insert(r));
  {
    std::lock_guard lock(mu_);
    ++created_;
  }
  wake_.notify_one();
  return JobJson(r);
}

Result<json> MiningService::Get(int64_t id, bool with_result) {
  AIMASS_ASSIGN_OR_RETURN(MiningRow r, store_.Get(id, with_result));
  json j = JobJson(r);
  if (with_result && r.state == "succeeded") {
    j["result"] = json::parse(r.result, nullptr, false);
  }
  return j;
}

Result<json> MiningService::List(const std::string& state, const std::string& kind, const std::string& dataset, int64_t page_size,
                                 const std::string& page_token) {
  if (page_size < 1 || page_size > 1000) return Status::BadRequest("page_size must be between 1 and 1000");
  int64_t before = 0;
  if (!page_token.empty()) {
    try {
      before = std::stoll(page_token);
    } catch (...) {
      return Status::BadRequest("page_token is not one this API gave");
    }
  }
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List(state, kind, dataset, before, page_size + 1));
  json jobs = json::array();
  for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) jobs.push_back(JobJson(rows[i]));
  json out = {{"jobs", jobs}};
  if (rows.size() > static_cast<size_t>(page_size)) out["next_page_token"] = std::to_string(rows[static_cast<size_t>(page_size) - 1].id);
  return out;
}

Result<json> MiningService::Cancel(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(MiningRow r, store_.Get(id, false));
  AIMASS_ASSIGN_OR_RETURN(bool done, store_.Cancel(id, UnixNowMs()));
  if (!done) return Status::Conflict("mining job " + std::to_string(id) + " is " + r.state + ", not queued or running");
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(id); it != running_.end()) it->second->store(true);
  }
  return Get(id, false);
}

Status MiningService::Delete(int64_t id) {
  AIMASS_RETURN_IF_ERROR(store_.Get(id, false).status());
  (void)store_.Cancel(id, UnixNowMs());
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(id); it != running_.end()) it->second->store(true);
  }
  return store_.Delete(id);
}

void MiningService::WaitIdle() {
  for (;;) {
    auto queued = store_.List("queued", "", "", 0, 1);
    bool busy;
    {
      std::lock_guard lock(mu_);
      busy = !running_.empty();
    }
    if (!busy && queued.ok() && queued->empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void MiningService::Work() {
  NameThisThread("mining");
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Woken by a new job here, or every second for jobs queued by another process.
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || created_ != seen; });
      if (stopping_) return;
      seen = created_;
    }
    for (;;) {
      auto next = store_.ClaimNext(UnixNowMs());
      if (!next.ok()) {
        spdlog::warn("analysis: cannot claim a mining job: {}", next.status().message());
        break;
      }
      if (!*next) break;
      Run(**next);
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
  }
}

void MiningService::Run(const MiningRow& job) {
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    running_[job.id] = cancelled;
  }
  const json spec_json = json::parse(job.spec, nullptr, false);
  MiningSpec spec;
  spec.kind = job.kind;
  spec.dataset = job.dataset;
  spec.version = std::to_string(job.version);
  spec.params = spec_json.is_object() ? spec_json.value("params", json::object()) : json::object();
  MiningRun run;
  run.threads = o_.threads;
  run.cancelled = cancelled.get();
  run.phase = [&](const std::string& phase) { (void)store_.SetPhase(job.id, phase); };
  Result<json> result = [&]() -> Result<json> {
    AIMASS_ASSIGN_OR_RETURN(datasets::DatasetVersion v, o_.datasets->Resolve(job.dataset, std::to_string(job.version)));
    AIMASS_ASSIGN_OR_RETURN(datasets::Table table, o_.datasets->OpenTable(v));
    return RunMining(spec, table, run);
  }();
  {
    std::lock_guard lock(mu_);
    running_.erase(job.id);
    if (stopping_ && cancelled->load()) return;  // stopped, not cancelled: left running, queued again at the next start
  }
  if (cancelled->load()) return;  // the cancel wrote its state
  const int64_t now = UnixNowMs();
  if (AIMASS_FAILPOINT("analysis.before_mining_result")) {
    spdlog::warn("analysis: mining job {}: {}", job.id, failpoint::IoError("analysis.before_mining_result", EIO).message());
    return;  // as a failed write: the job stays running until the next start queues it again
  }
  Result<bool> written = result.ok() ? store_.Finish(job.id, "succeeded", result->dump(), "", now)
                                     : store_.Finish(job.id, "failed", "", result.status().message(), now);
  if (!written.ok()) {
    spdlog::warn("analysis: cannot record mining job {}: {}", job.id, written.status().message());
    return;
  }
  if (*written && o_.bus) {
    json e = {{"id", job.id}, {"kind", job.kind}, {"dataset", job.dataset}, {"version", job.version}, {"duration_ms", now - job.started_ms}};
    if (!result.ok()) e["error"] = result.status().message();
    o_.bus->Publish(result.ok() ? "analysis.mining.succeeded" : "analysis.mining.failed", e.dump());
  }
}

json MiningService::JobJson(const MiningRow& r) const {
  const json spec = json::parse(r.spec, nullptr, false);
  json j = {{"id", r.id},
            {"kind", r.kind},
            {"state", r.state},
            {"source", {{"dataset", r.dataset}, {"version", r.version}}},
            {"params", spec.is_object() ? spec.value("params", json::object()) : json::object()},
            {"owner", r.owner},
            {"created_at", Rfc3339Ms(r.created_ms)}};
  if (!r.phase.empty()) j["phase"] = r.phase;
  if (!r.error.empty()) j["error"] = r.error;
  if (r.started_ms) j["started_at"] = Rfc3339Ms(r.started_ms);
  if (r.finished_ms) j["finished_at"] = Rfc3339Ms(r.finished_ms);
  if (r.started_ms && r.finished_ms) j["duration_ms"] = r.finished_ms - r.started_ms;
  return j;
}

}  // namespace aimass::analysis
