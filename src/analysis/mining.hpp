// The mining service: jobs that cluster, mine rules and sequences from, or find outliers in a
// dataset version, run by this process's workers (decision 132), their results stored for the
// API and the console. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/mining_store.hpp"
#include "common/principal.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"

namespace aimass::analysis {

struct MiningOptions {
  datasets::Datasets* datasets = nullptr;
  events::EventBus* bus = nullptr;
  int workers = 1;
  int threads = 0;  // per job; 0: every usable core
  uint64_t max_rows = 50'000'000;
  bool run_workers = true;  // false in a process that opens the module as a library
};

class MiningService {
 public:
  MiningService(storage::Db& db, MiningOptions o);
  ~MiningService();
  static std::vector<storage::Migration> Migrations() { return MiningStore::Migrations(); }

  Status Open();  // jobs a crash left running are queued again
  void Start();
  void Stop();

  // {"kind","source":{"dataset","version"},"params"} → the job, queued.
  Result<nlohmann::json> Create(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> Get(int64_t id, bool with_result);
  // {"jobs":[…],"next_page_token"}; newest first.
  Result<nlohmann::json> List(const std::string& state, const std::string& kind, const std::string& dataset, int64_t page_size,
                              const std::string& page_token);
  Result<nlohmann::json> Cancel(int64_t id);
  Status Delete(int64_t id);

  // Until no job is queued or running here (tests, shutdown).
  void WaitIdle();

 private:
  void Work();
  void Run(const MiningRow& job);
  nlohmann::json JobJson(const MiningRow& r) const;

  MiningStore store_;
  MiningOptions o_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t created_ = 0;  // bumped per Create: workers look for work at once
  std::map<int64_t, std::shared_ptr<std::atomic<bool>>> running_;  // cancel flags
  std::vector<std::thread> workers_;
};

}  // namespace aimass::analysis
