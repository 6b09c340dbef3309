// RegistryStore: the registry's tables in storage::Db. Version numbers are allocated inside
// the insert's transaction (MAX+1 over all versions, deleted ones included), so they are
// monotonic and never reused; alias moves and their history row commit together.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "registry/model.hpp"
#include "storage/tree.hpp"
#include "storage/db.hpp"

namespace aimass::registry {

using storage::TreeFile;
using storage::TreeDigest;
using storage::NormalizeTreePath;

class RegistryStore {
 public:
  // `worker`: this process's registry worker id, the owner of the versions it creates.
  RegistryStore(storage::Db& db, std::string worker) : db_(db), worker_(std::move(worker)) {}
  static std::vector<storage::Migration> Migrations();

  Status InsertModel(const Model& m);
  Result<Model> FindModel(const std::string& name);
  Result<std::vector<Model>> ListModels(const std::optional<std::string>& name_prefix,
                                        bool include_archived, const std::optional<std::string>& task,
                                        int64_t offset, int64_t limit);
  // Models (of `task` when given, not archived) with a ready version that has `metric`, each
  // with its best such version, best first (the highest value, or the lowest when ascending).
  Result<std::vector<RankedModel>> RankModels(const std::optional<std::string>& task, const std::string& metric,
                                              bool ascending, int64_t offset, int64_t limit);
  Status UpdateModel(const Model& m);  // description, task, tags, card, archived
  Status RenameModel(const std::string& from, const std::string& to);

  // Allocates the next number and inserts the version as given (status pending).
  // A directory version's files are recorded in the same transaction.
  Result<int64_t> InsertVersion(int64_t model_id, const ModelVersion& v,
                                const std::vector<TreeFile>& files = {});
  // A directory version's files in path order (sha256_hex set, temp_path empty).
  Result<std::vector<TreeFile>> VersionFiles(int64_t model_id, int64_t version);
  // Decides a pending version; one already decided (by another process that judged its owner
  // gone) is left as it is.
  Status SetVersionStatus(int64_t model_id, int64_t version, VersionStatus status,
                          const std::string& reason, const Signature* signature);
  Result<ModelVersion> FindVersion(const Model& model, int64_t version);
  // (model name, version) of every live version still pending whose owner is gone (its worker
  // expired, or its process is not running on this host): after a crash, the ones whose
  // creation was interrupted. Those of a live worker are uploads in progress.
  Result<std::vector<std::pair<std::string, int64_t>>> PendingVersions();
  // Lists this process's worker as alive for `ttl_ms` more; RemoveWorker unlists it (and
  // workers expired for a day).
  Status RenewWorker(int64_t ttl_ms);
  Status RemoveWorker();
  // Replaces the signature only while the stored one still lacks a datatype or shape of an
  // input (a learned signature never overwrites a declared or earlier one). Whether it did.
  Result<bool> CompleteSignature(int64_t model_id, int64_t version, const Signature& signature);
  Result<std::vector<ModelVersion>> ListVersions(const Model& model, bool include_deleted,
                                                 int64_t offset, int64_t limit);
  // Soft delete; fails with conflict while an alias points at the version.
  Status DeleteVersion(int64_t model_id, int64_t version);

  // Moves (or creates) an alias to a ready version; records the move. With `expected`, only
  // from that version (0: from no alias), else Conflict.
  Result<AliasMove> MoveAlias(int64_t model_id, const std::string& alias, int64_t version,
                              const std::string& by, std::optional<int64_t> expected);
  Status DeleteAlias(int64_t model_id, const std::string& alias, const std::string& by);
  Result<int64_t> ResolveAlias(int64_t model_id, const std::string& alias);
  Result<std::vector<std::pair<std::string, int64_t>>> Aliases(int64_t model_id);
  Result<std::vector<AliasMove>> AliasHistory(int64_t model_id, int64_t limit);

  // Live versions matching a compiled filter (see search.hpp) and, when `text` is set, whose
  // model matches the full-text query; ordered by `order_sql`.
  Result<std::vector<ModelVersion>> SearchVersions(const std::string& where,
                                                   const std::vector<storage::Value>& params,
                                                   const std::optional<std::string>& text,
                                                   const std::string& order_sql, int64_t offset,
                                                   int64_t limit);

  Status PutGrant(int64_t model_id, const Grant& g);
  Status DeleteGrant(int64_t model_id, const std::string& subject);
  Result<std::vector<Grant>> Grants(int64_t model_id);

  // Whether a live (not deleted) version that is not failed stores this blob: the registry's
  // part of blob GC. A pending version's blobs count (decision 16), a failed one's do not.
  Result<bool> BlobReferenced(const std::string& digest);

 private:
  static std::string HostName();

  storage::Db& db_;
  std::string worker_;
};

}  // namespace aimass::registry
