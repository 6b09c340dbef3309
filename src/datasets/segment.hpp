// A segment: the stored form of a run of rows (at most datasets.segment_rows) of a table
// version, one blob in the blob store. Columns are stored apart (each compressed with zstd,
// with its null bitmap and min/max), so a reader reads only the columns it asks for, and an
// appended version lists its parent's segments unchanged (docs/architecture.md, decision 97).
//
// Layout, little-endian: "AMSEG001", u32 header length, then the header: u32 rows, u32
// columns, and per column u8 type, u8 flags (1: has nulls), u64 offset, u64 stored length,
// u64 raw length, 8 bytes min and 8 bytes max (int64 or double bits; zero for strings). The
// column blocks follow. A raw block is the null bitmap when there are nulls, then the values:
// int64s or doubles; for strings u32 dictionary size, its u32 offsets, its bytes, u8 code width
// (1, 2 or 4) and a code per row.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "datasets/column.hpp"

namespace aimass::datasets {

std::string EncodeSegment(const std::vector<ColumnData>& columns);

struct SegmentColumnInfo {
  ColumnType type = ColumnType::kString;
  bool has_nulls = false;
  uint64_t offset = 0, stored = 0, raw = 0;
  int64_t min_int = 0, max_int = 0;  // integer, timestamp, boolean
  double min_float = 0, max_float = 0;
};

// Reads the columns of one segment file on demand (pread), so that a reader of two columns of
// twenty reads two blocks. Corrupt or truncated files are reported as internal errors naming
// the file.
class SegmentFile {
 public:
  static Result<SegmentFile> Open(const std::string& path);
  SegmentFile(SegmentFile&& o) noexcept;
  SegmentFile& operator=(SegmentFile&& o) noexcept;
  ~SegmentFile();

  uint32_t rows() const { return rows_; }
  const std::vector<SegmentColumnInfo>& columns() const { return columns_; }
  Result<ColumnData> ReadColumn(size_t index) const;

 private:
  SegmentFile() = default;
  int fd_ = -1;
  std::string path_;
  uint32_t rows_ = 0;
  std::vector<SegmentColumnInfo> columns_;
};

// Decodes the segment held in memory (tests, fuzzing).
Result<std::vector<ColumnData>> DecodeSegment(std::string_view bytes);

}  // namespace aimass::datasets
