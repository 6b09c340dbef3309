#include "steps/dataset_split.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <numeric>
#include <random>

#include "common/text.hpp"
#include "steps/csv_records.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

constexpr size_t kMaxMetadataHeader = 4096;

// Marks `count` of `rows` (in the order given) with `part`, from the back or front.
void Take(std::vector<uint8_t>& parts, const std::vector<size_t>& rows, size_t& at, size_t count, uint8_t part) {
  for (size_t n = 0; n < count && at < rows.size(); ++n) parts[rows[at++]] = part;
}

size_t Share(size_t n, double fraction) { return static_cast<size_t>(std::llround(static_cast<double>(n) * fraction)); }

}  // namespace

Result<std::vector<uint8_t>> AssignSplits(const std::vector<std::string>& keys, const std::string& method,
                                          double test_fraction, double validation_fraction, uint64_t seed) {
  if (!(test_fraction > 0 && validation_fraction >= 0 && test_fraction + validation_fraction < 1)) {
    return Status::BadRequest("test_fraction must be above 0, validation_fraction at least 0, and both below 1 together");
  }
  const size_t n = keys.size();
  std::vector<uint8_t> parts(n, 0);
  std::mt19937_64 rng(seed);
  if (method == "random" || method == "stratified") {
    // Groups of rows (one for random): each shuffled, its first share to test, the next to
    // validation, so every class keeps its proportion in every part.
    std::map<std::string, std::vector<size_t>> groups;
    for (size_t i = 0; i < n; ++i) groups[method == "random" ? std::string() : keys[i]].push_back(i);
    for (auto& [key, rows] : groups) {
      std::shuffle(rows.begin(), rows.end(), rng);
      size_t at = 0;
      Take(parts, rows, at, Share(rows.size(), test_fraction), 1);
      Take(parts, rows, at, Share(rows.size(), validation_fraction), 2);
    }
    return parts;
  }
  if (method == "time") {
    // The latest rows are the test, those before them the validation: no future leaks into
    // training. RFC 3339 times and plain numbers both sort as their text does once padded.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto number = [](const std::string& s, double& out) {
      char* end = nullptr;
      out = std::strtod(s.c_str(), &end);
      return !s.empty() && end && *end == '\0';
    };
    bool numeric = std::all_of(keys.begin(), keys.end(), [&](const std::string& k) {
      double d;
      return number(k, d);
    });
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (numeric) {
        double x = 0, y = 0;
        number(keys[a], x);
        number(keys[b], y);
        return x < y;
      }
      return keys[a] < keys[b];
    });
    std::reverse(order.begin(), order.end());
    size_t at = 0;
    Take(parts, order, at, Share(n, test_fraction), 1);
    Take(parts, order, at, Share(n, validation_fraction), 2);
    return parts;
  }
  return Status::BadRequest("with.method is random, stratified or time");
}

Status DatasetSplit(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string dataset, InputString(in, "dataset"));
  std::string version = InputString(in, "version", "latest");
  std::string method = InputString(in, "method", "random");
  std::string column = InputString(in, "column", "");
  AIMASS_ASSIGN_OR_RETURN(double test_fraction, InputNumber(in, "test_fraction", 0.2));
  AIMASS_ASSIGN_OR_RETURN(double validation_fraction, InputNumber(in, "validation_fraction", 0));
  AIMASS_ASSIGN_OR_RETURN(double seed, InputNumber(in, "seed", 42));
  if (method != "random" && column.empty()) return Status::BadRequest("with.column is required by the " + method + " method");

  AIMASS_ASSIGN_OR_RETURN(StepContext::Table table, ctx.DownloadTable(dataset, version));
  const json& source = table.version;
  const int64_t source_version = source["version"].get<int64_t>();
  std::cout << "splitting " << dataset << " version " << source_version << " (" << source["row_count"] << " rows) by "
            << method << "\n" << std::flush;
  AIMASS_ASSIGN_OR_RETURN(auto records, CsvRecords(table.csv));
  if (records.size() < 3) return Status::BadRequest("the version has too few rows to split");
  std::vector<std::string> header = CsvFields(records[0]);
  size_t key_index = header.size();
  if (!column.empty()) {
    auto it = std::find(header.begin(), header.end(), column);
    if (it == header.end()) return Status::BadRequest("with.column '" + column + "' is not a column of " + dataset);
    key_index = static_cast<size_t>(it - header.begin());
  }
  std::vector<std::string> keys;
  keys.reserve(records.size() - 1);
  for (size_t i = 1; i < records.size(); ++i) {
    if (key_index == header.size()) {
      keys.emplace_back();
    } else {
      auto fields = CsvFields(records[i]);
      keys.push_back(key_index < fields.size() ? fields[key_index] : std::string());
    }
  }
  AIMASS_ASSIGN_OR_RETURN(auto parts, AssignSplits(keys, method, test_fraction, validation_fraction,
                                                   static_cast<uint64_t>(seed)));

  const char* names[] = {"train", "test", "validation"};
  json lineage = {{"split_of", {{"dataset", dataset}, {"version", source_version}}},
                  {"method", method},
                  {"seed", static_cast<uint64_t>(seed)},
                  {"pipeline", ctx.pipeline()},
                  {"pipeline_run", ctx.run()}};
  for (uint8_t part = 0; part < 3; ++part) {
    if (part == 2 && validation_fraction <= 0) continue;
    std::string target = InputString(in, (std::string(names[part]) + "_dataset").c_str(), dataset + "-" + names[part]);
    std::string body(records[0]);
    body.push_back('\n');
    size_t rows = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i] != part) continue;
      body.append(records[i + 1]).push_back('\n');
      ++rows;
    }
    json create = {{"name", target}, {"description", std::string(names[part]) + " part of " + dataset}};
    auto made = ctx.Call(http::Method::kPost, "/api/v1/datasets", &create);
    if (!made.ok() && made.status().code() != Code::kConflict) return made.status();
    json meta = {{"schema", source["schema"]}, {"lineage", lineage}, {"message", std::string(names[part]) + " split"}};
    // The metadata travels in a header: a wide table's schema (784 pixel columns) does not fit
    // in one, and its types are then inferred from the part as from the source.
    if (meta.dump().size() > kMaxMetadataHeader) meta.erase("schema");
    AIMASS_ASSIGN_OR_RETURN(http::ClientResponse up, ctx.Send(http::Method::kPost,
                                                              "/api/v1/datasets/" + PercentEncode(target) + "/versions",
                                                              std::move(body),
                                                              {{"Content-Type", "text/csv"}, {"X-Dataset-Metadata", meta.dump()}}));
    json v = json::parse(up.body, nullptr, false);
    if (up.status >= 300 || !v.is_object()) {
      std::string why = v.is_object() && v.contains("error") ? v["error"].value("message", "") : up.body.substr(0, 200);
      return Status::Internal("storing the " + std::string(names[part]) + " version of " + target + ": " + why);
    }
    std::cout << names[part] << ": " << rows << " rows → " << target << " version " << v["version"] << "\n" << std::flush;
    ctx.Output(names[part], {{"dataset", target}, {"version", v["version"]}, {"rows", rows}});
  }
  ctx.Output("source", {{"dataset", dataset}, {"version", source_version}});
  return Status::Ok();
}

}  // namespace aimass::steps
