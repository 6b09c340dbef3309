#include "search/vocabulary.hpp"

#include <algorithm>
#include <mutex>

namespace aimass::search {

void Vocabulary::Add(std::vector<std::string> terms) {
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  std::unique_lock lock(mu_);
  std::vector<std::string> fresh;
  std::set_difference(terms.begin(), terms.end(), sorted_.begin(), sorted_.end(), std::back_inserter(fresh));
  if (fresh.empty()) return;
  std::vector<std::string> merged;
  merged.reserve(sorted_.size() + fresh.size());
  std::merge(std::make_move_iterator(sorted_.begin()), std::make_move_iterator(sorted_.end()),
             std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()), std::back_inserter(merged));
  sorted_ = std::move(merged);
  by_length_.clear();
  for (uint32_t i = 0; i < sorted_.size(); ++i) {
    const size_t n = sorted_[i].size();
    if (n >= by_length_.size()) by_length_.resize(n + 1);
    by_length_[n].push_back(i);
  }
}

size_t Vocabulary::size() const {
  std::shared_lock lock(mu_);
  return sorted_.size();
}

int Vocabulary::Distance(std::string_view a, std::string_view b, int max) {
  const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  if (std::abs(n - m) > max) return max + 1;
  // Three rows of the optimal-string-alignment table.
  thread_local std::vector<int> buf;
  buf.assign(3 * (m + 1), 0);
  int* prev2 = buf.data();
  int* prev = prev2 + (m + 1);
  int* cur = prev + (m + 1);
  for (int j = 0; j <= m; ++j) prev[j] = j;
  for (int i = 1; i <= n; ++i) {
    cur[0] = i;
    int row_min = cur[0];
    for (int j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = std::min(v, prev2[j - 2] + 1);
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > max) return max + 1;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return std::min(prev[m], max + 1);
}

std::vector<std::pair<int, std::string>> Vocabulary::Near(const std::string& word, int max_edits, size_t limit) const {
  std::vector<std::pair<int, const std::string*>> found;
  std::shared_lock lock(mu_);
  const size_t n = word.size();
  for (size_t len = n > static_cast<size_t>(max_edits) ? n - max_edits : 1; len <= n + max_edits; ++len) {
    if (len >= by_length_.size()) break;
    for (uint32_t i : by_length_[len]) {
      const std::string& t = sorted_[i];
      if (t == word) continue;
      // A different first letter costs two edits.
      const int first = t[0] == word[0] ? 0 : 1;
      if (first && max_edits < 2) continue;
      const int d = Distance(word, t, max_edits - first) + first;
      if (d <= max_edits) found.emplace_back(d, &t);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  std::vector<std::pair<int, std::string>> out;
  for (size_t i = 0; i < found.size() && out.size() < limit; ++i) out.emplace_back(found[i].first, *found[i].second);
  return out;
}

std::vector<std::string> Vocabulary::WithPrefix(const std::string& prefix, size_t scan) const {
  std::vector<std::string> out;
  if (prefix.empty()) return out;
  std::shared_lock lock(mu_);
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), prefix);
  for (size_t k = 0; it != sorted_.end() && k < scan && it->compare(0, prefix.size(), prefix) == 0; ++it, ++k) {
    if (*it != prefix) out.push_back(*it);
  }
  return out;
}

}  // namespace aimass::search
