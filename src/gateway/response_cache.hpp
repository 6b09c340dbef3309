// ResponseCache: upstream answers kept in memory for routes with the `cache` plugin, bounded in
// bytes with least-recently-used eviction, each entry with its expiry. Keys are built by the
// gateway (route, consumer, method, host, path, query, chosen headers, body hash). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aimass::gateway {

class ResponseCache {
 public:
  using Clock = std::chrono::steady_clock;

  struct Entry {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string route;
    Clock::time_point stored;
    Clock::time_point expires;
  };

  explicit ResponseCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The fresh entry for `key`, or null (an expired one is dropped).
  std::shared_ptr<const Entry> Get(const std::string& key, Clock::time_point now = Clock::now());
  // Stores (replacing) an entry; one larger than an eighth of the cache is not kept.
  void Put(const std::string& key, Entry entry);
  // Drops a route's entries, or all; returns how many went.
  size_t Purge(const std::string& route);
  size_t PurgeAll();

  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
  };
  Stats stats() const;

 private:
  static size_t Cost(const std::string& key, const Entry& e);
  void Erase(std::list<std::pair<std::string, std::shared_ptr<const Entry>>>::iterator it);

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, std::shared_ptr<const Entry>>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace aimass::gateway
