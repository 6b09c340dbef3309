// /api/v1/blobs: streamed uploads into the BlobStore, downloads with HTTP Range, and GC.
#include <charconv>

#include "common/time.hpp"
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

namespace {

struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};

bool ParseU64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// One "bytes=a-b" / "bytes=a-" / "bytes=-n" range. nullopt: ignore the header and send all
// (what RFC 9110 allows for forms we do not serve, such as several ranges); a Status when the
// range cannot be satisfied.
Result<std::optional<ByteRange>> ParseRange(std::string_view h, uint64_t size) {
  const Status unsatisfiable(Code::kRangeNotSatisfiable, "range not satisfiable");
  if (!h.starts_with("bytes=")) return std::optional<ByteRange>{};
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::optional<ByteRange>{};
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return unsatisfiable;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {
    uint64_t n = 0;
    if (!ParseU64(b, n) || n == 0 || size == 0) return unsatisfiable;
    n = std::min(n, size);
    return std::optional<ByteRange>(ByteRange{size - n, n});
  }
  if (!ParseU64(a, first) || first >= size) return unsatisfiable;
  if (b.empty()) {
    last = size - 1;
  } else if (!ParseU64(b, last) || last < first) {
    return unsatisfiable;
  }
  last = std::min(last, size - 1);
  return std::optional<ByteRange>(ByteRange{first, last - first + 1});
}

}  // namespace

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
    HTTP_TRY(storage::BlobInfo info, blobs->Adopt(req.body_file, req.body_sha256));
    HTTP_TRY_STATUS(db->Exec("INSERT INTO blob_uploads (digest, size, created_by, created_at) "
                             "VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING",
                             {info.digest, static_cast<int64_t>(info.size),
                              req.principal->username, UnixNow()})
                        .status());
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
    ByteRange range{0, info.size};
    int status = 200;
    if (auto h = req.headers.Get("Range")) {
      auto parsed = ParseRange(*h, info.size);
      if (!parsed.ok()) {
        Response r = http::ErrorResponse(parsed.status(), req.request_id);
        r.headers.Set("Content-Range", "bytes */" + std::to_string(info.size));
        return r;
      }
      if (parsed->has_value()) {
        range = **parsed;
        status = 206;
      }
    }
    Response r;
    r.status = status;
    r.headers.Set("Content-Type", "application/octet-stream");
    r.headers.Set("Accept-Ranges", "bytes");
    r.headers.Set("ETag", "\"" + info.digest + "\"");
    r.headers.Set("X-Content-Sha256", info.digest.substr(7));
    if (status == 206) {
      r.headers.Set("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                         std::to_string(range.first + range.length - 1) + "/" +
                                         std::to_string(info.size));
    }
    r.file = http::FileBody{path, range.first, range.length};
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
  gc.handler = [db, blobs, default_grace](Request& req) -> Response {
    int64_t grace = default_grace;
    if (!req.body.empty()) {
      HTTP_PARSE_BODY(body);
      HTTP_TRY(auto g, http::OptionalInt(body, "grace_s"));
      if (g) grace = *g;
    }
    if (grace < 0) return http::ErrorResponse(Status::BadRequest("grace_s must be >= 0"), req.request_id);
    Status mark_error;
    auto referenced = [&](const std::string& digest) {
      auto r = BlobUploadReferenced(*db, digest);
      if (!r.ok()) {
        mark_error = r.status();
        return true;  // when in doubt, keep
      }
      return *r;
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
