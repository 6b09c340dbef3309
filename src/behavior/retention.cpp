// Retention: cohorts of persons by the interval of their first target event ever (first_time)
// or of each interval with one (recurring), and how many of each cohort did the returning event
// in each later interval (or in it or any after: cumulative).
#include <algorithm>
#include <optional>

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
  AIMASS_ASSIGN_OR_RETURN(auto breakdown, ParseBreakdown(req));
  Compiler::CompiledBreakdown bd;
  if (breakdown) {
    AIMASS_ASSIGN_OR_RETURN(bd, compiler.CompileBreakdown(*breakdown));
  }
  const int64_t first = range.first_key(), last = range.last_key();
  const size_t cohorts = static_cast<size_t>(last - first + 1);
  const size_t table = cohorts * static_cast<size_t>(periods);
  if (bd.codes * table > (size_t{16} << 20)) {
    return Status::BadRequest("the breakdown has too many values for these cohorts and periods: filter it or pick a coarser interval");
  }
  // counts[b * table + c * periods + i] (b: the breakdown's code), per thread.
  std::vector<std::vector<double>> counts(static_cast<size_t>(ctx.threads), std::vector<double>(bd.codes * table, 0));
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
      [&](int th, uint32_t root, std::span<const PersonEvent> events) {
        // Each cohort the person is in, with the breakdown value of the event that put them
        // there (their first target event in it).
        thread_local std::vector<std::pair<int64_t, uint32_t>> starts;  // reused: one person after another
        thread_local std::vector<int64_t> returns;
        starts.clear();
        returns.clear();
        bool seen_target = false;
        for (const PersonEvent& e : events) {
          const int64_t k = range.Key(e.time);
          if (e.mask & 1) {
            const auto code = [&] { return breakdown ? bd.Of(*e.cols, e.row, root) : 0u; };
            if (first_time) {
              // The first target event ever; a person whose first is before the range (even in
              // the range's first interval) is in no cohort.
              if (!seen_target) starts.emplace_back(e.time >= range.from ? k : first - 1, code());
              seen_target = true;
            } else if (starts.empty() || starts.back().first != k) {
              starts.emplace_back(k, code());
            }
          }
          if ((e.mask & 2) && (returns.empty() || returns.back() != k)) returns.push_back(k);
        }
        for (const auto& [s, b] : starts) {
          if (s < first || s > last) continue;
          double* acc = counts[static_cast<size_t>(th)].data() + b * table;
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
  // The table of one breakdown value (or of all of them: b = nullopt).
  auto render = [&](std::optional<size_t> b) {
    json list = json::array();
    for (size_t c = 0; c < cohorts; ++c) {
      const int64_t key = first + static_cast<int64_t>(c);
      const int64_t n = std::min<int64_t>(periods, last - key + 1);
      json row = json::array();
      for (int64_t i = 0; i < n; ++i) {
        double v = 0;
        for (size_t x = b ? *b : 0; x < (b ? *b + 1 : bd.codes); ++x) v += counts[0][x * table + c * static_cast<size_t>(periods) + static_cast<size_t>(i)];
        row.push_back(v);
      }
      list.push_back({{"start", range.Render(key)}, {"size", row[0]}, {"counts", row}});
    }
    return list;
  };
  json out = {{"retention_type", type}, {"interval", olap::TimeLevelName(range.level)}, {"periods", periods}, {"cumulative", cumulative},
              {"cohorts", render(std::nullopt)}};
  if (breakdown) {
    // Values by the persons in their cohorts, the most first.
    std::vector<std::pair<double, size_t>> sizes;
    for (size_t b = 0; b < bd.codes; ++b) {
      double n = 0;
      for (size_t c = 0; c < cohorts; ++c) n += counts[0][b * table + c * static_cast<size_t>(periods)];
      if (n > 0) sizes.emplace_back(-n, b);
    }
    std::sort(sizes.begin(), sizes.end());
    if (sizes.size() > breakdown->limit) sizes.resize(breakdown->limit);
    json list = json::array();
    for (const auto& [n, b] : sizes) list.push_back({{"value", compiler.BreakdownValue(bd, static_cast<uint32_t>(b))}, {"cohorts", render(b)}});
    out["breakdown"] = breakdown->key;
    out["breakdowns"] = list;
  }
  return out;
}

}  // namespace aimass::behavior
