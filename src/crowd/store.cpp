#include "crowd/store.hpp"

#include <cerrno>

#include "common/failpoint.hpp"

namespace aimass::crowd {

using storage::Row;

std::vector<storage::Migration> CrowdStore::Migrations() {
  return {{"crowd", 1, R"(
CREATE TABLE crowd_streams (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  spec TEXT NOT NULL,
  desired TEXT NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  frames INTEGER NOT NULL DEFAULT 0,
  run INTEGER NOT NULL DEFAULT 0,
  job_id INTEGER NOT NULL DEFAULT 0,
  next_track INTEGER NOT NULL DEFAULT 1,
  width INTEGER NOT NULL DEFAULT 0,
  height INTEGER NOT NULL DEFAULT 0,
  grid_width INTEGER NOT NULL DEFAULT 0,
  grid_height INTEGER NOT NULL DEFAULT 0,
  video_fps REAL NOT NULL DEFAULT 0,
  fps REAL NOT NULL DEFAULT 0,
  t0_ms INTEGER NOT NULL DEFAULT 0,
  restarts INTEGER NOT NULL DEFAULT 0,
  exported_s INTEGER NOT NULL DEFAULT 0,
  revision INTEGER NOT NULL DEFAULT 1,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  reported_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE crowd_tallies (
  stream TEXT NOT NULL,
  second INTEGER NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  in_n INTEGER NOT NULL,
  out_n INTEGER NOT NULL,
  occ_max INTEGER NOT NULL,
  occ_sum INTEGER NOT NULL,
  frames INTEGER NOT NULL,
  PRIMARY KEY (stream, second, kind, name)
);
CREATE TABLE crowd_tracks (
  stream TEXT NOT NULL,
  id INTEGER NOT NULL,
  first_frame INTEGER NOT NULL,
  last_frame INTEGER NOT NULL,
  first_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (stream, id)
);
CREATE TABLE crowd_visits (
  stream TEXT NOT NULL,
  track INTEGER NOT NULL,
  zone TEXT NOT NULL,
  enter_ms INTEGER NOT NULL,
  exit_ms INTEGER NOT NULL,
  PRIMARY KEY (stream, track, zone, enter_ms)
);
CREATE TABLE crowd_alerts (
  stream TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  zone TEXT NOT NULL,
  track INTEGER NOT NULL,
  frame INTEGER NOT NULL,
  occupancy INTEGER NOT NULL,
  dwell_s REAL NOT NULL,
  PRIMARY KEY (stream, at_ms, kind, zone, track)
);
CREATE TABLE crowd_heat (
  stream TEXT NOT NULL,
  cell INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (stream, cell)
);
)"}};
}

namespace {

constexpr const char* kColumns =
    "name, owner, spec, desired, state, error, frames, run, job_id, next_track, width, height, grid_width, grid_height, "
    "video_fps, fps, t0_ms, restarts, exported_s, revision, created_ms, updated_ms, reported_ms";

StreamRow StreamFrom(const Row& r) {
  StreamRow s;
  s.name = r.Text(0);
  s.owner = r.Text(1);
  s.spec = r.Text(2);
  s.desired = r.Text(3);
  s.state = r.Text(4);
  s.error = r.Text(5);
  s.frames = r.Int(6);
  s.run = r.Int(7);
  s.job_id = r.Int(8);
  s.next_track = r.Int(9);
  s.width = r.Int(10);
  s.height = r.Int(11);
  s.grid_width = r.Int(12);
  s.grid_height = r.Int(13);
  s.video_fps = r.Double(14);
  s.fps = r.Double(15);
  s.t0_ms = r.Int(16);
  s.restarts = r.Int(17);
  s.exported_s = r.Int(18);
  s.revision = r.Int(19);
  s.created_ms = r.Int(20);
  s.updated_ms = r.Int(21);
  s.reported_ms = r.Int(22);
  return s;
}

Result<StreamRow> GetIn(storage::Tx& tx, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query(std::string("SELECT ") + kColumns + " FROM crowd_streams WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no crowd stream '" + name + "'");
  return StreamFrom(rows[0]);
}

}  // namespace

Status CrowdStore::Create(const StreamRow& s) {
  auto r = db_.Exec("INSERT INTO crowd_streams (name, owner, spec, desired, state, t0_ms, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    {s.name, s.owner, s.spec, s.desired, s.state, s.t0_ms, s.created_ms, s.updated_ms});
  if (!r.ok() && r.status().code() == Code::kConflict) return Status::Conflict("crowd stream '" + s.name + "' exists");
  return r.status();
}

Result<StreamRow> CrowdStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM crowd_streams WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no crowd stream '" + name + "'");
  return StreamFrom(rows[0]);
}

Result<std::vector<StreamRow>> CrowdStore::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM crowd_streams ORDER BY name"));
  std::vector<StreamRow> out;
  for (const auto& r : rows) out.push_back(StreamFrom(r));
  return out;
}

Status CrowdStore::Delete(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const char* t : {"crowd_tallies", "crowd_tracks", "crowd_visits", "crowd_alerts", "crowd_heat"}) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + t + " WHERE stream = ?", {name}).status());
    }
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM crowd_streams WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no crowd stream '" + name + "'");
    return Status::Ok();
  });
}

Status CrowdStore::Update(const StreamRow& s) {
  return db_
      .Exec("UPDATE crowd_streams SET spec = ?, desired = ?, state = ?, error = ?, restarts = ?, revision = ?, updated_ms = ? WHERE name = ?",
            {s.spec, s.desired, s.state, s.error, s.restarts, s.revision, s.updated_ms, s.name})
      .status();
}

Status CrowdStore::SetRun(const std::string& name, int64_t run, int64_t job_id, const std::string& state) {
  return db_.Exec("UPDATE crowd_streams SET run = ?, job_id = ?, state = ? WHERE name = ?", {run, job_id, state, name}).status();
}

Status CrowdStore::SetExported(const std::string& name, int64_t exported_s) {
  return db_.Exec("UPDATE crowd_streams SET exported_s = ? WHERE name = ?", {exported_s, name}).status();
}

Result<StreamRow> CrowdStore::Apply(const std::string& name, const Report& r, int64_t now_ms) {
  StreamRow after;
  Status st = db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(StreamRow s, GetIn(tx, name));
    if (r.run != s.run) return Status::Conflict("this worker (run " + std::to_string(r.run) + ") was replaced by run " + std::to_string(s.run));
    if (r.from_frame != s.frames) {
      return Status::Conflict("the stream has reached frame " + std::to_string(s.frames) + "; the report starts at " + std::to_string(r.from_frame));
    }
    for (const TallyRow& t : r.tallies) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO crowd_tallies (stream, second, kind, name, in_n, out_n, occ_max, occ_sum, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (stream, second, kind, name) DO UPDATE SET in_n = crowd_tallies.in_n + excluded.in_n, "
                  "out_n = crowd_tallies.out_n + excluded.out_n, occ_sum = crowd_tallies.occ_sum + excluded.occ_sum, "
                  "frames = crowd_tallies.frames + excluded.frames, "
                  "occ_max = CASE WHEN excluded.occ_max > crowd_tallies.occ_max THEN excluded.occ_max ELSE crowd_tallies.occ_max END",
                  {name, t.second, t.key.kind, t.key.name, static_cast<int64_t>(t.tally.in), static_cast<int64_t>(t.tally.out),
                   static_cast<int64_t>(t.tally.occupancy_max), static_cast<int64_t>(t.tally.occupancy_sum), static_cast<int64_t>(t.tally.frames)})
              .status());
    }
    for (const TrackRow& t : r.tracks) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO crowd_tracks (stream, id, first_frame, last_frame, first_ms, last_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
                                     "ON CONFLICT (stream, id) DO UPDATE SET last_frame = excluded.last_frame, last_ms = excluded.last_ms, body = excluded.body",
                                     {name, t.id, t.first_frame, t.last_frame, t.first_ms, t.last_ms, t.body})
                                 .status());
    }
    for (const mot::ZoneVisit& v : r.visits) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO crowd_visits (stream, track, zone, enter_ms, exit_ms) VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (stream, track, zone, enter_ms) DO UPDATE SET exit_ms = excluded.exit_ms",
                                     {name, static_cast<int64_t>(v.track), v.zone, v.enter_ms, v.exit_ms})
                                 .status());
    }
    for (const AlertRow& a : r.alerts) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO crowd_alerts (stream, at_ms, kind, zone, track, frame, occupancy, dwell_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                                     "ON CONFLICT (stream, at_ms, kind, zone, track) DO NOTHING",
                                     {name, a.at_ms, a.kind, a.zone, a.track, a.frame, a.occupancy, a.dwell_s})
                                 .status());
    }
    for (const auto& [cell, n] : r.heat) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO crowd_heat (stream, cell, n) VALUES (?, ?, ?) "
                                     "ON CONFLICT (stream, cell) DO UPDATE SET n = crowd_heat.n + excluded.n",
                                     {name, static_cast<int64_t>(cell), static_cast<int64_t>(n)})
                                 .status());
    }
    s.frames = r.to_frame;
    if (r.next_track > s.next_track) s.next_track = r.next_track;
    if (r.width > 0) {
      s.width = r.width;
      s.height = r.height;
    }
    if (r.grid_width > 0) {
      s.grid_width = r.grid_width;
      s.grid_height = r.grid_height;
    }
    if (r.video_fps > 0) s.video_fps = r.video_fps;
    s.fps = r.fps;
    // A paused stream stays paused whatever its last worker says on its way out.
    if (s.desired == "running") s.state = r.state;
    if (!r.error.empty() || r.state == "running") s.error = r.error;
    s.reported_ms = now_ms;
    AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE crowd_streams SET frames = ?, next_track = ?, width = ?, height = ?, grid_width = ?, grid_height = ?, "
                                   "video_fps = ?, fps = ?, state = ?, error = ?, reported_ms = ? WHERE name = ?",
                                   {s.frames, s.next_track, s.width, s.height, s.grid_width, s.grid_height, s.video_fps, s.fps, s.state,
                                    s.error, s.reported_ms, name})
                               .status());
    after = std::move(s);
    if (AIMASS_FAILPOINT("crowd.before_report_commit")) return failpoint::IoError("crowd.before_report_commit", EIO);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return after;
}

Result<std::vector<TallyRow>> CrowdStore::Tallies(const std::string& name, int64_t from_s, int64_t to_s) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT second, kind, name, in_n, out_n, occ_max, occ_sum, frames FROM crowd_tallies "
                                               "WHERE stream = ? AND second >= ? AND second < ? ORDER BY second, kind, name",
                                               {name, from_s, to_s}));
  std::vector<TallyRow> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    TallyRow t;
    t.second = r.Int(0);
    t.key = {r.Text(1), r.Text(2)};
    t.tally.in = static_cast<uint64_t>(r.Int(3));
    t.tally.out = static_cast<uint64_t>(r.Int(4));
    t.tally.occupancy_max = static_cast<int>(r.Int(5));
    t.tally.occupancy_sum = static_cast<uint64_t>(r.Int(6));
    t.tally.frames = static_cast<uint64_t>(r.Int(7));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::optional<int64_t>> CrowdStore::LastSecond(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT MAX(second) FROM crowd_tallies WHERE stream = ?", {name}));
  if (rows.empty() || rows[0].IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(rows[0].Int(0));
}

namespace {
TrackRow TrackFrom(const Row& r) { return {r.Int(0), r.Int(1), r.Int(2), r.Int(3), r.Int(4), r.Text(5)}; }
}  // namespace

Result<std::vector<TrackRow>> CrowdStore::Tracks(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t limit, bool newest_first) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT id, first_frame, last_frame, first_ms, last_ms, body FROM crowd_tracks "
                                                           "WHERE stream = ? AND last_ms >= ? AND first_ms < ? ORDER BY id") +
                                                   (newest_first ? " DESC" : "") + " LIMIT ?",
                                               {name, from_ms, to_ms, limit}));
  std::vector<TrackRow> out;
  for (const auto& r : rows) out.push_back(TrackFrom(r));
  return out;
}

Result<TrackRow> CrowdStore::Track(const std::string& name, int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, first_frame, last_frame, first_ms, last_ms, body FROM crowd_tracks WHERE stream = ? AND id = ?",
                                               {name, id}));
  if (rows.empty()) return Status::NotFound("no ended track " + std::to_string(id) + " in stream '" + name + "'");
  return TrackFrom(rows[0]);
}

Result<std::vector<mot::ZoneVisit>> CrowdStore::Visits(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t track) {
  std::string sql = "SELECT zone, track, enter_ms, exit_ms FROM crowd_visits WHERE stream = ? AND exit_ms >= ? AND enter_ms < ?";
  std::vector<storage::Value> params = {name, from_ms, to_ms};
  if (track > 0) {
    sql += " AND track = ?";
    params.push_back(track);
  }
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql + " ORDER BY enter_ms, track", params));
  std::vector<mot::ZoneVisit> out;
  for (const auto& r : rows) out.push_back({r.Text(0), static_cast<uint64_t>(r.Int(1)), r.Int(2), r.Int(3)});
  return out;
}

Result<std::vector<AlertRow>> CrowdStore::Alerts(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t limit, bool newest_first) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT stream, kind, zone, track, frame, at_ms, occupancy, dwell_s FROM crowd_alerts "
                                                           "WHERE stream = ? AND at_ms >= ? AND at_ms < ? ORDER BY ") +
                                                   (newest_first ? "at_ms DESC, kind, zone, track" : "at_ms, kind, zone, track") + " LIMIT ?",
                                               {name, from_ms, to_ms, limit}));
  std::vector<AlertRow> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3), r.Int(4), r.Int(5), r.Int(6), r.Double(7)});
  return out;
}

Result<std::vector<double>> CrowdStore::Heat(const std::string& name, int64_t cells) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT cell, n FROM crowd_heat WHERE stream = ?", {name}));
  std::vector<double> grid(static_cast<size_t>(std::max<int64_t>(cells, 0)), 0.0);
  for (const auto& r : rows) {
    const int64_t c = r.Int(0);
    if (c >= 0 && c < cells) grid[static_cast<size_t>(c)] = static_cast<double>(r.Int(1));
  }
  return grid;
}

}  // namespace aimass::crowd
