// Collectors: the service behind /api/v1/collectors and /api/v1/collect. Each collector that
// is not paused has a thread that pulls rows from its source, batches them (max_rows, or
// max_wait_s after the first row), checks them against the dataset's schema, and appends
// them to the dataset as a new version whose lineage holds the source's offset: the version is
// the commit point, so a restart resumes after the last stored row (none lost, none twice).
// Rows that do not parse or fit go to the collector's rejected list with the reason.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "collector/spec.hpp"
#include "collector/store.hpp"
#include "common/principal.hpp"
#include "common/status.hpp"
#include "datasets/datasets.hpp"

namespace aimass::mq {
class Broker;
}

namespace aimass::collector {

struct CollectorsOptions {
  std::string dir;                         // data_dir/collectors: spools
  std::string data_dir;                    // never read by a collector (the platform's own data)
  datasets::Datasets* datasets = nullptr;
  mq::Broker* broker = nullptr;            // null: mq sources are refused
  bool run = true;                         // collect here (a process that serves the module)
};

struct PushResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
};

class Collectors {
 public:
  Collectors(storage::Db& db, CollectorsOptions options);
  ~Collectors();
  static std::vector<storage::Migration> Migrations() { return CollectorStore::Migrations(); }

  Status Start();  // starts every collector that is not paused
  void Stop();

  Result<nlohmann::json> Create(const CollectorSpec& spec, bool paused, const Principal& who);
  Result<nlohmann::json> Get(const std::string& name);
  Result<nlohmann::json> List();
  Status Delete(const std::string& name);
  Result<nlohmann::json> SetPaused(const std::string& name, bool paused);
  Result<nlohmann::json> Rejected(const std::string& name, int64_t limit, int64_t offset);
  // An http collector's push: JSON lines (or one JSON object, or an array of them). Lines that
  // are not JSON objects are rejected; the rest are durable when this returns.
  Result<PushResult> Push(const std::string& name, std::string_view body);

 private:
  class Runner;
  Result<std::shared_ptr<Runner>> MakeRunner(const CollectorRow& row);
  nlohmann::json Describe(const CollectorRow& row, Runner* runner);

  CollectorStore store_;
  CollectorsOptions options_;
  std::mutex mu_;
  // Shared: a push in progress keeps its collector's spool alive through a concurrent delete.
  std::map<std::string, std::shared_ptr<Runner>> runners_;
};

}  // namespace aimass::collector
