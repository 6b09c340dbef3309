// libFuzzer target for what faces the network first: Beast's request parser under the server's
// limits, then the router over the real route table, path/query decoding and the JSON body
// parser. Crashes, sanitizer reports and broken invariants (a route matched with an error
// status, a param that is not in the pattern) are findings. Run: `make fuzz`.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <prometheus/registry.h>

#include "auth/api.hpp"
#include "auth/auth.hpp"
#include "http/json.hpp"
#include "http/router.hpp"
#include "server/core_api.hpp"
#include "storage/db.hpp"

namespace {

using namespace aimass;
namespace bhttp = boost::beast::http;

struct Fixture {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<auth::AuthService> auth;
  std::atomic<bool> ready{true};
  http::Router router;

  Fixture() {
    db = std::move(storage::OpenSqlite({":memory:", 1000, 0}).value());
    if (!db->Migrate(auth::AuthService::Migrations()).ok()) std::abort();
    auth::JwtKeys keys{"HS256", std::string(48, 'k'), "", ""};
    auth = std::make_unique<auth::AuthService>(*db, std::move(auth::Jwt::Create(keys, "fuzz").value()),
                                               auth::AuthOptions{});
    server::CoreDeps deps{db.get(), nullptr, std::make_shared<prometheus::Registry>(), &ready};
    if (!server::RegisterCoreRoutes(router, deps).ok()) std::abort();
    if (!server::RegisterBlobRoutes(router, deps).ok()) std::abort();
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

  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t offset = 0;
  // Feed in two pieces to exercise the parser's incremental path.
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  for (size_t end : {split, size}) {
    while (offset < end && !ec && !parser.is_done()) {
      size_t used = parser.put(boost::asio::buffer(data + offset, end - offset), ec);
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (used == 0) break;
      offset += used;
    }
  }
  if (ec || !parser.is_header_done()) return 0;

  auto& msg = parser.get();
  http::Request req;
  req.method = http::ParseMethod(std::string_view(msg.method_string().data(), msg.method_string().size()));
  req.target = std::string(msg.target());
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  for (const auto& f : msg) req.headers.Add(std::string(f.name_string()), std::string(f.value()));
  req.body = msg.body();

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
