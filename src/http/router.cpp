#include "http/router.hpp"

#include <algorithm>

#include <boost/container/small_vector.hpp>

namespace aimass::http {

namespace {

struct Part {
  bool capture = false;
  bool rest = false;  // `{name...}`: the rest of the path, slashes included
  std::string text;   // literal text or capture name
};

using Segment = std::vector<Part>;

// Matching runs on every request: its scratch lists live on the stack for the usual sizes (a
// path of up to 8 segments, 4 captures, 4 routes sharing a path), not in allocations.
template <class T, size_t N>
using SmallVector = boost::container::small_vector<T, N>;
using PathParts = SmallVector<std::string_view, 8>;
// (capture name, raw value); the name is the compiled route's, which outlives the match.
using Captures = SmallVector<std::pair<std::string_view, std::string_view>, 4>;

PathParts SplitPath(std::string_view path) {
  PathParts out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

Result<Segment> CompileSegment(std::string_view s) {
  Segment seg;
  while (!s.empty()) {
    if (s.front() == '{') {
      size_t close = s.find('}');
      if (close == std::string_view::npos) return Status::Internal("unclosed '{'");
      std::string name(s.substr(1, close - 1));
      if (name.empty()) return Status::Internal("empty capture name");
      Part p{true, false, name};
      if (name.size() > 3 && name.ends_with("...")) {
        p.rest = true;
        p.text = name.substr(0, name.size() - 3);
      }
      if (!seg.empty() && seg.back().capture) return Status::Internal("adjacent captures");
      seg.push_back(std::move(p));
      s.remove_prefix(close + 1);
    } else {
      size_t open = s.find('{');
      seg.push_back(Part{false, false, std::string(s.substr(0, open))});
      s = open == std::string_view::npos ? std::string_view{} : s.substr(open);
    }
  }
  return seg;
}

// Matches one segment; captures are appended to `out` still encoded.
bool MatchSegment(const Segment& seg, std::string_view s, Captures& out) {
  for (size_t i = 0; i < seg.size(); ++i) {
    const Part& p = seg[i];
    if (!p.capture) {
      if (!s.starts_with(p.text)) return false;
      s.remove_prefix(p.text.size());
      continue;
    }
    std::string_view value;
    if (i + 1 == seg.size()) {
      value = s;
      s = {};
    } else {
      size_t at = s.find(seg[i + 1].text);  // next part is a literal: captures never touch
      if (at == std::string_view::npos) return false;
      value = s.substr(0, at);
      s.remove_prefix(at);
    }
    if (value.empty()) return false;
    out.emplace_back(p.text, value);
  }
  return s.empty();
}

}  // namespace

struct Router::Compiled {
  Route route;
  std::vector<Segment> segments;
  bool has_rest = false;
  // Lower sorts first: literal segment 0, mixed 1, capture 2, then fewer captures first.
  std::vector<int> rank;
};

Route MakeRoute(Method method, std::string pattern, std::string permission, std::string tag,
                std::string summary, Handler handler) {
  Route r;
  r.method = method;
  r.pattern = std::move(pattern);
  r.permission = std::move(permission);
  r.tag = std::move(tag);
  r.summary = std::move(summary);
  r.handler = std::move(handler);
  return r;
}

Router::Router() = default;
Router::~Router() = default;

Status Router::Add(Route route) {
  if (route.pattern.empty() || route.pattern.front() != '/') {
    return Status::Internal("route pattern must start with '/': " + route.pattern);
  }
  for (const auto& c : compiled_) {
    if (c->route.method == route.method && c->route.pattern == route.pattern) {
      return Status::Conflict("duplicate route " + std::string(MethodName(route.method)) + " " +
                              route.pattern);
    }
  }
  auto c = std::make_unique<Compiled>();
  auto parts = SplitPath(route.pattern);
  for (size_t i = 0; i < parts.size(); ++i) {
    auto seg = CompileSegment(parts[i]);
    if (!seg.ok()) return Status::Internal(route.pattern + ": " + seg.status().message());
    bool literal = seg->size() <= 1 && (seg->empty() || !seg->front().capture);
    bool only_capture = seg->size() == 1 && seg->front().capture;
    for (const auto& p : *seg) {
      if (p.rest) {
        if (i + 1 != parts.size() || seg->size() != 1) {
          return Status::Internal(route.pattern + ": {name...} must be a whole last segment");
        }
        c->has_rest = true;
      }
    }
    c->rank.push_back(literal ? 0 : (only_capture ? (c->has_rest ? 3 : 2) : 1));
    c->segments.push_back(std::move(*seg));
  }
  c->route = std::move(route);
  const Route* r = &c->route;
  bool all_literal = std::all_of(c->rank.begin(), c->rank.end(), [](int v) { return v == 0; });
  if (all_literal) literal_[c->route.pattern].push_back(r);
  in_order_.push_back(r);
  compiled_.push_back(std::move(c));
  std::stable_sort(compiled_.begin(), compiled_.end(),
                   [](const auto& a, const auto& b) { return a->rank < b->rank; });
  Reindex();
  return Status::Ok();
}

void Router::Reindex() {
  auto literal_first = [](const Compiled& c) { return c.segments.front().size() == 1 && !c.segments.front().front().capture; };
  by_first_.clear();
  any_first_.clear();
  for (const auto& c : compiled_) {
    if (literal_first(*c)) by_first_[c->segments.front().front().text];
  }
  for (const auto& c : compiled_) {
    if (literal_first(*c)) {
      by_first_[c->segments.front().front().text].push_back(c.get());
      continue;
    }
    any_first_.push_back(c.get());
    for (auto& [first, list] : by_first_) list.push_back(c.get());
  }
}

RouteMatch Router::Match(Method method, std::string_view path) const {
  RouteMatch m;
  // HEAD is served by the GET route when no HEAD route exists.
  auto method_fits = [&](const Route& r) {
    return r.method == method || (method == Method::kHead && r.method == Method::kGet);
  };
  auto pick = [&](const auto& candidates) -> const Route* {
    for (const Route* r : candidates) {
      if (r->method == method) return r;
    }
    for (const Route* r : candidates) {
      if (method_fits(*r)) return r;
    }
    return nullptr;
  };

  if (auto it = literal_.find(path); it != literal_.end()) {
    if (const Route* r = pick(it->second)) {
      m.route = r;
      return m;
    }
  }

  std::string_view first_segment = path.substr(path.starts_with('/') ? 1 : 0);
  first_segment = first_segment.substr(0, first_segment.find('/'));
  auto first = by_first_.find(first_segment);
  const auto& candidates = first != by_first_.end() ? first->second : any_first_;
  if (candidates.empty()) {
    m.status = Status(Code::kNotFound, "");
    return m;
  }
  auto parts = SplitPath(path);
  SmallVector<const Route*, 4> path_matches;
  SmallVector<Captures, 4> captures_of;
  for (const Compiled* c : candidates) {
    Captures caps;
    bool ok = true;
    if (c->has_rest ? parts.size() < c->segments.size() : parts.size() != c->segments.size()) {
      continue;
    }
    for (size_t i = 0; i < c->segments.size() && ok; ++i) {
      const Segment& seg = c->segments[i];
      if (seg.size() == 1 && seg.front().rest) {
        // Everything from this segment on, as one raw string.
        size_t offset = static_cast<size_t>(parts[i].data() - path.data());
        std::string_view rest = path.substr(offset);
        if (rest.empty()) ok = false;
        else caps.emplace_back(seg.front().text, rest);
        break;
      }
      ok = MatchSegment(seg, parts[i], caps);
    }
    if (!ok) continue;
    path_matches.push_back(&c->route);
    captures_of.push_back(std::move(caps));
  }
  if (path_matches.empty()) {
    m.status = Status(Code::kNotFound, "");
    return m;
  }
  const Route* chosen = pick(path_matches);
  if (chosen == nullptr) {
    m.status = Status(Code::kMethodNotAllowed,
                      std::string(MethodName(method)) + " is not allowed here");
    for (const Route* r : path_matches) m.allowed.push_back(r->method);
    return m;
  }
  size_t idx = static_cast<size_t>(
      std::find(path_matches.begin(), path_matches.end(), chosen) - path_matches.begin());
  for (auto& [name, raw] : captures_of[idx]) {
    auto decoded = PercentDecode(raw);
    if (!decoded) {
      m.status = Status::BadRequest("malformed percent-encoding in path");
      return m;
    }
    m.params.emplace_back(std::string(name), std::move(*decoded));
  }
  m.route = chosen;
  return m;
}

std::vector<const Route*> Router::routes() const { return in_order_; }

}  // namespace aimass::http
