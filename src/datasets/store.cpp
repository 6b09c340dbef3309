#include "datasets/store.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/time.hpp"

namespace aimass::datasets {

using nlohmann::json;
using storage::Row;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kDatasetColumns = "id, name, description, kind, owner, expectations, created_ms, updated_ms";
constexpr const char* kVersionColumns =
    "v.id, v.dataset_id, d.name, v.version, v.status, v.stage, v.status_reason, v.digest, v.source_sha256, "
    "v.source_format, v.source_bytes, v.row_count, v.byte_size, v.schema_json, v.schema_declared, v.parent, "
    "v.lineage_json, v.message, v.profile_json, v.validation_json, v.validation_success, v.created_by, v.created_ms, "
    "v.ready_ms, v.collector";

Dataset DatasetFrom(const Row& r) {
  Dataset d;
  d.id = r.Int(0);
  d.name = r.Text(1);
  d.description = r.Text(2);
  d.kind = r.Text(3) == "files" ? DatasetKind::kFiles : DatasetKind::kTable;
  d.owner = r.Text(4);
  d.expectations = r.Text(5);
  d.created_ms = r.Int(6);
  d.updated_ms = r.Int(7);
  return d;
}

DatasetVersion VersionFrom(const Row& r) {
  DatasetVersion v;
  v.id = r.Int(0);
  v.dataset_id = r.Int(1);
  v.dataset = r.Text(2);
  v.version = r.Int(3);
  v.status = r.Text(4);
  v.stage = r.Text(5);
  v.status_reason = r.Text(6);
  v.digest = r.Text(7);
  v.source_sha256 = r.Text(8);
  v.source_format = r.Text(9);
  v.source_bytes = static_cast<uint64_t>(r.Int(10));
  v.row_count = static_cast<uint64_t>(r.Int(11));
  v.byte_size = static_cast<uint64_t>(r.Int(12));
  auto schema = ParseSchema(json::parse(r.Text(13), nullptr, false));
  if (schema.ok()) v.schema = std::move(*schema);
  v.schema_declared = r.Int(14) != 0;
  if (!r.IsNull(15)) v.parent = r.Int(15);
  v.lineage_json = r.Text(16);
  v.message = r.Text(17);
  v.profile_json = r.Text(18);
  v.validation_json = r.Text(19);
  if (!r.IsNull(20)) v.validation_success = r.Int(20) != 0;
  v.created_by = r.Text(21);
  v.created_ms = r.Int(22);
  v.ready_ms = r.Int(23);
  v.collector = r.Text(24);
  return v;
}

std::string VersionSelect(const std::string& where) {
  return std::string("SELECT ") + kVersionColumns + " FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE " + where;
}

}  // namespace

DatasetStore::DatasetStore(storage::Db& db) : db_(db), started_ms_(UnixNowMs()) {}

std::string KindName(DatasetKind k) { return k == DatasetKind::kFiles ? "files" : "table"; }

std::vector<storage::Migration> DatasetStore::Migrations() {
  return {{"datasets", 1, R"(
CREATE TABLE datasets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  owner TEXT NOT NULL,
  expectations TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE dataset_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset_id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  stage TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  digest TEXT NOT NULL DEFAULT '',
  source_sha256 TEXT NOT NULL DEFAULT '',
  source_format TEXT NOT NULL DEFAULT '',
  source_bytes INTEGER NOT NULL DEFAULT 0,
  row_count INTEGER NOT NULL DEFAULT 0,
  byte_size INTEGER NOT NULL DEFAULT 0,
  schema_json TEXT NOT NULL DEFAULT '[]',
  schema_declared INTEGER NOT NULL DEFAULT 0,
  parent INTEGER,
  lineage_json TEXT NOT NULL DEFAULT '{}',
  collector TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  profile_json TEXT NOT NULL DEFAULT '',
  validation_json TEXT NOT NULL DEFAULT '',
  validation_success INTEGER,
  created_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  ready_ms INTEGER NOT NULL DEFAULT 0,
  writer TEXT NOT NULL DEFAULT '',
  touched_ms INTEGER NOT NULL DEFAULT 0,
  UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_digest ON dataset_versions (dataset_id, digest);
CREATE INDEX dataset_versions_stage ON dataset_versions (stage);
CREATE INDEX dataset_versions_collector ON dataset_versions (dataset_id, collector, version);
CREATE TABLE dataset_segments (
  version_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (version_id, seq)
);
CREATE INDEX dataset_segments_digest ON dataset_segments (digest);
CREATE TABLE dataset_files (
  version_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  PRIMARY KEY (version_id, path)
);
CREATE INDEX dataset_files_digest ON dataset_files (digest);
CREATE TABLE dataset_aliases (
  dataset_id INTEGER NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (dataset_id, alias)
);
CREATE TABLE dataset_exports (
  version_id INTEGER NOT NULL,
  format TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (version_id, format)
);
CREATE INDEX dataset_exports_digest ON dataset_exports (digest);
)"}};
}

Result<Dataset> DatasetStore::Create(const Dataset& d) {
  Dataset out = d;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto existing, tx.Query("SELECT id FROM datasets WHERE name = ?", {d.name}));
    if (!existing.empty()) return Status::Conflict("dataset '" + d.name + "' exists");
    AIMASS_RETURN_IF_ERROR(tx.Exec(
        "INSERT INTO datasets (name, description, kind, owner, expectations, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        {d.name, d.description, KindName(d.kind), d.owner, d.expectations, d.created_ms, d.updated_ms}).status());
    out.id = tx.LastInsertId();
    return Status::Ok();
  }));
  return out;
}

Result<Dataset> DatasetStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kDatasetColumns + " FROM datasets WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("dataset '" + name + "' not found");
  return DatasetFrom(rows[0]);
}

Result<std::vector<Dataset>> DatasetStore::List(int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kDatasetColumns +
                                                   " FROM datasets ORDER BY name LIMIT ? OFFSET ?",
                                               {limit, offset}));
  std::vector<Dataset> out;
  for (const auto& r : rows) out.push_back(DatasetFrom(r));
  return out;
}

Status DatasetStore::Update(const Dataset& d) {
  return db_.Exec("UPDATE datasets SET description = ?, expectations = ?, updated_ms = ? WHERE id = ?",
                  {d.description, d.expectations, d.updated_ms, d.id}).status();
}

Status DatasetStore::Delete(int64_t dataset_id) {
  return db_.Transaction([&](Tx& tx) -> Status {
    const std::string versions = "(SELECT id FROM dataset_versions WHERE dataset_id = ?)";
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_segments WHERE version_id IN " + versions, {dataset_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_files WHERE version_id IN " + versions, {dataset_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_exports WHERE version_id IN " + versions, {dataset_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_versions WHERE dataset_id = ?", {dataset_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_aliases WHERE dataset_id = ?", {dataset_id}).status());
    return tx.Exec("DELETE FROM datasets WHERE id = ?", {dataset_id}).status();
  });
}

Result<DatasetVersion> DatasetStore::InsertVersion(const DatasetVersion& v) {
  DatasetVersion out = v;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_id = ?",
                                                {v.dataset_id}));
    out.version = rows[0].Int(0) + 1;
    Value parent = v.parent ? Value(*v.parent) : Value(nullptr);
    AIMASS_RETURN_IF_ERROR(tx.Exec(
        "INSERT INTO dataset_versions (dataset_id, version, status, stage, source_sha256, source_format, source_bytes, "
        "schema_json, schema_declared, parent, lineage_json, collector, message, created_by, created_ms, writer, touched_ms) "
        "VALUES (?, ?, 'building', 'writing', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {v.dataset_id, out.version, v.source_sha256, v.source_format, static_cast<int64_t>(v.source_bytes),
         SchemaJson(v.schema).dump(), int64_t{v.schema_declared}, parent, v.lineage_json, v.collector, v.message,
         v.created_by, v.created_ms, WriterId(), v.created_ms}).status());
    out.id = tx.LastInsertId();
    return Status::Ok();
  }));
  out.status = "building";
  out.stage = "writing";
  return out;
}

Status DatasetStore::AddSegment(int64_t version_id, const Segment& s) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO dataset_segments (version_id, seq, digest, rows, bytes) VALUES (?, ?, ?, ?, ?)",
                                   {version_id, s.seq, s.digest, static_cast<int64_t>(s.rows), static_cast<int64_t>(s.bytes)})
                               .status());
    // The writer is alive: another process's sweep leaves the version alone.
    return tx.Exec("UPDATE dataset_versions SET touched_ms = ? WHERE id = ?", {UnixNowMs(), version_id}).status();
  });
}

Status DatasetStore::CopySegments(int64_t from_version_id, int64_t to_version_id) {
  return db_.Exec("INSERT INTO dataset_segments (version_id, seq, digest, rows, bytes) "
                  "SELECT ?, seq, digest, rows, bytes FROM dataset_segments WHERE version_id = ?",
                  {to_version_id, from_version_id}).status();
}

Result<std::vector<Segment>> DatasetStore::Segments(int64_t version_id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT seq, digest, rows, bytes FROM dataset_segments WHERE version_id = ? ORDER BY seq",
                                               {version_id}));
  std::vector<Segment> out;
  for (const auto& r : rows) {
    out.push_back({r.Int(0), r.Text(1), static_cast<uint64_t>(r.Int(2)), static_cast<uint64_t>(r.Int(3))});
  }
  return out;
}

Status DatasetStore::AddFiles(int64_t version_id, std::optional<int64_t> parent_id, const std::vector<DatasetFile>& added) {
  return db_.Transaction([&](Tx& tx) -> Status {
    if (parent_id) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO dataset_files (version_id, path, digest, size, media_type) "
                                     "SELECT ?, path, digest, size, media_type FROM dataset_files WHERE version_id = ?",
                                     {version_id, *parent_id}).status());
    }
    for (const auto& f : added) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO dataset_files (version_id, path, digest, size, media_type) VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (version_id, path) DO UPDATE SET digest = excluded.digest, "
                                     "size = excluded.size, media_type = excluded.media_type",
                                     {version_id, f.path, f.digest, static_cast<int64_t>(f.size), f.media_type}).status());
    }
    return tx.Exec("UPDATE dataset_versions SET touched_ms = ? WHERE id = ?", {UnixNowMs(), version_id}).status();
  });
}

Result<std::vector<DatasetFile>> DatasetStore::Files(int64_t version_id, const std::string& after, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT path, digest, size, media_type FROM dataset_files WHERE version_id = ? AND "
                                               "path > ? ORDER BY path LIMIT ?",
                                               {version_id, after, limit > 0 ? limit : int64_t{1} << 62}));
  std::vector<DatasetFile> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), static_cast<uint64_t>(r.Int(2)), r.Text(3)});
  return out;
}

Result<std::optional<DatasetFile>> DatasetStore::GetFile(int64_t version_id, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT path, digest, size, media_type FROM dataset_files WHERE version_id = ? AND path = ?",
                                               {version_id, path}));
  if (rows.empty()) return std::optional<DatasetFile>();
  return std::optional<DatasetFile>(DatasetFile{rows[0].Text(0), rows[0].Text(1), static_cast<uint64_t>(rows[0].Int(2)), rows[0].Text(3)});
}

Status DatasetStore::FinishData(const DatasetVersion& v) {
  AIMASS_ASSIGN_OR_RETURN(
      int64_t n, db_.Exec("UPDATE dataset_versions SET stage = 'profiling', digest = ?, row_count = ?, byte_size = ?, schema_json = ? "
                          "WHERE id = ? AND stage = 'writing'",
                          {v.digest, static_cast<int64_t>(v.row_count), static_cast<int64_t>(v.byte_size),
                           SchemaJson(v.schema).dump(), v.id}));
  // Another process took this writer for dead (it stored nothing for ten minutes) and failed it.
  if (n == 0) return Status::Conflict("version " + std::to_string(v.version) + " was failed while it was written");
  return Status::Ok();
}

Status DatasetStore::FinishProfile(int64_t version_id, const std::string& profile_json, const std::string& validation_json,
                                   std::optional<bool> validation_success, int64_t ready_ms) {
  Value ok = validation_success ? Value(int64_t{*validation_success}) : Value(nullptr);
  return db_.Exec(
      "UPDATE dataset_versions SET status = 'ready', stage = 'done', profile_json = ?, validation_json = ?, "
      "validation_success = ?, ready_ms = CASE WHEN ready_ms = 0 THEN ? ELSE ready_ms END WHERE id = ?",
      {profile_json, validation_json, ok, ready_ms, version_id}).status();
}

Status DatasetStore::Fail(int64_t version_id, const std::string& reason) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE dataset_versions SET status = 'failed', stage = 'done', status_reason = ? WHERE id = ?",
                                   {reason, version_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_files WHERE version_id = ?", {version_id}).status());
    return tx.Exec("DELETE FROM dataset_segments WHERE version_id = ?", {version_id}).status();
  });
}

Status DatasetStore::Discard(int64_t version_id) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_segments WHERE version_id = ?", {version_id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_files WHERE version_id = ?", {version_id}).status());
    return tx.Exec("DELETE FROM dataset_versions WHERE id = ? AND stage = 'writing'", {version_id}).status();
  });
}

Result<DatasetVersion> DatasetStore::GetVersion(const std::string& dataset, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("d.name = ? AND v.version = ?"), {dataset, version}));
  if (rows.empty()) return Status::NotFound("dataset '" + dataset + "' has no version " + std::to_string(version));
  return VersionFrom(rows[0]);
}

Result<DatasetVersion> DatasetStore::GetVersionById(int64_t version_id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("v.id = ?"), {version_id}));
  if (rows.empty()) return Status::NotFound("no dataset version " + std::to_string(version_id));
  return VersionFrom(rows[0]);
}

Result<DatasetVersion> DatasetStore::Latest(const std::string& dataset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("d.name = ? AND v.status = 'ready' ORDER BY v.version DESC LIMIT 1"),
                                               {dataset}));
  if (rows.empty()) return Status::NotFound("dataset '" + dataset + "' has no ready version");
  return VersionFrom(rows[0]);
}

Result<DatasetVersion> DatasetStore::LatestWhole(const std::string& dataset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("d.name = ? AND v.stage <> 'writing' AND v.status <> 'failed' "
                                                             "ORDER BY v.version DESC LIMIT 1"),
                                               {dataset}));
  if (rows.empty()) return Status::NotFound("dataset '" + dataset + "' has no version to append to");
  return VersionFrom(rows[0]);
}

Result<std::vector<DatasetVersion>> DatasetStore::Versions(const std::string& dataset, int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("d.name = ? ORDER BY v.version DESC LIMIT ? OFFSET ?"),
                                               {dataset, limit, offset}));
  std::vector<DatasetVersion> out;
  for (const auto& r : rows) out.push_back(VersionFrom(r));
  return out;
}

Result<std::optional<DatasetVersion>> DatasetStore::FindByDigest(int64_t dataset_id, const std::string& column,
                                                                 const std::string& digest, int64_t except_id) {
  if (column != "digest" && column != "source_sha256") return Status::Internal("bad digest column");
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("v.dataset_id = ? AND v." + column +
                                                             " = ? AND v.id <> ? AND v.stage <> 'writing' AND "
                                                             "v.status <> 'failed' ORDER BY v.version LIMIT 1"),
                                               {dataset_id, digest, except_id}));
  if (rows.empty()) return std::optional<DatasetVersion>();
  return std::optional<DatasetVersion>(VersionFrom(rows[0]));
}

std::string DatasetStore::WriterId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  return std::string(host) + ":" + std::to_string(::getpid());
}

Result<int64_t> DatasetStore::FailAbandoned(int64_t stale_ms) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, writer, touched_ms FROM dataset_versions WHERE stage = 'writing'"));
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  const int64_t now = UnixNowMs();
  std::vector<int64_t> dead;
  for (const auto& r : rows) {
    std::string writer = r.Text(1);
    size_t colon = writer.rfind(':');
    bool here = colon != std::string::npos && writer.substr(0, colon) == host;
    pid_t pid = here ? static_cast<pid_t>(std::atoll(writer.c_str() + colon + 1)) : 0;
    // On this host a writer is dead when its process is (or is this one, just started); on
    // another host when it has not stored a segment for stale_ms.
    bool gone = here ? (pid == ::getpid() && r.Int(2) < started_ms_) || (::kill(pid, 0) != 0 && errno == ESRCH)
                     : now - r.Int(2) > stale_ms;
    if (gone) dead.push_back(r.Int(0));
  }
  int64_t failed = 0;
  for (int64_t id : dead) {
    AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
      AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE dataset_versions SET status = 'failed', stage = 'done', "
                                                 "status_reason = 'interrupted: the process writing it stopped' "
                                                 "WHERE id = ? AND stage = 'writing'",
                                                 {id}));
      if (n == 0) return Status::Ok();
      ++failed;
      AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM dataset_files WHERE version_id = ?", {id}).status());
      return tx.Exec("DELETE FROM dataset_segments WHERE version_id = ?", {id}).status();
    }));
  }
  return failed;
}

Result<std::optional<DatasetVersion>> DatasetStore::LastCollected(int64_t dataset_id, const std::string& collector) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(VersionSelect("v.dataset_id = ? AND v.collector = ? AND v.stage <> 'writing' AND "
                                                             "v.status <> 'failed' ORDER BY v.version DESC LIMIT 1"),
                                               {dataset_id, collector}));
  if (rows.empty()) return std::optional<DatasetVersion>();
  return std::optional<DatasetVersion>(VersionFrom(rows[0]));
}

Result<std::vector<int64_t>> DatasetStore::PendingProfiles() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id FROM dataset_versions WHERE stage = 'profiling' ORDER BY id"));
  std::vector<int64_t> out;
  for (const auto& r : rows) out.push_back(r.Int(0));
  return out;
}

Status DatasetStore::SetAlias(int64_t dataset_id, const std::string& alias, int64_t version, const std::string& by,
                              int64_t now_ms) {
  return db_.Exec("INSERT INTO dataset_aliases (dataset_id, alias, version, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (dataset_id, alias) DO UPDATE SET version = excluded.version, "
                  "updated_by = excluded.updated_by, updated_ms = excluded.updated_ms",
                  {dataset_id, alias, version, by, now_ms}).status();
}

Result<bool> DatasetStore::DeleteAlias(int64_t dataset_id, const std::string& alias) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM dataset_aliases WHERE dataset_id = ? AND alias = ?", {dataset_id, alias}));
  return n > 0;
}

Result<std::map<std::string, int64_t>> DatasetStore::Aliases(int64_t dataset_id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT alias, version FROM dataset_aliases WHERE dataset_id = ? ORDER BY alias",
                                               {dataset_id}));
  std::map<std::string, int64_t> out;
  for (const auto& r : rows) out[r.Text(0)] = r.Int(1);
  return out;
}

Result<std::optional<std::pair<std::string, uint64_t>>> DatasetStore::Export(int64_t version_id, const std::string& format) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT digest, size FROM dataset_exports WHERE version_id = ? AND format = ?",
                                               {version_id, format}));
  if (rows.empty()) return std::optional<std::pair<std::string, uint64_t>>();
  return std::optional<std::pair<std::string, uint64_t>>({rows[0].Text(0), static_cast<uint64_t>(rows[0].Int(1))});
}

Status DatasetStore::AddExport(int64_t version_id, const std::string& format, const std::string& digest, uint64_t size) {
  return db_.Exec("INSERT INTO dataset_exports (version_id, format, digest, size) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (version_id, format) DO UPDATE SET digest = excluded.digest, size = excluded.size",
                  {version_id, format, digest, static_cast<int64_t>(size)}).status();
}

Result<bool> DatasetStore::BlobReferenced(const std::string& digest) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT 1 FROM dataset_segments WHERE digest = ? UNION ALL "
                                               "SELECT 1 FROM dataset_files WHERE digest = ? UNION ALL "
                                               "SELECT 1 FROM dataset_exports WHERE digest = ? LIMIT 1",
                                               {digest, digest, digest}));
  return !rows.empty();
}

}  // namespace aimass::datasets
