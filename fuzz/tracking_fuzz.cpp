// libFuzzer target for what experiment tracking reads from the network: run filters (in both
// term forms) and orderings from query strings, logging calls' JSON bodies, and the metric
// chunks it reads back. A filter it accepts must compile to SQL that SQLite prepares with
// exactly its parameters, whole and term by term (the search planner runs the terms apart).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/db.hpp"
#include "tracking/log_batch_json.hpp"
#include "tracking/metric_chunk.hpp"
#include "tracking/run_search.hpp"
#include "tracking/tracking.hpp"

namespace {

aimass::storage::Db* Schema() {
  static aimass::storage::Db* db = [] {
    auto opened = aimass::storage::OpenSqlite({":memory:", 1000, 0});
    if (!opened.ok()) std::abort();
    auto* d = opened.value().release();
    if (!d->Migrate(aimass::tracking::Tracking::Migrations()).ok()) std::abort();
    return d;
  }();
  return db;
}

void MustPrepare(const std::string& where, const std::vector<aimass::storage::Value>& params) {
  size_t placeholders = 0;
  for (char c : where) placeholders += c == '?';
  if (placeholders != params.size()) std::abort();
  auto rows = Schema()->Query("SELECT r.id FROM tracking_runs r JOIN tracking_experiments e ON e.id = r.experiment_id "
                              "WHERE " + where, params);
  if (!rows.ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      for (auto form : {aimass::tracking::TermForm::kDrive, aimass::tracking::TermForm::kProbe}) {
        auto f = aimass::tracking::CompileRunFilter(input, form);
        if (!f.ok()) return 0;
        MustPrepare(f->where, f->params);
        for (const auto& c : f->conjuncts) MustPrepare(c.sql, c.params);
      }
      if (auto o = aimass::tracking::CompileRunOrder(input); o.ok() && o->params.size() != (o->join.empty() ? 0u : 1u)) {
        std::abort();
      }
      break;
    case 1: {
      auto j = nlohmann::json::parse(input, nullptr, false);
      if (j.is_object()) (void)aimass::tracking::ParseLogBatch(j);
      break;
    }
    default: {
      // What decodes encodes back to text that decodes to the very same points.
      auto points = aimass::tracking::DecodeChunk(input);
      if (!points.ok()) break;
      std::string again;
      for (const auto& p : *points) aimass::tracking::AppendChunkPoint(again, p);
      auto twice = aimass::tracking::DecodeChunk(again);
      if (!twice.ok() || twice->size() != points->size()) std::abort();
      for (size_t i = 0; i < points->size(); ++i) {
        const auto &a = (*points)[i], &b = (*twice)[i];
        bool same_value = (std::isnan(a.value) && std::isnan(b.value)) ||  // a NaN's payload is not written
                          std::memcmp(&a.value, &b.value, sizeof(double)) == 0;
        if (a.step != b.step || a.timestamp_ms != b.timestamp_ms || !same_value) std::abort();
      }
    }
  }
  return 0;
}
