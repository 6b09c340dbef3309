// ArtifactFetcher: brings a version's artifact that this process's blob store lacks from the
// registry running in another process (a live aimass-registry instance, through its HTTP API,
// in ranges), checks it against the digest the registry recorded and stores it. With it a
// serving process needs the shared metadata store but not the registry's blob directory.
// Thread-safe; one download at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.hpp"

namespace aimass::auth {
class AuthService;
}
namespace aimass::discovery {
class Locator;
}
namespace aimass::storage {
class BlobStore;
}
namespace aimass::http {
class Client;
}

namespace aimass::serving {

// What a deployment needs and the local blob store lacks.
struct MissingArtifact {
  std::string model;
  int64_t version = 0;
  std::string file;    // a directory version's file; empty: the version's single artifact
  std::string digest;  // sha256:<hex>, as the registry recorded it
  uint64_t size = 0;
  std::string owner;   // the deployment's creator, on whose behalf the registry is read
};

struct ArtifactFetcherOptions {
  uint64_t range_bytes = 32ull << 20;  // asked for per request (the client holds one in memory)
  int attempts = 3;                    // per range, each at the next live instance
  int64_t token_ttl_s = 600;
};

class ArtifactFetcher {
 public:
  ArtifactFetcher(discovery::Locator& locator, auth::AuthService& auth, storage::BlobStore& blobs,
                  ArtifactFetcherOptions options = {});
  ~ArtifactFetcher();

  // Downloads `a` into the blob store. not_found or forbidden as the registry answered;
  // unavailable when no registry process answers; bad_gateway when the bytes do not match.
  Status Fetch(const MissingArtifact& a);

 private:
  discovery::Locator& locator_;
  auth::AuthService& auth_;
  storage::BlobStore& blobs_;
  const ArtifactFetcherOptions options_;
  std::unique_ptr<http::Client> client_;
  std::mutex mu_;  // one download at a time: two deployments of one version fetch it once
};

}  // namespace aimass::serving
