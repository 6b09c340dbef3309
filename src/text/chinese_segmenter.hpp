// Chinese word segmentation for indexing and queries: the most probable split of a run of
// Han characters into words of a frequency dictionary (jieba's dict.txt, shipped by Debian's
// python3-jieba), found by dynamic programming over the graph of dictionary words, as jieba
// does without its HMM for unknown words (those stay single characters).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"

namespace aimass::text {

struct Segment {
  size_t begin = 0;  // byte offsets in the run
  size_t end = 0;
  bool sub = false;  // a shorter dictionary word inside the word before it (search mode)
};

class ChineseSegmenter {
 public:
  // Reads a dictionary of lines "word frequency [tag]".
  static Result<std::unique_ptr<ChineseSegmenter>> Load(const std::string& path);
  // From entries given directly (tests).
  explicit ChineseSegmenter(const std::vector<std::pair<std::string, double>>& words);

  // Splits `run` (UTF-8, Han characters only) into words. With `search_mode`, every word of
  // three or more characters is followed by the two- and three-character dictionary words
  // inside it, so that a query for the shorter word finds it (jieba's cut_for_search).
  std::vector<Segment> Cut(std::string_view run, bool search_mode) const;

  size_t size() const { return logp_.size(); }

 private:
  ChineseSegmenter() = default;
  void Finish();
  double LogP(std::string_view word, bool* known) const;

  std::unordered_map<std::string, double> logp_;  // word → log(frequency / total)
  double unknown_logp_ = -20;
  size_t max_chars_ = 1;
};

}  // namespace aimass::text
