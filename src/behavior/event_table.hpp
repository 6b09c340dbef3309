// Events in columns. A project's events live in immutable parts, each sorted by (person's
// distinct id code, time, arrival) with an offset per distinct id, so that every question
// about one person's sequence (funnels, retention, lifecycle, paths) reads their events as one
// contiguous run; the newest events gather in arrival order in a mutable table that is frozen
// into a part when a query needs it or it grows, and parts are merged in the background.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::behavior {

// A property's values in a part. A key is text (dictionary codes, 0: none) or numeric (NaN:
// none), fixed by the first value the project saw; either vector may be shorter than the part
// (rows past its end have no value), so a rare property costs little.
struct PropertyColumn {
  std::vector<uint32_t> codes;
  std::vector<double> numbers;
  size_t memory() const { return codes.capacity() * 4 + numbers.capacity() * 8; }
};

struct EventColumns {
  std::vector<uint32_t> distinct;  // distinct id code
  std::vector<uint32_t> event;     // event name code
  std::vector<int64_t> time;       // Unix milliseconds
  std::vector<PropertyColumn> props;  // by property key index (keys added later: none)
  // In a part: each row's place in the order the part's events arrived (a person's events of
  // one millisecond under several ids keep it). Empty in the newest events: the row order is.
  std::vector<uint32_t> arrival;

  size_t rows() const { return time.size(); }
  uint32_t Code(size_t key, size_t row) const {
    if (key >= props.size()) return 0;
    const auto& c = props[key].codes;
    return row < c.size() ? c[row] : 0;
  }
  double Number(size_t key, size_t row) const {
    if (key >= props.size()) return std::nan("");
    const auto& n = props[key].numbers;
    return row < n.size() ? n[row] : std::nan("");
  }
  void SetCode(size_t key, size_t row, uint32_t code);
  void SetNumber(size_t key, size_t row, double value);
  size_t memory() const;
  uint32_t Arrival(size_t row) const { return arrival.empty() ? static_cast<uint32_t>(row) : arrival[row]; }
};

struct Part {
  uint64_t id = 0;
  EventColumns cols;
  // Rows of distinct id code d: [offsets[d], offsets[d + 1]); codes at or past
  // offsets.size() - 1 have none here.
  std::vector<uint32_t> offsets;
  bool saved = false;  // its file is written (a checkpoint may name it)

  size_t rows() const { return cols.rows(); }
  std::pair<uint32_t, uint32_t> Range(uint32_t d) const {
    if (d + 1 >= offsets.size()) return {0, 0};
    return {offsets[d], offsets[d + 1]};
  }
  size_t memory() const { return cols.memory() + offsets.capacity() * 4; }
};

// Sorts the rows of one or more column sets (older first) by (distinct id, time, arrival) into
// a part.
std::shared_ptr<Part> BuildPart(uint64_t id, const std::vector<const EventColumns*>& inputs);

// A part's file: the columns, zstd-compressed. Decode refuses anything damaged.
std::string EncodePart(const Part& part);
Result<std::shared_ptr<Part>> DecodePart(std::string_view data);

}  // namespace aimass::behavior
