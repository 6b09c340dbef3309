// A chunk: a run of a cube table's rows, column by column, each column compressed for memory
// and with a zone map (its smallest and largest value) so that a filter can skip the chunk
// whole. Dictionary codes take the narrowest width holding the chunk's largest code (1, 2 or 4
// bytes); times are seconds from the chunk's first (4 bytes); values are doubles. On disk each
// column is also zstd-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::olap {

class CodeColumn {
 public:
  CodeColumn() = default;
  explicit CodeColumn(const std::vector<uint32_t>& codes);
  uint8_t width() const { return width_; }
  size_t size() const { return width_ ? bytes_.size() / width_ : 0; }
  uint32_t min() const { return min_; }
  uint32_t max() const { return max_; }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(bytes_.data()); }
  uint32_t At(size_t i) const {
    if (width_ == 1) return bytes_[i];
    if (width_ == 2) return data<uint16_t>()[i];
    return data<uint32_t>()[i];
  }
  size_t memory() const { return bytes_.capacity(); }

 private:
  friend class ChunkCodec;
  uint8_t width_ = 1;
  std::vector<uint8_t> bytes_;
  uint32_t min_ = 0, max_ = 0;
};

// Seconds since the Unix epoch, as offsets from the chunk's earliest. Rows without a time are
// not stored in a cube that has a time dimension.
struct TimeColumn {
  int64_t min = 0, max = 0;
  std::vector<uint32_t> offsets;
  size_t memory() const { return offsets.capacity() * 4; }
};

struct ValueColumn {
  std::vector<double> values;
  std::vector<uint8_t> valid;  // empty: every row has a value; else 1 per present row
  double min = 0, max = 0;     // over present values (0, 0 when none)
  // The fewest decimal digits (0-6) that write every present value (up to the double's own
  // rounding), or -1: sums of such a column are added exactly, as integers of that scale.
  int8_t decimals = 0;
  bool Valid(size_t i) const { return valid.empty() || valid[i] != 0; }
  size_t memory() const { return values.capacity() * 8 + valid.capacity(); }
  void ComputeZone();  // min, max and decimals
};

// A count-distinct measure's values: a dictionary code per row (0: null); in a pre-aggregated
// table a list of codes per row (offsets, rows + 1 of them).
struct DistinctColumn {
  CodeColumn codes;
  std::vector<uint32_t> offsets;  // empty: one code per row
  size_t memory() const { return codes.memory() + offsets.capacity() * 4; }
};

// A measure's state in a chunk. A base table's rows hold the measure's value (`sum` serves as
// the value for every aggregate); a pre-aggregated table's rows hold the partial states.
struct MeasureColumns {
  ValueColumn sum;
  ValueColumn min, max;       // pre-aggregated only (empty: use sum)
  std::vector<double> count;  // pre-aggregated only: values counted (empty: 1 per valid row)
  DistinctColumn distinct;    // count-distinct measures only
  size_t memory() const { return sum.memory() + min.memory() + max.memory() + count.capacity() * 8 + distinct.memory(); }
};

struct Chunk {
  size_t rows = 0;
  std::vector<CodeColumn> codes;  // one per dictionary-coded level of the table
  TimeColumn time;                // when the table has a time dimension
  std::vector<double> weights;    // pre-aggregated only: base rows per row (empty: 1 each)
  std::vector<MeasureColumns> measures;
  size_t memory() const;
};

// Reads and writes chunks (the on-disk form: a header and zstd-compressed columns).
class ChunkCodec {
 public:
  static std::string Encode(const Chunk& chunk);
  // Refuses anything the encoder would not write: sizes that disagree, codes over a width,
  // truncation (the file is the platform's own, but a damaged disk must not crash a query).
  static Result<Chunk> Decode(std::string_view data, size_t code_columns, size_t measures);
};

}  // namespace aimass::olap
