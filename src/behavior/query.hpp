// What every insight request shares: the date range and interval, property filters on events
// and on persons, cohorts as filters, the event an entity (a series, a funnel step) counts, and
// a breakdown. Parsed from the request, then compiled against the project's dictionaries under
// its lock into tables (allowed codes, persons kept) that the scan reads without it.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "behavior/event_table.hpp"
#include "behavior/project.hpp"
#include "common/status.hpp"
#include "olap/calendar.hpp"

namespace aimass::behavior {

// [from, to) in Unix milliseconds, and the interval insights group by.
struct Range {
  int64_t from = 0, to = 0;
  olap::TimeLevel level = olap::TimeLevel::kDay;
  int64_t Key(int64_t ms) const { return olap::LevelKey(level, olap::FloorDiv(ms, 1000)); }
  int64_t first_key() const { return Key(from); }
  int64_t last_key() const { return Key(to - 1); }
  std::string Render(int64_t key) const { return olap::RenderKey(level, key); }
};

// date_from / date_to: RFC 3339 times, dates (date_to's day is included), or relative to now
// ("-7d", "-12w", "-6m", "-1y", "-24h"); interval: hour, day, week (Monday), month.
Result<Range> ParseRange(const nlohmann::json& req, int64_t now_ms, const char* default_from = "-7d");

enum class Op : uint8_t { kExact, kIsNot, kIContains, kNotIContains, kGt, kGte, kLt, kLte, kIsSet, kIsNotSet, kIn, kNotIn };

// {"key", "value", "operator" (exact), "type": event | person | cohort}. A cohort condition
// names the cohort in value; its operator is in (default) or not_in.
struct Condition {
  std::string type = "event";
  std::string key;
  Op op = Op::kExact;
  nlohmann::json value;
};

Result<std::vector<Condition>> ParseConditions(const nlohmann::json& filters, const char* where = "filters");

// Event property conditions, compiled: all must hold.
class EventMatcher {
 public:
  // No condition to check (a condition no event can meet is not "empty").
  bool empty() const { return conds_.empty() && !never; }
  bool Match(const EventColumns& c, size_t row) const {
    if (never) return false;
    for (const auto& k : conds_) {
      if (k.numeric) {
        if (!TestNumber(k, c.Number(k.key, row))) return false;
      } else {
        const uint32_t code = c.Code(k.key, row);
        // A compile sees every code the snapshot's parts hold; none is past the table's end.
        if (code >= k.allowed.size() || !k.allowed[code]) return false;
      }
    }
    return true;
  }

  struct Compiled {
    size_t key = 0;
    bool numeric = false;
    Op op = Op::kExact;
    std::vector<double> numbers;  // numeric exact / is_not / comparisons
    std::vector<uint8_t> allowed;  // text: by code (0: no value)
    bool none = false;             // numeric: whether an event without the property matches
  };
  std::vector<Compiled> conds_;
  bool never = false;  // a condition no event can meet (e.g. exact on a property never seen)

 private:
  static bool TestNumber(const Compiled& k, double v);
};

// A value tested as a condition's operator says (text or number; null: the property is absent).
bool TestValue(const Condition& c, const nlohmann::json* value);

// Resolves a cohort's members to a mask over distinct id codes (by root); the service's.
using CohortResolver = std::function<Result<std::vector<uint8_t>>(const std::string& cohort, const Snapshot& snap)>;

// The event an entity counts, with its own conditions: a series, a funnel step, a retention
// event. `event` "" (or "$all") is any event.
struct Entity {
  std::string event;
  std::vector<Condition> conditions;
  std::string label;
};
Result<Entity> ParseEntity(const nlohmann::json& j, const char* where);

struct CompiledEntity {
  uint32_t event = 0;  // 0: any
  bool any = false;
  bool never = false;  // an event name the project has never seen
  EventMatcher filter;
  std::vector<uint8_t> persons;  // its person / cohort conditions (empty: everyone)
  bool Match(const EventColumns& c, size_t row) const {
    if (never) return false;
    if (!any && c.event[row] != event) return false;
    return filter.empty() || filter.Match(c, row);
  }
};

// A breakdown by an event property (its text code on each event) or a person property.
struct Breakdown {
  std::string key;
  bool person = false;
  size_t limit = 25;
};
Result<std::optional<Breakdown>> ParseBreakdown(const nlohmann::json& req);

// The request's filters and entities, compiled for one snapshot.
class Compiler {
 public:
  Compiler(const Project& project, const Snapshot& snap, const CohortResolver& cohorts) : project_(project), snap_(snap), cohorts_(cohorts) {}
  // Person conditions (and cohorts) as a mask over distinct id codes, by root (empty: every one).
  Result<std::vector<uint8_t>> PersonMask(const std::vector<Condition>& conds);
  Result<CompiledEntity> Compile(const Entity& e, const std::vector<Condition>& global);
  Result<EventMatcher> Events(const std::vector<Condition>& conds);
  // A breakdown's value per event row (event properties: the key index, value codes; person
  // properties: a code per root in the returned dictionary `values`).
  struct CompiledBreakdown {
    bool person = false;
    size_t key = 0;
    bool known = false;                 // the project has the key
    std::vector<uint32_t> person_code;  // person: by root
    std::vector<std::string> values;    // person: code → text (0: none)
    size_t codes = 1;                   // codes a value may have: [0, codes)
    uint32_t Of(const EventColumns& c, size_t row, uint32_t root) const {
      if (person) return root < person_code.size() ? person_code[root] : 0;
      return known ? c.Code(key, row) : 0;
    }
  };
  Result<CompiledBreakdown> CompileBreakdown(const Breakdown& b);
  // The text of a breakdown code (null for none).
  nlohmann::json BreakdownValue(const CompiledBreakdown& b, uint32_t code) const;
  // An event name's code; nullopt when the project never saw it.
  std::optional<uint32_t> EventCode(const std::string& name) const;

 private:
  const Project& project_;
  const Snapshot& snap_;
  const CohortResolver& cohorts_;
};

// Combines masks (AND); an empty mask is "everyone".
void AndMask(std::vector<uint8_t>& into, const std::vector<uint8_t>& other);
inline bool InMask(const std::vector<uint8_t>& mask, uint32_t root) { return mask.empty() || (root < mask.size() && mask[root]); }

// A request's field of the type asked, or `def` when absent or null; bad_request naming the
// field when it holds another type (or `obj` is not an object).
Result<std::string> TextOf(const nlohmann::json& obj, const char* key, const std::string& def);
Result<bool> FlagOf(const nlohmann::json& obj, const char* key, bool def);
Result<int64_t> IntOf(const nlohmann::json& obj, const char* key, int64_t def);

// A duration: a number of seconds or "30m", "2h", "14d", "2w".
Result<int64_t> ParseDurationMs(const nlohmann::json& v, const char* what);

}  // namespace aimass::behavior
