// A collector's definition: the dataset it fills, its source (file_tail, directory, http, sql,
// mq, mqtt) with that source's settings, how rows are batched into versions, and for
// sql the schedule it polls on. Parsed from and rendered to the API's JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/column.hpp"

namespace aimass::collector {

enum class SourceType { kFileTail, kDirectory, kHttp, kSql, kMq, kMqtt };

std::string_view SourceTypeName(SourceType t);

struct CollectorSpec {
  std::string name;
  std::string dataset;
  SourceType type = SourceType::kHttp;
  nlohmann::json source = nlohmann::json::object();  // checked for its type; "type" included
  size_t max_rows = 10000;    // rows per version at most
  double max_wait_s = 5;      // a batch waits at most this long after its first row
  std::string schedule;       // sql: a cron expression (scheduler syntax)
  std::string time_zone;      // of the schedule; "" UTC
  std::optional<datasets::Schema> schema;  // declared for the dataset's first version
};

// Checks everything a collector document may hold; unknown fields and bad values are
// bad_request naming them.
Result<CollectorSpec> ParseCollectorSpec(const nlohmann::json& body);
// The document back; `reveal_secrets` false masks passwords (an MQTT one, a DSN's).
nlohmann::json SpecJson(const CollectorSpec& spec, bool reveal_secrets);

}  // namespace aimass::collector
