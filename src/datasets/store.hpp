// DatasetStore: the datasets module's tables: datasets, dataset_versions, dataset_segments
// (which blobs make each version, in order: the references blob GC asks about), dataset_files
// (the files of a files dataset's versions, also references),
// dataset_aliases and dataset_exports (downloads rendered once and kept as blobs).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/dataset.hpp"
#include "datasets/files.hpp"
#include "storage/db.hpp"

namespace aimass::datasets {

class DatasetStore {
 public:
  explicit DatasetStore(storage::Db& db);
  static std::vector<storage::Migration> Migrations();

  Result<Dataset> Create(const Dataset& d);
  Result<Dataset> Get(const std::string& name);
  Result<std::vector<Dataset>> List(int64_t limit, int64_t offset);
  Status Update(const Dataset& d);  // description, expectations
  // Deletes the dataset, its versions, segments, aliases and exports (their blobs go at GC).
  Status Delete(int64_t dataset_id);

  // Reserves the next version number as `writing`.
  Result<DatasetVersion> InsertVersion(const DatasetVersion& v);
  // A segment's reference, recorded before its bytes are stored (decision 16).
  Status AddSegment(int64_t version_id, const Segment& s);
  // Copies the parent's segments as the first ones of an appended version.
  Status CopySegments(int64_t from_version_id, int64_t to_version_id);
  Result<std::vector<Segment>> Segments(int64_t version_id);
  // A files version's files: the parent's (when given), then `added`, replacing any of the
  // same path; in one transaction, before their bytes are adopted.
  Status AddFiles(int64_t version_id, std::optional<int64_t> parent_id, const std::vector<DatasetFile>& added);
  // Files of a version in path order, from `after` (exclusive), at most `limit` (0: all).
  Result<std::vector<DatasetFile>> Files(int64_t version_id, const std::string& after, int64_t limit);
  Result<std::optional<DatasetFile>> GetFile(int64_t version_id, const std::string& path);
  // Data whole: sizes, digest, schema; stage profiling.
  Status FinishData(const DatasetVersion& v);
  Status FinishProfile(int64_t version_id, const std::string& profile_json, const std::string& validation_json,
                       std::optional<bool> validation_success, int64_t ready_ms);
  Status Fail(int64_t version_id, const std::string& reason);
  // Drops a version still being written (an identical one exists, or the upload was refused).
  Status Discard(int64_t version_id);

  Result<DatasetVersion> GetVersion(const std::string& dataset, int64_t version);
  Result<DatasetVersion> GetVersionById(int64_t version_id);
  // The newest ready version; not_found when none is.
  Result<DatasetVersion> Latest(const std::string& dataset);
  // The newest version whose data is whole (ready, or still being profiled): what `latest`
  // means to an append, so that appends made in a row build on each other.
  Result<DatasetVersion> LatestWhole(const std::string& dataset);
  Result<std::vector<DatasetVersion>> Versions(const std::string& dataset, int64_t limit, int64_t offset);
  // A ready or profiling version of the dataset with this digest (or source digest), if any.
  Result<std::optional<DatasetVersion>> FindByDigest(int64_t dataset_id, const std::string& column, const std::string& digest,
                                                     int64_t except_id);
  // Fails the versions whose writer is gone: a process of this host that is no longer running
  // (or this process's pid, reused, for a version older than this store), or on another host
  // one that stored no segment for `stale_ms`. Their segments are unreferenced. How many.
  Result<int64_t> FailAbandoned(int64_t stale_ms);
  // The newest complete version `collector` wrote to the dataset (its lineage holds the offsets
  // its rows end at), if any.
  Result<std::optional<DatasetVersion>> LastCollected(int64_t dataset_id, const std::string& collector);
  // Versions written whole whose profile is not stored yet.
  Result<std::vector<int64_t>> PendingProfiles();
  // "host:pid", recorded with each version being written.
  static std::string WriterId();

  Status SetAlias(int64_t dataset_id, const std::string& alias, int64_t version, const std::string& by, int64_t now_ms);
  Result<bool> DeleteAlias(int64_t dataset_id, const std::string& alias);
  Result<std::map<std::string, int64_t>> Aliases(int64_t dataset_id);

  Result<std::optional<std::pair<std::string, uint64_t>>> Export(int64_t version_id, const std::string& format);
  Status AddExport(int64_t version_id, const std::string& format, const std::string& digest, uint64_t size);

  Result<bool> BlobReferenced(const std::string& digest);

 private:
  storage::Db& db_;
  int64_t started_ms_;
};

}  // namespace aimass::datasets
