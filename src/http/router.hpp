// Router: maps a method and path onto a Route. Patterns are '/'-separated segments in which
// `{name}` captures text; a segment may mix literals and captures (`{name}@{alias}`,
// `{name}:predict`), and a final `{name...}` captures the rest of the path. Literal segments
// win over captures, so `/users/me` beats `/users/{name}` whatever the registration order.
// Thread-safety: Add before serving; Match is const and safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"
#include "http/message.hpp"

namespace aimass::http {

struct Route {
  Method method = Method::kGet;
  std::string pattern;
  Handler handler;

  // Access: anonymous routes need no token; otherwise a token is required and, when
  // `permission` is set, the principal must hold it ("resource:action").
  bool anonymous = false;
  std::string permission;

  bool streaming_body = false;  // body spooled to a file, limit http.max_upload_bytes
  uint64_t max_body_bytes = 0;  // buffered body limit for this route; 0: http.max_body_bytes
  bool run_inline = false;      // cheap handler: run on the I/O thread, skip the worker pool
  // A handler that never blocks but whose cost grows with its body (it parses, then defers
  // its answer): run on the I/O thread when the buffered body is at most this many bytes,
  // else on the worker pool. 0: never inline (unless run_inline).
  uint64_t inline_max_body_bytes = 0;
  bool audited = true;          // false: a POST that changes nothing (inference): never audited

  // Writes this route's errors, including those found before its handler ran (auth, body
  // size). Null: the platform's shape. Routes of a foreign protocol (Open Inference Protocol)
  // set theirs, so that their clients can read every error.
  Response (*error_response)(const Status& status, std::string_view request_id) = nullptr;

  // For /openapi.json.
  std::string tag;
  std::string summary;
};

// A route of a module's table: `permission` "resource:action", or "" for any authenticated
// caller; tag and summary describe it in /openapi.json.
Route MakeRoute(Method method, std::string pattern, std::string permission, std::string tag,
                std::string summary, Handler handler);

struct RouteMatch {
  const Route* route = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  // not_found (without a message: the caller says it, when it answers 404 itself rather than
  // handing the path on), method_not_allowed or bad_request
  Status status;
  std::vector<Method> allowed;        // for 405
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Fails on a malformed pattern or a duplicate (method, pattern).
  Status Add(Route route);
  RouteMatch Match(Method method, std::string_view path) const;
  // Routes in registration order.
  std::vector<const Route*> routes() const;

 private:
  struct Compiled;
  // Lookups by a string_view without building a std::string.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
  void Reindex();

  std::vector<std::unique_ptr<Compiled>> compiled_;  // sorted by specificity
  std::vector<const Route*> in_order_;
  // Fast path for fully literal patterns: path -> routes by method.
  StringMap<std::vector<const Route*>> literal_;
  // The patterns a path may match, by its first segment, in specificity order: those whose
  // first segment is that literal and those whose first segment captures (`by_first_` holds
  // both; `any_first_` only the latter, for first segments no pattern names). Without it every
  // path was tried against every pattern, which showed in the gateway's profile: a proxied
  // path misses all of the platform's.
  StringMap<std::vector<const Compiled*>> by_first_;
  std::vector<const Compiled*> any_first_;
};

}  // namespace aimass::http
