// libFuzzer target for what faces the network first: the server's header parser (HeadParser,
// filling the Request) and Beast's body parser taking over from it, under the server's limits,
// then the router over the real route table, path/query decoding and the JSON body parser.
// Crashes, sanitizer reports and broken invariants (a field with a line break, a route matched
// with an error status, a param that is not in the pattern) are findings. Run: `make fuzz`.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <prometheus/registry.h>

#include "auth/api.hpp"
#include "blobs/api.hpp"
#include "auth/auth.hpp"
#include "http/head_parser.hpp"
#include "http/json.hpp"
#include "http/router.hpp"
#include "server/core_api.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"

namespace {

using namespace aimass;
namespace bhttp = boost::beast::http;

struct Fixture {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<auth::AuthService> auth;
  std::unique_ptr<storage::BlobStore> blob_store;
  std::unique_ptr<blobs::UploadStore> uploads;
  std::atomic<bool> ready{true};
  http::Router router;

  Fixture() {
    db = std::move(storage::OpenSqlite({":memory:", 1000, 0}).value());
    if (!db->Migrate(auth::AuthService::Migrations()).ok()) std::abort();
    auth::JwtKeys keys{"HS256", std::string(48, 'k'), "", ""};
    auth = std::make_unique<auth::AuthService>(*db, std::move(auth::Jwt::Create(keys, "fuzz").value()),
                                               auth::AuthOptions{});
    server::CoreDeps deps;
    deps.db = db.get();
    deps.metrics = std::make_shared<prometheus::Registry>();
    deps.ready = &ready;
    if (!server::RegisterCoreRoutes(router, deps).ok()) std::abort();
    char dir[] = "/tmp/aimass-fuzz-blobs-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    blob_store = std::move(storage::OpenLocalBlobStore(dir).value());
    uploads = std::make_unique<blobs::UploadStore>(*db);
    if (!blobs::RegisterRoutes(router, *blob_store, *uploads, {}).ok()) std::abort();
    if (!auth::RegisterRoutes(router, *auth).ok()) std::abort();
    // Shapes later modules use: mixed segments and a catch-all.
    for (const char* p : {"/api/v1/models/{name}@{alias}/artifact", "/v1/models/{name}:predict",
                          "/v2/models/{name}/versions/{version}/infer", "/static/{path...}"}) {
      http::Route r;
      r.pattern = p;
      r.method = http::Method::kPost;
      r.handler = [](http::Request&) { return http::Response{}; };
      if (!router.Add(std::move(r)).ok()) std::abort();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fx = new Fixture();

  // Feeds data[offset, end) to `p` until it is done, needs more, or fails; split in two pieces
  // (the first byte picks where) to exercise the incremental path.
  size_t offset = 0;
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  auto feed = [&](auto& p, auto done, boost::beast::error_code& ec) {
    for (size_t end : {split, size}) {
      while (offset < end && !ec && !done(p)) {
        size_t used = p.put(boost::asio::buffer(data + offset, end - offset), ec);
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (used == 0) break;
        offset += used;
      }
    }
  };

  http::Request req;
  http::HeadParser head(req);
  head.header_limit(16 * 1024);
  head.body_limit(boost::none);
  head.eager(false);
  boost::beast::error_code ec;
  feed(head, [](auto& p) { return p.is_header_done(); }, ec);
  if (ec || !head.is_header_done()) return 0;
  // The proxy writes these fields out again: a line break would split its message.
  for (const auto& [name, value] : req.headers.all()) {
    if (!http::IsWritableField(name, value)) std::abort();
  }
  // As the server: a declared length over the limit is refused before a byte of the body is
  // read (Beast checks its body limit only while parsing fields, and the header was parsed
  // without one; the string body reserves the declared length).
  constexpr uint64_t kLimit = 64 * 1024;
  if (head.content_length().value_or(0) > kLimit) return 0;
  if (head.content_length().value_or(0) > 0 || head.chunked()) {
    bhttp::request_parser<bhttp::string_body> body(head.Release());
    body.body_limit(kLimit);
    body.eager(true);
    feed(body, [](auto& p) { return p.is_done(); }, ec);
    if (ec || !body.is_done()) return 0;
    req.body = std::move(body.get().body());
  }

  http::RouteMatch m = fx->router.Match(req.method, req.path);
  if (m.route != nullptr && !m.status.ok()) std::abort();
  if (m.route == nullptr && m.status.ok()) std::abort();
  if (m.route) {
    for (const auto& [name, value] : m.params) {
      if (m.route->pattern.find("{" + name) == std::string::npos) std::abort();
    }
  }
  (void)req.Query("page_size");
  (void)req.Query("page_token");
  (void)http::ParsePage(req);
  (void)http::ParseJsonObject(req);
  (void)req.headers.Get("Authorization");
  return 0;
}
