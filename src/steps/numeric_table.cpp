#include "steps/numeric_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "steps/csv_records.hpp"

namespace aimass::steps {

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

bool ParseFloat(const std::string& s, float& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtof(s.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out);
}

}  // namespace

Result<NumericTable> ReadNumericTable(const std::string& csv, const std::string& label, std::vector<std::string> features,
                                      const std::string& text) {
  AIMASS_ASSIGN_OR_RETURN(auto records, CsvRecords(csv));
  if (records.size() < 2) return Status::BadRequest("the table has no rows");
  const std::vector<std::string> header = CsvFields(records[0]);
  const size_t width = header.size();
  auto index_of = [&](const std::string& name) -> Result<size_t> {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return Status::BadRequest("'" + name + "' is not a column of the table");
    return static_cast<size_t>(it - header.begin());
  };
  size_t label_index = width;  // none
  if (!label.empty()) {
    AIMASS_ASSIGN_OR_RETURN(label_index, index_of(label));
  }
  size_t text_index = width;
  if (!text.empty()) {
    AIMASS_ASSIGN_OR_RETURN(text_index, index_of(text));
  }

  // One pass: every cell as a number (NaN when empty or not one), and which columns hold only
  // numbers; the chosen columns are taken out after.
  NumericTable t;
  t.rows = records.size() - 1;
  std::vector<float> all;
  all.reserve(t.rows * width);
  std::vector<bool> numeric(width, true);
  t.labels.reserve(t.rows);
  t.y.reserve(t.rows);
  for (size_t i = 1; i < records.size(); ++i) {
    std::vector<std::string> fields = CsvFields(records[i]);
    if (fields.size() != width) {
      return Status::BadRequest("row " + std::to_string(i) + " has " + std::to_string(fields.size()) + " fields, not " +
                                std::to_string(width));
    }
    for (size_t c = 0; c < width; ++c) {
      float v;
      bool ok = ParseFloat(fields[c], v);
      if (!ok && !fields[c].empty()) numeric[c] = false;
      all.push_back(ok ? v : kMissing);
    }
    if (label_index < width) {
      float y;
      bool ok = ParseFloat(fields[label_index], y);
      t.numeric_labels = t.numeric_labels && ok;
      t.y.push_back(ok ? y : kMissing);
      t.labels.push_back(std::move(fields[label_index]));
    }
    if (text_index < width) t.texts.push_back(std::move(fields[text_index]));
  }
  std::vector<size_t> columns;
  if (features.empty()) {
    for (size_t c = 0; c < width; ++c) {
      if (c == label_index || c == text_index || !numeric[c]) continue;
      columns.push_back(c);
      features.push_back(header[c]);
    }
  } else {
    for (const auto& f : features) {
      AIMASS_ASSIGN_OR_RETURN(size_t c, index_of(f));
      columns.push_back(c);
    }
  }
  if (columns.empty() && text.empty()) return Status::BadRequest("no numeric feature columns besides the label");
  t.features = std::move(features);
  // The chosen columns moved to the front, in place: a row's new place never comes after its
  // old one, and within a row the chosen columns are read in increasing order (a table may be
  // hundreds of megabytes of floats; a second copy is what a job's memory limit cannot spare).
  const size_t n = columns.size();
  bool ascending = std::is_sorted(columns.begin(), columns.end());
  if (ascending) {
    for (size_t r = 0; r < t.rows; ++r) {
      for (size_t k = 0; k < n; ++k) all[r * n + k] = all[r * width + columns[k]];
    }
    all.resize(t.rows * n);
    all.shrink_to_fit();
    t.x = std::move(all);
  } else {
    t.x.resize(t.rows * n);
    for (size_t r = 0; r < t.rows; ++r) {
      for (size_t k = 0; k < n; ++k) t.x[r * n + k] = all[r * width + columns[k]];
    }
  }
  return t;
}

Status RequireNumericLabels(const NumericTable& t) {
  for (size_t i = 0; i < t.rows; ++i) {
    if (std::isnan(t.y[i])) {
      return Status::BadRequest("row " + std::to_string(i + 1) + ": the label '" + t.labels[i].substr(0, 32) +
                                "' is not a number");
    }
  }
  return Status::Ok();
}

int ClassCount(const NumericTable& t, int most) {
  float top = -1;
  for (float y : t.y) {
    if (!(y >= 0) || y != std::floor(y) || y >= static_cast<float>(most)) return 0;
    top = std::max(top, y);
  }
  return static_cast<int>(top) + 1;
}

}  // namespace aimass::steps
