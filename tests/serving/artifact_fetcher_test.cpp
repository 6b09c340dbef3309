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
#include "http/pipeline.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "storage/blob_store.hpp"
#include "test_db.hpp"
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
    pipeline_ = std::make_unique<http::Pipeline>(router_);
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 1;
    o.worker_threads = 2;
    o.shutdown_timeout_s = 5;
    o.spool_dir = dir_.path() + "/spool";
    fs::create_directories(o.spool_dir);
    fs::create_directories(dir_.path() + "/registry");
    server_ = std::make_unique<http::Server>(o, *pipeline_);
    ASSERT_TRUE(server_->Start().ok());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  void TearDown() override {
    server_->Shutdown();
    server_->Wait();
  }

  static http::Response Text(int status, std::string body) {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }

  void Add(std::string pattern, http::Handler h) {
    http::Route r;
    r.method = http::Method::kGet;
    r.pattern = std::move(pattern);
    r.handler = std::move(h);
    ASSERT_TRUE(router_.Add(std::move(r)).ok());
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
  http::Router router_;
  std::unique_ptr<http::Pipeline> pipeline_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  std::string content_;
  std::mutex mu_;
  int requests_ = 0;
  std::vector<std::string> ranges_;
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
    http::Router none;
    http::Pipeline p(none);
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.spool_dir = dir_.path() + "/spool";
    http::Server s(o, p);
    ASSERT_TRUE(s.Start().ok());
    dead = "http://127.0.0.1:" + std::to_string(s.port());
    s.Shutdown();
    s.Wait();
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
