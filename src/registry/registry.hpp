// Registry: the model library. Registered models with Markdown model cards, numbered versions
// whose artifacts live in the blob store and are validated by their runtime before they are
// `ready`, and aliases that move atomically with a recorded history. No HTTP in here.
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/random.hpp"
#include "common/principal.hpp"
#include "events/bus.hpp"
#include "registry/model.hpp"
#include "registry/store.hpp"
#include "storage/tree.hpp"
#include "storage/blob_store.hpp"

namespace aimass::registry {

struct NewModel {
  std::string name;
  std::string description;
  std::optional<std::string> task;
  std::vector<std::string> tags;
  std::string owner;
};

struct ModelChange {
  std::optional<std::string> description;
  std::optional<std::string> task;
  std::optional<std::vector<std::string>> tags;
  std::optional<bool> archived;
};

struct NewVersion {
  std::string framework;
  std::string spooled_path;  // the upload, already on disk under the blob store's temp dir
  std::string sha256_hex;
  uint64_t size = 0;
  Signature declared;        // empty: take what the validator infers
  std::string metrics_json = "{}";
  std::string params_json = "{}";
  std::string lineage_json = "{}";
  std::string dependencies_json = "[]";
  std::string created_by;
  // A directory artifact: its files, unpacked under the blob store's temp dir (sorted by path),
  // instead of spooled_path; `entry` names the file the runtime loads (default: model.<ext>, or
  // the only file with the framework's extension).
  std::vector<TreeFile> tree;
  std::string entry;
};

// What ResolvePending decided.
struct RecoveryStats {
  int ready = 0;   // stored whole and valid: completed
  int failed = 0;  // interrupted before the artifact was stored, or invalid
};

// The reason of a version whose creation a crash (or a failed status write) cut short.
inline constexpr const char* kInterrupted = "interrupted";

class Registry {
 public:
  // Changes are published on `bus` (may be null) as registry.model.created,
  // registry.model.updated, registry.model.renamed, registry.version.created,
  // registry.version.ready, registry.version.failed, registry.version.deleted,
  // registry.version.updated (a signature recorded by serving),
  // registry.alias.moved and registry.alias.deleted, each after its transaction committed.
  Registry(storage::Db& db, storage::BlobStore& blobs, events::EventBus* bus = nullptr)
      : store_(db, RandomHex(8)), blobs_(blobs), bus_(bus) {}
  static std::vector<storage::Migration> Migrations() { return RegistryStore::Migrations(); }

  Result<Model> CreateModel(const NewModel& m);
  Result<Model> GetModel(const std::string& name);
  Result<std::vector<Model>> ListModels(const std::optional<std::string>& prefix,
                                        bool include_archived, int64_t offset, int64_t limit,
                                        const std::optional<std::string>& task = std::nullopt);
  // Model selection: the models best on a metric (`order_by` "metrics.<key> [desc|asc]"),
  // each with its best ready version; models without the metric are left out.
  Result<std::vector<RankedModel>> RankModels(const std::optional<std::string>& task, const std::string& order_by,
                                              int64_t offset, int64_t limit);
  Result<Model> UpdateModel(const std::string& name, const ModelChange& change);
  Status RenameModel(const std::string& from, const std::string& to);

  // Stores the artifact, records the version as pending, validates it with its runtime and
  // records the outcome. A failed validation is returned as the version with status failed
  // (and its reason), not as an error: the version exists and says why it cannot be used.
  Result<ModelVersion> CreateVersion(const std::string& model, const NewVersion& v);
  // At start-up, before requests: decides every version a crash left pending. One whose blobs
  // are all present with the bytes their digests name is validated (ready, or failed with the
  // runtime's reason); any other is failed with reason `interrupted`, and its blobs are left
  // to GC. See docs/registry.md, "Version states".
  Result<RecoveryStats> ResolvePending();
  // This process as a registry worker: listed alive (RenewWorker, every few seconds while it
  // runs) so that no other process decides the versions it is storing; unlisted when it stops.
  Status RenewWorker(int64_t ttl_ms) { return store_.RenewWorker(ttl_ms); }
  Status RemoveWorker() { return store_.RemoveWorker(); }
  // Completes a version's signature learned by serving from its first successful request,
  // while the stored one still lacks datatypes or shapes (never replaces a complete one).
  Status RecordSignature(const std::string& model, int64_t version, const Signature& signature);
  Result<ModelVersion> GetVersion(const std::string& model, int64_t version);
  Result<ModelVersion> GetByAlias(const std::string& model, const std::string& alias);
  Result<std::vector<ModelVersion>> ListVersions(const std::string& model, int64_t offset,
                                                 int64_t limit);
  Status DeleteVersion(const std::string& model, int64_t version);
  // Versions matching a filter (search.hpp) and a free-text query over model name, card and
  // tags.
  Result<std::vector<ModelVersion>> SearchVersions(std::string_view filter,
                                                   const std::optional<std::string>& text,
                                                   std::string_view order_by, int64_t offset,
                                                   int64_t limit);

  // `expected`: move only if the alias points at this version now (0: only if it does not
  // exist yet); Conflict otherwise. Two users (or processes) moving one alias from the same
  // state get one success and one conflict instead of a silent overwrite.
  Result<AliasMove> MoveAlias(const std::string& model, const std::string& alias,
                              int64_t version, const std::string& by,
                              std::optional<int64_t> expected = std::nullopt);
  Status DeleteAlias(const std::string& model, const std::string& alias, const std::string& by);
  Result<std::vector<std::pair<std::string, int64_t>>> Aliases(const std::string& model);
  Result<std::vector<AliasMove>> AliasHistory(const std::string& model, int64_t limit);

  // The one access decision for a model: the highest of the caller's roles (models:read,
  // models:write, models:manage), ownership (manage) and the model's grants to the user or
  // one of their roles. Unknown model: not_found; too little access: forbidden.
  Status Authorize(const Principal& who, const std::string& model, Access needed);
  Result<std::vector<Grant>> Grants(const std::string& model);
  // subject: "user:<name>" or "role:<name>"; level read|write|manage.
  Status PutGrant(const std::string& model, const std::string& subject, Access level,
                  const std::string& by);
  Status DeleteGrant(const std::string& model, const std::string& subject);

  Result<std::string> ArtifactPath(const ModelVersion& v) { return BlobPath(v.digest); }
  // A directory version's files, in path order; empty for a single-file version.
  Result<std::vector<TreeFile>> Files(const std::string& model, int64_t version);
  // Where uploads are unpacked so that adopting a file is a rename.
  std::string TempDir() const { return blobs_.temp_dir(); }
  // Where one stored file (sha256 hex) can be read.
  Result<std::string> FilePath(const TreeFile& f) { return BlobPath("sha256:" + f.sha256_hex); }
  // Where the blob store keeps `digest` (not_found when this process's store lacks it).
  Result<std::string> BlobPath(const std::string& digest) { return blobs_.LocalPath(digest); }
  Result<bool> BlobReferenced(const std::string& digest) { return store_.BlobReferenced(digest); }

 private:
  void Emit(const char* topic, const std::string& json_data);
  Status Conclude(const Model& m, const ModelVersion& v, const std::string& entry_digest);

  RegistryStore store_;
  storage::BlobStore& blobs_;
  events::EventBus* bus_;
};

// Model, alias and tag names: [a-z0-9][a-z0-9._-]{0,127} (ARCHITECTURE.md §3).
Status ValidateModelName(std::string_view kind, std::string_view name);
// The task vocabulary of the model card.
const std::vector<std::string>& Tasks();
// Aliases that only holders of models:manage may move.
bool IsProtectedAlias(std::string_view alias);
// Splits a Markdown model card's YAML front matter ("---\n…\n---") into a JSON object of its
// fields; "{}" when there is none. Malformed front matter is bad_request.
Result<std::string> ParseModelCard(const std::string& markdown);

}  // namespace aimass::registry
