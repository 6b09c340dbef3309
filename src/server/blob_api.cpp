// /api/v1/blobs: streamed uploads into the BlobStore, downloads with HTTP Range, and GC.
#include "common/failpoint.hpp"
#include "common/time.hpp"
#include "http/file_response.hpp"
#include "http/json.hpp"
#include "server/core_api.hpp"

namespace aimass::server {

using http::Method;
using http::Request;
using http::Response;

std::vector<storage::Migration> BlobMigrations() {
  return {{"blobs", 1, R"sql(
CREATE TABLE blob_uploads (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql"}};
}

Result<bool> BlobUploadReferenced(storage::Db& db, const std::string& digest) {
  auto rows = db.Query("SELECT 1 FROM blob_uploads WHERE digest = ?", {digest});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

Result<int64_t> DropDanglingUploads(storage::Db& db, storage::BlobStore& blobs) {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows, db.Query("SELECT digest FROM blob_uploads"));
  int64_t dropped = 0;
  for (const auto& r : rows) {
    auto st = blobs.Stat(r.Text(0));
    if (st.ok() || st.status().code() != Code::kNotFound) continue;
    AIMASS_ASSIGN_OR_RETURN(int64_t n, db.Exec("DELETE FROM blob_uploads WHERE digest = ?", {r.Text(0)}));
    dropped += n;
  }
  return dropped;
}

Status RegisterBlobRoutes(http::Router& router, const CoreDeps& deps) {
  storage::Db* db = deps.db;
  storage::BlobStore* blobs = deps.blobs;

  http::Route upload;
  upload.method = Method::kPost;
  upload.pattern = "/api/v1/blobs";
  upload.permission = "blobs:write";
  upload.streaming_body = true;
  upload.tag = "blobs";
  upload.summary = "Upload bytes; answers their sha256 digest. The same bytes are stored once.";
  upload.handler = [db, blobs](Request& req) -> Response {
    // The reference first, then the bytes: GC never sees this blob unreferenced.
    std::string digest = "sha256:" + req.body_sha256;
    HTTP_TRY(int64_t inserted,
             db->Exec("INSERT INTO blob_uploads (digest, size, created_by, created_at) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING",
                      {digest, static_cast<int64_t>(req.body_size), req.principal->username, UnixNow()}));
    // A crash here leaves a reference to bytes that never arrived: dropped at the next start
    // (DropDanglingUploads).
    (void)AIMASS_FAILPOINT("blobs.after_upload_row");
    auto adopted = blobs->Adopt(req.body_file, req.body_sha256);
    if (!adopted.ok()) {
      if (inserted > 0) (void)db->Exec("DELETE FROM blob_uploads WHERE digest = ?", {digest});
      return http::ErrorResponse(adopted.status(), req.request_id);
    }
    const storage::BlobInfo& info = *adopted;
    Response r = http::JsonResponse(201, {{"digest", info.digest}, {"size", info.size}});
    r.headers.Set("Location", "/api/v1/blobs/" + info.digest);
    return r;
  };
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(upload)));

  http::Route download;
  download.method = Method::kGet;
  download.pattern = "/api/v1/blobs/{digest}";
  download.permission = "blobs:read";
  download.tag = "blobs";
  download.summary = "Download a blob; supports Range (206) and HEAD";
  download.handler = [blobs](Request& req) -> Response {
    HTTP_TRY(storage::BlobInfo info, blobs->Stat(req.Param("digest")));
    HTTP_TRY(std::string path, blobs->LocalPath(info.digest));
    Response r = http::FileResponse(req, path, info.size, "application/octet-stream");
    r.headers.Set("ETag", "\"" + info.digest + "\"");
    r.headers.Set("X-Content-Sha256", info.digest.substr(7));
    return r;
  };
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(download)));

  http::Route remove;
  remove.method = Method::kDelete;
  remove.pattern = "/api/v1/blobs/{digest}";
  remove.permission = "blobs:write";
  remove.tag = "blobs";
  remove.summary = "Drop the upload's reference; the bytes go at the next GC unless still referenced";
  remove.handler = [db](Request& req) -> Response {
    HTTP_TRY(std::string hex, storage::ParseDigest(req.Param("digest")));
    HTTP_TRY(int64_t n, db->Exec("DELETE FROM blob_uploads WHERE digest = ?", {"sha256:" + hex}));
    if (n == 0) return http::ErrorResponse(Status::NotFound("no upload sha256:" + hex), req.request_id);
    return http::NoContent();
  };
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(remove)));

  http::Route gc;
  gc.method = Method::kPost;
  gc.pattern = "/api/v1/blobs/gc";
  gc.permission = "blobs:admin";
  gc.tag = "blobs";
  gc.summary = "Mark-and-sweep: delete blobs nothing references and older than grace_s "
               "(default storage.blob_gc_grace_s)";
  int64_t default_grace = deps.blob_gc_grace_s;
  auto referrers = deps.blob_referrers;
  gc.handler = [db, blobs, default_grace, referrers](Request& req) -> Response {
    int64_t grace = default_grace;
    if (!req.body.empty()) {
      HTTP_PARSE_BODY(body);
      HTTP_TRY(auto g, http::OptionalInt(body, "grace_s"));
      if (g) grace = *g;
    }
    if (grace < 0) return http::ErrorResponse(Status::BadRequest("grace_s must be >= 0"), req.request_id);
    Status mark_error;
    auto referenced = [&](const std::string& digest) {
      std::vector<std::function<Result<bool>(const std::string&)>> checks = referrers;
      checks.push_back([db](const std::string& d) { return BlobUploadReferenced(*db, d); });
      for (const auto& check : checks) {
        auto r = check(digest);
        if (!r.ok()) {
          mark_error = r.status();
          return true;  // when in doubt, keep
        }
        if (*r) return true;
      }
      return false;
    };
    HTTP_TRY(storage::GcStats stats, blobs->Gc(referenced, std::chrono::seconds(grace)));
    HTTP_TRY_STATUS(mark_error);
    return http::JsonResponse(200, {{"scanned", stats.scanned},
                                    {"deleted", stats.deleted},
                                    {"bytes_freed", stats.bytes_freed}});
  };
  return router.Add(std::move(gc));
}

}  // namespace aimass::server
