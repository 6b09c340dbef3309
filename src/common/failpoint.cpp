#include "common/failpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common/text.hpp"

namespace aimass::failpoint {

namespace {

// Every point, grouped by the write it belongs to. The crash-recovery suite
// (tests/e2e/test_faults.py) has a case for each; docs/guide/reliability.md says what each
// module promises.
constexpr PointInfo kPoints[] = {
    // The metadata store: every write transaction (and every single-statement write).
    {"db.before_commit", "a metadata write is about to commit: error rolls it back, crash loses it whole"},
    {"db.after_commit", "a metadata write committed, its caller not yet told"},
    // Blob files (artifacts, uploads): temp file, fsync, rename, directory fsync.
    {"blob.write", "bytes written to a blob's temp file (a blob writer's, a file unpacked from an uploaded tar)"},
    {"blob.before_fsync", "a blob's temp file is about to be fsynced"},
    {"blob.before_rename", "a blob's temp file is synced, not yet renamed into place"},
    {"blob.after_rename", "a blob is in place, its directory not yet fsynced"},
    {"upload.spool_write", "an upload's body written to its spool file as it arrives"},
    {"file.before_rename", "a small file (state, secret) written and synced, not yet renamed over the old one"},
    // Blob uploads (POST /api/v1/blobs).
    {"blobs.after_upload_row", "an upload's reference committed, its bytes not yet adopted"},
    // Registry versions (POST /api/v1/models/{m}/versions).
    {"registry.after_version_insert", "a version recorded pending, its artifact not yet stored"},
    {"registry.after_blob_rename", "a version's artifact stored, not yet validated"},
    {"registry.before_status_commit", "a version validated, its ready/failed status not yet written"},
    {"registry.after_status_commit", "a version's status written, the client not yet answered"},
    // Dataset versions (POST /api/v1/datasets/{d}/versions).
    {"datasets.after_version_insert", "a table version recorded as being written, no segment stored yet"},
    {"datasets.after_segment", "a segment of a table version stored and referenced, the rest not yet"},
    {"datasets.before_ready", "a version's data whole and acknowledged, its profile and validation not yet stored"},
    // Search documents (POST /api/v1/search/indexes/{i}/documents).
    {"search.before_commit", "a batch of search documents written to the index, not yet committed (a crash loses "
                             "only the unacknowledged batch)"},
    // A customer's message and the bot's answer (POST /api/v1/assist/bots/{b}/messages).
    {"assist.before_turns_commit", "a message's turns, the conversation's new state and its handoff written in a "
                                   "transaction, not yet committed (a crash loses the unanswered message only)"},
    {"assist.after_turns_commit", "a message's turns and handoff committed, the answer not yet sent nor the handoff "
                                  "queued (the agents' inbox still finds it)"},
    // Recommendation feedback (POST /api/v1/recommend/apps/{a}/feedback, imports, a followed topic).
    {"recommend.before_feedback_commit", "a batch of feedback written in a transaction, not yet committed (a crash loses "
                                         "the unacknowledged batch only)"},
    {"recommend.after_feedback_commit", "a batch of feedback committed, not yet in the app's live state nor acknowledged "
                                        "(the next start reads it from the store)"},
    // Cube tables (a cube built or refreshed from its dataset, a pre-aggregation built).
    {"cube.before_manifest", "a cube table's new chunk and dictionary files written, its manifest not yet replaced (a crash "
                             "leaves the previous table, which the next start loads and refreshes)"},
    {"cube.after_manifest", "a cube table's manifest replaced, the cube's row not yet updated (the next start loads the new "
                            "table from its manifest, without building it again)"},
    // Behaviour projects (POST /api/v1/behavior/{project}/capture and their checkpoints).
    {"behavior.after_capture_write", "a capture's events written to the project's log and applied in memory, not yet synced or "
                                     "acknowledged"},
    {"behavior.before_checkpoint_manifest", "a checkpoint's part and state files written, its manifest not yet replaced (the "
                                            "next start loads the previous checkpoint and replays the log after it)"},
    {"behavior.before_log_drop", "a checkpoint's manifest replaced, the log segments it covers not yet deleted (the next start "
                                 "skips the records before the checkpoint)"},
    // Crowd streams (POST /api/v1/crowd/streams/{s}/report, a worker's report of a second).
    {"crowd.before_report_commit", "a worker's report written in its transaction, not yet committed (a crash applies none of "
                                   "it; the next worker goes on from the frame reached before it)"},
    {"crowd.after_report_commit", "a worker's report committed, not yet answered (the worker's retry is refused as not the "
                                  "next report; the next worker goes on from the frame it reached)"},
    // Mining jobs (POST /api/v1/analysis/mining).
    {"analysis.before_mining_result", "a mining job's result computed, not yet written (the job stays running in the table; "
                                      "the next start queues it again and it runs again from its pinned version)"},
    // Run artifacts (PUT /api/v1/runs/{id}/artifacts/{path}).
    {"tracking.after_artifact_pending", "an artifact's reference recorded as pending, its bytes not yet adopted"},
    // Collectors' spools (POST /api/v1/collect/{c}).
    {"collector.before_spool_sync", "a push's rows written to the collector's spool, not yet synced or acknowledged"},
    // The embedded message queue.
    {"mq.before_append", "a publish's records about to be written to a partition segment"},
    {"mq.after_append", "a publish's records written, not yet synced or acknowledged"},
    {"mq.before_fsync", "a partition segment about to be fdatasynced"},
    {"mq.after_fsync", "a partition synced, the publish not yet acknowledged"},
    {"mq.after_ack", "an ack applied in memory, the subscription's state not yet saved"},
    {"mq.before_state_save", "a subscription's state (acked offsets) about to be written"},
    // The scheduler.
    {"scheduler.after_claim", "a firing claimed (its run recorded running), the target not yet fired"},
    {"scheduler.after_fire", "a target fired, its outcome not yet recorded"},
    // Serving.
    {"serving.before_persist", "a deployment change (create, update, swap) about to be stored"},
    {"serving.after_persist", "a deployment change stored, not yet applied to the running deployment"},
};

enum class Kind { kOff, kCrash, kError, kPause, kSleep };

struct Action {
  Kind kind = Kind::kOff;
  int err = EIO;
  int64_t sleep_ms = 0;
  int64_t remaining = -1;  // fires left; -1: no limit
  std::string text;
};

struct Point {
  Action action;
  int64_t hits = 0;
  uint64_t version = 0;  // bumped by every Set: a paused thread waits for it to move
};

struct Registry {
  std::mutex mu;
  std::condition_variable changed;
  std::map<std::string, Point, std::less<>> points;
  size_t armed = 0;
};

Registry& R() {
  static Registry* r = [] {
    auto* reg = new Registry();  // never destroyed: points may be hit while the process exits
    for (const auto& p : kPoints) reg->points.emplace(std::string(p.name), Point{});
    return reg;
  }();
  return *r;
}

constexpr std::pair<std::string_view, int> kErrnos[] = {
    {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"ENOMEM", ENOMEM},
};

Result<Action> ParseAction(std::string_view text) {
  Action a;
  std::string_view s = TrimSpaces(text);
  a.text = std::string(s);
  auto bad = [&](const std::string& why) {
    return Status::BadRequest("failpoint action '" + std::string(s.substr(0, 64)) + "': " + why);
  };
  if (size_t star = s.find('*'); star != std::string_view::npos) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + star, n);
    if (ec != std::errc() || p != s.data() + star || n < 1) return bad("the count before '*' must be a positive number");
    a.remaining = n;
    s.remove_prefix(star + 1);
  }
  std::string_view arg;
  bool has_arg = false;
  if (size_t open = s.find('('); open != std::string_view::npos) {
    if (s.back() != ')') return bad("an argument must be closed by ')'");
    arg = s.substr(open + 1, s.size() - open - 2);
    s = s.substr(0, open);
    has_arg = true;
  }
  if (s == "off") {
    a.kind = Kind::kOff;
  } else if (s == "crash") {
    a.kind = Kind::kCrash;
  } else if (s == "pause") {
    a.kind = Kind::kPause;
  } else if (s == "error") {
    a.kind = Kind::kError;
    if (has_arg) {
      a.err = 0;
      for (const auto& [name, value] : kErrnos) {
        if (arg == name) a.err = value;
      }
      if (a.err == 0) return bad("unknown errno (EIO, ENOSPC, EDQUOT, EROFS, ENOMEM)");
    }
  } else if (s == "sleep") {
    a.kind = Kind::kSleep;
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), a.sleep_ms);
    if (!has_arg || ec != std::errc() || p != arg.data() + arg.size() || a.sleep_ms < 0 || a.sleep_ms > 3600000) {
      return bad("sleep takes milliseconds: sleep(100)");
    }
  } else {
    return bad("not one of off, crash, error, error(ENAME), pause, sleep(MS)");
  }
  if (has_arg && a.kind != Kind::kError && a.kind != Kind::kSleep) return bad("takes no argument");
  return a;
}

// Called with the lock held.
void Store(Registry& r, Point& p, Action a) {
  bool was = p.action.kind != Kind::kOff;
  bool is = a.kind != Kind::kOff;
  p.action = std::move(a);
  ++p.version;
  if (was != is) r.armed += is ? 1 : -1;
  internal::g_armed.store(r.armed > 0, std::memory_order_relaxed);
  r.changed.notify_all();
}

void Say(std::string_view name, std::string_view what) {
  // Straight to stderr: a crash leaves no chance to flush a logger.
  std::string line = "failpoint " + std::string(name) + ": " + std::string(what) + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

namespace internal {

std::atomic<bool> g_armed{false};

int Hit(std::string_view name) {
  Registry& r = R();
  std::unique_lock lock(r.mu);
  auto it = r.points.find(name);
  if (it == r.points.end()) return 0;
  Point& p = it->second;
  if (p.action.kind == Kind::kOff) return 0;
  ++p.hits;
  Action a = p.action;
  if (p.action.remaining > 0 && --p.action.remaining == 0) Store(r, p, Action{});
  switch (a.kind) {
    case Kind::kOff: return 0;
    case Kind::kCrash:
      Say(name, "crash");
      ::kill(::getpid(), SIGKILL);
      for (;;) ::pause();  // SIGKILL is delivered before kill returns to a single target; never reached
    case Kind::kError:
      Say(name, std::string("error ") + std::strerror(a.err));
      return a.err;
    case Kind::kPause: {
      Say(name, "paused");
      uint64_t version = p.version;
      r.changed.wait(lock, [&] { return p.version != version; });
      return 0;
    }
    case Kind::kSleep:
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(a.sleep_ms));
      return 0;
  }
  return 0;
}

}  // namespace internal

std::span<const PointInfo> Points() { return kPoints; }

Status Set(std::string_view name, std::string_view action) {
  AIMASS_ASSIGN_OR_RETURN(Action a, ParseAction(action));
  Registry& r = R();
  std::lock_guard lock(r.mu);
  auto it = r.points.find(TrimSpaces(name));
  if (it == r.points.end()) {
    return Status::NotFound("no failpoint '" + std::string(TrimSpaces(name).substr(0, 64)) + "'");
  }
  Store(r, it->second, std::move(a));
  return Status::Ok();
}

Status Clear(std::string_view name) { return Set(name, "off"); }

void ClearAll() {
  Registry& r = R();
  std::lock_guard lock(r.mu);
  for (auto& [name, p] : r.points) {
    if (p.action.kind != Kind::kOff) Store(r, p, Action{});
  }
}

Status Configure(std::string_view spec) {
  // Checked whole before any point is armed, so a typo arms nothing.
  std::vector<std::pair<std::string_view, std::string_view>> items;
  while (!spec.empty()) {
    size_t end = spec.find(';');
    std::string_view item = TrimSpaces(spec.substr(0, end));
    spec = end == std::string_view::npos ? std::string_view() : spec.substr(end + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::BadRequest("failpoint '" + std::string(item.substr(0, 64)) + "' has no '=action'");
    }
    std::string_view name = TrimSpaces(item.substr(0, eq));
    std::string_view action = TrimSpaces(item.substr(eq + 1));
    AIMASS_RETURN_IF_ERROR(ParseAction(action).status());
    bool known = false;
    for (const auto& p : kPoints) known = known || p.name == name;
    if (!known) return Status::BadRequest("no failpoint '" + std::string(name.substr(0, 64)) + "'");
    items.emplace_back(name, action);
  }
  for (const auto& [name, action] : items) AIMASS_RETURN_IF_ERROR(Set(name, action));
  return Status::Ok();
}

std::vector<State> List() {
  Registry& r = R();
  std::lock_guard lock(r.mu);
  std::vector<State> out;
  for (const auto& info : kPoints) {
    const Point& p = r.points.find(info.name)->second;
    State s;
    s.name = std::string(info.name);
    s.guards = std::string(info.guards);
    s.action = p.action.kind == Kind::kOff ? "off" : p.action.text;
    s.hits = p.hits;
    out.push_back(std::move(s));
  }
  return out;
}

Status IoError(std::string_view what, int err) {
  std::string message = std::string(what) + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return {Code::kInsufficientStorage, std::move(message)};
  return Status::Internal(std::move(message));
}

}  // namespace aimass::failpoint
