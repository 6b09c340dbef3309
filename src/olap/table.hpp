// A cube table: dictionary-coded level columns, an optional time column and measure columns,
// in chunks, with the dictionaries the codes index. Immutable once built: queries hold a
// shared_ptr to a table while a refresh builds the next one, which shares the chunks that did
// not change. The same shape holds a base table (a row per source row) and a pre-aggregated
// one (a row per group, holding partial states).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "olap/calendar.hpp"
#include "olap/chunk.hpp"
#include "olap/dictionary.hpp"

namespace aimass::olap {

struct TableMeasure {
  std::string name;
  bool distinct = false;  // a count-distinct measure: codes into its dictionary, not values
};

struct TableSchema {
  std::vector<std::string> code_columns;
  bool has_time = false;
  // A pre-aggregation's times are the first second of a period of this level; nullopt: as
  // they came.
  std::optional<TimeLevel> time_level;
  std::vector<TableMeasure> measures;
  bool pre_aggregated = false;
};

struct Table {
  TableSchema schema;
  std::vector<std::shared_ptr<const Dictionary>> code_dicts;      // per code column
  std::vector<std::shared_ptr<const Dictionary>> distinct_dicts;  // per measure (null unless distinct)
  std::vector<std::shared_ptr<const Chunk>> chunks;
  std::vector<std::string> chunk_files;  // the file of each chunk once saved ("" before)
  uint64_t rows = 0;
  int64_t time_min = 0, time_max = 0;  // over every chunk (0, 0 without time or rows)

  void AddChunk(std::shared_ptr<const Chunk> chunk);
  size_t memory() const;
};

// A table's files in one directory: a file per chunk (written once, kept while a manifest
// names it), the dictionaries, and `manifest.json` replaced atomically last, so a crash leaves
// the previous table whole. `extra` is the caller's (what the table was built from).
Status SaveTable(Table& table, const std::string& dir, const nlohmann::json& extra);
// Loads the table the manifest names and returns `extra`; NotFound when there is none.
Result<std::pair<std::shared_ptr<Table>, nlohmann::json>> LoadTable(const std::string& dir);

}  // namespace aimass::olap
