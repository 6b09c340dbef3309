// The labelling queue's own model for active learning: a logistic regression (LIBLINEAR) over
// TF-IDF features of the items' texts, or over their numeric columns standardised, retrained
// as labels arrive; an unlabelled item's uncertainty is how close its two likeliest classes are
// (margin), how spread its classes are (entropy), or one minus its likeliest (least confidence).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::analysis {

class ActiveLearner {
 public:
  // Features of every item of the pool, made once: from texts, or from rows of numbers.
  static std::unique_ptr<ActiveLearner> ForTexts(const std::vector<std::string>& texts, const std::string& language);
  static std::unique_ptr<ActiveLearner> ForNumbers(const std::vector<std::vector<double>>& rows);
  ~ActiveLearner();

  // Trains on (item, class) pairs; needs two classes among them.
  Status Train(const std::vector<std::pair<size_t, int>>& labelled, int classes);
  bool trained() const;
  size_t items() const;
  // The item's class probabilities (empty before training).
  std::vector<double> Probabilities(size_t item) const;
  // margin | entropy | least_confidence; higher is more uncertain.
  double Uncertainty(size_t item, const std::string& strategy) const;

 private:
  ActiveLearner();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::analysis
