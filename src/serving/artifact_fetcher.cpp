#include "serving/artifact_fetcher.hpp"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "auth/auth.hpp"
#include "common/text.hpp"
#include "discovery/locator.hpp"
#include "http/client.hpp"
#include "storage/blob_store.hpp"

namespace aimass::serving {

namespace {

// The registry's answer as this process's error, keeping what the caller can act on.
Status FromAnswer(const http::ClientResponse& r, const std::string& what) {
  std::string says = r.body.substr(0, 300);
  switch (r.status) {
    case 401:
    case 403: return Status::Forbidden("the registry refused to hand out " + what + ": " + says);
    case 404: return Status::NotFound("the registry has no " + what + ": " + says);
    default:
      return Status::BadGateway("the registry answered " + std::to_string(r.status) + " for " + what + ": " + says);
  }
}

}  // namespace

ArtifactFetcher::ArtifactFetcher(discovery::Locator& locator, auth::AuthService& auth, storage::BlobStore& blobs,
                                 ArtifactFetcherOptions options)
    : locator_(locator), auth_(auth), blobs_(blobs), options_(options), client_(std::make_unique<http::Client>()) {}

ArtifactFetcher::~ArtifactFetcher() = default;

Status ArtifactFetcher::Fetch(const MissingArtifact& a) {
  std::lock_guard lock(mu_);
  if (blobs_.Stat(a.digest).ok()) return Status::Ok();  // another deployment brought it meanwhile
  const std::string what = "model '" + a.model + "' version " + std::to_string(a.version) +
                           (a.file.empty() ? "'s artifact" : " file '" + a.file + "'");
  if (a.owner.empty()) return Status::Forbidden("nobody to read " + what + " for: the deployment has no owner");
  // The owner's current roles decide, as they would for a download of their own.
  AIMASS_ASSIGN_OR_RETURN(std::string token, auth_.IssueServiceToken(a.owner, options_.token_ttl_s));
  const std::string path = "/api/v1/models/" + PercentEncode(a.model) + "/versions/" + std::to_string(a.version) +
                           (a.file.empty() ? "/artifact" : "/files/" + PercentEncode(a.file, true));
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<storage::BlobWriter> out, blobs_.NewWriter());
  uint64_t have = 0;
  bool whole = false;
  while (!whole && (have < a.size || a.size == 0)) {
    http::ClientRequest req;
    req.method = http::Method::kGet;
    req.headers.emplace_back("Authorization", "Bearer " + token);
    if (a.size > 0) {
      uint64_t last = std::min(a.size, have + options_.range_bytes) - 1;
      req.headers.emplace_back("Range", "bytes=" + std::to_string(have) + "-" + std::to_string(last));
    }
    req.timeout = std::chrono::milliseconds(120000);
    Status failure = Status::Unavailable("no attempt");
    std::optional<http::ClientResponse> got;
    for (int attempt = 0; attempt < options_.attempts && !got; ++attempt) {
      auto base = locator_.UrlOf("registry");
      if (!base.ok()) return base.status();
      req.url = *base + path;
      auto r = client_->Send(req);
      if (r.ok() && r->status < 500) {
        got = std::move(*r);
      } else {
        // A registry process that died or failed: the range is read again at the next one.
        failure = r.ok() ? FromAnswer(*r, what) : r.status();
        spdlog::warn("downloading {} from {}: {}", what, *base, failure.message());
      }
    }
    if (!got) return Status(failure.code(), "cannot download " + what + ": " + failure.message());
    if (got->status == 200 && have == 0) {
      whole = true;  // the whole artifact at once (no range asked, or the range covered it)
    } else if (got->status != 206) {
      return FromAnswer(*got, what);
    }
    if (got->body.empty() && !whole) return Status::BadGateway("the registry sent an empty range of " + what);
    AIMASS_RETURN_IF_ERROR(out->Write(got->body));
    have += got->body.size();
    if (a.size == 0) break;
  }
  if (have != a.size) {
    return Status::BadGateway("the registry sent " + std::to_string(have) + " bytes of " + what + ", not " +
                              std::to_string(a.size));
  }
  AIMASS_ASSIGN_OR_RETURN(storage::BlobInfo stored, out->Commit());
  if (stored.digest != a.digest) {
    // Committed under its own digest, which no version names: blob GC sweeps it.
    return Status::BadGateway("the registry's copy of " + what + " is " + stored.digest + ", not " + a.digest);
  }
  spdlog::info("downloaded {} ({} bytes) from the registry", what, have);
  return Status::Ok();
}

}  // namespace aimass::serving
