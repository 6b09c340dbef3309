#include "gateway/response_cache.hpp"

namespace aimass::gateway {

size_t ResponseCache::Cost(const std::string& key, const Entry& e) {
  size_t n = key.size() + e.body.size() + e.route.size() + 128;  // 128: the entry's own bookkeeping
  for (const auto& [k, v] : e.headers) n += k.size() + v.size() + 32;
  return n;
}

void ResponseCache::Erase(decltype(lru_)::iterator it) {
  bytes_ -= Cost(it->first, *it->second);
  index_.erase(it->first);
  lru_.erase(it);
}

std::shared_ptr<const ResponseCache::Entry> ResponseCache::Get(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  if (it->second->second->expires <= now) {
    Erase(it->second);
    ++misses_;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return it->second->second;
}

void ResponseCache::Put(const std::string& key, Entry entry) {
  size_t cost = Cost(key, entry);
  if (cost > max_bytes_ / 8) return;
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) Erase(it->second);
  lru_.emplace_front(key, std::make_shared<const Entry>(std::move(entry)));
  index_[key] = lru_.begin();
  bytes_ += cost;
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    Erase(std::prev(lru_.end()));
    ++evictions_;
  }
}

size_t ResponseCache::Purge(const std::string& route) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (it->second->route == route) {
      Erase(it);
      ++n;
    }
    it = next;
  }
  return n;
}

size_t ResponseCache::PurgeAll() {
  std::lock_guard lock(mu_);
  size_t n = lru_.size();
  lru_.clear();
  index_.clear();
  bytes_ = 0;
  return n;
}

ResponseCache::Stats ResponseCache::stats() const {
  std::lock_guard lock(mu_);
  return {lru_.size(), bytes_, hits_, misses_, evictions_};
}

}  // namespace aimass::gateway
