#include "recommend/live_app.hpp"

#include <algorithm>

namespace aimass::recommend {

namespace {

constexpr size_t kMaxCached = 200000;
constexpr size_t kMaxAnswers = 100000;

uint64_t PairKey(uint32_t a, uint32_t b) { return static_cast<uint64_t>(a) << 32 | b; }

}  // namespace

uint32_t LiveApp::Item(const std::string& id) {
  const uint32_t i = items.Add(id);
  if (i >= info.size()) info.resize(i + 1);
  if (model && i >= model->to_model.size()) model->to_model.resize(i + 1, -1);
  return i;
}

uint32_t LiveApp::User(const std::string& id) {
  const uint32_t u = users.Add(id);
  if (u >= user_state.size()) user_state.resize(u + 1);
  return u;
}

void LiveApp::Apply(uint32_t user, uint32_t item, float weight, const std::string& type, float type_weight, int64_t ts_ms,
                    const std::string& session) {
  LiveUser& u = user_state[user];
  auto [it, added] = u.at.try_emplace(item, static_cast<uint32_t>(u.items.size()));
  if (added) u.items.push_back({item, 0, 0, {}, 0});
  LiveEntry& e = u.items[it->second];
  e.weight += weight;
  e.last_ms = std::max(e.last_ms, ts_ms);
  if (type_weight > e.type_weight) {
    e.type = type;
    e.type_weight = type_weight;
  }
  if (u.recent.empty() || u.recent.back() != item) {
    u.recent.push_back(item);
    if (u.recent.size() > kRecent) u.recent.erase(u.recent.begin());
  }
  ++u.changes;
  info[item].popularity += weight;
  ++feedback_count;
  if (session.empty()) return;
  if (sessions.size() >= kMaxSessions && !sessions.count(session)) sessions.clear();  // crude but bounded
  auto& s = sessions[session];
  if (!s.empty() && s.back() != item) {
    // The same pairs the trainer counts: successors within its window, predecessors at half weight.
    const size_t from = s.size() > 5 ? s.size() - 5 : 0;
    for (size_t k = from; k < s.size(); ++k) {
      if (s[k] == item) continue;
      const float near = 1.f / static_cast<float>(s.size() - k);
      live_pairs[s[k]][item] += near;
      live_pairs[item][s[k]] += 0.5f * near;
    }
  }
  if (s.empty() || s.back() != item) s.push_back(item);
  if (s.size() > kSessionItems) s.erase(s.begin());
}

void LiveApp::SetModel(std::shared_ptr<LoadedModel> m) {
  const recsys::Model& model_data = m->recommender->model();
  m->to_model.assign(items.size(), -1);
  m->to_app.resize(model_data.size());
  for (size_t i = 0; i < model_data.size(); ++i) {
    const uint32_t a = Item(model_data.items[i]);
    if (a >= m->to_model.size()) m->to_model.resize(a + 1, -1);
    m->to_model[a] = static_cast<int32_t>(i);
    m->to_app[i] = a;
  }
  model = std::move(m);
  live_pairs.clear();
  ++catalogue_version;
  std::lock_guard lock(cache_mu_);
  cache_.clear();
}

recsys::UserHistory LiveApp::HistoryFor(uint32_t user, const LoadedModel& m) const {
  recsys::UserHistory h;
  if (user >= user_state.size()) return h;
  const LiveUser& u = user_state[user];
  for (const LiveEntry& e : u.items) {
    const int32_t mi = e.item < m.to_model.size() ? m.to_model[e.item] : -1;
    if (mi >= 0) h.items.push_back({static_cast<uint32_t>(mi), e.weight, e.last_ms});
  }
  for (uint32_t i : u.recent) {
    const int32_t mi = i < m.to_model.size() ? m.to_model[i] : -1;
    if (mi >= 0) h.recent.push_back(static_cast<uint32_t>(mi));
  }
  return h;
}

bool LiveApp::CachedVectors(uint32_t user, const LoadedModel& m, recsys::UserVectors& out) const {
  std::lock_guard lock(cache_mu_);
  auto it = cache_.find(user);
  if (it == cache_.end() || it->second.version != m.version || user >= user_state.size() ||
      it->second.changes != user_state[user].changes) {
    return false;
  }
  out = it->second.vectors;
  return true;
}

void LiveApp::CacheVectors(uint32_t user, int64_t model_version, uint64_t changes, const recsys::UserVectors& v) const {
  std::lock_guard lock(cache_mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[user] = {model_version, changes, v};
}

bool LiveApp::CachedAnswer(const std::string& key, int64_t model_version, uint64_t changes, Answer& out) const {
  std::lock_guard lock(answers_mu_);
  auto it = answers_.find(key);
  if (it == answers_.end() || it->second.model_version != model_version || it->second.changes != changes ||
      it->second.catalogue != catalogue_version) {
    return false;
  }
  out = it->second;
  return true;
}

void LiveApp::CacheAnswer(const std::string& key, Answer a) const {
  std::lock_guard lock(answers_mu_);
  if (answers_.size() >= kMaxAnswers) answers_.clear();
  answers_[key] = std::move(a);
}

}  // namespace aimass::recommend
