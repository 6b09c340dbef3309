#include "search/vocabulary.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>

#include "common/file.hpp"

namespace aimass::search {

namespace {
uint32_t StartKey(char first, size_t length) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(first)) << 16) | static_cast<uint32_t>(std::min<size_t>(length, 0xFFFF));
}
}  // namespace

void Vocabulary::Add(std::vector<std::string> words) {
  std::sort(words.begin(), words.end());
  std::vector<std::pair<std::string, uint64_t>> counted;
  for (auto& w : words) {
    if (w.empty()) continue;
    if (!counted.empty() && counted.back().first == w) ++counted.back().second;
    else counted.emplace_back(std::move(w), 1);
  }
  AddCounted(std::move(counted));
}

void Vocabulary::AddCounted(std::vector<std::pair<std::string, uint64_t>> counted) {
  std::sort(counted.begin(), counted.end());
  std::unique_lock lock(mu_);
  std::vector<std::string> words;
  std::vector<uint64_t> counts;
  words.reserve(sorted_.size() + counted.size());
  counts.reserve(sorted_.size() + counted.size());
  size_t i = 0, j = 0;
  bool fresh = false;
  while (i < sorted_.size() || j < counted.size()) {
    if (j < counted.size() && counted[j].first.empty()) {
      ++j;
    } else if (j == counted.size() || (i < sorted_.size() && sorted_[i] < counted[j].first)) {
      words.push_back(std::move(sorted_[i]));
      counts.push_back(counts_[i++]);
    } else if (!words.empty() && words.back() == counted[j].first) {
      counts.back() += counted[j++].second;  // twice in `counted`
    } else if (i == sorted_.size() || counted[j].first < sorted_[i]) {
      fresh = true;
      words.push_back(std::move(counted[j].first));
      counts.push_back(counted[j++].second);
    } else {
      words.push_back(std::move(sorted_[i]));
      counts.push_back(counts_[i++] + counted[j++].second);
    }
  }
  sorted_ = std::move(words);
  counts_ = std::move(counts);
  if (!fresh) return;
  by_start_.clear();
  by_tail_.clear();
  std::hash<std::string_view> hash;
  for (uint32_t k = 0; k < sorted_.size(); ++k) {
    const std::string& w = sorted_[k];
    by_start_[StartKey(w[0], w.size())].push_back(k);
    by_tail_[hash(std::string_view(w).substr(1))].push_back(k);
  }
}

Status Vocabulary::Save(const std::string& path, uint64_t revision) const {
  std::string out = std::to_string(revision) + "\n";
  {
    std::shared_lock lock(mu_);
    for (size_t i = 0; i < sorted_.size(); ++i) {
      out += std::to_string(counts_[i]);
      out += ' ';
      out += sorted_[i];
      out += '\n';
    }
  }
  return WriteFileAtomically(path, out, 0600);
}

bool Vocabulary::Load(const std::string& path, uint64_t revision) {
  auto text = ReadFile(path);
  if (!text.ok()) return false;
  std::string_view t(*text);
  size_t nl = t.find('\n');
  if (nl == std::string_view::npos || t.substr(0, nl) != std::to_string(revision)) return false;
  std::vector<std::pair<std::string, uint64_t>> counted;
  for (size_t at = nl + 1; at < t.size();) {
    size_t end = t.find('\n', at);
    if (end == std::string_view::npos) return false;  // cut short
    std::string_view line = t.substr(at, end - at);
    at = end + 1;
    size_t sp = line.find(' ');
    uint64_t n = 0;
    if (sp == std::string_view::npos || std::from_chars(line.data(), line.data() + sp, n).ec != std::errc()) return false;
    counted.emplace_back(std::string(line.substr(sp + 1)), n);
  }
  AddCounted(std::move(counted));
  return true;
}

void Vocabulary::Clear() {
  std::unique_lock lock(mu_);
  sorted_.clear();
  counts_.clear();
  by_start_.clear();
  by_tail_.clear();
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
  if (word.empty()) return {};
  std::shared_lock lock(mu_);
  const size_t n = word.size();
  // The first letter kept: words of its bucket within max_edits of the length.
  for (size_t len = n > static_cast<size_t>(max_edits) ? n - max_edits : 1; len <= n + max_edits; ++len) {
    auto b = by_start_.find(StartKey(word[0], len));
    if (b == by_start_.end()) continue;
    for (uint32_t i : b->second) {
      const std::string& t = sorted_[i];
      if (t == word) continue;
      const int d = Distance(word, t, max_edits);
      if (d <= max_edits) found.emplace_back(d, &t);
    }
  }
  // A wrong first letter costs two, so with two allowed the one edit must be there: the first
  // letter replaced, dropped, doubled by one in front, or swapped with the second.
  if (max_edits >= 2) {
    std::hash<std::string_view> hash;
    const std::string_view w(word);
    auto add = [&](uint32_t i) {
      const std::string& t = sorted_[i];
      if (t != word && t[0] != word[0]) found.emplace_back(2, &t);
    };
    for (std::string_view tail : {w.substr(1), w}) {
      auto b = by_tail_.find(hash(tail));
      if (b == by_tail_.end()) continue;
      for (uint32_t i : b->second) {
        if (std::string_view(sorted_[i]).substr(1) == tail) add(i);  // replaced, or one in front
      }
    }
    for (std::string v : {word.substr(1), n >= 2 ? std::string{word[1], word[0]} + word.substr(2) : std::string()}) {
      if (v.empty()) continue;
      auto it = std::lower_bound(sorted_.begin(), sorted_.end(), v);
      if (it != sorted_.end() && *it == v) add(static_cast<uint32_t>(it - sorted_.begin()));  // dropped, swapped
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  found.erase(std::unique(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.second == b.second; }),
              found.end());
  std::vector<std::pair<int, std::string>> out;
  for (size_t i = 0; i < found.size() && out.size() < limit; ++i) out.emplace_back(found[i].first, *found[i].second);
  return out;
}

std::vector<std::string> Vocabulary::WithPrefix(const std::string& prefix, size_t scan, size_t limit) const {
  std::vector<std::pair<uint64_t, const std::string*>> found;
  if (prefix.empty()) return {};
  std::shared_lock lock(mu_);
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), prefix);
  for (size_t k = 0; it != sorted_.end() && k < scan && it->compare(0, prefix.size(), prefix) == 0; ++it, ++k) {
    if (*it != prefix) found.emplace_back(counts_[it - sorted_.begin()], &*it);
  }
  const size_t n = std::min(limit, found.size());
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(n), found.end(),
                    [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : *a.second < *b.second; });
  std::vector<std::string> out;
  for (size_t k = 0; k < n; ++k) out.push_back(*found[k].second);
  return out;
}

}  // namespace aimass::search
