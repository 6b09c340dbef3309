// Customer models over purchase events: RFM scores and segments, and the BG/NBD + Gamma-Gamma
// lifetime models (src/clv), with the results written back as person properties.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"
#include "clv/clv.hpp"
#include "clv/rfm.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

constexpr int64_t kDayMs = 86'400'000;

struct PurchaseQuery {
  Range range;
  CompiledEntity event;
  std::optional<size_t> value_key, frequency_key;
  int64_t period_ms = kDayMs;
  bool write = true;
};

Result<PurchaseQuery> ParsePurchases(InsightContext& ctx, const json& req, Compiler& compiler) {
  PurchaseQuery q;
  if (!req.is_object()) return Status::BadRequest("the request is an object {event, value_property, …}");
  json r = req;
  if (!r.contains("date_from") || r["date_from"].is_null()) r["date_from"] = "1970-01-01";
  r["interval"] = "month";  // only the range is used
  AIMASS_ASSIGN_OR_RETURN(q.range, ParseRange(r, ctx.now_ms));
  if (!req.contains("event")) return Status::BadRequest("event (the purchase event) is required");
  AIMASS_ASSIGN_OR_RETURN(Entity e, ParseEntity(req["event"], "event"));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  AIMASS_ASSIGN_OR_RETURN(q.event, compiler.Compile(e, global));
  Status st;
  auto key = [&](const char* field, bool numeric) -> std::optional<size_t> {
    if (!req.contains(field) || req[field].is_null()) return std::nullopt;
    if (!req[field].is_string()) {
      st = Status::BadRequest(std::string(field) + " is a property name");
      return std::nullopt;
    }
    const std::string name = req[field];
    return ctx.project.Read([&](const ProjectState& s) -> std::optional<size_t> {
      auto k = s.KeyIndex(name);
      if (!k) {
        st = Status::BadRequest(std::string(field) + ": no event has the property '" + name + "'");
        return std::nullopt;
      }
      if (numeric && !s.keys[*k].numeric) st = Status::BadRequest(std::string(field) + " '" + name + "' is not numeric");
      return k;
    });
  };
  q.value_key = key("value_property", true);
  q.frequency_key = key("frequency_property", false);
  AIMASS_RETURN_IF_ERROR(st);
  AIMASS_ASSIGN_OR_RETURN(const std::string unit, TextOf(req, "unit", "day"));
  if (unit == "week") q.period_ms = 7 * kDayMs;
  else if (unit != "day") return Status::BadRequest("unit is day or week");
  AIMASS_ASSIGN_OR_RETURN(q.write, FlagOf(req, "write", true));
  return q;
}

std::vector<Purchases> Summarise(InsightContext& ctx, const PurchaseQuery& q) {
  std::vector<std::vector<Purchases>> per(static_cast<size_t>(ctx.threads));
  ScanPersons(
      ctx.snap, ctx.threads, q.event.persons,
      [&](const EventColumns& c, uint32_t r) { return c.time[r] >= q.range.from && c.time[r] < q.range.to && q.event.Match(c, r); },
      [&](int th, uint32_t root, std::span<const PersonEvent> events) {
        Purchases p;
        p.root = root;
        p.first_ms = events.front().time;
        p.last_ms = events.back().time;
        std::unordered_set<uint32_t> orders;
        int64_t period = 0;
        double period_value = 0;
        bool first_period = true;
        auto close = [&] {
          if (!first_period) p.repeat_value += period_value;
        };
        for (const PersonEvent& e : events) {
          const double v = q.value_key ? e.cols->Number(*q.value_key, e.row) : 1.0;
          const double value = std::isnan(v) ? 0.0 : v;
          p.value += value;
          if (q.frequency_key) orders.insert(e.cols->Code(*q.frequency_key, e.row));
          else p.count += 1;
          const int64_t k = olap::FloorDiv(e.time, q.period_ms);
          if (p.periods == 0) {
            p.first_period = k;
            p.periods = 1;
            period = k;
          } else if (k != period) {
            close();
            first_period = false;
            period = k;
            period_value = 0;
            p.periods += 1;
          }
          period_value += value;
          p.last_period = k;
        }
        close();
        if (q.frequency_key) p.count = static_cast<double>(orders.size());
        per[static_cast<size_t>(th)].push_back(p);
      });
  std::vector<Purchases> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end(), [](const Purchases& a, const Purchases& b) { return a.root < b.root; });
  return all;
}

std::vector<std::string> IdsOf(InsightContext& ctx, const std::vector<Purchases>& customers) {
  return ctx.project.Read([&](const ProjectState& s) {
    std::vector<std::string> ids;
    ids.reserve(customers.size());
    for (const auto& c : customers) ids.push_back(s.distinct.value(c.root));
    return ids;
  });
}

double Round(double x, double scale) { return std::round(x * scale) / scale; }

}  // namespace

Result<json> Rfm(InsightContext& ctx, const json& req, std::vector<std::pair<std::string, json>>* written) {
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  AIMASS_ASSIGN_OR_RETURN(PurchaseQuery q, ParsePurchases(ctx, req, compiler));
  AIMASS_ASSIGN_OR_RETURN(const std::string property, TextOf(req, "property", "segment"));
  if (property.empty() || property.size() > kMaxName) return Status::BadRequest("property is 1-200 characters");
  const auto customers = Summarise(ctx, q);
  const auto ids = IdsOf(ctx, customers);
  std::vector<clv::RfmInput> in;
  in.reserve(customers.size());
  for (const auto& c : customers) {
    in.push_back({static_cast<double>(q.range.to - c.last_ms) / kDayMs, c.count, c.value});
  }
  const auto scores = clv::ScoreRfm(in);
  json persons = json::array(), segments = json::object();
  for (size_t i = 0; i < customers.size(); ++i) {
    const auto& s = scores[i];
    const std::string rfm = std::to_string(s.r) + std::to_string(s.f) + std::to_string(s.m);
    persons.push_back({{"distinct_id", ids[i]}, {"recency", Round(in[i].recency, 1e6)}, {"frequency", in[i].frequency}, {"monetary", Round(in[i].monetary, 1e6)},
                       {"r", s.r}, {"f", s.f}, {"m", s.m}, {"rfm", rfm}, {"segment", s.segment}});
    segments[s.segment] = segments.value(s.segment, 0) + 1;
    if (q.write) written->push_back({ids[i], json{{property, s.segment}, {"rfm", rfm}}});
  }
  return json{{"customers", customers.size()}, {"segments", segments}, {"persons", persons}, {"written", q.write ? json(property) : json()}};
}

Result<json> Lifetime(InsightContext& ctx, const json& req, std::vector<std::pair<std::string, json>>* written) {
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  AIMASS_ASSIGN_OR_RETURN(PurchaseQuery q, ParsePurchases(ctx, req, compiler));
  double horizon = 90;
  if (req.contains("horizon")) {
    if (!req["horizon"].is_number() || !(req["horizon"].get<double>() > 0)) return Status::BadRequest("horizon is a positive number of units");
    horizon = req["horizon"];
  }
  const auto customers = Summarise(ctx, q);
  const auto ids = IdsOf(ctx, customers);
  // The summary "buy till you die" models take: repeat periods x, the last at t_x, and the age
  // T at the end of the observation, in periods from the first purchase.
  const int64_t end_period = olap::FloorDiv(q.range.to - 1, q.period_ms);
  std::vector<clv::Customer> in;
  in.reserve(customers.size());
  for (const auto& c : customers) {
    clv::Customer x;
    x.x = c.periods - 1;
    x.t_x = static_cast<double>(c.last_period - c.first_period);
    x.T = static_cast<double>(end_period - c.first_period);
    x.monetary = x.x > 0 ? c.repeat_value / x.x : 0;
    in.push_back(x);
  }
  std::vector<clv::Customer> fit_in;
  for (const auto& c : in) {
    if (c.T > 0) fit_in.push_back(c);
  }
  AIMASS_ASSIGN_OR_RETURN(clv::BgNbd bg, clv::FitBgNbd(fit_in));
  json out = {{"customers", customers.size()},
              {"unit", q.period_ms == kDayMs ? "day" : "week"},
              {"horizon", horizon},
              {"bgnbd", {{"r", bg.r}, {"alpha", bg.alpha}, {"a", bg.a}, {"b", bg.b}, {"log_likelihood", bg.log_likelihood}}}};
  std::optional<clv::GammaGamma> gg;
  if (q.value_key) {
    auto fitted = clv::FitGammaGamma(fit_in);
    if (fitted.ok()) {
      gg = *fitted;
      out["gamma_gamma"] = {{"p", gg->p}, {"q", gg->q}, {"v", gg->v}, {"log_likelihood", gg->log_likelihood}};
    } else {
      out["gamma_gamma_error"] = fitted.status().message();
    }
  }
  json persons = json::array();
  for (size_t i = 0; i < customers.size(); ++i) {
    const auto& c = in[i];
    json p = {{"distinct_id", ids[i]}, {"frequency", c.x}, {"recency", c.t_x}, {"T", c.T}, {"monetary", Round(c.monetary, 1e6)}};
    json props = json::object();
    if (c.T > 0) {
      const double alive = bg.ProbabilityAlive(c), expected = bg.ExpectedPurchases(c, horizon);
      p["p_alive"] = alive;
      p["expected_purchases"] = expected;
      props["p_alive"] = Round(alive, 1e6);
      props["expected_purchases"] = Round(expected, 1e6);
      if (gg) {
        const double value = gg->ExpectedValue(c);
        p["expected_value"] = value;
        p["clv"] = value * expected;
        props["clv"] = Round(value * expected, 1e4);
      }
    }
    persons.push_back(std::move(p));
    if (q.write && !props.empty()) written->push_back({ids[i], std::move(props)});
  }
  out["persons"] = std::move(persons);
  return out;
}

}  // namespace aimass::behavior
