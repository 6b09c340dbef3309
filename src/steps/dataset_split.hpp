// Built-in step `dataset.split`: a table dataset version split into train, test and (when
// asked) validation versions of their own datasets, at random, stratified by a column, or by
// time, each new version naming the one it came from in its lineage.
//
//   with: dataset (required), version ("latest"), test_fraction (0.2), validation_fraction (0),
//         method: random | stratified | time, column (stratified, time), seed (42),
//         train_dataset / test_dataset / validation_dataset (<dataset>-train, …)
//   outputs: train, test[, validation]: {"dataset", "version", "rows"}; source: {"dataset", "version"}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

// Which part each row goes to (0 train, 1 test, 2 validation), given each row's key (the
// stratify or time column's value; empty for random). Deterministic for a seed.
Result<std::vector<uint8_t>> AssignSplits(const std::vector<std::string>& keys, const std::string& method,
                                          double test_fraction, double validation_fraction, uint64_t seed);

Status DatasetSplit(StepContext& ctx);

}  // namespace aimass::steps
