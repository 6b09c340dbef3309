// Where the cube module keeps its state in the metadata store: each cube's definition and build
// state, saved views (a query with the chart it is shown as), and the query log that pre-
// aggregations are proposed from. The cubes' data are files on the local disk of the process
// serving the module (decision 124), rebuilt from the source dataset when missing.
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::cube {

struct CubeRow {
  std::string name;
  std::string owner;
  std::string spec;  // JSON
  std::string state = "building";  // building | ready | failed
  std::string error;
  int64_t source_version = 0;  // the dataset version built from (0: none yet)
  int64_t rows = 0;
  int64_t built_ms = 0;
  int64_t created_ms = 0, updated_ms = 0;
};

struct ViewRow {
  std::string cube, name, owner;
  std::string query;  // JSON
  std::string chart;  // table | bars | lines | heatmap
  int64_t created_ms = 0;
};

struct QueryLogRow {
  std::string cube, signature;  // signature: the levels a pre-aggregation would need, as JSON
  int64_t count = 0;
  int64_t last_ms = 0;
};

class CubeStore {
 public:
  explicit CubeStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status Create(const CubeRow& c);
  Result<CubeRow> Get(const std::string& name);
  Result<std::vector<CubeRow>> List();
  Status SetSpec(const std::string& name, const std::string& spec, int64_t now_ms);
  Status SetBuilt(const std::string& name, const std::string& state, const std::string& error, int64_t source_version, int64_t rows,
                  int64_t built_ms);
  Status Delete(const std::string& name);

  Status PutView(const ViewRow& v);
  Result<std::vector<ViewRow>> Views(const std::string& cube);
  Status DeleteView(const std::string& cube, const std::string& name);

  // Adds the counts of queries seen since the last flush.
  Status LogQueries(const std::vector<QueryLogRow>& rows);
  Result<std::vector<QueryLogRow>> QueryLog(const std::string& cube, int64_t limit);

 private:
  storage::Db& db_;
};

}  // namespace aimass::cube
