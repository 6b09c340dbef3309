// The insights: each answers one kind of question about a project's events (POST
// /api/v1/behavior/{project}/insights/{kind}), by one scan of the persons (person_scan.hpp).
// Requests and answers are documented in docs/guide/behavior.md.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "behavior/project.hpp"
#include "behavior/query.hpp"
#include "common/status.hpp"

namespace aimass::behavior {

struct InsightContext {
  const Project& project;
  Snapshot snap;
  CohortResolver cohorts;
  int threads = 1;
  int64_t now_ms = 0;
};

Result<nlohmann::json> Trends(InsightContext& ctx, const nlohmann::json& req);
Result<nlohmann::json> Funnel(InsightContext& ctx, const nlohmann::json& req);
Result<nlohmann::json> Retention(InsightContext& ctx, const nlohmann::json& req);
Result<nlohmann::json> Lifecycle(InsightContext& ctx, const nlohmann::json& req);
Result<nlohmann::json> Stickiness(InsightContext& ctx, const nlohmann::json& req);
Result<nlohmann::json> Paths(InsightContext& ctx, const nlohmann::json& req);

// A dynamic cohort's members: {"match": all | any, "conditions": [{type: behavior, event,
// filters, min_count, max_count, date_from, date_to | days} | {type: person, key, operator,
// value} | {type: cohort, value}]}, as a mask over distinct id codes by root.
Result<std::vector<uint8_t>> CohortMembers(InsightContext& ctx, const nlohmann::json& definition);
// Checks a dynamic cohort's definition (what CohortMembers would refuse).
Status CheckCohortDefinition(const nlohmann::json& definition);

// Per-customer summaries of purchase events, for RFM and the lifetime models.
struct Purchases {
  uint32_t root = 0;
  int64_t first_ms = 0, last_ms = 0;
  double count = 0;      // purchases (events, or distinct values of the frequency property)
  double value = 0;      // sum of the value
  // Lifetime models: distinct periods with a purchase, and the value of the repeat ones.
  int64_t first_period = 0, last_period = 0;
  double periods = 0;
  double repeat_value = 0;
};

// RFM scores and segments ({"persons": [...], "segments": {...}}); `written` lists the person
// properties to set (distinct id → properties) when the request asks to write them.
Result<nlohmann::json> Rfm(InsightContext& ctx, const nlohmann::json& req, std::vector<std::pair<std::string, nlohmann::json>>* written);
// BG/NBD + Gamma-Gamma: fitted parameters and each customer's P(alive), expected purchases and
// value over the horizon.
Result<nlohmann::json> Lifetime(InsightContext& ctx, const nlohmann::json& req, std::vector<std::pair<std::string, nlohmann::json>>* written);

}  // namespace aimass::behavior
