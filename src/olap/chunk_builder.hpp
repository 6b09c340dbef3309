// Builds chunks from plain columns (a code per row per level, seconds, values with their
// validity, distinct codes), and a pre-aggregated table from a base table: the groups of a
// chosen set of levels and a time level, each holding every measure's partial state (sum, count,
// min, max, and the set of distinct codes), so that the engine answers from it exactly what it
// would answer from the base rows.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/status.hpp"
#include "olap/calendar.hpp"
#include "olap/table.hpp"

namespace aimass::olap {

struct ChunkInput {
  std::vector<std::vector<uint32_t>> codes;  // per code column
  std::vector<int64_t> times;                // empty without time
  // Per measure: values and validity (value measures) or codes (distinct measures).
  std::vector<std::vector<double>> values;
  std::vector<std::vector<uint8_t>> valid;
  std::vector<std::vector<uint32_t>> distinct;
};

std::shared_ptr<const Chunk> MakeChunk(ChunkInput input);

// The rows of a pre-aggregation: `code_columns` of the base (their dictionaries shared) and,
// when `time_level` is set, the time truncated to it.
Result<std::shared_ptr<Table>> BuildPreAggregate(const Table& base, const std::vector<size_t>& code_columns,
                                                 std::optional<TimeLevel> time_level, int threads, size_t memory_limit);

}  // namespace aimass::olap
