#include "datasets/table.hpp"

#include <algorithm>

#include "datasets/segment.hpp"

namespace aimass::datasets {

Table::Table(Schema schema, std::vector<SegmentRef> segments) : schema_(std::move(schema)), segments_(std::move(segments)) {
  for (const auto& s : segments_) {
    starts_.push_back(rows_);
    rows_ += s.rows;
  }
}

size_t Table::SegmentOf(uint64_t row) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), row);
  return static_cast<size_t>(it - starts_.begin()) - 1;
}

Result<ColumnData> Table::Read(size_t segment, size_t column) const {
  AIMASS_ASSIGN_OR_RETURN(auto cols, ReadColumns(segment, {column}));
  return std::move(cols[0]);
}

Result<std::vector<ColumnData>> Table::ReadColumns(size_t segment, const std::vector<size_t>& columns) const {
  if (segment >= segments_.size()) return Status::Internal("no segment " + std::to_string(segment));
  AIMASS_ASSIGN_OR_RETURN(SegmentFile f, SegmentFile::Open(segments_[segment].path));
  if (f.rows() != segments_[segment].rows || f.columns().size() != schema_.size()) {
    return Status::Internal("dataset segment " + segments_[segment].path + " does not match its version");
  }
  std::vector<ColumnData> out;
  out.reserve(columns.size());
  for (size_t c : columns) {
    if (c >= schema_.size() || f.columns()[c].type != schema_[c].type) {
      return Status::Internal("dataset segment " + segments_[segment].path + " does not match its schema");
    }
    AIMASS_ASSIGN_OR_RETURN(ColumnData d, f.ReadColumn(c));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace aimass::datasets
