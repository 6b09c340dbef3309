// Table: a stored table version as readers see it (the rows API, downloads, profiles, the
// later modules that train on or aggregate a dataset): its schema and its segments, read a
// column of a segment at a time. Thread-safe: each read opens its segment file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "datasets/column.hpp"

namespace aimass::datasets {

struct SegmentRef {
  std::string path;  // the blob's local file
  uint64_t rows = 0;
  std::string digest;  // the same segment in two versions (an append's parent's) has the same digest
};

class Table {
 public:
  Table() = default;
  Table(Schema schema, std::vector<SegmentRef> segments);

  const Schema& schema() const { return schema_; }
  uint64_t rows() const { return rows_; }
  size_t segment_count() const { return segments_.size(); }
  uint64_t segment_rows(size_t s) const { return segments_[s].rows; }
  uint64_t segment_start(size_t s) const { return starts_[s]; }
  const std::string& segment_digest(size_t s) const { return segments_[s].digest; }
  // The segment holding row `row` (row < rows()).
  size_t SegmentOf(uint64_t row) const;
  Result<ColumnData> Read(size_t segment, size_t column) const;
  // Several columns of one segment, opening its file once.
  Result<std::vector<ColumnData>> ReadColumns(size_t segment, const std::vector<size_t>& columns) const;

 private:
  Schema schema_;
  std::vector<SegmentRef> segments_;
  std::vector<uint64_t> starts_;
  uint64_t rows_ = 0;
};

}  // namespace aimass::datasets
