// A metric's points as stored: one row per run, key and logging call, its points packed in
// one text value ("step timestamp value" lines). Logging N points of one key costs one row,
// not N, which is what lets the batch API keep up with a training loop (mlflow#5269).
// Text, not bytes: the metadata store's values are text on both SQLite and PostgreSQL.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "tracking/run.hpp"

namespace aimass::tracking {

struct ChunkPoint {
  int64_t step = 0;
  int64_t timestamp_ms = 0;
  double value = 0;
};

// Appends one point's line; values keep every bit (shortest round-trip form).
void AppendChunkPoint(std::string& chunk, const ChunkPoint& p);
// The points of a chunk, in the order logged; a malformed chunk is internal (it was ours).
Result<std::vector<ChunkPoint>> DecodeChunk(std::string_view chunk);

// Folds points into a metric's summary (count 0: none yet).
void Accumulate(LatestMetric& latest, const ChunkPoint& p);

}  // namespace aimass::tracking
