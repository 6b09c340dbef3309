// A fastText classifier (Debian's libfasttext) as one of the NLU trainer's model kinds: trained
// on the analyzer's terms (so Chinese arrives segmented), with character n-grams of words
// (minn 2, maxn 5) and word bigrams, scoring each class by its log-probability. Its bytes are
// fastText's own model format, kept inside the NLU model file.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace fasttext {
class FastText;
}

namespace aimass::text {

class Analyzer;

struct FastTextOptions {
  int epochs = 25;
  double learning_rate = 0.5;
  int dim = 50;           // 50 and 100,000 buckets: a 20 MB model, as accurate on CLINC150's
  int word_ngrams = 2;    // validation part as 100 and 200,000 (twice the size)
  int minn = 2, maxn = 5;
  int bucket = 100000;
  int threads = 1;
};

class FastTextClassifier {
 public:
  FastTextClassifier();
  ~FastTextClassifier();
  FastTextClassifier(FastTextClassifier&&) noexcept;
  FastTextClassifier& operator=(FastTextClassifier&&) noexcept;

  // `work_dir` takes the training file for the time of the call.
  static Result<FastTextClassifier> Train(const std::vector<std::string>& texts, const std::vector<int>& y,
                                          int classes, const Analyzer& analyzer, const FastTextOptions& o,
                                          const std::string& work_dir);

  // Each class's log-probability (classes() of them, into `out`).
  void Scores(std::string_view text, const Analyzer& analyzer, float* out) const;
  int classes() const { return classes_; }

  Result<std::string> Save(const std::string& work_dir) const;
  static Result<FastTextClassifier> Load(std::string_view bytes, int classes);

 private:
  std::unique_ptr<fasttext::FastText> ft_;
  int classes_ = 0;
};

}  // namespace aimass::text
