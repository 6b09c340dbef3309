// Retention: cohorts of persons by the interval of their first target event ever (first_time)
// or of each interval with one (recurring), and how many of each cohort did the returning event
// in each later interval (or in it or any after: cumulative).
#include <algorithm>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

Result<json> Retention(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  const json& target_j = req.contains("target") ? req["target"] : (req.contains("event") ? req["event"] : json());
  if (target_j.is_null()) return Status::BadRequest("event (or target: {event, filters}) is required");
  AIMASS_ASSIGN_OR_RETURN(Entity target, ParseEntity(target_j, "target"));
  Entity returning = target;
  const json& ret_j = req.contains("returning") ? req["returning"] : (req.contains("returning_event") ? req["returning_event"] : json());
  if (!ret_j.is_null()) {
    AIMASS_ASSIGN_OR_RETURN(returning, ParseEntity(ret_j, "returning"));
  }
  AIMASS_ASSIGN_OR_RETURN(const std::string type, TextOf(req, "retention_type", "first_time"));
  if (type != "first_time" && type != "recurring") return Status::BadRequest("retention_type is first_time or recurring");
  const bool first_time = type == "first_time";
  int64_t periods = 11;
  if (req.contains("periods")) {
    if (!req["periods"].is_number_integer() || req["periods"].get<int64_t>() < 1 || req["periods"].get<int64_t>() > 1000) {
      return Status::BadRequest("periods is 1-1000");
    }
    periods = req["periods"];
  }
  AIMASS_ASSIGN_OR_RETURN(const bool cumulative, FlagOf(req, "cumulative", false));
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  AIMASS_ASSIGN_OR_RETURN(CompiledEntity t, compiler.Compile(target, global));
  AIMASS_ASSIGN_OR_RETURN(CompiledEntity r, compiler.Compile(returning, global));
  std::vector<uint8_t> persons = t.persons;
  const bool same = ret_j.is_null() || ret_j == target_j;  // one match answers both
  const int64_t first = range.first_key(), last = range.last_key();
  const size_t cohorts = static_cast<size_t>(last - first + 1);
  // counts[c * periods + i], per thread.
  std::vector<std::vector<double>> counts(static_cast<size_t>(ctx.threads), std::vector<double>(cohorts * static_cast<size_t>(periods), 0));
  ScanPersons(
      ctx.snap, ctx.threads, persons,
      [&](const EventColumns& c, uint32_t row) -> uint32_t {
        const int64_t ts = c.time[row];
        if (ts >= range.to) return 0;
        // Bit 0: a target event; bit 1: a returning one in range. The first time needs every
        // earlier target event; the rest only what is in range.
        const uint32_t target = t.Match(c, row) ? 1 : 0;
        if (ts < range.from) return first_time ? target : 0;
        return target | (same ? target << 1 : (r.Match(c, row) ? 2u : 0u));
      },
      [&](int th, uint32_t, std::span<const PersonEvent> events) {
        thread_local std::vector<int64_t> starts, returns;  // reused: one person after another
        starts.clear();
        returns.clear();
        bool seen_target = false;
        for (const PersonEvent& e : events) {
          const int64_t k = range.Key(e.time);
          if (e.mask & 1) {
            if (first_time) {
              // The first target event ever; a person whose first is before the range (even in
              // the range's first interval) is in no cohort.
              if (!seen_target) starts.push_back(e.time >= range.from ? k : first - 1);
              seen_target = true;
            } else if (starts.empty() || starts.back() != k) {
              starts.push_back(k);
            }
          }
          if ((e.mask & 2) && (returns.empty() || returns.back() != k)) returns.push_back(k);
        }
        auto& acc = counts[static_cast<size_t>(th)];
        for (int64_t s : starts) {
          if (s < first || s > last) continue;
          const size_t c = static_cast<size_t>(s - first);
          acc[c * static_cast<size_t>(periods)] += 1;
          const int64_t limit = std::min<int64_t>(periods - 1, last - s);
          if (cumulative) {
            // Returned in period i or later: up to the last period the person returned in.
            int64_t latest = 0;
            for (int64_t k : returns) {
              if (k > s) latest = std::max(latest, std::min(k - s, limit));
            }
            for (int64_t i = 1; i <= latest; ++i) acc[c * static_cast<size_t>(periods) + static_cast<size_t>(i)] += 1;
          } else {
            for (int64_t k : returns) {
              if (k > s && k - s <= limit) acc[c * static_cast<size_t>(periods) + static_cast<size_t>(k - s)] += 1;
            }
          }
        }
      });
  for (size_t th = 1; th < counts.size(); ++th) {
    for (size_t i = 0; i < counts[0].size(); ++i) counts[0][i] += counts[th][i];
  }
  json list = json::array();
  for (size_t c = 0; c < cohorts; ++c) {
    const int64_t key = first + static_cast<int64_t>(c);
    const int64_t n = std::min<int64_t>(periods, last - key + 1);
    json row = json::array();
    for (int64_t i = 0; i < n; ++i) row.push_back(counts[0][c * static_cast<size_t>(periods) + static_cast<size_t>(i)]);
    list.push_back({{"start", range.Render(key)}, {"size", counts[0][c * static_cast<size_t>(periods)]}, {"counts", row}});
  }
  return json{{"retention_type", type}, {"interval", olap::TimeLevelName(range.level)}, {"periods", periods}, {"cumulative", cumulative},
              {"cohorts", list}};
}

}  // namespace aimass::behavior
