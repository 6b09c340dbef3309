#include "text/chinese_segmenter.hpp"

#include <cmath>
#include <fstream>

#include "common/text.hpp"

namespace aimass::text {

namespace {

// Byte offsets of the characters of a UTF-8 string, and its size at the end.
std::vector<size_t> CharOffsets(std::string_view s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size();) {
    out.push_back(i);
    size_t n = Utf8SequenceLength(s.substr(i));
    i += n == 0 ? 1 : n;
  }
  out.push_back(s.size());
  return out;
}

}  // namespace

Result<std::unique_ptr<ChineseSegmenter>> ChineseSegmenter::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Unavailable("Chinese dictionary " + path + " cannot be read (install python3-jieba)");
  std::unique_ptr<ChineseSegmenter> s(new ChineseSegmenter());
  std::string line;
  double total = 0;
  while (std::getline(in, line)) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0) continue;
    double f = std::atof(line.c_str() + sp + 1);
    if (f <= 0) continue;
    s->logp_[line.substr(0, sp)] = f;
    total += f;
  }
  if (s->logp_.empty()) return Status::Unavailable("Chinese dictionary " + path + " holds no words");
  for (auto& [w, f] : s->logp_) f = std::log(f / total);
  s->unknown_logp_ = std::log(1.0 / total);
  s->Finish();
  return s;
}

ChineseSegmenter::ChineseSegmenter(const std::vector<std::pair<std::string, double>>& words) {
  double total = 0;
  for (const auto& [w, f] : words) total += f;
  for (const auto& [w, f] : words) logp_[w] = std::log(f / total);
  unknown_logp_ = std::log(1.0 / (total + 1));
  Finish();
}

void ChineseSegmenter::Finish() {
  for (const auto& [w, p] : logp_) max_chars_ = std::max(max_chars_, CharOffsets(w).size() - 1);
  max_chars_ = std::min<size_t>(max_chars_, 16);
}

double ChineseSegmenter::LogP(std::string_view word, bool* known) const {
  auto it = logp_.find(std::string(word));
  *known = it != logp_.end();
  return *known ? it->second : unknown_logp_;
}

std::vector<Segment> ChineseSegmenter::Cut(std::string_view run, bool search_mode) const {
  const std::vector<size_t> at = CharOffsets(run);
  const size_t n = at.size() - 1;
  // best[i]: the best log probability of run[i..n) and where its first word ends.
  std::vector<double> best(n + 1, 0);
  std::vector<size_t> next(n + 1, n);
  for (size_t i = n; i-- > 0;) {
    best[i] = -1e300;
    for (size_t j = i + 1; j <= std::min(n, i + max_chars_); ++j) {
      bool known = false;
      double p = LogP(run.substr(at[i], at[j] - at[i]), &known);
      if (!known && j != i + 1) continue;  // an unknown word is one character
      if (p + best[j] > best[i]) {
        best[i] = p + best[j];
        next[i] = j;
      }
    }
  }
  std::vector<Segment> out;
  for (size_t i = 0; i < n; i = next[i]) {
    const size_t j = next[i];
    out.push_back({at[i], at[j], false});
    if (!search_mode || j - i < 3) continue;
    for (size_t len = 2; len <= 3 && len < j - i; ++len) {
      for (size_t k = i; k + len <= j; ++k) {
        bool known = false;
        LogP(run.substr(at[k], at[k + len] - at[k]), &known);
        if (known) out.push_back({at[k], at[k + len], true});
      }
    }
  }
  return out;
}

}  // namespace aimass::text
