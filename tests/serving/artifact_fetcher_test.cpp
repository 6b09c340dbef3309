// ArtifactFetcher against a registry process's download routes, served here by a real HTTP
// server over the real range handling (FileResponse): downloads in ranges as the deployment's
// owner, goes on at the next instance when one is dead, and stores nothing it cannot verify.
#include "serving/artifact_fetcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "auth/jwt.hpp"
#include "common/sha256.hpp"
#include "discovery/discovery.hpp"
#include "discovery/locator.hpp"
#include "http/file_response.hpp"
#include "storage/blob_store.hpp"
#include "test_db.hpp"
#include "test_http_server.hpp"
#include "test_support.hpp"

namespace aimass::serving {
namespace {

namespace fs = std::filesystem;

class ArtifactFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb();
    ASSERT_TRUE(db_->Migrate(auth::AuthService::Migrations()).ok());
    ASSERT_TRUE(db_->Migrate(discovery::Discovery::Migrations()).ok());
    auth::AuthOptions ao;
    ao.keys = {"HS256", "fetcher-test-secret-fetcher-test-secret-0123", "", ""};
    ao.admin_password = "admin-password-1";
    auto jwt = auth::Jwt::Create(ao.keys, ao.issuer);
    ASSERT_TRUE(jwt.ok());
    auth_ = std::make_unique<auth::AuthService>(*db_, std::move(jwt).value(), ao);
    ASSERT_TRUE(auth_->Bootstrap().ok());
    ASSERT_TRUE(auth_->CreateUser("owner", "password-123", {"viewer"}).ok());
    discovery_ = discovery::MakeStoreDiscovery(*db_);
    locator_ = std::make_unique<discovery::Locator>(*discovery_, std::vector<std::pair<std::string, std::string>>{
                                                                     {"/api/v1/models", "registry"}});
    auto blobs = storage::OpenLocalBlobStore(dir_.path() + "/blobs");
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();

    // The registry process's two download routes, each file a plain file here.
    auto serve = [this](http::Request& req, const std::string& file) {
      {
        std::lock_guard lock(mu_);
        ++requests_;
        ranges_.push_back(std::string(req.headers.Get("Range").value_or("")));
      }
      auto who = auth_->Authenticate(std::string(req.headers.Get("Authorization").value_or("")).substr(7));
      if (!who.ok() || (*who)->username != "owner") return Text(401, "who are you");
      fs::path p = fs::path(dir_.path()) / "registry" / file;
      if (!fs::exists(p)) return Text(404, "no such version");
      return http::FileResponse(req, p.string(), fs::file_size(p), "application/octet-stream");
    };
    Add("/api/v1/models/{name}/versions/{version}/artifact",
        [serve](http::Request& req) { return serve(req, req.Param("name") + "-" + req.Param("version")); });
    Add("/api/v1/models/{name}/versions/{version}/files/{path...}", [serve](http::Request& req) {
      std::string path = req.Param("path");
      for (char& c : path) c = c == '/' ? '_' : c;
      return serve(req, req.Param("name") + "-" + req.Param("version") + "-" + path);
    });
    fs::create_directories(dir_.path() + "/registry");
    ASSERT_TRUE(server_.Start(dir_.path() + "/spool").ok());
    url_ = server_.url();
  }

  static http::Response Text(int status, std::string body) { return aimass::testing::TestHttpServer::Text(status, std::move(body)); }

  void Add(std::string pattern, http::Handler h) {
    ASSERT_TRUE(server_.Add(http::Method::kGet, std::move(pattern), std::move(h)).ok());
  }

  void Announce(const std::string& url) {
    discovery::Instance in;
    in.service = "aimass-registry";
    in.url = url;
    ASSERT_TRUE(discovery_->Register(in).ok());
  }

  // Writes `size` random bytes as the registry's copy of `file`; returns the wanted artifact.
  MissingArtifact Publish(const std::string& file, size_t size) {
    std::mt19937 rng(static_cast<unsigned>(size));
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::ofstream(dir_.path() + "/registry/" + file, std::ios::binary) << bytes;
    MissingArtifact a;
    a.model = "m";
    a.version = 1;
    a.digest = "sha256:" + Sha256Hex(bytes);
    a.size = size;
    a.owner = "owner";
    content_ = bytes;
    return a;
  }

  std::string Stored(const std::string& digest) {
    auto p = blobs_->LocalPath(digest);
    if (!p.ok()) return "<absent>";
    std::ifstream in(*p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  ArtifactFetcherOptions Small() {
    ArtifactFetcherOptions o;
    o.range_bytes = 1000;
    return o;
  }

  aimass::testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<auth::AuthService> auth_;
  std::unique_ptr<discovery::Discovery> discovery_;
  std::unique_ptr<discovery::Locator> locator_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::string url_;
  std::string content_;
  std::mutex mu_;
  int requests_ = 0;
  std::vector<std::string> ranges_;
  aimass::testing::TestHttpServer server_;  // last: stopped before what its handlers use goes
};

TEST_F(ArtifactFetcherTest, DownloadsInRangesAsTheOwnerAndStoresTheVerifiedBytes) {
  Announce(url_);
  MissingArtifact a = Publish("m-1", 4500);
  ArtifactFetcher fetcher(*locator_, *auth_, *blobs_, Small());
  Status st = fetcher.Fetch(a);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Stored(a.digest), content_);
  std::lock_guard lock(mu_);
  EXPECT_EQ(ranges_, (std::vector<std::string>{"bytes=0-999", "bytes=1000-1999", "bytes=2000-2999",
                                               "bytes=3000-3999", "bytes=4000-4499"}));
  // Present now: a second deployment of the version asks nobody.
  mu_.unlock();
  ASSERT_TRUE(fetcher.Fetch(a).ok());
  mu_.lock();
  EXPECT_EQ(requests_, 5);
}

TEST_F(ArtifactFetcherTest, ADirectoryVersionsFileIsAskedForByItsPath) {
  Announce(url_);
  MissingArtifact a = Publish("m-1-sub dir_model.onnx", 10);
  a.file = "sub dir/model.onnx";
  ArtifactFetcher fetcher(*locator_, *auth_, *blobs_, Small());
  Status st = fetcher.Fetch(a);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Stored(a.digest), content_);
}

TEST_F(ArtifactFetcherTest, ADeadInstanceIsPassedOverForTheNextLiveOne) {
  // Announced first and taken first: a port nobody listens on (a process killed before its
  // lease ran out).
  std::string dead;
  {
    aimass::testing::TestHttpServer gone;
    ASSERT_TRUE(gone.Start(dir_.path() + "/spool-gone").ok());
    dead = gone.url();
  }
  Announce(dead);
  Announce(url_);
  MissingArtifact a = Publish("m-1", 2500);
  ArtifactFetcher fetcher(*locator_, *auth_, *blobs_, Small());
  Status st = fetcher.Fetch(a);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Stored(a.digest), content_);
}

TEST_F(ArtifactFetcherTest, BytesThatDoNotMatchTheDigestAreRefused) {
  Announce(url_);
  MissingArtifact a = Publish("m-1", 3000);
  std::string wrong = content_;
  wrong[1234] ^= 1;  // the registry's copy is not what it recorded
  std::ofstream(dir_.path() + "/registry/m-1", std::ios::binary) << wrong;
  ArtifactFetcher fetcher(*locator_, *auth_, *blobs_, Small());
  Status st = fetcher.Fetch(a);
  EXPECT_EQ(st.code(), Code::kBadGateway) << st.ToString();
  EXPECT_EQ(Stored(a.digest), "<absent>");
}

TEST_F(ArtifactFetcherTest, TheRegistrysRefusalsAndItsAbsenceAreTheCallersErrors) {
  ArtifactFetcher fetcher(*locator_, *auth_, *blobs_, Small());
  MissingArtifact a = Publish("m-1", 100);
  EXPECT_EQ(fetcher.Fetch(a).code(), Code::kUnavailable) << "no registry process announced";
  Announce(url_);
  MissingArtifact missing = a;
  missing.version = 9;
  EXPECT_EQ(fetcher.Fetch(missing).code(), Code::kNotFound);
  MissingArtifact stranger = a;
  stranger.owner = "nobody";
  EXPECT_EQ(fetcher.Fetch(stranger).code(), Code::kNotFound) << "an owner who is gone gets no token";
  MissingArtifact orphan = a;
  orphan.owner = "";
  EXPECT_EQ(fetcher.Fetch(orphan).code(), Code::kForbidden);
  EXPECT_EQ(Stored(a.digest), "<absent>");
}

}  // namespace
}  // namespace aimass::serving
