// A mining job's work: the columns its spec names read from a table version (numbers for
// clustering and outliers, baskets of items for rules, ordered events for sequences), the
// algorithm of package `mining` run on them, and the result shaped as the API returns it.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/mining_spec.hpp"
#include "common/status.hpp"
#include "datasets/table.hpp"

namespace aimass::analysis {

// The columns the spec names exist with types its kind can read (checked at creation, and
// again when it runs: an alias may have moved to another version since).
Status CheckColumns(const MiningSpec& spec, const datasets::Schema& schema);

struct MiningRun {
  int threads = 0;
  const std::atomic<bool>* cancelled = nullptr;  // looked at between the phases
  std::function<void(const std::string& phase)> phase;  // reading, computing, …
};

// The result object (`{"itemsets","rules",…}`, `{"inertia","centroids","sizes",…}`, …), with
// "rows" read and "timing_ms" {"read","compute"}.
Result<nlohmann::json> RunMining(const MiningSpec& spec, const datasets::Table& table, const MiningRun& run);

}  // namespace aimass::analysis
