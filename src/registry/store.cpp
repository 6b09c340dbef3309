#include "registry/store.hpp"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <nlohmann/json.hpp>

#include "common/string_list.hpp"
#include "common/time.hpp"
#include "registry/signature_json.hpp"

namespace aimass::registry {

using storage::Row;
using storage::Tx;
using storage::Value;
using storage::Rows;

std::string_view StatusName(VersionStatus s) {
  switch (s) {
    case VersionStatus::kPending: return "pending";
    case VersionStatus::kReady: return "ready";
    case VersionStatus::kFailed: return "failed";
  }
  return "pending";
}

static VersionStatus ParseStatus(const std::string& s) {
  if (s == "ready") return VersionStatus::kReady;
  if (s == "failed") return VersionStatus::kFailed;
  return VersionStatus::kPending;
}

// Search: indexes for the filterable version columns, and a full-text index over the model's
// name, description (card) and tags, kept in step by triggers (SQLite: an FTS5 table; PostgreSQL:
// a GIN index on the same text, seen through a view of the shape Db::FullTextMatch reads).
const std::string kSearchIndexes = R"sql(
CREATE INDEX registry_versions_created ON registry_versions(created_at);
CREATE INDEX registry_versions_framework ON registry_versions(framework, status);
CREATE INDEX registry_models_task ON registry_models(task);
)sql";
const std::string kSearchSqlite = R"sql(
CREATE VIRTUAL TABLE registry_models_fts USING fts5(
  name, description, tags, content='registry_models', content_rowid='id');
INSERT INTO registry_models_fts(rowid, name, description, tags)
  SELECT id, name, description, tags FROM registry_models;
CREATE TRIGGER registry_models_fts_insert AFTER INSERT ON registry_models BEGIN
  INSERT INTO registry_models_fts(rowid, name, description, tags)
    VALUES (new.id, new.name, new.description, new.tags);
END;
CREATE TRIGGER registry_models_fts_delete AFTER DELETE ON registry_models BEGIN
  INSERT INTO registry_models_fts(registry_models_fts, rowid, name, description, tags)
    VALUES ('delete', old.id, old.name, old.description, old.tags);
END;
CREATE TRIGGER registry_models_fts_update AFTER UPDATE ON registry_models BEGIN
  INSERT INTO registry_models_fts(registry_models_fts, rowid, name, description, tags)
    VALUES ('delete', old.id, old.name, old.description, old.tags);
  INSERT INTO registry_models_fts(rowid, name, description, tags)
    VALUES (new.id, new.name, new.description, new.tags);
END;
)sql";
const std::string kSearchPostgres = R"sql(
CREATE INDEX registry_models_fts_doc ON registry_models
  USING gin (to_tsvector('simple', name || ' ' || description || ' ' || tags));
CREATE VIEW registry_models_fts AS
  SELECT id AS rowid, to_tsvector('simple', name || ' ' || description || ' ' || tags) AS doc
  FROM registry_models;
)sql";

// Directory versions (their files), and the tags of a model as rows for the tag filter, kept
// in step with the model's JSON list by triggers.
const std::string kFilesAndTags = R"sql(
ALTER TABLE registry_versions ADD COLUMN kind TEXT NOT NULL DEFAULT 'file';
ALTER TABLE registry_versions ADD COLUMN entry TEXT NOT NULL DEFAULT '';
CREATE TABLE registry_version_files (
  model_id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  executable INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (model_id, version, path),
  FOREIGN KEY (model_id, version) REFERENCES registry_versions(model_id, version) ON DELETE CASCADE
);
CREATE INDEX registry_version_files_digest ON registry_version_files(digest);
CREATE TABLE registry_model_tags (
  tag TEXT NOT NULL,
  model_id INTEGER NOT NULL REFERENCES registry_models(id) ON DELETE CASCADE,
  PRIMARY KEY (tag, model_id)
) WITHOUT ROWID;
)sql";
const std::string kTagsSqlite = R"sql(
INSERT INTO registry_model_tags (tag, model_id)
  SELECT DISTINCT json_each.value, registry_models.id FROM registry_models, json_each(registry_models.tags);
CREATE TRIGGER registry_model_tags_insert AFTER INSERT ON registry_models BEGIN
  INSERT OR IGNORE INTO registry_model_tags (tag, model_id)
    SELECT json_each.value, new.id FROM json_each(new.tags);
END;
CREATE TRIGGER registry_model_tags_update AFTER UPDATE OF tags ON registry_models BEGIN
  DELETE FROM registry_model_tags WHERE model_id = new.id;
  INSERT OR IGNORE INTO registry_model_tags (tag, model_id)
    SELECT json_each.value, new.id FROM json_each(new.tags);
END;
)sql";
const std::string kTagsPostgres = R"sql(
INSERT INTO registry_model_tags (tag, model_id)
  SELECT DISTINCT t.value, m.id FROM registry_models m, jsonb_array_elements_text(m.tags::jsonb) AS t(value);
CREATE FUNCTION registry_model_tags_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM registry_model_tags WHERE model_id = NEW.id;
  END IF;
  INSERT INTO registry_model_tags (tag, model_id)
    SELECT t.value, NEW.id FROM jsonb_array_elements_text(NEW.tags::jsonb) AS t(value)
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_model_tags_insert AFTER INSERT ON registry_models
  FOR EACH ROW EXECUTE FUNCTION registry_model_tags_sync();
CREATE TRIGGER registry_model_tags_update AFTER UPDATE OF tags ON registry_models
  FOR EACH ROW EXECUTE FUNCTION registry_model_tags_sync();
)sql";

std::vector<storage::Migration> RegistryStore::Migrations() {
  return {{"registry", 1, R"sql(
CREATE TABLE registry_models (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  task TEXT NOT NULL DEFAULT 'other',
  owner TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  card TEXT NOT NULL DEFAULT '{}',
  archived INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE registry_versions (
  model_id INTEGER NOT NULL REFERENCES registry_models(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  framework TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  signature TEXT NOT NULL DEFAULT '{}',
  metrics TEXT NOT NULL DEFAULT '{}',
  params TEXT NOT NULL DEFAULT '{}',
  lineage TEXT NOT NULL DEFAULT '{}',
  dependencies TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (model_id, version)
);
CREATE INDEX registry_versions_digest ON registry_versions(digest);
CREATE TABLE registry_aliases (
  model_id INTEGER NOT NULL REFERENCES registry_models(id) ON DELETE CASCADE,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias)
);
CREATE TABLE registry_alias_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id INTEGER NOT NULL REFERENCES registry_models(id) ON DELETE CASCADE,
  alias TEXT NOT NULL,
  from_version INTEGER,
  to_version INTEGER,
  moved_by TEXT NOT NULL,
  moved_at INTEGER NOT NULL
);
)sql"},
          // Search: indexes for the filterable version columns, and a full-text index over
          // the model's name, description (card) and tags, kept in step by triggers.
          {"registry", 2, kSearchIndexes + kSearchSqlite, kSearchIndexes + kSearchPostgres},
          {"registry", 3, R"sql(
CREATE TABLE registry_grants (
  model_id INTEGER NOT NULL REFERENCES registry_models(id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  level INTEGER NOT NULL,
  granted_by TEXT NOT NULL,
  granted_at INTEGER NOT NULL,
  PRIMARY KEY (model_id, subject)
);
)sql"},
          // Directory artifacts (one blob per file) and a tag table, so that `tag = x` is an
          // index lookup instead of a JSON scan of every model.
          {"registry", 4, kFilesAndTags + kTagsSqlite, kFilesAndTags + kTagsPostgres},
          // Who is storing a pending version: the registry worker (a process) that created it,
          // listed with its host and pid while it lives, so that another process never decides
          // an upload still in progress (decision 72).
          {"registry", 5, R"sql(
ALTER TABLE registry_versions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE TABLE registry_workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql"}};
}

std::string_view AccessName(Access a) {
  switch (a) {
    case Access::kNone: return "none";
    case Access::kRead: return "read";
    case Access::kWrite: return "write";
    case Access::kManage: return "manage";
  }
  return "none";
}

Status RegistryStore::PutGrant(int64_t model_id, const Grant& g) {
  return db_.Exec("INSERT INTO registry_grants (model_id, subject, level, granted_by, granted_at) "
                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT(model_id, subject) DO UPDATE SET "
                  "level = excluded.level, granted_by = excluded.granted_by, granted_at = excluded.granted_at",
                  {model_id, g.subject, static_cast<int64_t>(g.level), g.granted_by, UnixNow()})
      .status();
}

Status RegistryStore::DeleteGrant(int64_t model_id, const std::string& subject) {
  auto n = db_.Exec("DELETE FROM registry_grants WHERE model_id = ? AND subject = ?", {model_id, subject});
  if (!n.ok()) return n.status();
  if (*n == 0) return Status::NotFound("no grant for '" + subject.substr(0, 80) + "'");
  return Status::Ok();
}

Result<std::vector<Grant>> RegistryStore::Grants(int64_t model_id) {
  auto rows = db_.Query("SELECT subject, level, granted_by, granted_at FROM registry_grants "
                        "WHERE model_id = ? ORDER BY subject",
                        {model_id});
  if (!rows.ok()) return rows.status();
  std::vector<Grant> out;
  for (const auto& r : *rows) {
    out.push_back(Grant{r.Text(0), static_cast<Access>(r.Int(1)), r.Text(2), r.Int(3)});
  }
  return out;
}

namespace {

constexpr const char* kModelColumns =
    "id, name, description, task, owner, tags, card, archived, created_at, updated_at";

Model ModelFromRow(const Row& r) {
  Model m;
  m.id = r.Int(0);
  m.name = r.Text(1);
  m.description = r.Text(2);
  m.task = r.Text(3);
  m.owner = r.Text(4);
  m.tags = StringListFromJson(r.Text(5));
  m.card_json = r.Text(6);
  m.archived = r.Int(7) != 0;
  m.created_at = r.Int(8);
  m.updated_at = r.Int(9);
  return m;
}

constexpr const char* kVersionColumns =
    "version, framework, digest, size, signature, metrics, params, lineage, dependencies, status, "
    "status_reason, created_by, created_at, deleted_at, kind, entry";

ModelVersion VersionFromRow(const std::string& model, const Row& r) {
  ModelVersion v;
  v.model = model;
  v.version = r.Int(0);
  v.framework = r.Text(1);
  v.digest = r.Text(2);
  v.size = static_cast<uint64_t>(r.Int(3));
  v.signature = SignatureFromJson(nlohmann::json::parse(r.Text(4), nullptr, false));
  v.metrics_json = r.Text(5);
  v.params_json = r.Text(6);
  v.lineage_json = r.Text(7);
  v.dependencies_json = r.Text(8);
  v.status = ParseStatus(r.Text(9));
  v.status_reason = r.Text(10);
  v.created_by = r.Text(11);
  v.created_at = r.Int(12);
  v.deleted = r.Int(13) != 0;
  v.kind = r.Text(14) == "directory" ? ArtifactKind::kDirectory : ArtifactKind::kFile;
  v.entry = r.Text(15);
  return v;
}

}  // namespace

Status RegistryStore::InsertModel(const Model& m) {
  return db_.Transaction([&](Tx& tx) -> Status {
    auto exists = tx.Query("SELECT 1 FROM registry_models WHERE name = ?", {m.name});
    if (!exists.ok()) return exists.status();
    if (!exists->empty()) return Status::Conflict("model '" + m.name + "' already exists");
    int64_t now = UnixNow();
    return tx.Exec("INSERT INTO registry_models (name, description, task, owner, tags, card, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   {m.name, m.description, m.task, m.owner, StringListToJson(m.tags),
                    m.card_json, now, now})
        .status();
  });
}

Result<Model> RegistryStore::FindModel(const std::string& name) {
  auto rows = db_.Query(std::string("SELECT ") + kModelColumns + " FROM registry_models WHERE name = ?",
                        {name});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no model '" + name + "'");
  return ModelFromRow((*rows)[0]);
}

Result<std::vector<Model>> RegistryStore::ListModels(const std::optional<std::string>& prefix,
                                                     bool include_archived, const std::optional<std::string>& task,
                                                     int64_t offset, int64_t limit) {
  std::string sql = std::string("SELECT ") + kModelColumns + " FROM registry_models WHERE 1=1";
  std::vector<Value> params;
  if (task) {
    sql += " AND task = ?";
    params.emplace_back(*task);
  }
  if (prefix) {
    // substr rather than LIKE: a prefix may contain % or _.
    sql += " AND substr(name, 1, ?) = ?";
    params.emplace_back(static_cast<int64_t>(prefix->size()));
    params.emplace_back(*prefix);
  }
  if (!include_archived) sql += " AND archived = 0";
  sql += " ORDER BY name LIMIT ? OFFSET ?";
  params.emplace_back(limit);
  params.emplace_back(offset);
  auto rows = db_.Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<Model> out;
  for (const auto& r : *rows) out.push_back(ModelFromRow(r));
  return out;
}

Result<std::vector<RankedModel>> RegistryStore::RankModels(const std::optional<std::string>& task,
                                                           const std::string& metric, bool ascending, int64_t offset,
                                                           int64_t limit) {
  // The metric's JSON path is a bound parameter (the key is checked by the caller too).
  const std::string path = "$.\"" + metric + "\"";
  const std::string dir = ascending ? "ASC" : "DESC";
  std::string sql =
      "SELECT m.id, m.name, m.description, m.task, m.owner, m.tags, m.card, m.archived, m.created_at, m.updated_at, "
      "b.version, b.value FROM registry_models m JOIN (SELECT v.model_id, v.version, json_extract(v.metrics, ?) AS value, "
      "ROW_NUMBER() OVER (PARTITION BY v.model_id ORDER BY json_extract(v.metrics, ?) " + dir + ", v.version DESC) AS rn "
      "FROM registry_versions v WHERE v.status = 'ready' AND v.deleted_at = 0 AND json_extract(v.metrics, ?) IS NOT NULL) b "
      "ON b.model_id = m.id AND b.rn = 1 WHERE m.archived = 0";
  std::vector<Value> params = {path, path, path};
  if (task) {
    sql += " AND m.task = ?";
    params.emplace_back(*task);
  }
  sql += " ORDER BY b.value " + dir + ", m.name LIMIT ? OFFSET ?";
  params.emplace_back(limit);
  params.emplace_back(offset);
  auto rows = db_.Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<RankedModel> out;
  for (const auto& r : *rows) out.push_back({ModelFromRow(r), metric, r.Int(10), r.Double(11)});
  return out;
}

Status RegistryStore::UpdateModel(const Model& m) {
  auto n = db_.Exec("UPDATE registry_models SET description = ?, task = ?, tags = ?, card = ?, "
                    "archived = ?, updated_at = ? WHERE id = ?",
                    {m.description, m.task, StringListToJson(m.tags), m.card_json,
                     int64_t{m.archived ? 1 : 0}, UnixNow(), m.id});
  if (!n.ok()) return n.status();
  if (*n == 0) return Status::NotFound("no model '" + m.name + "'");
  return Status::Ok();
}

Status RegistryStore::RenameModel(const std::string& from, const std::string& to) {
  return db_.Transaction([&](Tx& tx) -> Status {
    auto taken = tx.Query("SELECT 1 FROM registry_models WHERE name = ?", {to});
    if (!taken.ok()) return taken.status();
    if (!taken->empty()) return Status::Conflict("model '" + to + "' already exists");
    auto n = tx.Exec("UPDATE registry_models SET name = ?, updated_at = ? WHERE name = ?",
                     {to, UnixNow(), from});
    if (!n.ok()) return n.status();
    if (*n == 0) return Status::NotFound("no model '" + from + "'");
    return Status::Ok();
  });
}

Result<int64_t> RegistryStore::InsertVersion(int64_t model_id, const ModelVersion& v,
                                             const std::vector<TreeFile>& files) {
  int64_t number = 0;
  Status st = db_.Transaction([&](Tx& tx) -> Status {
    auto max = tx.Query("SELECT COALESCE(MAX(version), 0) FROM registry_versions WHERE model_id = ?",
                        {model_id});
    if (!max.ok()) return max.status();
    number = (*max)[0].Int(0) + 1;
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO registry_versions (model_id, version, framework, digest, size, "
                "signature, metrics, params, lineage, dependencies, status, created_by, "
                "created_at, kind, entry, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                {model_id, number, v.framework, v.digest, static_cast<int64_t>(v.size),
                 SignatureToJson(v.signature).dump(), v.metrics_json, v.params_json, v.lineage_json,
                 v.dependencies_json, std::string(StatusName(VersionStatus::kPending)),
                 v.created_by, UnixNow(),
                 std::string(v.kind == ArtifactKind::kDirectory ? "directory" : "file"), v.entry, worker_})
            .status());
    for (const auto& f : files) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO registry_version_files (model_id, version, path, digest, size, "
                  "executable) VALUES (?, ?, ?, ?, ?, ?)",
                  {model_id, number, f.path, "sha256:" + f.sha256_hex, static_cast<int64_t>(f.size),
                   static_cast<int64_t>(f.executable)})
              .status());
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return number;
}

Status RegistryStore::SetVersionStatus(int64_t model_id, int64_t version, VersionStatus status,
                                       const std::string& reason, const Signature* signature) {
  std::string sql = "UPDATE registry_versions SET status = ?, status_reason = ?";
  std::vector<Value> params = {std::string(StatusName(status)), reason};
  if (signature) {
    sql += ", signature = ?";
    params.emplace_back(SignatureToJson(*signature).dump());
  }
  sql += " WHERE model_id = ? AND version = ? AND status = 'pending'";
  params.emplace_back(model_id);
  params.emplace_back(version);
  return db_.Exec(sql, params).status();
}

Result<ModelVersion> RegistryStore::FindVersion(const Model& model, int64_t version) {
  auto rows = db_.Query(std::string("SELECT ") + kVersionColumns +
                            " FROM registry_versions WHERE model_id = ? AND version = ?",
                        {model.id, version});
  if (!rows.ok()) return rows.status();
  if (rows->empty() || (*rows)[0].Int(13) != 0) {
    return Status::NotFound("model '" + model.name + "' has no version " + std::to_string(version));
  }
  return VersionFromRow(model.name, (*rows)[0]);
}

Result<std::vector<std::pair<std::string, int64_t>>> RegistryStore::PendingVersions() {
  // The workers still alive: listed and not expired, and, on this host, a running process.
  AIMASS_ASSIGN_OR_RETURN(Rows workers, db_.Query("SELECT id, host, pid FROM registry_workers WHERE expires_at > ?",
                                                  {UnixNowMs()}));
  std::set<std::string> alive;
  std::string here = HostName();
  for (const auto& w : workers) {
    if (w.Text(1) == here && ::kill(static_cast<pid_t>(w.Int(2)), 0) != 0 && errno == ESRCH) continue;
    alive.insert(w.Text(0));
  }
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query("SELECT m.name, v.version, v.owner FROM registry_versions v JOIN registry_models m "
                                               "ON m.id = v.model_id WHERE v.status = 'pending' AND v.deleted_at = 0 "
                                               "ORDER BY m.name, v.version"));
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : rows) {
    if (!alive.count(r.Text(2))) out.emplace_back(r.Text(0), r.Int(1));
  }
  return out;
}

Status RegistryStore::RenewWorker(int64_t ttl_ms) {
  return db_.Exec("INSERT INTO registry_workers (id, host, pid, expires_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET expires_at = excluded.expires_at",
                  {worker_, HostName(), static_cast<int64_t>(::getpid()), UnixNowMs() + ttl_ms})
      .status();
}

Status RegistryStore::RemoveWorker() {
  return db_.Exec("DELETE FROM registry_workers WHERE id = ? OR expires_at < ?", {worker_, UnixNowMs() - 86400000})
      .status();
}

std::string RegistryStore::HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

Result<bool> RegistryStore::CompleteSignature(int64_t model_id, int64_t version, const Signature& signature) {
  bool done = false;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT signature FROM registry_versions WHERE model_id = ? AND "
                                                "version = ? AND deleted_at = 0",
                                                {model_id, version}));
    if (rows.empty()) return Status::Ok();
    Signature stored = SignatureFromJson(nlohmann::json::parse(rows[0].Text(0), nullptr, false));
    if (!stored.lacks_types()) return Status::Ok();
    done = true;
    return tx.Exec("UPDATE registry_versions SET signature = ? WHERE model_id = ? AND version = ?",
                   {SignatureToJson(signature).dump(), model_id, version})
        .status();
  }));
  return done;
}

Result<std::vector<ModelVersion>> RegistryStore::ListVersions(const Model& model,
                                                              bool include_deleted,
                                                              int64_t offset, int64_t limit) {
  std::string sql = std::string("SELECT ") + kVersionColumns +
                    " FROM registry_versions WHERE model_id = ?";
  if (!include_deleted) sql += " AND deleted_at = 0";
  sql += " ORDER BY version DESC LIMIT ? OFFSET ?";
  auto rows = db_.Query(sql, {model.id, limit, offset});
  if (!rows.ok()) return rows.status();
  std::vector<ModelVersion> out;
  for (const auto& r : *rows) out.push_back(VersionFromRow(model.name, r));
  return out;
}

Status RegistryStore::DeleteVersion(int64_t model_id, int64_t version) {
  return db_.Transaction([&](Tx& tx) -> Status {
    auto aliased = tx.Query("SELECT alias FROM registry_aliases WHERE model_id = ? AND version = ?",
                            {model_id, version});
    if (!aliased.ok()) return aliased.status();
    if (!aliased->empty()) {
      return Status::Conflict("alias '" + (*aliased)[0].Text(0) + "' points at version " +
                              std::to_string(version) + "; move it first");
    }
    auto n = tx.Exec("UPDATE registry_versions SET deleted_at = ? WHERE model_id = ? AND version = ? "
                     "AND deleted_at = 0",
                     {UnixNow(), model_id, version});
    if (!n.ok()) return n.status();
    if (*n == 0) return Status::NotFound("no version " + std::to_string(version));
    return Status::Ok();
  });
}

Result<AliasMove> RegistryStore::MoveAlias(int64_t model_id, const std::string& alias,
                                           int64_t version, const std::string& by,
                                           std::optional<int64_t> expected) {
  AliasMove move;
  Status st = db_.Transaction([&](Tx& tx) -> Status {
    auto v = tx.Query("SELECT status, deleted_at FROM registry_versions WHERE model_id = ? AND version = ?",
                      {model_id, version});
    if (!v.ok()) return v.status();
    if (v->empty() || (*v)[0].Int(1) != 0) {
      return Status::NotFound("no version " + std::to_string(version));
    }
    if ((*v)[0].Text(0) != "ready") {
      return Status::Conflict("version " + std::to_string(version) + " is " + (*v)[0].Text(0) +
                              ", not ready");
    }
    auto cur = tx.Query("SELECT version FROM registry_aliases WHERE model_id = ? AND alias = ?",
                        {model_id, alias});
    if (!cur.ok()) return cur.status();
    if (!cur->empty()) move.from_version = (*cur)[0].Int(0);
    if (expected && *expected != move.from_version.value_or(0)) {
      return Status::Conflict("alias '" + alias + "' " +
                              (move.from_version ? "points at version " + std::to_string(*move.from_version)
                                                 : std::string("does not exist")) +
                              ", not " + (*expected ? "version " + std::to_string(*expected) : std::string("absent")) +
                              " as from_version expects; it moved meanwhile");
    }
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO registry_aliases (model_id, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT(model_id, alias) DO UPDATE SET version = excluded.version",
                {model_id, alias, version})
            .status());
    move.alias = alias;
    move.to_version = version;
    move.moved_by = by;
    move.moved_at = UnixNow();
    return tx.Exec("INSERT INTO registry_alias_history (model_id, alias, from_version, to_version, "
                   "moved_by, moved_at) VALUES (?, ?, ?, ?, ?, ?)",
                   {model_id, alias,
                    move.from_version ? Value(*move.from_version) : Value(nullptr), version, by,
                    move.moved_at})
        .status();
  });
  if (!st.ok()) return st;
  return move;
}

Status RegistryStore::DeleteAlias(int64_t model_id, const std::string& alias, const std::string& by) {
  return db_.Transaction([&](Tx& tx) -> Status {
    auto cur = tx.Query("SELECT version FROM registry_aliases WHERE model_id = ? AND alias = ?",
                        {model_id, alias});
    if (!cur.ok()) return cur.status();
    if (cur->empty()) return Status::NotFound("no alias '" + alias + "'");
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM registry_aliases WHERE model_id = ? AND alias = ?", {model_id, alias})
            .status());
    return tx.Exec("INSERT INTO registry_alias_history (model_id, alias, from_version, to_version, "
                   "moved_by, moved_at) VALUES (?, ?, ?, NULL, ?, ?)",
                   {model_id, alias, (*cur)[0].Int(0), by, UnixNow()})
        .status();
  });
}

Result<int64_t> RegistryStore::ResolveAlias(int64_t model_id, const std::string& alias) {
  auto rows = db_.Query("SELECT version FROM registry_aliases WHERE model_id = ? AND alias = ?",
                        {model_id, alias});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no alias '" + alias + "'");
  return (*rows)[0].Int(0);
}

Result<std::vector<std::pair<std::string, int64_t>>> RegistryStore::Aliases(int64_t model_id) {
  auto rows = db_.Query("SELECT alias, version FROM registry_aliases WHERE model_id = ? ORDER BY alias",
                        {model_id});
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : *rows) out.emplace_back(r.Text(0), r.Int(1));
  return out;
}

Result<std::vector<AliasMove>> RegistryStore::AliasHistory(int64_t model_id, int64_t limit) {
  auto rows = db_.Query("SELECT alias, from_version, to_version, moved_by, moved_at FROM "
                        "registry_alias_history WHERE model_id = ? ORDER BY id DESC LIMIT ?",
                        {model_id, limit});
  if (!rows.ok()) return rows.status();
  std::vector<AliasMove> out;
  for (const auto& r : *rows) {
    AliasMove m;
    m.alias = r.Text(0);
    if (!r.IsNull(1)) m.from_version = r.Int(1);
    m.to_version = r.Int(2);  // 0 when the alias was removed
    m.moved_by = r.Text(3);
    m.moved_at = r.Int(4);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ModelVersion>> RegistryStore::SearchVersions(
    const std::string& where, const std::vector<storage::Value>& params,
    const std::optional<std::string>& text, const std::string& order_sql, int64_t offset,
    int64_t limit) {
  std::string sql = "SELECT m.name";
  for (const char* c : {"version", "framework", "digest", "size", "signature", "metrics", "params",
                        "lineage", "dependencies", "status", "status_reason", "created_by",
                        "created_at", "deleted_at", "kind", "entry"}) {
    sql += std::string(", v.") + c;
  }
  sql += " FROM registry_versions v JOIN registry_models m ON m.id = v.model_id"
         " WHERE v.deleted_at = 0 AND m.archived = 0 AND (" + where + ")";
  std::vector<Value> all = params;
  if (text) {
    std::string match = db_.FullTextMatch("registry_models_fts", "m.id", *text, &all);
    if (!match.empty()) sql += " AND " + match;
  }
  sql += " ORDER BY " + order_sql + " LIMIT ? OFFSET ?";
  all.emplace_back(limit);
  all.emplace_back(offset);
  auto rows = db_.Query(sql, all);
  if (!rows.ok()) return rows.status();
  std::vector<ModelVersion> out;
  for (const auto& r : *rows) {
    std::vector<Value> rest;
    for (size_t i = 1; i < r.size(); ++i) rest.push_back(r.at(i));
    out.push_back(VersionFromRow(r.Text(0), Row(std::move(rest))));
  }
  return out;
}

Result<std::vector<TreeFile>> RegistryStore::VersionFiles(int64_t model_id, int64_t version) {
  auto rows = db_.Query("SELECT path, digest, size, executable FROM registry_version_files "
                        "WHERE model_id = ? AND version = ? ORDER BY path",
                        {model_id, version});
  if (!rows.ok()) return rows.status();
  std::vector<TreeFile> out;
  for (const auto& r : *rows) {
    TreeFile f;
    f.path = r.Text(0);
    f.sha256_hex = r.Text(1).substr(7);
    f.size = static_cast<uint64_t>(r.Int(2));
    f.executable = r.Int(3) != 0;
    out.push_back(std::move(f));
  }
  return out;
}

Result<bool> RegistryStore::BlobReferenced(const std::string& digest) {
  auto rows = db_.Query("SELECT 1 FROM registry_versions WHERE digest = ? AND deleted_at = 0 AND status <> 'failed' "
                        "UNION ALL SELECT 1 FROM registry_version_files f JOIN registry_versions v "
                        "ON v.model_id = f.model_id AND v.version = f.version "
                        "WHERE f.digest = ? AND v.deleted_at = 0 AND v.status <> 'failed' LIMIT 1",
                        {digest, digest});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

}  // namespace aimass::registry
