#include "gateway/route_table.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <tuple>

#include "common/text.hpp"

namespace aimass::gateway {

namespace {

// Most paths have a few segments: kept inline, a match allocates nothing for them.
using SegmentList = boost::container::small_vector<std::string_view, 8>;

SegmentList Segments(std::string_view path) {
  SegmentList out;
  if (path.starts_with('/')) path.remove_prefix(1);
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  if (out.size() == 1 && out[0].empty()) out.clear();  // "/" has no segments
  return out;
}

bool IsCapture(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

std::string LowerHost(std::string_view host) {
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return AsciiLower(host);  // names are ASCII
}

bool HostMatches(const std::string& pattern, const std::string& host) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
    return host.substr(0, host.size() - suffix.size()).find('.') == std::string::npos;
  }
  return pattern == host;
}

}  // namespace

bool HasDotSegment(std::string_view raw) {
  if (raw.starts_with('/')) raw.remove_prefix(1);
  for (;;) {
    size_t slash = raw.find('/');
    std::string_view seg = raw.substr(0, slash);
    // Counts the dots, decoding only what could spell one: %2e / %2E.
    int dots = 0;
    bool other = false;
    for (size_t i = 0; i < seg.size() && !other; ++i) {
      if (seg[i] == '.') {
        ++dots;
      } else if (seg[i] == '%' && i + 2 < seg.size() && seg[i + 1] == '2' && (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
        ++dots;
        i += 2;
      } else {
        other = true;
      }
    }
    if (!other && (dots == 1 || dots == 2)) return true;
    if (slash == std::string_view::npos) return false;
    raw.remove_prefix(slash + 1);
  }
}

struct RouteTable::Entry {
  const RouteSpec* route = nullptr;
  bool exact = false;
  std::vector<std::string> segments;  // literal text, or "{name}"
  int literals = 0;
};

RouteTable::RouteTable(std::vector<RouteSpec> routes) : routes_(std::move(routes)) {
  for (const auto& r : routes_) {
    for (const auto& p : r.paths) {
      Entry e;
      e.route = &r;
      std::string_view path = p;
      e.exact = path.starts_with('=');
      if (e.exact) path.remove_prefix(1);
      for (auto seg : Segments(path)) {
        e.segments.emplace_back(seg);
        if (!IsCapture(seg)) ++e.literals;
      }
      entries_.push_back(std::move(e));
    }
  }
  auto key = [](const Entry& e) {
    return std::make_tuple(e.route->hosts.empty(), !e.exact, -e.literals, -static_cast<int>(e.segments.size()),
                           -static_cast<int>(e.route->methods.size() + e.route->headers.size()),
                           std::string_view(e.route->name));
  };
  std::stable_sort(entries_.begin(), entries_.end(), [&](const Entry& a, const Entry& b) { return key(a) < key(b); });
}

RouteTable::~RouteTable() = default;

std::optional<RouteHit> RouteTable::Match(std::string_view host_header, http::Method method, std::string_view path,
                                          const http::Headers& headers) const {
  std::optional<std::string> host;  // lowered on first need: most routes take any host
  std::string_view method_name = http::MethodName(method);
  auto segs = Segments(path);
  for (const auto& e : entries_) {
    const RouteSpec& r = *e.route;
    if (e.exact ? segs.size() != e.segments.size() : segs.size() < e.segments.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < e.segments.size() && ok; ++i) {
      ok = IsCapture(e.segments[i]) ? !segs[i].empty() : segs[i] == e.segments[i];
    }
    if (!ok) continue;
    if (!r.hosts.empty()) {
      if (!host) host = LowerHost(host_header);
      if (std::none_of(r.hosts.begin(), r.hosts.end(), [&](const std::string& h) { return HostMatches(h, *host); })) {
        continue;
      }
    }
    if (!r.methods.empty() && std::find(r.methods.begin(), r.methods.end(), method_name) == r.methods.end()) continue;
    for (const auto& [name, value] : r.headers) {
      auto v = headers.Get(name);
      if (!v || *v != value) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;

    RouteHit hit;
    hit.route = &r;
    for (size_t i = 0; i < e.segments.size(); ++i) {
      if (IsCapture(e.segments[i])) {
        hit.params.emplace_back(e.segments[i].substr(1, e.segments[i].size() - 2), std::string(segs[i]));
      }
    }
    // What follows the matched segments, with its leading '/', as received.
    std::string rest;
    for (size_t i = e.segments.size(); i < segs.size(); ++i) {
      rest += '/';
      rest += segs[i];
    }
    if (!r.rewrite.empty()) {
      std::string out;
      std::string_view t = r.rewrite;
      for (size_t i = 0; i < t.size();) {
        size_t open = t.find('{', i);
        size_t close = open == std::string_view::npos ? open : t.find('}', open);
        if (close == std::string_view::npos) {
          out += t.substr(i);
          break;
        }
        out += t.substr(i, open - i);
        std::string_view name = t.substr(open + 1, close - open - 1);
        auto p = std::find_if(hit.params.begin(), hit.params.end(), [&](const auto& kv) { return kv.first == name; });
        if (p != hit.params.end()) out += p->second;
        i = close + 1;
      }
      if (out.size() > 1 && out.back() == '/' && !rest.empty()) out.pop_back();
      hit.upstream_path = out + rest;
    } else if (r.strip_path) {
      hit.upstream_path = rest.empty() ? "/" : rest;
    } else {
      hit.upstream_path = std::string(path.empty() ? "/" : path);
    }
    return hit;
  }
  return std::nullopt;
}

}  // namespace aimass::gateway
