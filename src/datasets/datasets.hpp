// Datasets: the service behind the datasets API. Table versions are parsed from CSV, TSV or
// JSON Lines uploads into segments in the blob store (content-addressed, so an identical upload
// is the same version and an append shares its parent's segments), then profiled and checked
// against the dataset's expectation suite by a background worker. No HTTP in here.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/principal.hpp"
#include "common/status.hpp"
#include "datasets/dataset.hpp"
#include "datasets/files.hpp"
#include "datasets/segment.hpp"
#include "datasets/store.hpp"
#include "datasets/table.hpp"
#include "datasets/table_parser.hpp"
#include "events/bus.hpp"
#include "storage/blob_store.hpp"
#include "storage/tar_unpack.hpp"

namespace aimass::datasets {

struct DatasetsOptions {
  size_t segment_rows = 65536;
  uint64_t max_input_bytes = 64ull << 30;
  uint64_t max_files = 1000000;  // in one tar of a files dataset
  int threads = 1;
  events::EventBus* bus = nullptr;
  bool run_worker = true;  // profile and validate here (a process that serves the module)
};

// One upload of a table version.
struct Upload {
  std::string body_path;       // the spooled body
  uint64_t body_size = 0;
  std::string body_sha256;     // hex
  std::string content_type;    // a table's format, or a tar for a files dataset
  bool gzip = false;           // Content-Encoding: gzip (a tar's compression is detected)
  std::optional<std::string> append;  // a version or alias of the dataset to append to
  std::optional<Schema> schema;       // declared
  std::string lineage_json = "{}";    // merged into the version's lineage
  std::string message;
  std::string collector;              // set by a collector: the version is its commit point
};

struct AddedVersion {
  DatasetVersion version;
  bool created = false;  // false: an identical version existed and is returned
};

class Datasets {
 public:
  Datasets(storage::Db& db, storage::BlobStore& blobs, DatasetsOptions options);
  ~Datasets();
  static std::vector<storage::Migration> Migrations() { return DatasetStore::Migrations(); }

  // Fails versions a crash cut short while being written; queues those whose profile was pending.
  Status Open();
  void Start();  // the profiling worker
  void Stop();

  Result<Dataset> Create(const std::string& name, const std::string& description, DatasetKind kind, const std::string& owner);
  Result<Dataset> Get(const std::string& name) { return store_.Get(name); }
  Result<std::vector<Dataset>> List(int64_t limit, int64_t offset) { return store_.List(limit, offset); }
  Status SetDescription(const std::string& name, const std::string& description);
  Status Delete(const std::string& name);

  Result<AddedVersion> AddVersion(const std::string& dataset, const Upload& upload, const Principal& who);
  // A version from a body made in memory (a module's rows): spooled to a locked temp file under
  // the blob store's temp directory (swept after a crash), then as AddVersion. `upload`'s body
  // fields are filled here.
  Result<AddedVersion> AddVersionFromBytes(const std::string& dataset, std::string_view body, Upload upload, const Principal& who);
  Result<std::vector<DatasetVersion>> Versions(const std::string& dataset, int64_t limit, int64_t offset);
  // A version by number, alias, or `latest` (the newest ready version unless an alias says otherwise).
  Result<DatasetVersion> Resolve(const std::string& dataset, const std::string& ref);
  // The version's data, for reading; failed and still-written versions are refused.
  Result<Table> OpenTable(const DatasetVersion& v);

  // Rows [offset, offset+limit) of the named columns (all when empty), as JSON objects.
  Result<nlohmann::json> Rows(const DatasetVersion& v, uint64_t offset, uint64_t limit, const std::vector<std::string>& columns);
  // A cell of Rows() read as an id: a string as it is, a number as its text, a whole float without
  // its fraction (a CustomerID column read as floats gives 12346, not 12346.0); nullopt otherwise.
  static std::optional<std::string> IdText(const nlohmann::json& cell);
  // A files dataset's file: the local path of its bytes, and its entry.
  Result<std::pair<std::string, DatasetFile>> File(const DatasetVersion& v, const std::string& path);
  // The version rendered as csv or jsonl (or, for a files dataset, tar), stored once as a blob:
  // its local path and size.
  Result<std::pair<std::string, uint64_t>> Export(const DatasetVersion& v, const std::string& format);
  Result<nlohmann::json> Drift(const DatasetVersion& v, const DatasetVersion& against);
  // Profiles and validates the version again now (after a suite changed), and stores the result.
  Result<DatasetVersion> Reprocess(const DatasetVersion& v);

  Status SetExpectations(const std::string& dataset, const nlohmann::json& suite);

  Status SetAlias(const std::string& dataset, const std::string& alias, int64_t version, const std::string& by);
  Status DeleteAlias(const std::string& dataset, const std::string& alias);
  Result<std::map<std::string, int64_t>> Aliases(const std::string& dataset);

  Result<bool> BlobReferenced(const std::string& digest) { return store_.BlobReferenced(digest); }
  // The newest version whose data is whole (what an append to `latest` builds on), if any.
  Result<std::optional<DatasetVersion>> LatestWhole(const std::string& dataset);
  // The newest complete version a collector wrote to the dataset, if any (collectors resume
  // from the offsets in its lineage).
  Result<std::optional<DatasetVersion>> LastCollected(const std::string& dataset, const std::string& collector);
  // Waits until every queued version is processed (tests).
  void WaitIdle();

 private:
  // A new version recorded as being written (its number reserved, lineage set).
  Result<DatasetVersion> BeginVersion(const Dataset& d, const Upload& upload, const std::optional<DatasetVersion>& parent,
                                      const Principal& who, std::string_view format, uint64_t source_bytes);
  // One segment: referenced, then written to the blob store.
  Status StoreSegment(int64_t version_id, int64_t seq, const EncodedSegment& seg, uint64_t* byte_size);
  // The version's digest; the existing version when one has it, else stage profiling.
  Result<DatasetVersion> Complete(const Dataset& d, DatasetVersion v, bool* created);
  Result<DatasetVersion> WriteVersion(const Dataset& d, const Upload& upload, std::string_view data,
                                      const std::optional<DatasetVersion>& parent, const Principal& who,
                                      TextFormat format, bool* created);
  Result<DatasetVersion> WriteFilesVersion(const Dataset& d, const Upload& upload, storage::UnpackedTree& tree,
                                           const std::optional<DatasetVersion>& parent, const Principal& who,
                                           bool* created);
  // A version's profile and, when the dataset has a suite, its validation (JSON texts).
  struct Analysis {
    std::string profile, validation;
    std::optional<bool> success;
    nlohmann::json statistics;
  };
  Result<Analysis> Analyse(const DatasetVersion& v);
  Status Process(int64_t version_id);
  void Work();
  void Enqueue(int64_t version_id);
  void Publish(const std::string& topic, const DatasetVersion& v, nlohmann::json extra = nlohmann::json::object());

  DatasetStore store_;
  storage::BlobStore& blobs_;
  DatasetsOptions options_;
  // Appends to one dataset one at a time (in this process), so that each sees the one before.
  std::mutex append_mu_;
  std::map<int64_t, std::shared_ptr<std::mutex>> append_locks_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<int64_t> queue_;
  std::map<int64_t, int> profile_tries_;  // the worker's only
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace aimass::datasets
