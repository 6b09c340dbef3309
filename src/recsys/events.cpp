#include "recsys/events.hpp"

#include <algorithm>
#include <map>

namespace aimass::recsys {

uint32_t IdMap::Add(const std::string& id) {
  auto [it, added] = index_.try_emplace(id, static_cast<uint32_t>(names_.size()));
  if (added) names_.push_back(id);
  return it->second;
}

int64_t IdMap::Find(const std::string& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

void EventLog::Add(const std::string& user, const std::string& item, float weight, int64_t ts_ms, const std::string& session) {
  Event e;
  e.user = users.Add(user);
  e.item = items.Add(item);
  e.weight = weight;
  e.ts_ms = ts_ms;
  e.session = session.empty() ? 0 : sessions.Add(session);
  events.push_back(e);
}

Csr Csr::Transposed() const {
  Csr t;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(cols + 1, 0);
  for (uint32_t c : indices) ++t.indptr[c + 1];
  for (size_t c = 0; c < cols; ++c) t.indptr[c + 1] += t.indptr[c];
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  std::vector<uint64_t> at(t.indptr.begin(), t.indptr.end() - 1);
  for (size_t r = 0; r < rows; ++r) {
    for (uint64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      const uint64_t to = at[indices[k]]++;
      t.indices[to] = static_cast<uint32_t>(r);
      t.values[to] = values[k];
    }
  }
  return t;
}

Csr UserItemMatrix(const std::vector<Event>& events, size_t users, size_t items) {
  std::vector<std::pair<uint64_t, float>> cells;
  cells.reserve(events.size());
  for (const Event& e : events) cells.emplace_back(static_cast<uint64_t>(e.user) << 32 | e.item, e.weight);
  std::sort(cells.begin(), cells.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Csr m;
  m.rows = users;
  m.cols = items;
  m.indptr.assign(users + 1, 0);
  for (size_t i = 0; i < cells.size();) {
    size_t j = i;
    float sum = 0;
    for (; j < cells.size() && cells[j].first == cells[i].first; ++j) sum += cells[j].second;
    const uint32_t user = static_cast<uint32_t>(cells[i].first >> 32);
    m.indices.push_back(static_cast<uint32_t>(cells[i].first & 0xffffffffu));
    m.values.push_back(sum);
    ++m.indptr[user + 1];
    i = j;
  }
  for (size_t u = 0; u < users; ++u) m.indptr[u + 1] += m.indptr[u];
  return m;
}

std::vector<std::vector<uint32_t>> Sessions(std::vector<Event> events, int64_t gap_ms) {
  // Explicit sessions first, then each user's feedback in time order.
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.session != b.session) return a.session < b.session;
    if (a.session == 0 && a.user != b.user) return a.user < b.user;
    return a.ts_ms < b.ts_ms;
  });
  std::vector<std::vector<uint32_t>> out;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    const bool same = i > 0 && events[i - 1].session == e.session &&
                      (e.session != 0 || (events[i - 1].user == e.user && e.ts_ms - events[i - 1].ts_ms <= gap_ms));
    if (!same) out.emplace_back();
    // The same item again in a row says nothing about what follows it.
    if (out.back().empty() || out.back().back() != e.item) out.back().push_back(e.item);
  }
  std::erase_if(out, [](const auto& s) { return s.size() < 2; });
  return out;
}

}  // namespace aimass::recsys
