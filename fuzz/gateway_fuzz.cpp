// libFuzzer target for what the gateway parses from the network: request paths and hosts
// matched against routes (with the forwarded path built from them), consumer JWTs (read before
// they are verified), and the route / upstream / consumer documents of its admin API. Nothing
// may crash; a forwarded path must start with '/' and carry no dot segment the request lacked.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/consumer.hpp"
#include "gateway/route_table.hpp"
#include "gateway/spec.hpp"

namespace {

using aimass::gateway::RouteSpec;

const aimass::gateway::RouteTable& Table() {
  static auto* table = [] {
    std::vector<RouteSpec> routes;
    for (const char* doc : {
             R"({"name":"a","paths":["/svc"],"upstream":"u"})",
             R"({"name":"b","paths":["/svc/x"],"upstream":"u","strip_path":true})",
             R"({"name":"c","paths":["=/e"],"upstream":"u","hosts":["*.example.com"]})",
             R"({"name":"d","paths":["/users/{id}/o"],"upstream":"u","rewrite":"/v/{id}"})",
             R"({"name":"e","paths":["/h"],"upstream":"u","headers":{"x-t":"1"},"methods":["GET"]})"}) {
      auto r = aimass::gateway::ParseRoute(nlohmann::json::parse(doc));
      if (!r.ok()) std::abort();
      routes.push_back(*r);
    }
    return new aimass::gateway::RouteTable(std::move(routes));
  }();
  return *table;
}

const aimass::gateway::ConsumerVerifier& Verifier() {
  static auto* v = [] {
    auto c = aimass::gateway::ParseConsumer(nlohmann::json::parse(
        R"({"name":"c","jwt":[{"key":"k","algorithm":"HS256","secret":"0123456789abcdef0123456789abcdef","audiences":["a"]}]})"));
    if (!c.ok()) std::abort();
    return new aimass::gateway::ConsumerVerifier({*c});
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      // "host\npath": the raw request target as the server hands it over.
      size_t nl = input.find('\n');
      std::string host = nl == std::string::npos ? "" : input.substr(0, nl);
      std::string path = nl == std::string::npos ? input : input.substr(nl + 1);
      bool dots = aimass::gateway::HasDotSegment(path);
      aimass::http::Headers headers;
      headers.Set("x-t", "1");
      auto hit = Table().Match(host, aimass::http::Method::kGet, path, headers);
      if (hit && !dots && !path.empty() && path[0] == '/') {
        if (hit->upstream_path.empty() || hit->upstream_path[0] != '/') std::abort();
        if (aimass::gateway::HasDotSegment(hit->upstream_path)) std::abort();
      }
      break;
    }
    case 1:
      (void)aimass::gateway::PeekIssuer(input);
      (void)Verifier().Verify(input, 1700000000);
      break;
    default: {
      auto j = nlohmann::json::parse(input, nullptr, false);
      if (j.is_discarded()) break;
      (void)aimass::gateway::ParseRoute(j);
      (void)aimass::gateway::ParseUpstream(j);
      (void)aimass::gateway::ParseConsumer(j);
      break;
    }
  }
  return 0;
}
