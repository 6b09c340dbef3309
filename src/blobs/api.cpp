#include "blobs/api.hpp"

#include "common/failpoint.hpp"
#include "http/file_response.hpp"
#include "http/json.hpp"

namespace aimass::blobs {

using http::Method;
using http::Request;
using http::Response;

Status RegisterRoutes(http::Router& router, storage::BlobStore& blob_store, UploadStore& upload_store, ApiOptions options) {
  storage::BlobStore* blobs = &blob_store;
  UploadStore* uploads = &upload_store;

  http::Route upload;
  upload.method = Method::kPost;
  upload.pattern = "/api/v1/blobs";
  upload.permission = "blobs:write";
  upload.streaming_body = true;
  upload.tag = "blobs";
  upload.summary = "Upload bytes; answers their sha256 digest. The same bytes are stored once.";
  upload.handler = [uploads, blobs](Request& req) -> Response {
    // The reference first, then the bytes: GC never sees this blob unreferenced.
    std::string digest = "sha256:" + req.body_sha256;
    HTTP_TRY(int64_t inserted, uploads->Insert(digest, static_cast<int64_t>(req.body_size), req.principal->username));
    // A crash here leaves a reference to bytes that never arrived: dropped at the next start
    // (UploadStore::DropDangling).
    (void)AIMASS_FAILPOINT("blobs.after_upload_row");
    auto adopted = blobs->Adopt(req.body_file, req.body_sha256);
    if (!adopted.ok()) {
      if (inserted > 0) (void)uploads->Delete(digest);
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
  remove.handler = [uploads](Request& req) -> Response {
    HTTP_TRY(std::string hex, storage::ParseDigest(req.Param("digest")));
    HTTP_TRY(int64_t n, uploads->Delete("sha256:" + hex));
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
  int64_t default_grace = options.gc_grace_s;
  const std::vector<Referrer>* referrers = options.referrers;
  std::string refused;
  for (const auto& m : options.absent_keepers) refused += (refused.empty() ? "" : ", ") + m;
  gc.handler = [uploads, blobs, default_grace, referrers, refused](Request& req) -> Response {
    if (!refused.empty()) {
      return http::ErrorResponse(Status::Conflict("blob GC must run in a process that opens every module keeping "
                                                  "blobs; this one does not open " + refused),
                                 req.request_id);
    }
    int64_t grace = default_grace;
    if (!req.body.empty()) {
      HTTP_PARSE_BODY(body);
      HTTP_TRY(auto g, http::OptionalInt(body, "grace_s"));
      if (g) grace = *g;
    }
    if (grace < 0) return http::ErrorResponse(Status::BadRequest("grace_s must be >= 0"), req.request_id);
    Status mark_error;
    // Gathered once per GC, not per digest it looks at.
    std::vector<Referrer> checks = referrers ? *referrers : std::vector<Referrer>{};
    checks.push_back([uploads](const std::string& d) { return uploads->Referenced(d); });
    auto referenced = [&](const std::string& digest) {
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

}  // namespace aimass::blobs
