// A table dataset version read as the training and evaluation steps need it: the label
// column, as written and as a number, and the numeric feature columns as one row-major float
// matrix (missing or unparsable values NaN), or one text column.
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::steps {

struct NumericTable {
  std::vector<std::string> features;
  std::vector<float> x;                 // rows × features, row-major
  std::vector<float> y;                 // the label as a number; NaN where it is not one
  std::vector<std::string> labels;      // the label as written
  std::vector<std::string> texts;       // the text column, when one was asked for
  size_t rows = 0;
  bool numeric_labels = true;           // every label is a number
};

// From CSV text; `label` "" for a table read without one (y and labels then empty). `features` empty: every column but the label (and the text column) whose
// values all parse as numbers or are missing. `text` names a column read as text instead of
// features ("" for none; then no feature columns is bad_request).
Result<NumericTable> ReadNumericTable(const std::string& csv, const std::string& label, std::vector<std::string> features,
                                      const std::string& text = "");

// The numeric labels, or bad_request naming the first that is not a number.
Status RequireNumericLabels(const NumericTable& t);

// Whole numbers from 0: class indices, and how many classes (max + 1), or 0 when they are not.
int ClassCount(const NumericTable& t, int most);

}  // namespace aimass::steps
