#include "steps/system_sampler.hpp"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "common/time.hpp"

namespace aimass::steps {

namespace {

// The machine's busy and total jiffies ("cpu" line of /proc/stat: iowait and idle are idle).
void CpuTimes(uint64_t& busy, uint64_t& total) {
  std::ifstream f("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  f >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
  total = 0;
  for (uint64_t x : v) total += x;
  busy = total - v[3] - v[4];
}

// kB fields of a /proc file ("MemTotal:", "VmRSS:").
int64_t Field(const char* path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::strtoll(line.c_str() + key.size(), nullptr, 10);
  }
  return -1;
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

}  // namespace

SystemSampler::SystemSampler(std::function<void(const nlohmann::json&)> log, std::chrono::milliseconds interval)
    : log_(std::move(log)), interval_(interval) {
  CpuTimes(busy_, total_);
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      Sample();
      lock.lock();
    }
  });
}

SystemSampler::~SystemSampler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Sample();  // the last stretch too
}

void SystemSampler::Sample() {
  uint64_t busy = 0, total = 0;
  CpuTimes(busy, total);
  nlohmann::json points = nlohmann::json::array();
  const int64_t now = UnixNowMs();
  auto add = [&](const char* key, double value) {
    points.push_back({{"key", key}, {"value", value}, {"step", step_}, {"timestamp", now}});
  };
  if (total > total_) add("system/cpu_utilization_percentage", Round(100.0 * static_cast<double>(busy - busy_) / static_cast<double>(total - total_), 0.01));
  busy_ = busy;
  total_ = total;
  int64_t mem_total = Field("/proc/meminfo", "MemTotal:"), available = Field("/proc/meminfo", "MemAvailable:");
  if (mem_total > 0 && available >= 0) {
    add("system/system_memory_usage_megabytes", Round(static_cast<double>(mem_total - available) / 1024, 0.1));
    add("system/system_memory_usage_percentage", Round(100.0 * static_cast<double>(mem_total - available) / static_cast<double>(mem_total), 0.01));
  }
  int64_t rss = Field("/proc/self/status", "VmRSS:");
  if (rss >= 0) add("system/process_memory_usage_megabytes", Round(static_cast<double>(rss) / 1024, 0.1));
  ++step_;
  if (!points.empty()) log_({{"metrics", points}});
}

}  // namespace aimass::steps
