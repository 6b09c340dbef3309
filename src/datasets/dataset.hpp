// A dataset and its versions as the store keeps them and the API shows them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datasets/column.hpp"

namespace aimass::datasets {

enum class DatasetKind { kTable, kFiles };

struct Dataset {
  int64_t id = 0;
  std::string name;
  std::string description;
  DatasetKind kind = DatasetKind::kTable;
  std::string owner;
  std::string expectations;  // the suite's JSON, "" when none
  int64_t created_ms = 0, updated_ms = 0;
};

// `stage` is what the store needs to recover after a crash: `writing` (segments being stored:
// a crash fails the version), `profiling` (data whole, profile and validation pending: resumed
// after a restart), `done`. Users see `status`: building, ready or failed.
struct DatasetVersion {
  int64_t id = 0;
  int64_t dataset_id = 0;
  std::string dataset;
  int64_t version = 0;
  std::string status = "building";
  std::string stage = "writing";
  std::string status_reason;
  std::string digest;         // sha256 of the schema and the segments' digests
  std::string source_sha256;  // of the uploaded bytes, as sent
  std::string source_format;  // csv, tsv, jsonl
  uint64_t source_bytes = 0;
  uint64_t row_count = 0;
  uint64_t byte_size = 0;     // of the stored segments
  Schema schema;
  bool schema_declared = false;
  std::optional<int64_t> parent;
  std::string lineage_json = "{}";
  std::string collector;  // the collector that wrote it, if one did (its offsets are in lineage)
  std::string message;
  std::string profile_json;     // "" until profiled
  std::string validation_json;  // "" when no suite ran
  std::optional<bool> validation_success;
  std::string created_by;
  int64_t created_ms = 0;
  int64_t ready_ms = 0;
};

struct Segment {
  int64_t seq = 0;
  std::string digest;
  uint64_t rows = 0;
  uint64_t bytes = 0;
};

std::string KindName(DatasetKind k);

}  // namespace aimass::datasets
