// Turns a dataset version into a cube's base table: each source segment becomes a chunk, its
// levels mapped through the cube's dictionaries (derived levels by prefix or map), its time
// read as seconds, each measure's expression evaluated over the segment's columns. A refresh
// adds only the segments the table has not seen (an appended version keeps its parent's).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "cube/cube_spec.hpp"
#include "datasets/table.hpp"
#include "olap/table.hpp"

namespace aimass::cube {

struct BuildStats {
  uint64_t rows_read = 0;
  uint64_t rows_skipped = 0;  // without a readable time
};

// Checks that the source has every column the spec names, with a type it can use.
Status CheckSource(const CubeSpec& spec, const datasets::Schema& schema);

// The segments [first_segment, end) of `source` added to a copy of `base` (a new table when
// `base` is null). The result shares `base`'s chunks. A table that grows past `memory_limit`
// bytes is refused (413) before it is whole.
Result<std::shared_ptr<olap::Table>> BuildCubeTable(const CubeSpec& spec, const datasets::Table& source, size_t first_segment,
                                                    const olap::Table* base, int threads, size_t memory_limit, BuildStats* stats);

}  // namespace aimass::cube
