#include "serving/serving.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "auth/rbac.hpp"
#include "common/cpus.hpp"
#include "common/failpoint.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "serving/store.hpp"

namespace aimass::serving {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxHistory = 100;

int Percent() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<int>(rng() % 100);
}

std::string Platform(const std::string& framework) {
  if (framework == "torchscript") return "pytorch_torchscript";
  if (framework == "onnx") return "onnx_opencv";
  return framework;
}

bool SameRunnerOptions(const RunnerOptions& a, const RunnerOptions& b) {
  return a.instances == b.instances && a.threads == b.threads && a.max_batch_size == b.max_batch_size &&
         a.max_queue_delay_us == b.max_queue_delay_us && a.preferred_batch_sizes == b.preferred_batch_sizes &&
         a.max_queue_size == b.max_queue_size && a.optimize == b.optimize;
}

// The spec as stored: what a create body would hold (no nulls, no created_by).
Json StoredSpec(const DeploymentSpec& s) {
  Json j = SpecToJson(s);
  j.erase("created_by");
  for (const char* k : {"version", "alias"}) {
    if (j[k].is_null()) j.erase(k);
  }
  return j;
}

}  // namespace

// One deployment as it stands. Runners are swapped under `mu`; requests copy the pointer and
// run without the lock, so a swap never waits for a request and a request never sees a
// half-made change.
struct Live {
  std::mutex mu;
  DeploymentSpec spec;
  std::shared_ptr<VersionRunner> stable;
  std::shared_ptr<VersionRunner> candidate;
  std::string state = "loading";
  std::string reason;
  bool loaded = true;  // false after Unload
  // Bumped by every change to spec or runners. Slow paths (PATCH, alias swap) load without the
  // lock and apply only if nothing changed meanwhile, so they never undo a controller step.
  uint64_t generation = 0;
  std::vector<TrafficEvent> history;
  Clock::time_point step_started = Clock::now();
  // A load after a restart that failed for a reason that passes (the registry's process away):
  // when the controller tries again, and how many tries failed so far (the wait doubles).
  std::optional<Clock::time_point> retry_at;
  int failed_loads = 0;
  // The stored row's revision this copy matches (0: not stored yet, being created). A change
  // is stored over it; another process's change shows as a newer revision in the table.
  // Written under `mu`, read without it under the map's lock (a store write holds `mu`, and
  // the map's lock must never wait for one).
  std::atomic<int64_t> revision{0};
  // Reserved by Create and not yet stored and announced (Reconcile leaves it alone).
  std::atomic<bool> creating{false};
  // The autoscaler's memory: what it did last, since when the signal is above the target or
  // well below it, and whether a resize is under way.
  AutoscaleState scaled;
  std::optional<Clock::time_point> above_since, below_since;
  Clock::time_point last_scaled{};
  bool scaling = false;

  // What a change may touch, kept so that a change the store refused is undone: what serves
  // never runs ahead of what a restart would load. Destroy a Saved after the lock is dropped
  // (it may hold the last reference to a runner, whose unload waits for its requests).
  struct Saved {
    DeploymentSpec spec;
    std::shared_ptr<VersionRunner> stable, candidate;
    std::string state, reason;
    bool loaded = true;
    std::vector<TrafficEvent> history;
    Clock::time_point step_started;
  };
  Saved Save() const { return {spec, stable, candidate, state, reason, loaded, history, step_started}; }
  void Restore(Saved&& s) {
    spec = std::move(s.spec);
    stable = std::move(s.stable);
    candidate = std::move(s.candidate);
    state = std::move(s.state);
    reason = std::move(s.reason);
    loaded = s.loaded;
    history = std::move(s.history);
    step_started = s.step_started;
    ++generation;
  }

  // The deployment is gone (deleted here or by another process): nothing serves from it any
  // more. Returns its runners, to be destroyed after the lock is dropped (they drain first).
  Saved Retire() {
    Saved runners = Save();
    stable.reset();
    candidate.reset();
    state = "deleted";
    ++generation;
    return runners;
  }

  void Record(TrafficEvent e) {
    e.at_ms = UnixNowMs();
    history.push_back(std::move(e));
    if (history.size() > kMaxHistory) history.erase(history.begin());
  }

  DeploymentView View() {
    DeploymentView v;
    v.spec = spec;
    v.state = state;
    v.reason = reason;
    v.history = history;
    if (stable) {
      int w = candidate ? 100 - spec.traffic.weight : 100;
      v.serving.push_back({stable->version(), "stable", w});
    }
    if (candidate) v.serving.push_back({candidate->version(), "candidate", spec.traffic.weight});
    if (spec.autoscale) {
      v.autoscale = scaled;
      v.autoscale->instances = stable ? stable->instances() : 0;
    }
    return v;
  }
};

struct Serving::Impl {
  DeploymentStore store;
  registry::Registry& registry;
  events::EventBus* bus;
  std::shared_ptr<prometheus::Registry> metrics;
  std::function<Status(const MissingArtifact&)> fetch_missing;  // set before Start, or none

  std::mutex mu;  // guards `deployments` and `reloading`
  std::map<std::string, std::shared_ptr<Live>> deployments;
  std::set<std::string> reloading;  // names Reconcile is loading a newer copy of
  // Bumped when this process stores or drops a row (Create, Delete): a Reconcile that read the
  // table before that skips its round rather than act on a list that misses the change.
  uint64_t epoch = 0;

  // The controller: a thread that runs background tasks (loads after a restart, alias swaps)
  // and every half second evaluates canaries with an auto policy.
  std::mutex task_mu;
  std::condition_variable task_cv;
  std::deque<std::function<void()>> tasks;
  bool stopping = false;
  std::thread controller;
  uint64_t subscription = 0;

  Impl(storage::Db& d, registry::Registry& r, events::EventBus* b, std::shared_ptr<prometheus::Registry> m)
      : store(d), registry(r), bus(b), metrics(std::move(m)) {}

  void Emit(const char* topic, const Json& data) {
    if (bus) bus->Publish(topic, data.dump());
  }

  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(task_mu);
      tasks.push_back(std::move(task));
    }
    task_cv.notify_one();
  }

  void ControllerLoop() {
    auto next_tick = Clock::now();
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(task_mu);
        task_cv.wait_until(lock, next_tick, [&] { return stopping || !tasks.empty(); });
        if (stopping) return;
        if (!tasks.empty()) {
          task = std::move(tasks.front());
          tasks.pop_front();
        }
      }
      if (task) {
        task();
        continue;
      }
      if (Clock::now() >= next_tick) {
        Tick();
        next_tick = Clock::now() + std::chrono::milliseconds(500);
      }
    }
  }

  // Every deployment as it stands, copied out of the map so that the caller locks each one
  // without holding the map.
  std::vector<std::shared_ptr<Live>> All() {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<Live>> all;
    for (auto& [_, d] : deployments) all.push_back(d);
    return all;
  }

  std::shared_ptr<Live> Find(const std::string& name) {
    std::lock_guard lock(mu);
    auto it = deployments.find(name);
    return it == deployments.end() ? nullptr : it->second;
  }

  static Status NotFound(const std::string& name) {
    return Status::NotFound("deployment '" + name.substr(0, 128) + "' not found");
  }

  Result<int64_t> ResolveStable(const DeploymentSpec& spec) {
    if (spec.version) return *spec.version;
    AIMASS_ASSIGN_OR_RETURN(registry::ModelVersion v, registry.GetByAlias(spec.model, *spec.alias));
    return v.version;
  }

  Result<std::shared_ptr<VersionRunner>> LoadVersion(const DeploymentSpec& spec, int64_t version) {
    AIMASS_ASSIGN_OR_RETURN(registry::ModelVersion v, registry.GetVersion(spec.model, version));
    if (v.status != registry::VersionStatus::kReady) {
      return Status::Conflict("version " + std::to_string(version) + " of model '" + spec.model + "' is " +
                              std::string(registry::StatusName(v.status)));
    }
    LoadSpec load;
    load.deployment = spec.name;
    load.version = version;
    load.framework = v.framework;
    load.signature = v.signature;
    // Recorded in the registry off the executor (a metadata write), by the controller.
    load.signature_learned = [this, model = spec.model, version](const registry::Signature& sig) {
      Post([this, model, version, sig] {
        if (Status st = registry.RecordSignature(model, version, sig); !st.ok()) {
          spdlog::warn("model '{}' version {}: the learned signature could not be recorded: {}", model, version,
                       st.message());
        }
      });
    };
    MissingArtifact wanted{spec.model, version, "", v.digest, v.size, spec.created_by};
    if (v.kind == registry::ArtifactKind::kDirectory) {
      AIMASS_ASSIGN_OR_RETURN(auto files, registry.Files(spec.model, version));
      auto entry = std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.path == v.entry; });
      if (entry == files.end()) return Status::Internal("the version's entry file is missing");
      if (v.framework == "llm") {
        // A language model reads the whole directory: every file's local path.
        for (const auto& f : files) {
          MissingArtifact one{spec.model, version, f.path, "sha256:" + f.sha256_hex, f.size, spec.created_by};
          AIMASS_ASSIGN_OR_RETURN(load.files[f.path], LocalArtifact(one));
        }
        load.path = load.files[entry->path];
        return VersionRunner::Start(load, spec.runner, metrics);
      }
      wanted.file = entry->path;
      wanted.digest = "sha256:" + entry->sha256_hex;
      wanted.size = entry->size;
    }
    AIMASS_ASSIGN_OR_RETURN(load.path, LocalArtifact(wanted));
    return VersionRunner::Start(load, spec.runner, metrics);
  }

  // Where the blob store keeps `a`; brought from the registry's process first when this
  // process does not share its blob directory.
  Result<std::string> LocalArtifact(const MissingArtifact& a) {
    auto path = registry.BlobPath(a.digest);
    if (path.ok() || path.status().code() != Code::kNotFound || !fetch_missing) return path;
    AIMASS_RETURN_IF_ERROR(fetch_missing(a));
    return registry.BlobPath(a.digest);
  }

  // Loads what `spec` asks for: the stable version and the candidate, if any.
  Status LoadAll(const DeploymentSpec& spec, std::shared_ptr<VersionRunner>& stable,
                 std::shared_ptr<VersionRunner>& candidate) {
    AIMASS_ASSIGN_OR_RETURN(int64_t version, ResolveStable(spec));
    AIMASS_ASSIGN_OR_RETURN(stable, LoadVersion(spec, version));
    candidate.reset();
    if (spec.traffic.candidate) {
      if (*spec.traffic.candidate == version) return Status::BadRequest("the candidate is the stable version");
      AIMASS_ASSIGN_OR_RETURN(candidate, LoadVersion(spec, *spec.traffic.candidate));
    }
    return Status::Ok();
  }

  Status Persist(Live& d) {  // d.mu held
    if (int err = AIMASS_FAILPOINT("serving.before_persist")) return failpoint::IoError("cannot store the deployment", err);
    Json history = Json::array();
    for (const auto& e : d.history) history.push_back(EventToJson(e));
    StoredDeployment row{d.spec.name, StoredSpec(d.spec).dump(), history.dump(), d.loaded,
                         d.spec.created_by, d.spec.created_at, d.spec.updated_at, d.revision};
    AIMASS_ASSIGN_OR_RETURN(d.revision, d.revision == 0 ? store.Insert(row) : store.Update(row));
    (void)AIMASS_FAILPOINT("serving.after_persist");
    return Status::Ok();
  }

  // Stores the change made to `d` since `before` was saved, or undoes it when the store
  // refuses. d.mu held.
  Status Commit(Live& d, Live::Saved&& before) {
    Status st = Persist(d);
    if (!st.ok()) {
      spdlog::error("deployment '{}': the change could not be stored, undone: {}", d.spec.name, st.message());
      Live::Saved after = d.Save();  // the runners the change brought unload with `before`'s copy
      d.Restore(std::move(before));
      before = std::move(after);
    }
    return st;
  }

  // A stored row as a deployment of this process: "loading" (Reload brings it up), "unloaded",
  // or "failed" when the stored spec no longer parses.
  std::shared_ptr<Live> FromStored(const StoredDeployment& r) {
    auto d = std::make_shared<Live>();
    d->revision = r.revision;
    Json spec = Json::parse(r.spec, nullptr, false);
    Status st = ParseDeploymentSpec(spec, false, d->spec);
    d->spec.created_by = r.created_by;
    d->spec.created_at = r.created_at;
    d->spec.updated_at = r.updated_at;
    d->loaded = r.loaded;
    Json history = Json::parse(r.history, nullptr, false);
    if (history.is_array()) {
      for (const auto& e : history) {
        TrafficEvent t;
        t.action = e.value("action", "");
        t.weight = e.value("weight", 0);
        t.detail = e.value("detail", "");
        if (e.contains("from_version") && e["from_version"].is_number_integer()) t.from_version = e["from_version"].get<int64_t>();
        if (e.contains("to_version") && e["to_version"].is_number_integer()) t.to_version = e["to_version"].get<int64_t>();
        d->history.push_back(t);
      }
    }
    if (!st.ok()) {
      d->state = "failed";
      d->reason = "stored spec is invalid: " + st.message();
    } else if (!d->loaded) {
      d->state = "unloaded";
    }
    return d;
  }

  // After a restart: bring a stored deployment back up.
  void Reload(const std::shared_ptr<Live>& d) {
    DeploymentSpec spec;
    {
      std::lock_guard lock(d->mu);
      spec = d->spec;
    }
    std::shared_ptr<VersionRunner> stable, candidate;
    Status st = LoadAll(spec, stable, candidate);
    std::lock_guard lock(d->mu);
    if (!d->loaded || d->state == "deleted" || d->stable) return;  // unloaded or replaced meanwhile
    if (!st.ok()) {
      d->state = "failed";
      d->reason = st.message();
      if (st.code() == Code::kUnavailable || st.code() == Code::kBadGateway || st.code() == Code::kDeadlineExceeded) {
        auto wait = std::chrono::seconds(std::min(30, 1 << std::min(d->failed_loads, 5)));
        ++d->failed_loads;
        d->retry_at = Clock::now() + wait;
        d->reason += " (tried again in " + std::to_string(wait.count()) + " s)";
      }
      spdlog::error("deployment '{}' could not be loaded: {}", spec.name, d->reason);
      return;
    }
    d->retry_at.reset();
    d->failed_loads = 0;
    d->stable = std::move(stable);
    d->candidate = std::move(candidate);
    d->state = "ready";
    d->reason.clear();
    d->step_started = Clock::now();
    ++d->generation;
  }

  void OnAliasMoved(const std::string& model, const std::string& alias, int64_t to) {
    for (auto& d : All()) {
      {
        std::lock_guard dl(d->mu);
        if (d->spec.model != model || !d->spec.alias || *d->spec.alias != alias || !d->loaded) continue;
      }
      SwapTo(d, to, "alias_moved");
    }
  }

  // Loads `version` beside the running one, then switches it in. The old runner is released
  // here; requests still holding it finish on it, and it unloads when the last one is done.
  void SwapTo(const std::shared_ptr<Live>& d, int64_t version, const char* action) {
    DeploymentSpec spec;
    int64_t from = 0;
    uint64_t generation = 0;
    {
      std::lock_guard lock(d->mu);
      spec = d->spec;
      from = d->stable ? d->stable->version() : 0;
      generation = d->generation;
      if (from == version) return;
    }
    auto loaded = LoadVersion(spec, version);
    Live::Saved before;  // destroyed after the lock: it may hold the last reference to a runner
    std::lock_guard lock(d->mu);
    if (d->generation != generation || !d->loaded || d->state == "deleted") {
      // Changed while loading (a PATCH, a promotion, an unload): that change wins, and a later
      // alias move is followed by its own event.
      spdlog::info("deployment '{}': alias swap to version {} skipped, the deployment changed meanwhile", spec.name,
                   version);
      return;
    }
    TrafficEvent e{0, action, from ? std::optional<int64_t>(from) : std::nullopt, version, 100, ""};
    if (!loaded.ok()) {
      e.action = std::string(action) + "_failed";
      e.detail = loaded.status().message();
      d->Record(e);
      (void)Persist(*d);
      spdlog::error("deployment '{}': version {} could not be loaded: {}", spec.name, version, e.detail);
      return;
    }
    before = d->Save();
    d->stable = std::move(*loaded);
    d->state = "ready";
    d->reason.clear();
    ++d->generation;
    d->Record(e);
    d->spec.updated_at = UnixNow();
    if (!Commit(*d, std::move(before)).ok()) return;
    Emit("serving.version.swapped", {{"deployment", spec.name}, {"from_version", from}, {"to_version", version}});
  }

  // The auto policy: compare the candidate with the stable version over the current step's
  // window, then roll back or take the next step.
  void Tick() {
    Reconcile();
    for (auto& d : All()) {
      Evaluate(*d);
      RetryIfDue(d);
      Autoscale(d);
    }
  }

  // Executor threads of every version loaded here: what the instances hold of the CPUs.
  int ThreadsInUse() {
    int threads = 0;
    for (auto& d : All()) {
      std::lock_guard dl(d->mu);
      for (auto* r : {d->stable.get(), d->candidate.get()}) {
        if (r) threads += r->instances() * static_cast<int>(r->options().threads);
      }
    }
    return threads;
  }

  // Elastic instances (AutoscaleSpec): one more when the signal (queue time, or requests in
  // flight per instance) has stayed above the target for two seconds, one fewer when it has
  // stayed under a quarter of it for scale_down_after_s; never within cooldown_s of the last
  // change, never beyond the CPUs this process may use. The resize runs on the controller's
  // task thread (a new instance loads its runtime first); requests keep flowing throughout.
  void Autoscale(const std::shared_ptr<Live>& d) {
    std::shared_ptr<VersionRunner> runner;
    AutoscaleSpec a;
    {
      std::lock_guard dl(d->mu);
      if (!d->spec.autoscale || !d->stable || d->state != "ready" || d->scaling) return;
      a = *d->spec.autoscale;
      runner = d->stable;
    }
    const int n = runner->instances();
    double signal = 0, target = 0;
    const char* what = "";
    if (a.target_queue_ms > 0) {
      WindowStats w = runner->stats().Window(std::chrono::seconds(5));
      signal = w.requests ? w.queue_p50_ms : 0;
      target = a.target_queue_ms;
      what = "queue p50 ms";
    } else {
      signal = static_cast<double>(runner->stats().Snapshot().pending) / std::max(1, n);
      target = a.target_in_flight;
      what = "in flight per instance";
    }
    const auto now = Clock::now();
    int want = n;
    std::string reason;
    {
      std::lock_guard dl(d->mu);
      if (d->stable != runner) return;
      if (signal > target) {
        if (!d->above_since) d->above_since = now;
      } else {
        d->above_since.reset();
      }
      if (signal < target / 4) {
        if (!d->below_since) d->below_since = now;
      } else {
        d->below_since.reset();
      }
      const bool cooled = now - d->last_scaled >= std::chrono::seconds(a.cooldown_s);
      char buf[160];
      if (d->above_since && now - *d->above_since >= std::chrono::seconds(2) && cooled && n < a.max_instances) {
        want = n + 1;
        snprintf(buf, sizeof buf, "%s %.1f above the target %.1f", what, signal, target);
        reason = buf;
      } else if (d->below_since && now - *d->below_since >= std::chrono::seconds(a.scale_down_after_s) && cooled &&
                 n > a.min_instances) {
        want = n - 1;
        snprintf(buf, sizeof buf, "%s %.1f well below the target %.1f for %llds", what, signal, target,
                 static_cast<long long>(a.scale_down_after_s));
        reason = buf;
      }
      if (want == n) return;
    }
    if (want > n) {
      const int threads = static_cast<int>(runner->options().threads);
      if (ThreadsInUse() + threads > UsableCpus()) {
        std::lock_guard dl(d->mu);
        if (d->scaled.last_action != "held") {
          d->scaled.last_action = "held";
          d->scaled.last_reason = reason + ", but this process's CPUs are all in use";
        }
        return;
      }
    }
    {
      std::lock_guard dl(d->mu);
      d->scaling = true;
    }
    Post([this, d, runner, n, want, reason] {
      Status st = runner->Resize(want);
      std::lock_guard dl(d->mu);
      d->scaling = false;
      d->above_since.reset();
      d->below_since.reset();
      d->last_scaled = Clock::now();
      if (!st.ok()) {
        d->scaled.last_action = "held";
        d->scaled.last_reason = "adding an instance failed: " + st.message();
        return;
      }
      const char* action = want > n ? "scaled_up" : "scaled_down";
      d->scaled.last_action = action;
      d->scaled.last_reason = reason;
      d->scaled.last_change_ms = UnixNowMs();
      TrafficEvent e;
      e.action = action;
      e.from_version = runner->version();
      e.to_version = runner->version();
      e.detail = std::to_string(n) + " -> " + std::to_string(want) + " instances: " + reason;
      d->Record(std::move(e));
      Emit("serving.deployment.scaled", {{"deployment", d->spec.name}, {"version", runner->version()}, {"from", n},
                                         {"to", want}, {"reason", reason}});
    });
  }

  void RetryIfDue(const std::shared_ptr<Live>& d) {
    {
      std::lock_guard dl(d->mu);
      if (!d->retry_at || Clock::now() < *d->retry_at || d->state != "failed" || !d->loaded) return;
      d->retry_at.reset();
      d->state = "loading";
    }
    Post([this, d] { Reload(d); });
  }

  // Follows the other serving processes on the same database: what they created, changed or
  // deleted is created, reloaded or dropped here too, within a tick. A changed deployment keeps
  // serving from its old copy until the new one has loaded.
  void Reconcile() {
    uint64_t read_at = 0;
    {
      std::lock_guard lock(mu);
      read_at = epoch;
    }
    auto revisions = store.Revisions();
    if (!revisions.ok()) return;  // the database is away: keep serving what is loaded
    std::vector<std::pair<std::string, std::shared_ptr<Live>>> changed;  // name, old copy or null
    std::vector<std::shared_ptr<Live>> gone;
    {
      std::lock_guard lock(mu);
      if (epoch != read_at) return;
      for (auto it = deployments.begin(); it != deployments.end();) {
        std::shared_ptr<Live> d = it->second;
        if (d->creating) {
          ++it;
          continue;
        }
        const int64_t revision = d->revision;
        auto stored = revisions->find(it->first);
        if (revision != 0 && stored == revisions->end()) {
          gone.push_back(d);
          it = deployments.erase(it);
          continue;
        }
        if (revision != 0 && stored->second > revision && !reloading.count(it->first)) changed.emplace_back(it->first, d);
        ++it;
      }
      for (const auto& [name, _] : *revisions) {
        if (!deployments.count(name) && !reloading.count(name)) changed.emplace_back(name, nullptr);
      }
      for (const auto& [name, _] : changed) reloading.insert(name);
    }
    for (auto& d : gone) {
      Live::Saved dropped;  // unloads after the lock
      std::lock_guard dl(d->mu);
      dropped = d->Retire();
    }
    for (auto& [name, old] : changed) {
      auto row = store.Get(name);
      if (!row.ok() || !*row) {
        std::lock_guard lock(mu);
        reloading.erase(name);
        continue;
      }
      std::shared_ptr<Live> fresh = FromStored(**row);
      Post([this, name = name, old = old, fresh] {
        if (fresh->state == "loading") Reload(fresh);
        std::lock_guard lock(mu);
        reloading.erase(name);
        auto it = deployments.find(name);
        if (old) {
          if (it == deployments.end() || it->second != old) return;  // deleted or replaced here meanwhile
          if (old->revision >= fresh->revision) return;  // a change made here got there first
        } else if (it != deployments.end()) {
          return;  // created here meanwhile
        }
        deployments[name] = fresh;
      });
    }
  }

  void Evaluate(Live& d) {
    Live::Saved before;  // unloaded after the lock is dropped
    std::lock_guard lock(d.mu);
    if (!d.candidate || !d.stable || !d.spec.traffic.autopilot) return;
    const AutoPolicy& a = *d.spec.traffic.autopilot;
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d.step_started);
    auto window = std::min(std::chrono::seconds(a.window_s), std::max(elapsed, std::chrono::seconds(1)));
    WindowStats cw = d.candidate->stats().Window(window);
    WindowStats sw = d.stable->stats().Window(window);
    if (cw.requests < static_cast<uint64_t>(a.min_requests)) return;
    bool enough_stable = sw.requests >= static_cast<uint64_t>(a.min_requests);
    double err_delta = cw.error_rate() - sw.error_rate();
    double p99_ratio = sw.p99_ms > 0 ? cw.p99_ms / sw.p99_ms : 1.0;
    // Errors roll back at once; latency only over a whole window, since a new version's first
    // requests pay for warm-up and would trip the p99 test on their own.
    bool window_done = elapsed >= std::chrono::seconds(a.window_s);
    bool bad = err_delta > a.max_error_rate_delta || (window_done && enough_stable && p99_ratio > a.max_p99_ratio);
    int64_t cand = d.candidate->version(), stable = d.stable->version();
    char detail[256];
    snprintf(detail, sizeof detail,
             "candidate: %llu requests, %.1f%% errors, p99 %.2f ms; stable: %llu requests, %.1f%% errors, p99 %.2f ms",
             static_cast<unsigned long long>(cw.requests), 100 * cw.error_rate(), cw.p99_ms,
             static_cast<unsigned long long>(sw.requests), 100 * sw.error_rate(), sw.p99_ms);
    if (bad) {
      before = d.Save();
      d.candidate.reset();
      d.spec.traffic = TrafficSpec{};
      ++d.generation;
      d.Record({0, "rolled_back", stable, cand, 0, detail});
      d.spec.updated_at = UnixNow();
      if (!Commit(d, std::move(before)).ok()) return;
      Emit("serving.traffic.rolled_back", {{"deployment", d.spec.name}, {"candidate", cand}, {"detail", detail}});
      return;
    }
    if (!window_done || !enough_stable) return;
    int next = 100;
    for (int s : a.steps) {
      if (s > d.spec.traffic.weight) {
        next = s;
        break;
      }
    }
    before = d.Save();
    if (next >= 100) {
      d.stable = std::move(d.candidate);
      d.spec.version = cand;
      d.spec.alias.reset();  // the promoted version is pinned; the alias is the registry's
      d.spec.traffic = TrafficSpec{};
      d.Record({0, "promoted", stable, cand, 100, detail});
    } else {
      d.spec.traffic.weight = next;
      d.Record({0, "step", stable, cand, next, detail});
    }
    ++d.generation;
    d.step_started = Clock::now();
    d.spec.updated_at = UnixNow();
    if (!Commit(d, std::move(before)).ok()) return;
    d.stable->stats().ResetWindow();
    if (d.candidate) d.candidate->stats().ResetWindow();
    if (next >= 100) {
      Emit("serving.traffic.promoted", {{"deployment", d.spec.name}, {"version", cand}});
    } else {
      Emit("serving.traffic.step", {{"deployment", d.spec.name}, {"candidate", cand}, {"weight", next}});
    }
  }
};

Serving::Serving(storage::Db& db, registry::Registry& registry, events::EventBus* bus,
                 std::shared_ptr<prometheus::Registry> metrics)
    : impl_(std::make_unique<Impl>(db, registry, bus, std::move(metrics))) {}

Serving::~Serving() { Stop(); }

std::vector<storage::Migration> Serving::Migrations() { return DeploymentStore::Migrations(); }

void Serving::FetchMissingWith(std::function<Status(const MissingArtifact&)> fetch) {
  impl_->fetch_missing = std::move(fetch);
}

void Serving::Start() {
  Impl& s = *impl_;
  auto rows = s.store.List();
  if (rows.ok()) {
    for (const StoredDeployment& r : *rows) {
      auto d = s.FromStored(r);
      std::lock_guard lock(s.mu);
      s.deployments[r.name] = d;
      if (d->state == "loading") s.Post([&s, d] { s.Reload(d); });
    }
  } else {
    spdlog::error("cannot read the stored deployments: {}", rows.status().message());
  }
  if (s.bus) {
    s.subscription = s.bus->Subscribe("registry.alias.moved", [&s](const events::Event& e) {
      Json j = Json::parse(e.data, nullptr, false);
      if (!j.is_object() || !j["to_version"].is_number_integer()) return;
      std::string model = j.value("model", ""), alias = j.value("alias", "");
      int64_t to = j["to_version"].get<int64_t>();
      s.Post([&s, model, alias, to] { s.OnAliasMoved(model, alias, to); });
    });
  }
  s.controller = NamedThread("serving", [&s] { s.ControllerLoop(); });
}

void Serving::Stop() {
  Impl& s = *impl_;
  if (s.bus && s.subscription) {
    s.bus->Unsubscribe(s.subscription);
    s.subscription = 0;
  }
  {
    std::lock_guard lock(s.task_mu);
    s.stopping = true;
  }
  s.task_cv.notify_all();
  if (s.controller.joinable()) s.controller.join();
  std::map<std::string, std::shared_ptr<Live>> all;
  {
    std::lock_guard lock(s.mu);
    all.swap(s.deployments);
  }
  for (auto& [_, d] : all) {
    std::lock_guard lock(d->mu);
    d->stable.reset();
    d->candidate.reset();
  }
}

Result<DeploymentView> Serving::Create(const Principal& who, DeploymentSpec spec) {
  Impl& s = *impl_;
  AIMASS_RETURN_IF_ERROR(s.registry.Authorize(who, spec.model, registry::Access::kRead));
  auto d = std::make_shared<Live>();
  d->creating = true;
  {
    std::lock_guard lock(s.mu);
    if (s.deployments.count(spec.name)) return Status::Conflict("deployment '" + spec.name + "' exists");
    s.deployments[spec.name] = d;  // reserved while loading
  }
  spec.created_by = who.username;
  spec.created_at = spec.updated_at = UnixNow();
  std::shared_ptr<VersionRunner> stable, candidate;
  Status st = s.LoadAll(spec, stable, candidate);
  const Status dropped = Status::Conflict("deployment '" + spec.name + "' was deleted while it was loading");
  {
    // Stored under the deployment's lock only: the map stays free for every other request
    // while the row is written (a slow or absent database must not stall inference).
    std::lock_guard lock(d->mu);
    if (d->state == "deleted") return dropped;  // Delete dropped the reservation
    if (st.ok()) {
      d->spec = spec;
      d->stable = std::move(stable);
      d->candidate = std::move(candidate);
      d->state = "ready";
      ++d->generation;
      d->Record({0, "created", std::nullopt, d->stable->version(), 100, ""});
      if (d->candidate) d->Record({0, "canary", d->stable->version(), d->candidate->version(), spec.traffic.weight, ""});
      st = s.Persist(*d);
    }
    if (!st.ok()) d->state = "deleted";
  }
  Live::Saved unused;  // a deployment deleted as it was stored: unloaded after the locks
  {
    std::lock_guard map_lock(s.mu);
    ++s.epoch;  // a Reconcile that read the table before the row was stored skips its round
    auto it = s.deployments.find(spec.name);
    const bool mine = it != s.deployments.end() && it->second == d;
    if (!st.ok()) {
      if (mine) s.deployments.erase(it);
      return st;
    }
    std::lock_guard lock(d->mu);
    d->creating = false;
    if (!mine) {
      unused = d->Retire();
      return dropped;
    }
  }
  s.Emit("serving.deployment.created", {{"deployment", spec.name}, {"model", spec.model}, {"version", d->stable->version()}});
  std::lock_guard lock(d->mu);
  return d->View();
}

Result<DeploymentView> Serving::Get(const std::string& name) {
  auto d = impl_->Find(name);
  if (!d) return Impl::NotFound(name);
  std::lock_guard lock(d->mu);
  return d->View();
}

std::vector<DeploymentView> Serving::List() {
  std::vector<DeploymentView> out;
  for (auto& d : impl_->All()) {
    std::lock_guard lock(d->mu);
    out.push_back(d->View());
  }
  return out;
}

Result<DeploymentView> Serving::Update(const Principal& who, const std::string& name, const Json& patch) {
  Impl& s = *impl_;
  auto d = s.Find(name);
  if (!d) return Impl::NotFound(name);
  DeploymentSpec old_spec, spec;
  int64_t old_stable = 0, old_candidate = 0;
  uint64_t generation = 0;
  bool loaded = true;
  {
    std::lock_guard lock(d->mu);
    if (d->state == "loading") return Status::Conflict("deployment '" + name + "' is still loading");
    old_spec = spec = d->spec;
    old_stable = d->stable ? d->stable->version() : 0;
    old_candidate = d->candidate ? d->candidate->version() : 0;
    generation = d->generation;
    loaded = d->loaded;
  }
  AIMASS_RETURN_IF_ERROR(ParseDeploymentSpec(patch, true, spec));
  AIMASS_RETURN_IF_ERROR(s.registry.Authorize(who, spec.model, registry::Access::kRead));
  auto changed = [&] { return Status::Conflict("deployment '" + name + "' changed during the update; retry"); };
  if (!loaded) {
    // An unloaded deployment keeps no runners: the new spec is checked and stored, and the
    // repository load brings it up as written.
    AIMASS_ASSIGN_OR_RETURN(int64_t v, s.ResolveStable(spec));
    AIMASS_RETURN_IF_ERROR(s.registry.GetVersion(spec.model, v).status());
    if (spec.traffic.candidate) {
      if (*spec.traffic.candidate == v) return Status::BadRequest("the candidate is the stable version");
      AIMASS_RETURN_IF_ERROR(s.registry.GetVersion(spec.model, *spec.traffic.candidate).status());
    }
    std::lock_guard lock(d->mu);
    if (d->generation != generation) return changed();
    Live::Saved before = d->Save();  // no runners here
    spec.updated_at = UnixNow();
    d->spec = spec;
    ++d->generation;
    AIMASS_RETURN_IF_ERROR(s.Commit(*d, std::move(before)));
    s.Emit("serving.deployment.updated", {{"deployment", name}});
    return d->View();
  }
  // Load what changed before anything takes traffic; the rest keeps its runner.
  bool reload = !SameRunnerOptions(old_spec.runner, spec.runner);
  AIMASS_ASSIGN_OR_RETURN(int64_t stable_version, s.ResolveStable(spec));
  std::shared_ptr<VersionRunner> stable, candidate;
  if (reload || stable_version != old_stable) {
    AIMASS_ASSIGN_OR_RETURN(stable, s.LoadVersion(spec, stable_version));
  }
  int64_t want_candidate = spec.traffic.candidate.value_or(0);
  if (want_candidate == stable_version && want_candidate) return Status::BadRequest("the candidate is the stable version");
  if (want_candidate && (reload || want_candidate != old_candidate)) {
    AIMASS_ASSIGN_OR_RETURN(candidate, s.LoadVersion(spec, want_candidate));
  }
  Live::Saved before;  // released after the lock is dropped
  std::lock_guard lock(d->mu);
  if (d->generation != generation || !d->loaded) return changed();
  before = d->Save();
  ++d->generation;
  spec.updated_at = UnixNow();
  if (stable) {
    d->stable = std::move(stable);
    if (stable_version != old_stable) d->Record({0, "version_set", old_stable, stable_version, 100, ""});
  }
  if (candidate || !want_candidate) d->candidate = std::move(candidate);
  if (want_candidate && (want_candidate != old_candidate || spec.traffic.weight != old_spec.traffic.weight)) {
    d->Record({0, "canary", stable_version, want_candidate, spec.traffic.weight, ""});
    d->step_started = Clock::now();
  }
  d->spec = spec;
  d->state = "ready";
  AIMASS_RETURN_IF_ERROR(s.Commit(*d, std::move(before)));
  s.Emit("serving.deployment.updated", {{"deployment", name}, {"version", stable_version}});
  return d->View();
}

Status Serving::Delete(const std::string& name) {
  Impl& s = *impl_;
  std::shared_ptr<Live> d;
  {
    std::lock_guard lock(s.mu);
    auto it = s.deployments.find(name);
    if (it == s.deployments.end()) return Impl::NotFound(name);
    d = it->second;
  }
  bool reserved = false;
  {
    // Not under the map's lock: a Create may hold this one while it stores the row.
    std::lock_guard dl(d->mu);
    // One still being created has no row yet: marked so, its Create gives up.
    if (d->revision == 0) {
      reserved = true;
      d->state = "deleted";
    }
  }
  if (reserved) {
    std::lock_guard lock(s.mu);
    auto it = s.deployments.find(name);
    if (it != s.deployments.end() && it->second == d) s.deployments.erase(it);
  }
  // The row goes first: until it has, the other processes (and a restart) still serve it.
  AIMASS_RETURN_IF_ERROR(s.store.Delete(name));
  {
    std::lock_guard lock(s.mu);
    ++s.epoch;
    auto it = s.deployments.find(name);
    if (it != s.deployments.end() && it->second == d) s.deployments.erase(it);
  }
  Live::Saved runners;
  {
    std::lock_guard lock(d->mu);
    runners = d->Retire();
  }
  s.Emit("serving.deployment.deleted", {{"deployment", name}});
  return Status::Ok();  // the runners drain and unload as they go out of scope
}

Status Serving::Unload(const std::string& name) {
  auto d = impl_->Find(name);
  if (!d) return Impl::NotFound(name);
  Live::Saved before;  // the runners unload after the lock is dropped
  std::lock_guard lock(d->mu);
  if (d->state == "loading") return Status::Conflict("deployment '" + name + "' is still loading");
  before = d->Save();
  d->stable.reset();
  d->candidate.reset();
  d->loaded = false;
  d->state = "unloaded";
  ++d->generation;
  return impl_->Commit(*d, std::move(before));
}

Status Serving::Load(const std::string& name) {
  auto d = impl_->Find(name);
  if (!d) return Impl::NotFound(name);
  DeploymentSpec spec;
  uint64_t generation = 0;
  {
    std::lock_guard lock(d->mu);
    if (d->stable) return Status::Ok();
    if (d->state == "loading") return Status::Conflict("deployment '" + name + "' is still loading");
    spec = d->spec;
    generation = d->generation;
  }
  std::shared_ptr<VersionRunner> stable, candidate;
  AIMASS_RETURN_IF_ERROR(impl_->LoadAll(spec, stable, candidate));
  Live::Saved before;
  std::lock_guard lock(d->mu);
  if (d->stable) return Status::Ok();  // another load won; ours unloads on return
  if (d->generation != generation) {
    return Status::Conflict("deployment '" + name + "' changed while it was loading; retry");
  }
  before = d->Save();
  ++d->generation;
  d->stable = std::move(stable);
  d->candidate = std::move(candidate);
  d->loaded = true;
  d->state = "ready";
  d->reason.clear();
  return impl_->Commit(*d, std::move(before));
}

// Where one request goes: the runner that answers it, a shadow that gets a copy, and when the
// answer is due.
struct Serving::Target {
  std::shared_ptr<VersionRunner> runner;
  std::shared_ptr<VersionRunner> shadow;
  Clock::time_point deadline;
};

Result<Serving::Target> Serving::Pick(const std::string& name, std::optional<int64_t> version) {
  auto d = impl_->Find(name);
  if (!d) return Impl::NotFound(name);
  std::shared_ptr<VersionRunner> runner, shadow;
  int64_t timeout_ms = 0;
  {
    std::lock_guard lock(d->mu);
    timeout_ms = d->spec.timeout_ms;
    if (version) {
      if (d->stable && d->stable->version() == *version) runner = d->stable;
      else if (d->candidate && d->candidate->version() == *version) runner = d->candidate;
      else return Status::NotFound("version " + std::to_string(*version) + " of deployment '" + name + "' is not loaded");
    } else {
      runner = d->stable;
      if (d->candidate && d->spec.traffic.weight > 0 && Percent() < d->spec.traffic.weight) runner = d->candidate;
      if (d->candidate && runner == d->stable && d->spec.traffic.shadow_percent > 0 &&
          Percent() < d->spec.traffic.shadow_percent) {
        shadow = d->candidate;
      }
    }
    if (!runner) return Status::Unavailable("deployment '" + name + "' is " + d->state);
  }
  return Target{std::move(runner), std::move(shadow), Clock::now() + std::chrono::milliseconds(timeout_ms)};
}

namespace {

uint64_t TensorBytes(const std::vector<Tensor>& ts) {
  uint64_t n = 0;
  for (const auto& t : ts) n += t.data.size();
  return n;
}

// One inference's usage to the sink, if there is one.
void RecordUsage(const std::atomic<UsageSink*>& sink, const std::string& name, int64_t version, const Status& st,
                 std::chrono::steady_clock::time_point start, uint64_t bytes_in, uint64_t bytes_out) {
  UsageSink* s = sink.load(std::memory_order_acquire);
  if (!s) return;
  UsageRecord u;
  u.kind = "inference";
  u.deployment = name;
  u.version = version;
  u.status = st.ok() ? 200 : HttpStatus(st.code());
  u.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  u.bytes_in = bytes_in;
  u.bytes_out = bytes_out;
  u.time_ms = UnixNowMs();
  s->Record(u);
}

}  // namespace

void Serving::SetUsageSink(UsageSink* sink) { usage_.store(sink, std::memory_order_release); }

Result<Serving::LanguageModelTarget> Serving::PickLanguageModel(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Target t, Pick(name, std::nullopt));
  if (!t.runner->llm()) {
    return Status::BadRequest("deployment '" + name.substr(0, 128) + "' is not a language model (framework " +
                              t.runner->framework() + ")");
  }
  return LanguageModelTarget{t.runner, t.runner->version(), t.deadline};
}

std::vector<std::pair<std::string, int64_t>> Serving::LanguageModels() {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& d : impl_->All()) {
    std::lock_guard lock(d->mu);
    if (d->stable && d->stable->llm()) out.emplace_back(d->spec.name, d->spec.created_at);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Serving::RecordGeneration(const std::string& name, int64_t version, const Status& st,
                               std::chrono::steady_clock::time_point start, uint64_t bytes_in, uint64_t bytes_out) {
  RecordUsage(usage_, name, version, st, start, bytes_in, bytes_out);
}

Result<InferResult> Serving::Infer(const std::string& name, std::optional<int64_t> version, std::vector<Tensor> inputs) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t in = TensorBytes(inputs);
  auto t = Pick(name, version);
  if (!t.ok()) {
    RecordUsage(usage_, name, version.value_or(0), t.status(), start, in, 0);
    return t.status();
  }
  if (t->shadow) t->shadow->InferAsync(inputs, t->deadline, [](Result<std::vector<Tensor>>) {});
  const int64_t v = t->runner->version();
  auto outputs = t->runner->Infer(std::move(inputs), t->deadline);
  RecordUsage(usage_, name, v, outputs.status(), start, in, outputs.ok() ? TensorBytes(*outputs) : 0);
  if (!outputs.ok()) return outputs.status();
  return InferResult{v, std::move(*outputs)};
}

Result<PendingInfer> Serving::InferAsync(const std::string& name, std::optional<int64_t> version,
                                         std::vector<Tensor> inputs, std::function<void(Result<InferResult>)> done) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t in = TensorBytes(inputs);
  auto picked = Pick(name, version);
  if (!picked.ok()) {
    RecordUsage(usage_, name, version.value_or(0), picked.status(), start, in, 0);
    return picked.status();
  }
  Target t = std::move(*picked);
  if (t.shadow) t.shadow->InferAsync(inputs, t.deadline, [](Result<std::vector<Tensor>>) {});
  int64_t v = t.runner->version();
  auto cancel = t.runner->InferAsync(std::move(inputs), t.deadline,
                                     [done = std::move(done), v, start, in, name, this](Result<std::vector<Tensor>> r) {
                                       RecordUsage(usage_, name, v, r.status(), start, in, r.ok() ? TensorBytes(*r) : 0);
                                       if (!r.ok()) return done(r.status());
                                       done(InferResult{v, std::move(*r)});
                                     });
  // The cancel must not keep the runner: the last reference could then go on one of the
  // runner's own executors (the answer completing), which cannot join themselves. A runner
  // that is gone has answered its queued jobs already.
  std::weak_ptr<VersionRunner> weak = t.runner;
  return PendingInfer{t.deadline, [weak, cancel = std::move(cancel)] {
                        if (auto runner = weak.lock()) cancel();
                      }};
}

Result<ModelMetadata> Serving::Metadata(const std::string& name, std::optional<int64_t> version) {
  auto d = impl_->Find(name);
  if (!d) return Impl::NotFound(name);
  std::lock_guard lock(d->mu);
  std::shared_ptr<VersionRunner> r = d->stable;
  if (version && d->candidate && d->candidate->version() == *version) r = d->candidate;
  if (version && (!r || r->version() != *version)) {
    return Status::NotFound("version " + std::to_string(*version) + " of deployment '" + name + "' is not loaded");
  }
  if (!r) return Status::Unavailable("deployment '" + name + "' is " + d->state);
  ModelMetadata m;
  m.name = name;
  if (d->stable) m.versions.push_back(d->stable->version());
  if (d->candidate) m.versions.push_back(d->candidate->version());
  m.platform = Platform(r->framework());
  m.signature = r->signature();
  return m;
}

Status Serving::Ready(const std::string& name, std::optional<int64_t> version) {
  return Metadata(name, version).status();
}

bool Serving::AnyLoading() {
  for (const auto& v : List()) {
    if (v.state == "loading") return true;
  }
  return false;
}

bool Serving::AllReady() {
  for (const auto& v : List()) {
    if (v.state != "ready" && v.state != "unloaded") return false;
  }
  return true;
}

Result<std::vector<Serving::VersionStats>> Serving::Stats(const std::optional<std::string>& name,
                                                          std::optional<int64_t> version, std::chrono::seconds window) {
  if (version && !name) return Status::BadRequest("a version needs a model name");
  std::vector<std::shared_ptr<Live>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [n, d] : impl_->deployments) {
      if (!name || n == *name) all.push_back(d);
    }
  }
  if (name && all.empty()) return Impl::NotFound(*name);
  std::vector<VersionStats> out;
  for (auto& d : all) {
    std::lock_guard lock(d->mu);
    for (auto* r : {d->stable.get(), d->candidate.get()}) {
      if (!r || (version && r->version() != *version)) continue;
      VersionStats v{d->spec.name, r->version(), r->stats().Snapshot(), r == d->stable.get() ? "stable" : "candidate", {}, {}};
      if (window.count() > 0) v.recent = r->stats().Window(window);
      if (r->llm()) v.llm = r->stats().Llm(window.count() > 0 ? window : std::chrono::seconds(10));
      out.push_back(std::move(v));
    }
  }
  if (version && out.empty()) {
    return Status::NotFound("version " + std::to_string(*version) + " of deployment '" + *name + "' is not loaded");
  }
  return out;
}

bool Serving::MayInvoke(const Principal& who, const std::string& name) {
  return auth::Allows(who.permissions, "inference:invoke") ||
         auth::Allows(who.permissions, "inference." + name + ":invoke");
}

}  // namespace aimass::serving
