// Lifecycle, as PostHog defines it: per interval, the persons active in it who are new (their
// first event ever is in it), returning (also active the interval before), resurrecting (active
// before, but not the interval before), and those dormant (active the interval before, not in
// this one). Stickiness: persons by the number of intervals of the range they were active in.
#include <algorithm>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

Result<json> Lifecycle(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  AIMASS_ASSIGN_OR_RETURN(Entity entity, ParseEntity(req.contains("event") ? req["event"] : json("$all"), "event"));
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  AIMASS_ASSIGN_OR_RETURN(CompiledEntity e, compiler.Compile(entity, global));
  const int64_t first = range.first_key(), last = range.last_key();
  const size_t n = static_cast<size_t>(last - first + 1);
  enum { kNew, kReturning, kResurrecting, kDormant };
  std::vector<std::vector<double>> counts(static_cast<size_t>(ctx.threads), std::vector<double>(n * 4, 0));
  ScanPersons(
      ctx.snap, ctx.threads, e.persons, [&](const EventColumns& c, uint32_t row) { return c.time[row] < range.to && e.Match(c, row); },
      [&](int th, uint32_t, std::span<const PersonEvent> events) {
        auto& acc = counts[static_cast<size_t>(th)];
        // The person's active intervals, ascending (events come in time order).
        int64_t prev = 0;
        bool any = false;
        auto active = [&](int64_t k) {
          if (k >= first && k <= last) {
            const size_t i = static_cast<size_t>(k - first);
            if (!any) acc[i * 4 + kNew] += 1;
            else if (prev == k - 1) acc[i * 4 + kReturning] += 1;
            else acc[i * 4 + kResurrecting] += 1;
          }
          // Dormant the interval after the previous active one, when this is not it.
          if (any && prev + 1 < k && prev + 1 >= first && prev + 1 <= last) acc[static_cast<size_t>(prev + 1 - first) * 4 + kDormant] += 1;
          prev = k;
          any = true;
        };
        for (const PersonEvent& ev : events) {
          const int64_t k = range.Key(ev.time);
          if (!any || k != prev) active(k);
        }
        if (any && prev + 1 >= first && prev + 1 <= last) acc[static_cast<size_t>(prev + 1 - first) * 4 + kDormant] += 1;
      });
  for (size_t th = 1; th < counts.size(); ++th) {
    for (size_t i = 0; i < counts[0].size(); ++i) counts[0][i] += counts[th][i];
  }
  json list = json::array();
  for (size_t i = 0; i < n; ++i) {
    const auto* a = &counts[0][i * 4];
    list.push_back({{"start", range.Render(first + static_cast<int64_t>(i))},
                    {"new", a[kNew]},
                    {"returning", a[kReturning]},
                    {"resurrecting", a[kResurrecting]},
                    {"dormant", a[kDormant]}});
  }
  return json{{"interval", olap::TimeLevelName(range.level)}, {"event", entity.event.empty() ? json() : json(entity.event)}, {"intervals", list}};
}

Result<json> Stickiness(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  json list = req.value("series", json());
  if (list.is_null()) {
    if (!req.contains("event")) return Status::BadRequest("series (a list of {event, filters}) or event is required");
    list = json::array({req["event"]});
  }
  if (!list.is_array() || list.empty() || list.size() > 20) return Status::BadRequest("series is a list of 1-20 {event, filters}");
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  const int64_t first = range.first_key(), last = range.last_key();
  const size_t n = static_cast<size_t>(last - first + 1);
  json out = json::array();
  for (size_t si = 0; si < list.size(); ++si) {
    const std::string where = "series[" + std::to_string(si) + "]";
    AIMASS_ASSIGN_OR_RETURN(Entity entity, ParseEntity(list[si], where.c_str()));
    AIMASS_ASSIGN_OR_RETURN(CompiledEntity e, compiler.Compile(entity, global));
    std::vector<std::vector<double>> counts(static_cast<size_t>(ctx.threads), std::vector<double>(n + 1, 0));
    ScanPersons(
        ctx.snap, ctx.threads, e.persons,
        [&](const EventColumns& c, uint32_t row) { return c.time[row] >= range.from && c.time[row] < range.to && e.Match(c, row); },
        [&](int th, uint32_t, std::span<const PersonEvent> events) {
          size_t active = 0;
          int64_t prev = 0;
          for (const PersonEvent& ev : events) {
            const int64_t k = range.Key(ev.time);
            if (active == 0 || k != prev) ++active;
            prev = k;
          }
          counts[static_cast<size_t>(th)][active] += 1;
        });
    for (size_t th = 1; th < counts.size(); ++th) {
      for (size_t i = 0; i <= n; ++i) counts[0][i] += counts[th][i];
    }
    json data = json::array();
    for (size_t k = 1; k <= n; ++k) data.push_back({{"intervals", k}, {"persons", counts[0][k]}});
    out.push_back({{"label", entity.label}, {"event", entity.event.empty() ? json() : json(entity.event)}, {"data", data}});
  }
  return json{{"interval", olap::TimeLevelName(range.level)}, {"series", out}};
}

}  // namespace aimass::behavior
