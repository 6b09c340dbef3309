#include "behavior/query.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/text.hpp"
#include "common/time.hpp"

namespace aimass::behavior {

using nlohmann::json;
using olap::TimeLevel;

namespace {

std::optional<int64_t> Relative(std::string_view s, int64_t now_ms) {
  if (s.size() < 3 || s[0] != '-') return std::nullopt;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data() + 1, s.data() + s.size() - 1, n);
  if (ec != std::errc() || p != s.data() + s.size() - 1 || n < 0 || n > 100000) return std::nullopt;
  const int64_t day = 86'400'000;
  const int64_t today = olap::FloorDiv(now_ms, day) * day;
  switch (s.back()) {
    case 'h': return now_ms - n * 3'600'000;
    case 'd': return today - n * day;
    case 'w': return today - n * 7 * day;
    case 'm': return today - n * 30 * day;
    case 'y': return today - n * 365 * day;
    default: return std::nullopt;
  }
}

Result<int64_t> TimeOf(const json& v, int64_t now_ms, bool end, const char* what) {
  if (!v.is_string()) return Status::BadRequest(std::string(what) + " is a date, a time or a relative time (-7d)");
  const std::string s = v.get<std::string>();
  if (auto r = Relative(s, now_ms)) return *r;
  if (s == "now") return now_ms;
  // A full time to the millisecond; olap's reader takes the shorter forms (dates, months, years,
  // times without seconds) in whole seconds.
  if (s.size() > 10) {
    if (auto ms = ParseRfc3339Ms(s)) return *ms;
  }
  auto t = olap::ParseTime(s);
  if (!t) return Status::BadRequest(std::string(what) + " '" + s.substr(0, 64) + "' is not a date, a time or a relative time (-7d)");
  int64_t ms = *t * 1000;
  // A date, month or year as date_to includes the whole of it.
  if (end) {
    if (s.size() == 10) ms += 86'400'000;
    else if (s.size() == 7) ms = olap::KeyStart(TimeLevel::kMonth, olap::LevelKey(TimeLevel::kMonth, *t) + 1) * 1000;
    else if (s.size() == 4) ms = olap::KeyStart(TimeLevel::kYear, olap::LevelKey(TimeLevel::kYear, *t) + 1) * 1000;
  }
  return ms;
}

Result<Op> ParseOp(const std::string& s) {
  static const std::pair<const char*, Op> kOps[] = {
      {"exact", Op::kExact},   {"is_not", Op::kIsNot}, {"icontains", Op::kIContains}, {"not_icontains", Op::kNotIContains},
      {"gt", Op::kGt},         {"gte", Op::kGte},      {"lt", Op::kLt},               {"lte", Op::kLte},
      {"is_set", Op::kIsSet},  {"is_not_set", Op::kIsNotSet}, {"in", Op::kIn},       {"not_in", Op::kNotIn}};
  for (const auto& [name, op] : kOps) {
    if (s == name) return op;
  }
  return Status::BadRequest("operator '" + s.substr(0, 32) +
                            "' is not one of exact, is_not, icontains, not_icontains, gt, gte, lt, lte, is_set, is_not_set (in, not_in for cohorts)");
}

std::optional<double> AsNumber(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return d;
  }
  return std::nullopt;
}

std::string Text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The condition's values as a list (exact and is_not take one value or several).
std::vector<json> Values(const json& v) {
  if (v.is_array()) return std::vector<json>(v.begin(), v.end());
  return {v};
}

}  // namespace

Result<std::string> TextOf(const json& obj, const char* key, const std::string& def) {
  if (!obj.is_object()) return Status::BadRequest("the request is an object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_string()) return Status::BadRequest(std::string(key) + " is text");
  return it->get<std::string>();
}

Result<bool> FlagOf(const json& obj, const char* key, bool def) {
  if (!obj.is_object()) return Status::BadRequest("the request is an object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) return Status::BadRequest(std::string(key) + " is true or false");
  return it->get<bool>();
}

Result<int64_t> IntOf(const json& obj, const char* key, int64_t def) {
  if (!obj.is_object()) return Status::BadRequest("the request is an object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number_integer()) return Status::BadRequest(std::string(key) + " is a whole number");
  return it->get<int64_t>();
}

Result<Range> ParseRange(const json& req, int64_t now_ms, const char* default_from) {
  Range r;
  AIMASS_ASSIGN_OR_RETURN(const std::string interval, TextOf(req, "interval", "day"));
  if (interval == "hour") r.level = TimeLevel::kHour;
  else if (interval == "day") r.level = TimeLevel::kDay;
  else if (interval == "week") r.level = TimeLevel::kWeek;
  else if (interval == "month") r.level = TimeLevel::kMonth;
  else return Status::BadRequest("interval is hour, day, week or month");
  AIMASS_ASSIGN_OR_RETURN(r.from, TimeOf(req.contains("date_from") && !req["date_from"].is_null() ? req["date_from"] : json(default_from),
                                         now_ms, false, "date_from"));
  if (req.contains("date_to") && !req["date_to"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(r.to, TimeOf(req["date_to"], now_ms, true, "date_to"));
  } else {
    r.to = now_ms + 1;
  }
  if (r.to <= r.from) return Status::BadRequest("date_to is before date_from");
  // Bound the number of intervals a response holds.
  if ((r.last_key() - r.first_key()) > 20000) return Status::BadRequest("the range holds more than 20,000 intervals: pick a coarser interval");
  return r;
}

Result<std::vector<Condition>> ParseConditions(const json& filters, const char* where) {
  std::vector<Condition> out;
  if (filters.is_null()) return out;
  if (!filters.is_array()) return Status::BadRequest(std::string(where) + " is a list of {key, value, operator, type}");
  for (size_t i = 0; i < filters.size(); ++i) {
    const json& f = filters[i];
    const std::string at = std::string(where) + "[" + std::to_string(i) + "]";
    if (!f.is_object()) return Status::BadRequest(at + " is an object {key, value, operator, type}");
    Condition c;
    AIMASS_ASSIGN_OR_RETURN(c.type, TextOf(f, "type", "event"));
    if (c.type != "event" && c.type != "person" && c.type != "cohort") return Status::BadRequest(at + ".type is event, person or cohort");
    if (c.type == "cohort") {
      const json& v = f.contains("value") ? f["value"] : (f.contains("key") ? f["key"] : json());
      if (!v.is_string() || v.get<std::string>().empty()) return Status::BadRequest(at + ": a cohort condition names the cohort in value");
      c.value = v;
      c.op = Op::kIn;
      if (f.contains("operator")) {
        if (!f["operator"].is_string()) return Status::BadRequest(at + ".operator is in or not_in");
        AIMASS_ASSIGN_OR_RETURN(c.op, ParseOp(f["operator"]));
        if (c.op != Op::kIn && c.op != Op::kNotIn) return Status::BadRequest(at + ".operator is in or not_in for a cohort");
      }
      out.push_back(std::move(c));
      continue;
    }
    if (!f.contains("key") || !f["key"].is_string() || f["key"].get<std::string>().empty()) return Status::BadRequest(at + ".key is required");
    c.key = f["key"];
    if (f.contains("operator") && !f["operator"].is_null()) {
      if (!f["operator"].is_string()) return Status::BadRequest(at + ".operator is a name");
      AIMASS_ASSIGN_OR_RETURN(c.op, ParseOp(f["operator"]));
      if (c.op == Op::kIn || c.op == Op::kNotIn) return Status::BadRequest(at + ": in and not_in are for cohorts");
    }
    if (c.op != Op::kIsSet && c.op != Op::kIsNotSet) {
      if (!f.contains("value") || f["value"].is_null() || f["value"].is_object()) return Status::BadRequest(at + ".value is required");
      c.value = f["value"];
      if (c.value.is_array() && (c.value.empty() || (c.op != Op::kExact && c.op != Op::kIsNot))) {
        return Status::BadRequest(at + ".value: a list of values is for exact and is_not");
      }
      if ((c.op == Op::kGt || c.op == Op::kGte || c.op == Op::kLt || c.op == Op::kLte) && !AsNumber(c.value)) {
        return Status::BadRequest(at + ".value is a number for " + f["operator"].get<std::string>());
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

bool TestValue(const Condition& c, const json* v) {
  const bool present = v && !v->is_null();
  switch (c.op) {
    case Op::kIsSet: return present;
    case Op::kIsNotSet: return !present;
    case Op::kExact:
    case Op::kIsNot: {
      bool eq = false;
      if (present) {
        const auto num = AsNumber(*v);
        for (const json& want : Values(c.value)) {
          const auto w = AsNumber(want);
          if ((num && w && *num == *w) || Text(*v) == Text(want)) {
            eq = true;
            break;
          }
        }
      }
      return c.op == Op::kExact ? eq : !eq;
    }
    case Op::kIContains:
    case Op::kNotIContains: {
      const bool has = present && AsciiLower(Text(*v)).find(AsciiLower(Text(c.value))) != std::string::npos;
      return c.op == Op::kIContains ? has : !has;
    }
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte: {
      if (!present) return false;
      const auto num = AsNumber(*v);
      const double w = *AsNumber(c.value);
      if (!num) return false;
      return c.op == Op::kGt ? *num > w : c.op == Op::kGte ? *num >= w : c.op == Op::kLt ? *num < w : *num <= w;
    }
    case Op::kIn:
    case Op::kNotIn: return false;
  }
  return false;
}

bool EventMatcher::TestNumber(const Compiled& k, double v) {
  if (std::isnan(v)) return k.none;
  switch (k.op) {
    case Op::kIsSet: return true;
    case Op::kIsNotSet: return false;
    case Op::kExact:
    case Op::kIsNot: {
      const bool eq = std::find(k.numbers.begin(), k.numbers.end(), v) != k.numbers.end();
      return k.op == Op::kExact ? eq : !eq;
    }
    case Op::kGt: return v > k.numbers[0];
    case Op::kGte: return v >= k.numbers[0];
    case Op::kLt: return v < k.numbers[0];
    case Op::kLte: return v <= k.numbers[0];
    case Op::kIContains:
    case Op::kNotIContains: {
      // A number's text: rare on numeric keys, so the slow way.
      Condition c;
      c.op = k.op;
      c.value = k.numbers.empty() ? json("") : json(k.numbers[0]);
      json jv = v;
      return TestValue(c, &jv);
    }
    default: return false;
  }
}

Result<Entity> ParseEntity(const json& j, const char* where) {
  Entity e;
  if (j.is_string()) {
    e.event = j.get<std::string>();
  } else if (j.is_object()) {
    const json& ev = j.contains("event") ? j["event"] : (j.contains("id") ? j["id"] : json());
    if (!ev.is_null() && !ev.is_string()) return Status::BadRequest(std::string(where) + ".event is an event name");
    if (ev.is_string()) e.event = ev.get<std::string>();
    AIMASS_ASSIGN_OR_RETURN(e.conditions, ParseConditions(j.value("filters", json()), where));
    AIMASS_ASSIGN_OR_RETURN(e.label, TextOf(j, "label", ""));
  } else {
    return Status::BadRequest(std::string(where) + " is an event name or {event, filters}");
  }
  if (e.event == "$all") e.event.clear();
  if (e.label.empty()) e.label = e.event.empty() ? "all events" : e.event;
  return e;
}

Result<std::optional<Breakdown>> ParseBreakdown(const json& req) {
  if (!req.contains("breakdown") || req["breakdown"].is_null()) return std::optional<Breakdown>();
  Breakdown b;
  const json& j = req["breakdown"];
  if (j.is_string()) {
    b.key = j.get<std::string>();
    AIMASS_ASSIGN_OR_RETURN(const std::string type, TextOf(req, "breakdown_type", "event"));
    b.person = type == "person";
  } else if (j.is_object() && j.contains("key") && j["key"].is_string()) {
    b.key = j["key"];
    AIMASS_ASSIGN_OR_RETURN(const std::string type, TextOf(j, "type", "event"));
    b.person = type == "person";
  } else {
    return Status::BadRequest("breakdown is a property name or {key, type: event | person}");
  }
  if (b.key.empty()) return Status::BadRequest("breakdown names a property");
  if (req.contains("breakdown_limit")) {
    if (!req["breakdown_limit"].is_number_integer() || req["breakdown_limit"].get<int64_t>() < 1 || req["breakdown_limit"].get<int64_t>() > 1000) {
      return Status::BadRequest("breakdown_limit is 1-1000");
    }
    b.limit = req["breakdown_limit"].get<size_t>();
  }
  return std::optional<Breakdown>(b);
}

void AndMask(std::vector<uint8_t>& into, const std::vector<uint8_t>& other) {
  if (other.empty()) return;
  if (into.empty()) {
    into = other;
    return;
  }
  for (size_t i = 0; i < into.size(); ++i) into[i] = into[i] && i < other.size() && other[i];
}

Result<std::vector<uint8_t>> Compiler::PersonMask(const std::vector<Condition>& conds) {
  std::vector<uint8_t> mask;
  std::vector<const Condition*> person;
  for (const auto& c : conds) {
    if (c.type == "person") person.push_back(&c);
    if (c.type != "cohort") continue;
    if (!cohorts_) return Status::BadRequest("cohorts are not available here");
    AIMASS_ASSIGN_OR_RETURN(auto m, cohorts_(c.value.get<std::string>(), snap_));
    if (c.op == Op::kNotIn) {
      m.resize(snap_.roots.size(), 0);
      for (auto& x : m) x = !x;
    }
    m.resize(snap_.roots.size(), 0);
    AndMask(mask, m);
  }
  if (person.empty()) return mask;
  std::vector<uint8_t> pm(snap_.roots.size(), 0);
  project_.Read([&](const ProjectState& s) {
    // Persons without properties: the same answer for all of them.
    bool bare = true;
    for (const auto* c : person) bare = bare && TestValue(*c, nullptr);
    for (uint32_t d = 0; d < pm.size(); ++d) {
      if (snap_.roots[d] != d) continue;
      const json* props = s.persons.Properties(d);
      if (!props) {
        pm[d] = bare;
        continue;
      }
      bool ok = true;
      for (const auto* c : person) {
        auto it = props->find(c->key);
        ok = ok && TestValue(*c, it == props->end() ? nullptr : &*it);
      }
      pm[d] = ok;
    }
  });
  AndMask(mask, pm);
  return mask;
}

Result<EventMatcher> Compiler::Events(const std::vector<Condition>& conds) {
  EventMatcher m;
  project_.Read([&](const ProjectState& s) {
    for (const auto& c : conds) {
      if (c.type != "event") continue;
      const auto idx = s.KeyIndex(c.key);
      EventMatcher::Compiled k;
      k.op = c.op;
      if (!idx) {
        // No event has the property: the condition holds for all or for none.
        if (!TestValue(c, nullptr)) m.never = true;
        continue;
      }
      k.key = *idx;
      const PropertyKey& key = s.keys[*idx];
      k.numeric = key.numeric;
      if (key.numeric) {
        k.none = TestValue(c, nullptr);
        if (c.op != Op::kIsSet && c.op != Op::kIsNotSet) {
          for (const json& v : Values(c.value)) {
            if (auto n = AsNumber(v)) k.numbers.push_back(*n);
          }
          if (k.numbers.empty() && c.op != Op::kIsNot && c.op != Op::kNotIContains) m.never = true;
        }
      } else {
        k.allowed.resize(key.dict.size());
        k.allowed[0] = TestValue(c, nullptr);
        for (uint32_t code = 1; code < key.dict.size(); ++code) {
          const json v = key.dict.value(code);
          k.allowed[code] = TestValue(c, &v);
        }
      }
      m.conds_.push_back(std::move(k));
    }
  });
  return m;
}

std::optional<uint32_t> Compiler::EventCode(const std::string& name) const {
  return project_.Read([&](const ProjectState& s) { return s.events.Find(name); });
}

Result<CompiledEntity> Compiler::Compile(const Entity& e, const std::vector<Condition>& global) {
  CompiledEntity c;
  if (e.event.empty()) c.any = true;
  else if (auto code = EventCode(e.event)) c.event = *code;
  else c.never = true;
  std::vector<Condition> all = global;
  all.insert(all.end(), e.conditions.begin(), e.conditions.end());
  AIMASS_ASSIGN_OR_RETURN(c.filter, Events(all));
  AIMASS_ASSIGN_OR_RETURN(c.persons, PersonMask(all));
  return c;
}

Result<Compiler::CompiledBreakdown> Compiler::CompileBreakdown(const Breakdown& b) {
  CompiledBreakdown out;
  out.person = b.person;
  Status st;
  project_.Read([&](const ProjectState& s) {
    if (!b.person) {
      const auto idx = s.KeyIndex(b.key);
      if (!idx) return;
      if (s.keys[*idx].numeric) {
        st = Status::BadRequest("breakdown by '" + b.key + "': a numeric property (breakdowns are by text properties)");
        return;
      }
      out.known = true;
      out.key = *idx;
      out.codes = s.keys[*idx].dict.size();
      return;
    }
    olap::Dictionary values;
    out.person_code.assign(snap_.roots.size(), 0);
    for (const auto& [root, props] : s.persons.all_properties()) {
      if (root >= out.person_code.size()) continue;
      auto it = props.find(b.key);
      if (it == props.end() || it->is_null()) continue;
      out.person_code[root] = values.Add(it->is_string() ? it->get<std::string>() : it->dump());
    }
    out.values = values.values();
    out.codes = out.values.size();
  });
  if (!st.ok()) return st;
  return out;
}

json Compiler::BreakdownValue(const CompiledBreakdown& b, uint32_t code) const {
  if (code == 0) return nullptr;
  if (b.person) return code < b.values.size() ? json(b.values[code]) : json();
  return project_.Read([&](const ProjectState& s) { return json(s.keys[b.key].dict.value(code)); });
}

Result<int64_t> ParseDurationMs(const json& v, const char* what) {
  if (v.is_number()) {
    const double s = v.get<double>();
    if (!(s > 0) || s > 3.2e9) return Status::BadRequest(std::string(what) + " is a positive number of seconds");
    return static_cast<int64_t>(s * 1000);
  }
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && n > 0 && p + 1 == s.data() + s.size()) {
      switch (*p) {
        case 's': return n * 1000;
        case 'm': return n * 60'000;
        case 'h': return n * 3'600'000;
        case 'd': return n * 86'400'000;
        case 'w': return n * 7 * 86'400'000;
      }
    }
  }
  if (v.is_object() && v.contains("value") && v["value"].is_number_integer()) {
    AIMASS_ASSIGN_OR_RETURN(const std::string unit, TextOf(v, "unit", "d"));
    if (unit.empty()) return Status::BadRequest(std::string(what) + ".unit is second, minute, hour, day or week");
    return ParseDurationMs(std::to_string(v["value"].get<int64_t>()) + unit.substr(0, 1), what);
  }
  return Status::BadRequest(std::string(what) + " is seconds or a duration (30m, 2h, 14d, 2w)");
}

}  // namespace aimass::behavior
