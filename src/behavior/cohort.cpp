// Dynamic cohorts: persons chosen by what they did (an event at least / at most N times in a
// period) and by their properties, recomputed at every use.
#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

Status CheckCondition(const json& c, size_t i) {
  const std::string at = "conditions[" + std::to_string(i) + "]";
  if (!c.is_object()) return Status::BadRequest(at + " is an object");
  AIMASS_ASSIGN_OR_RETURN(const std::string type, TextOf(c, "type", "behavior"));
  if (type == "behavior") {
    if (!c.contains("event") || !c["event"].is_string()) return Status::BadRequest(at + ".event is required");
    for (const char* k : {"min_count", "max_count", "days"}) {
      if (c.contains(k) && (!c[k].is_number_integer() || c[k].get<int64_t>() < 0)) return Status::BadRequest(at + "." + k + " is a whole number");
    }
    AIMASS_RETURN_IF_ERROR(ParseConditions(c.value("filters", json()), (at + ".filters").c_str()).status());
    return Status::Ok();
  }
  if (type == "person" || type == "cohort") {
    json f = c;
    return ParseConditions(json::array({f}), "conditions").status();
  }
  return Status::BadRequest(at + ".type is behavior, person or cohort");
}

}  // namespace

Status CheckCohortDefinition(const json& d) {
  if (!d.is_object()) return Status::BadRequest("criteria is an object {match: all | any, conditions: [...]}");
  AIMASS_ASSIGN_OR_RETURN(const std::string match, TextOf(d, "match", "all"));
  if (match != "all" && match != "any") return Status::BadRequest("criteria.match is all or any");
  if (!d.contains("conditions") || !d["conditions"].is_array() || d["conditions"].empty() || d["conditions"].size() > 50) {
    return Status::BadRequest("criteria.conditions is a list of 1-50 conditions");
  }
  for (size_t i = 0; i < d["conditions"].size(); ++i) AIMASS_RETURN_IF_ERROR(CheckCondition(d["conditions"][i], i));
  return Status::Ok();
}

Result<std::vector<uint8_t>> CohortMembers(InsightContext& ctx, const json& d) {
  AIMASS_RETURN_IF_ERROR(CheckCohortDefinition(d));
  const bool all = !d.contains("match") || d["match"] == "all";
  const size_t n = ctx.snap.roots.size();
  std::vector<uint8_t> result(n, all ? 1 : 0);
  for (uint32_t r = 0; r < n; ++r) result[r] = result[r] && ctx.snap.roots[r] == r;
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  for (const json& c : d["conditions"]) {
    std::vector<uint8_t> m;
    const std::string type = c.contains("type") ? c["type"].get<std::string>() : "behavior";
    if (type == "behavior") {
      AIMASS_ASSIGN_OR_RETURN(Entity e, ParseEntity(c, "condition"));
      AIMASS_ASSIGN_OR_RETURN(CompiledEntity ce, compiler.Compile(e, {}));
      int64_t from = std::numeric_limits<int64_t>::min(), to = std::numeric_limits<int64_t>::max();
      if (c.contains("days")) from = ctx.now_ms - c["days"].get<int64_t>() * 86'400'000;
      if (c.contains("date_from") || c.contains("date_to")) {
        json r = {{"date_from", c.value("date_from", json("1970-01-01"))}, {"date_to", c.value("date_to", json("now"))}, {"interval", "month"}};
        AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(r, ctx.now_ms));
        from = range.from;
        to = range.to;
      }
      AIMASS_ASSIGN_OR_RETURN(const int64_t min_count, IntOf(c, "min_count", 1));
      AIMASS_ASSIGN_OR_RETURN(const int64_t max_count, IntOf(c, "max_count", -1));
      std::vector<uint32_t> count(n, 0);
      ScanPersons(
          ctx.snap, ctx.threads, ce.persons, [&](const EventColumns& cols, uint32_t row) {
            return cols.time[row] >= from && cols.time[row] < to && ce.Match(cols, row);
          },
          [&](int, uint32_t root, std::span<const PersonEvent> events) { count[root] = static_cast<uint32_t>(events.size()); });
      m.assign(n, 0);
      for (uint32_t r = 0; r < n; ++r) {
        if (ctx.snap.roots[r] != r) continue;
        const int64_t k = count[r];
        m[r] = k >= min_count && (max_count < 0 || k <= max_count);
      }
    } else {
      AIMASS_ASSIGN_OR_RETURN(auto conds, ParseConditions(json::array({c}), "conditions"));
      AIMASS_ASSIGN_OR_RETURN(m, compiler.PersonMask(conds));
      if (m.empty()) {
        m.assign(n, 0);
        for (uint32_t r = 0; r < n; ++r) m[r] = ctx.snap.roots[r] == r;
      }
    }
    for (size_t r = 0; r < n; ++r) result[r] = all ? (result[r] && m[r]) : (result[r] || m[r]);
  }
  if (n) result[0] = 0;  // code 0 is no one
  return result;
}

}  // namespace aimass::behavior
