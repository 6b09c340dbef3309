// Paths: the most common sequences of events (or of a property's values, such as the page of a
// page view) after a start event or before an end event, each person's first such sequence, cut
// where the person was idle longer than the session gap; as edges between steps for a Sankey
// chart and as whole paths.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

struct VectorHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    size_t h = v.size();
    for (uint32_t x : v) h = h * 1000003u ^ x;
    return h;
  }
};

}  // namespace

Result<json> Paths(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  AIMASS_ASSIGN_OR_RETURN(const std::string start, TextOf(req, "start_point", ""));
  AIMASS_ASSIGN_OR_RETURN(const std::string end, TextOf(req, "end_point", ""));
  if (!start.empty() && !end.empty()) return Status::BadRequest("give start_point or end_point, not both");
  int64_t steps = 5;
  if (req.contains("step_limit")) {
    if (!req["step_limit"].is_number_integer() || req["step_limit"].get<int64_t>() < 2 || req["step_limit"].get<int64_t>() > 20) {
      return Status::BadRequest("step_limit is 2-20");
    }
    steps = req["step_limit"];
  }
  size_t limit = 50;
  if (req.contains("limit")) {
    if (!req["limit"].is_number_integer() || req["limit"].get<int64_t>() < 1 || req["limit"].get<int64_t>() > 1000) {
      return Status::BadRequest("limit is 1-1000");
    }
    limit = req["limit"];
  }
  int64_t gap = 30 * 60'000;
  if (req.contains("session_gap") && !req["session_gap"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(gap, ParseDurationMs(req["session_gap"], "session_gap"));
  }
  AIMASS_ASSIGN_OR_RETURN(const bool collapse, FlagOf(req, "collapse_repeats", true));
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  AIMASS_ASSIGN_OR_RETURN(EventMatcher filter, compiler.Events(global));
  AIMASS_ASSIGN_OR_RETURN(auto persons, compiler.PersonMask(global));
  // The events paths are made of (empty: all), and what names a node: the event, or a property.
  std::vector<uint8_t> included;
  if (req.contains("events") && !req["events"].is_null()) {
    if (!req["events"].is_array()) return Status::BadRequest("events is a list of event names");
    included.assign(ctx.project.Read([](const ProjectState& s) { return s.events.size(); }), 0);
    for (const auto& e : req["events"]) {
      if (!e.is_string()) return Status::BadRequest("events is a list of event names");
      if (auto code = compiler.EventCode(e)) included[*code] = 1;
    }
  }
  std::string node_property;
  std::optional<size_t> node_key;
  if (req.contains("node_property") && !req["node_property"].is_null()) {
    if (!req["node_property"].is_string()) return Status::BadRequest("node_property is a text property's name");
    node_property = req["node_property"];
    Status st;
    ctx.project.Read([&](const ProjectState& s) {
      node_key = s.KeyIndex(node_property);
      if (node_key && s.keys[*node_key].numeric) st = Status::BadRequest("node_property '" + node_property + "' is numeric");
    });
    AIMASS_RETURN_IF_ERROR(st);
  }
  // A node: an event code, or a property value's code (events without the property use their
  // event's name, with the high bit set).
  constexpr uint32_t kEventBit = 0x80000000u;
  auto node_of = [&](const PersonEvent& e) -> uint32_t {
    if (node_key) {
      const uint32_t code = e.cols->Code(*node_key, e.row);
      if (code) return code;
    }
    return e.event | kEventBit;
  };
  std::optional<uint32_t> anchor;  // the start or end node
  bool anchor_missing = false;
  if (!start.empty() || !end.empty()) {
    const std::string& name = start.empty() ? end : start;
    ctx.project.Read([&](const ProjectState& s) {
      if (node_key) {
        if (auto c = s.keys[*node_key].dict.Find(name)) anchor = *c;
      }
      if (!anchor) {
        if (auto c = s.events.Find(name)) anchor = *c | kEventBit;
      }
    });
    anchor_missing = !anchor;
  }
  using PathCounts = std::unordered_map<std::vector<uint32_t>, double, VectorHash>;
  std::vector<PathCounts> counts(static_cast<size_t>(ctx.threads));
  if (!anchor_missing) {
    ScanPersons(
        ctx.snap, ctx.threads, persons,
        [&](const EventColumns& c, uint32_t r) {
          if (c.time[r] < range.from || c.time[r] >= range.to) return false;
          if (!included.empty() && (c.event[r] >= included.size() || !included[c.event[r]])) return false;
          return filter.empty() || filter.Match(c, r);
        },
        [&](int th, uint32_t, std::span<const PersonEvent> events) {
          // Nodes with repeats collapsed, and where each session starts.
          std::vector<uint32_t> nodes;
          std::vector<int64_t> times;
          for (const PersonEvent& e : events) {
            const uint32_t n = node_of(e);
            if (collapse && !nodes.empty() && nodes.back() == n && e.time - times.back() <= gap) {
              times.back() = e.time;
              continue;
            }
            nodes.push_back(n);
            times.push_back(e.time);
          }
          size_t from = 0, to = 0;  // [from, to)
          if (!end.empty()) {
            const auto it = std::find(nodes.begin(), nodes.end(), *anchor);
            if (it == nodes.end()) return;
            to = static_cast<size_t>(it - nodes.begin()) + 1;
            from = to - 1;
            while (from > 0 && to - from < static_cast<size_t>(steps) && times[from] - times[from - 1] <= gap) --from;
          } else {
            if (anchor) {
              const auto it = std::find(nodes.begin(), nodes.end(), *anchor);
              if (it == nodes.end()) return;
              from = static_cast<size_t>(it - nodes.begin());
            }
            to = from + 1;
            while (to < nodes.size() && to - from < static_cast<size_t>(steps) && times[to] - times[to - 1] <= gap) ++to;
          }
          counts[static_cast<size_t>(th)][std::vector<uint32_t>(nodes.begin() + static_cast<std::ptrdiff_t>(from),
                                                                 nodes.begin() + static_cast<std::ptrdiff_t>(to))] += 1;
        });
  }
  for (size_t th = 1; th < counts.size(); ++th) {
    for (auto& [p, c] : counts[th]) counts[0][p] += c;
  }
  // Edges: (step, source, target) → persons; for paths before an end event the steps count
  // back so that the end event is the last step of every path.
  std::map<std::tuple<size_t, uint32_t, uint32_t>, double> edges;
  double total = 0;
  std::vector<std::pair<const std::vector<uint32_t>*, double>> paths;
  for (const auto& [p, c] : counts[0]) {
    total += c;
    paths.emplace_back(&p, c);
    const size_t offset = end.empty() ? 0 : static_cast<size_t>(steps) - p.size();
    for (size_t i = 0; i + 1 < p.size(); ++i) edges[{offset + i + 1, p[i], p[i + 1]}] += c;
  }
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : *a.first < *b.first; });
  if (paths.size() > limit) paths.resize(limit);
  json out_paths = json::array(), out_edges = json::array();
  ctx.project.Read([&](const ProjectState& s) {
    auto name = [&](uint32_t n) -> std::string {
      if (n & kEventBit) return s.events.value(n & ~kEventBit);
      return s.keys[*node_key].dict.value(n);
    };
    for (const auto& [p, c] : paths) {
      json nodes = json::array();
      for (uint32_t n : *p) nodes.push_back(name(n));
      out_paths.push_back({{"nodes", nodes}, {"persons", c}});
    }
    std::vector<std::pair<std::tuple<size_t, uint32_t, uint32_t>, double>> sorted(edges.begin(), edges.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return std::get<0>(a.first) != std::get<0>(b.first) ? std::get<0>(a.first) < std::get<0>(b.first) : a.second > b.second;
    });
    for (const auto& [k, c] : sorted) {
      out_edges.push_back({{"step", std::get<0>(k)}, {"source", name(std::get<1>(k))}, {"target", name(std::get<2>(k))}, {"persons", c}});
    }
  });
  json out = {{"persons", total}, {"paths", out_paths}, {"edges", out_edges}};
  if (!start.empty()) out["start_point"] = start;
  if (!end.empty()) out["end_point"] = end;
  if (!node_property.empty()) out["node_property"] = node_property;
  return out;
}

}  // namespace aimass::behavior
