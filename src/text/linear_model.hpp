// A linear classifier over sparse features, trained with Debian's LIBLINEAR (one-vs-rest
// L2-regularised squared-hinge SVM, or logistic regression, solved in the dual) and kept as a
// dense weight matrix of our own, so that scoring is a sparse-times-dense product with no
// library state and the file format is ours.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "text/text_features.hpp"

namespace aimass::text {

struct LinearOptions {
  double c = 1.0;          // the inverse of the regularisation strength
  bool logistic = false;   // logistic regression instead of the SVM
  double eps = 0.1;        // LIBLINEAR's stopping tolerance
};

class LinearModel {
 public:
  LinearModel() = default;

  // `y` holds class numbers 0…classes-1; `features` bounds the vectors' indexes. Every class
  // should have an example; one without gets a model that never picks it.
  static Result<LinearModel> Train(const std::vector<SparseVector>& x, const std::vector<int>& y, int classes,
                                   size_t features, const LinearOptions& o);

  // The decision value of each class for `x` (classes() of them, into `out`).
  void Scores(const SparseVector& x, float* out) const;

  int classes() const { return classes_; }

  void Save(std::string& out) const;
  static Result<LinearModel> Load(std::string_view in);

 private:
  int classes_ = 0;
  size_t features_ = 0;
  std::vector<float> w_;  // [features][classes], then the bias row
};

}  // namespace aimass::text
