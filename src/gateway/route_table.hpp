// RouteTable: the gateway's routes compiled for matching a request by host, method, path and
// headers, and the path it is forwarded with. Built whole from the route list on every change
// and swapped in; a built table is immutable, so matching needs no lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "gateway/spec.hpp"
#include "http/message.hpp"

namespace aimass::gateway {

struct RouteHit {
  const RouteSpec* route = nullptr;
  std::string upstream_path;  // raw (percent-encoded) path to forward, without the target's base
  std::vector<std::pair<std::string, std::string>> params;  // captures, raw
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<RouteSpec> routes);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // The most specific route for the request: a route with hosts beats one without, an exact
  // path beats a prefix, more literal segments beat fewer, then more path segments, then more
  // method and header conditions; ties go to the name that sorts first. Null when none fits.
  // `path` is the raw request path, `host` the Host header.
  std::optional<RouteHit> Match(std::string_view host, http::Method method, std::string_view path,
                                const http::Headers& headers) const;

  const std::vector<RouteSpec>& routes() const { return routes_; }

 private:
  struct Entry;
  std::vector<RouteSpec> routes_;
  std::vector<Entry> entries_;  // one per (route, path), most specific first
};

// A request path the gateway will not forward: a "." or ".." segment, raw or percent-encoded,
// would let a request climb out of the path a route grants once the upstream normalises it.
bool HasDotSegment(std::string_view raw_path);

}  // namespace aimass::gateway
