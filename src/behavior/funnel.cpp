// Funnels: how many persons went through the steps, in order (other events between allowed),
// strictly in order (none between), or in any order, each within the conversion window of
// their first step; conversion and drop-off per step, times between steps, breakdowns by a
// property of the first step's event or of the person.
#include <algorithm>
#include <array>
#include <cmath>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

constexpr size_t kMaxSteps = 20;

enum class Order : uint8_t { kOrdered, kStrict, kUnordered };

// A person's furthest step and the times of the chain that reached it.
struct Reach {
  int step = -1;
  std::array<int64_t, kMaxSteps> times{};
  const EventColumns* first_cols = nullptr;
  uint32_t first_row = 0;
};

struct Chain {
  bool set = false;
  std::array<int64_t, kMaxSteps> times{};
  const EventColumns* first_cols = nullptr;
  uint32_t first_row = 0;
};

// Per breakdown value: persons reaching each step and the times from the step before.
struct StepStats {
  std::vector<double> count;
  std::vector<std::vector<double>> seconds;
  explicit StepStats(size_t steps = 0) : count(steps, 0), seconds(steps) {}
  void Merge(StepStats& o) {
    for (size_t k = 0; k < count.size(); ++k) {
      count[k] += o.count[k];
      seconds[k].insert(seconds[k].end(), o.seconds[k].begin(), o.seconds[k].end());
    }
  }
};

json Render(StepStats& s, const std::vector<Entity>& steps) {
  json out = json::array();
  for (size_t k = 0; k < steps.size(); ++k) {
    json one = {{"order", k}, {"event", steps[k].event.empty() ? json() : json(steps[k].event)}, {"label", steps[k].label},
                {"count", s.count[k]}};
    one["conversion_rate"] = s.count[0] ? s.count[k] / s.count[0] : 0.0;
    one["step_conversion_rate"] = k == 0 ? (s.count[0] ? 1.0 : 0.0) : (s.count[k - 1] ? s.count[k] / s.count[k - 1] : 0.0);
    one["drop_off"] = k == 0 ? 0.0 : s.count[k - 1] - s.count[k];
    auto& sec = s.seconds[k];
    if (k == 0 || sec.empty()) {
      one["average_conversion_time"] = nullptr;
      one["median_conversion_time"] = nullptr;
    } else {
      double sum = 0;
      for (double x : sec) sum += x;
      std::sort(sec.begin(), sec.end());
      const size_t n = sec.size();
      one["average_conversion_time"] = sum / static_cast<double>(n);
      one["median_conversion_time"] = n % 2 ? sec[n / 2] : (sec[n / 2 - 1] + sec[n / 2]) / 2;
    }
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace

Result<json> Funnel(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  AIMASS_ASSIGN_OR_RETURN(auto breakdown, ParseBreakdown(req));
  if (!req.contains("steps") || !req["steps"].is_array() || req["steps"].size() < 2 || req["steps"].size() > kMaxSteps) {
    return Status::BadRequest("steps is a list of 2-20 steps (event names or {event, filters})");
  }
  int64_t window = 14 * 86'400'000LL;
  if (req.contains("window") && !req["window"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(window, ParseDurationMs(req["window"], "window"));
  }
  Order order = Order::kOrdered;
  AIMASS_ASSIGN_OR_RETURN(const std::string order_name, TextOf(req, "order", "ordered"));
  if (order_name == "strict") order = Order::kStrict;
  else if (order_name == "unordered" || order_name == "any") order = Order::kUnordered;
  else if (order_name != "ordered") return Status::BadRequest("order is ordered, strict or unordered");
  std::vector<Entity> steps;
  std::vector<CompiledEntity> compiled;
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  std::vector<Condition> event_global, person_global;
  for (const auto& c : global) (c.type == "event" ? event_global : person_global).push_back(c);
  for (size_t i = 0; i < req["steps"].size(); ++i) {
    const std::string where = "steps[" + std::to_string(i) + "]";
    AIMASS_ASSIGN_OR_RETURN(Entity e, ParseEntity(req["steps"][i], where.c_str()));
    for (const auto& c : e.conditions) {
      if (c.type != "event") return Status::BadRequest(where + ": a step's filters are on event properties (person and cohort filters go in filters)");
    }
    AIMASS_ASSIGN_OR_RETURN(CompiledEntity ce, compiler.Compile(e, event_global));
    steps.push_back(std::move(e));
    compiled.push_back(std::move(ce));
  }
  AIMASS_ASSIGN_OR_RETURN(auto persons, compiler.PersonMask(person_global));
  Compiler::CompiledBreakdown bd;
  size_t values = 1;
  if (breakdown) {
    AIMASS_ASSIGN_OR_RETURN(bd, compiler.CompileBreakdown(*breakdown));
    values = bd.codes;
  }
  if (values > 1'000'000) return Status::BadRequest("the breakdown has more than 1,000,000 values");
  const size_t K = steps.size();
  std::vector<std::vector<StepStats>> stats(static_cast<size_t>(ctx.threads), std::vector<StepStats>(values, StepStats(K)));
  const bool strict = order == Order::kStrict;
  ScanPersons(
      ctx.snap, ctx.threads, persons,
      [&](const EventColumns& c, uint32_t r) -> uint32_t {
        if (c.time[r] < range.from || c.time[r] >= range.to) return 0;
        uint32_t mask = 0;
        for (size_t k = 0; k < K; ++k) mask |= compiled[k].Match(c, r) ? 1u << k : 0;
        // Any other event breaks a strict sequence: kept, with the bit no step has.
        return mask | (strict ? 1u << kMaxSteps : 0);
      },
      [&](int t, uint32_t root, std::span<const PersonEvent> events) {
        Reach best;
        std::array<bool, kMaxSteps> match{};
        if (order == Order::kUnordered) {
          // The most distinct steps within one window starting at a step's event.
          std::array<uint32_t, kMaxSteps> in_window{};
          size_t distinct = 0, hi = 0;
          for (size_t lo = 0; lo < events.size(); ++lo) {
            while (hi < events.size() && events[hi].time - events[lo].time <= window) {
              for (size_t k = 0; k < K; ++k) {
                if ((events[hi].mask >> k & 1) && in_window[k]++ == 0) ++distinct;
              }
              ++hi;
            }
            if (static_cast<int>(distinct) - 1 > best.step) {
              best.step = static_cast<int>(distinct) - 1;
              best.first_cols = events[lo].cols;
              best.first_row = events[lo].row;
            }
            for (size_t k = 0; k < K; ++k) {
              if ((events[lo].mask >> k & 1) && --in_window[k] == 0) --distinct;
            }
          }
        } else {
          std::array<Chain, kMaxSteps> chains{};
          for (const PersonEvent& e : events) {
            for (size_t k = 0; k < K; ++k) match[k] = e.mask >> k & 1;
            // From the last step down, so that each step reads the chain before this event and
            // one event moves a chain one step at most.
            for (size_t k = K; k-- > 0;) {
              bool moved = false;
              if (match[k]) {
                if (k == 0) {
                  // The latest start: the most room left in the window.
                  chains[0].set = moved = true;
                  chains[0].times[0] = e.time;
                  chains[0].first_cols = e.cols;
                  chains[0].first_row = e.row;
                } else if (chains[k - 1].set && e.time - chains[k - 1].times[0] <= window &&
                           (strict || !chains[k].set || chains[k - 1].times[0] >= chains[k].times[0])) {
                  chains[k] = chains[k - 1];
                  chains[k].times[k] = e.time;
                  moved = true;
                }
              }
              // In a strict funnel any other event ends the chains it does not move.
              if (strict && !moved) chains[k].set = false;
            }
            for (size_t k = K; k-- > 0;) {
              if (!chains[k].set) continue;
              if (static_cast<int>(k) > best.step) {
                best.step = static_cast<int>(k);
                best.times = chains[k].times;
                best.first_cols = chains[k].first_cols;
                best.first_row = chains[k].first_row;
              }
              break;
            }
          }
        }
        if (best.step < 0) return;
        const uint32_t b = breakdown ? bd.Of(*best.first_cols, best.first_row, root) : 0;
        StepStats& s = stats[static_cast<size_t>(t)][b];
        for (int k = 0; k <= best.step; ++k) {
          s.count[static_cast<size_t>(k)] += 1;
          if (k > 0 && order != Order::kUnordered) {
            s.seconds[static_cast<size_t>(k)].push_back(static_cast<double>(best.times[k] - best.times[k - 1]) / 1000.0);
          }
        }
      });
  for (size_t t = 1; t < stats.size(); ++t) {
    for (size_t b = 0; b < values; ++b) stats[0][b].Merge(stats[t][b]);
  }
  StepStats total(K);
  for (size_t b = 0; b < values; ++b) {
    StepStats copy = stats[0][b];
    total.Merge(copy);
  }
  json out = {{"order", order_name}, {"window_seconds", window / 1000}, {"steps", Render(total, steps)}};
  if (breakdown) {
    std::vector<size_t> order_b;
    for (size_t b = 0; b < values; ++b) {
      if (stats[0][b].count[0] > 0) order_b.push_back(b);
    }
    std::stable_sort(order_b.begin(), order_b.end(), [&](size_t a, size_t b) { return stats[0][a].count[0] > stats[0][b].count[0]; });
    if (order_b.size() > breakdown->limit) order_b.resize(breakdown->limit);
    json list = json::array();
    for (size_t b : order_b) {
      list.push_back({{"value", compiler.BreakdownValue(bd, static_cast<uint32_t>(b))}, {"steps", Render(stats[0][b], steps)}});
    }
    out["breakdown"] = breakdown->key;
    out["breakdowns"] = list;
  }
  return out;
}

}  // namespace aimass::behavior
