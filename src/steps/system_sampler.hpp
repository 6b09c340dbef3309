// The system metrics of a built-in step's tracking run, as the Python SDK logs them (MLflow's
// names): the machine's CPU and memory use, and the step process's own resident memory,
// sampled on a thread of its own every interval and once more when the step ends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

namespace aimass::steps {

class SystemSampler {
 public:
  // `log` sends one logging call's body ({"metrics":[…]}); its failures are the sampler's to
  // ignore (a sampler never ends the run it watches).
  SystemSampler(std::function<void(const nlohmann::json&)> log, std::chrono::milliseconds interval);
  ~SystemSampler();
  SystemSampler(const SystemSampler&) = delete;
  SystemSampler& operator=(const SystemSampler&) = delete;

 private:
  void Sample();

  std::function<void(const nlohmann::json&)> log_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t busy_ = 0, total_ = 0;  // /proc/stat's jiffies at the last sample
  int64_t step_ = 0;
  std::thread thread_;
};

}  // namespace aimass::steps
