// The cube service: cubes over dataset versions, built into column tables in the background and
// refreshed when a new version comes (only its new segments when it appends), queried through
// the engine from the base table or the smallest pre-aggregation that can answer, with drill
// moves, saved views, pre-aggregations proposed from the query log, anomaly detection and the
// explanation of a change.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/principal.hpp"
#include "common/status.hpp"
#include "cube/cube_query.hpp"
#include "cube/cube_spec.hpp"
#include "cube/store.hpp"
#include "olap/table.hpp"

namespace aimass::datasets {
class Datasets;
}
namespace aimass::events {
class EventBus;
}

namespace aimass::cube {

struct CubeOptions {
  std::string dir;  // the cubes' files
  datasets::Datasets* datasets = nullptr;
  events::EventBus* bus = nullptr;
  int threads = 0;                        // per query and build; 0: every usable core
  size_t query_memory = size_t{1} << 30;  // bytes of group state one query may use
  size_t data_memory = size_t{8} << 30;   // bytes every cube's tables together may hold
  int64_t recheck_ms = 10000;             // how often sources are looked at for new versions
};

class CubeService {
 public:
  CubeService(storage::Db& db, CubeOptions options);
  ~CubeService();
  static std::vector<storage::Migration> Migrations() { return CubeStore::Migrations(); }

  Status Open();
  void Stop();

  Result<nlohmann::json> Create(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> List();
  Result<nlohmann::json> Get(const std::string& name);
  // Changes the description and pre-aggregations; the rest of a cube is fixed at creation.
  Result<nlohmann::json> Update(const std::string& name, const nlohmann::json& body);
  Status Delete(const std::string& name);
  Result<nlohmann::json> Refresh(const std::string& name);

  Result<nlohmann::json> Query(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> Drill(const std::string& name, const nlohmann::json& body);
  // {sql}: the statement's cube queried; the answer carries the JSON query it became.
  Result<nlohmann::json> Sql(const nlohmann::json& body);
  // {measure, level, filters, by, threshold, season}: each period scored against its baseline.
  Result<nlohmann::json> Anomalies(const std::string& name, const nlohmann::json& body);
  // {measure, level, from, to, dimensions, filters, limit}: the level values that moved the
  // measure most between two periods.
  Result<nlohmann::json> Explain(const std::string& name, const nlohmann::json& body);
  // A level's values (for pickers): ?q= filters by a substring.
  Result<nlohmann::json> Members(const std::string& name, const std::string& level, const std::string& q, size_t limit);

  Result<nlohmann::json> PutView(const std::string& name, const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> Views(const std::string& name);
  Status DeleteView(const std::string& name, const std::string& view);

  Result<nlohmann::json> Proposals(const std::string& name);

 private:
  struct PreAggregate {
    std::shared_ptr<const olap::Table> table;
    int64_t built_from = 0;  // the base generation it was built from
    std::string state = "pending";  // pending | ready | failed
    std::string error;
    int64_t built_ms = 0;
  };
  struct Cube {
    CubeRow row;
    CubeSpec spec;
    std::shared_ptr<const olap::Table> base;
    std::vector<std::string> segments;  // source segment digests in the base table, in order
    int64_t generation = 0;             // counts base tables: a pre-aggregation of an older one is stale
    std::map<std::string, PreAggregate> pre;
    bool build_requested = true;
    bool building = false;
    std::map<std::string, int64_t> query_log;  // signature → queries since the last flush
  };

  Result<std::shared_ptr<Cube>> Find(const std::string& name);
  Result<CubeSpec> SpecOf(const std::string& name);
  nlohmann::json Describe(const Cube& c);
  std::string CubeDir(const std::string& name) const;
  void Work();
  // One step of background work on a cube: (re)build its base, or one pre-aggregation.
  bool Step(const std::shared_ptr<Cube>& c);
  Status BuildBase(const std::shared_ptr<Cube>& c);
  Status BuildPre(const std::shared_ptr<Cube>& c, const PreAggregationSpec& p);
  void FlushQueryLog();
  void LoadFiles(Cube& c);
  // What the other cubes' tables (and `c`'s pre-aggregations) hold now, in bytes.
  size_t MemoryBesides(const Cube* c);

  CubeStore store_;
  CubeOptions options_;
  std::mutex mu_;  // cubes_ and every Cube's fields
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Cube>> cubes_;
  bool stopping_ = false;
  std::thread worker_;
  uint64_t subscription_ = 0;
};

}  // namespace aimass::cube
