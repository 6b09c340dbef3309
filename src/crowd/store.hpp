// Where the crowd module keeps its streams and what their workers reported, in the metadata
// store: each stream's definition and state, tallies per second and counter, ended tracks, zone
// visits, alerts and the presence grid. A report is applied in one transaction, and only when it
// starts at the frame the stream has reached, so a report sent twice counts once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "mot/flow_analyzer.hpp"
#include "storage/db.hpp"

namespace aimass::crowd {

struct StreamRow {
  std::string name, owner;
  std::string spec;               // StreamSpec as JSON
  std::string desired = "running";  // running | paused
  std::string state = "starting";   // starting | running | reconnecting | paused | finished | failed | restarting
  std::string error;
  int64_t frames = 0;             // frames processed (the next report starts here)
  int64_t run = 0;                // the worker's generation: a report from an older one is refused
  int64_t job_id = 0;
  int64_t next_track = 1;
  int64_t width = 0, height = 0;
  int64_t grid_width = 0, grid_height = 0;  // the presence grid's cells
  double video_fps = 0, fps = 0;  // the source's frame rate; frames processed a second
  int64_t t0_ms = 0;              // the first frame's time (files)
  int64_t restarts = 0;
  int64_t exported_s = 0;         // seconds before this are in the stream's dataset
  int64_t revision = 1;           // changes with its lines and zones
  int64_t created_ms = 0, updated_ms = 0, reported_ms = 0;
};

struct TallyRow {
  int64_t second = 0;
  mot::CounterKey key;
  mot::Tally tally;
};

struct TrackRow {
  int64_t id = 0, first_frame = 0, last_frame = 0, first_ms = 0, last_ms = 0;
  std::string body;  // {"path", "crossings"} as JSON
};

struct AlertRow {
  std::string stream, kind, zone;
  int64_t track = 0, frame = 0, at_ms = 0, occupancy = 0;
  double dwell_s = 0;
};

// One worker report, already parsed.
struct Report {
  int64_t run = 0, from_frame = 0, to_frame = 0, next_track = 0;
  std::string state;  // running | reconnecting | finished | failed
  std::string error;
  int64_t width = 0, height = 0;
  double video_fps = 0, fps = 0;
  std::vector<TallyRow> tallies;
  std::vector<TrackRow> tracks;
  std::vector<mot::ZoneVisit> visits;
  std::vector<AlertRow> alerts;
  std::vector<std::pair<uint32_t, uint32_t>> heat;
  int64_t grid_width = 0, grid_height = 0;
};

class CrowdStore {
 public:
  explicit CrowdStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status Create(const StreamRow& s);
  Result<StreamRow> Get(const std::string& name);
  Result<std::vector<StreamRow>> List();
  Status Delete(const std::string& name);  // with everything reported
  // Writes the row's definition and state (not what reports change: frames, tracks, fps).
  Status Update(const StreamRow& s);
  // The stream's run and job, after a submission.
  Status SetRun(const std::string& name, int64_t run, int64_t job_id, const std::string& state);
  Status SetExported(const std::string& name, int64_t exported_s);

  // Applies a report; Conflict (with the frames reached) when it is not the next one or its run
  // is not the stream's current one. Returns the row after it.
  Result<StreamRow> Apply(const std::string& name, const Report& r, int64_t now_ms);

  Result<std::vector<TallyRow>> Tallies(const std::string& name, int64_t from_s, int64_t to_s);
  // The newest second with a tally (none before the first report).
  Result<std::optional<int64_t>> LastSecond(const std::string& name);
  Result<std::vector<TrackRow>> Tracks(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t limit, bool newest_first = false);
  Result<TrackRow> Track(const std::string& name, int64_t id);
  Result<std::vector<mot::ZoneVisit>> Visits(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t track);
  Result<std::vector<AlertRow>> Alerts(const std::string& name, int64_t from_ms, int64_t to_ms, int64_t limit, bool newest_first = false);
  // The presence grid: its size and counts.
  Result<std::vector<double>> Heat(const std::string& name, int64_t cells);

 private:
  storage::Db& db_;
};

}  // namespace aimass::crowd
