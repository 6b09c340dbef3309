// libFuzzer target for what the datasets module reads from users: CSV, TSV and JSON Lines
// uploads (with inferred and declared schemas), the segment files it reads back, declared
// schemas and expectation suites. The first byte picks the reader. A table that parses must
// give segments that decode, and a decoded segment must encode to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/expectations.hpp"
#include "datasets/segment.hpp"
#include "datasets/table_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimass::datasets;
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 6;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 3) {
    auto cols = DecodeSegment(input);
    if (cols.ok() && !cols->empty() && DecodeSegment(EncodeSegment(*cols)).ok() == false) std::abort();
    return 0;
  }
  if (mode == 4 || mode == 5) {
    nlohmann::json j = nlohmann::json::parse(input, nullptr, false);
    if (j.is_discarded()) return 0;
    if (mode == 4) {
      (void)ParseSchema(j);
    } else if (auto suite = ParseSuite(j); suite.ok()) {
      auto again = ParseSuite(*suite);
      if (!again.ok() || *again != *suite) std::abort();
    }
    return 0;
  }
  ParseOptions o;
  o.format = mode == 0 ? TextFormat::kCsv : mode == 1 ? TextFormat::kTsv : TextFormat::kJsonLines;
  o.segment_rows = 3;
  o.threads = 2;
  if (!input.empty() && input[0] == '!') {  // with a declared schema
    input.erase(0, 1);
    o.schema = {{"a", ColumnType::kInteger, true}, {"b", ColumnType::kString, false}, {"c", ColumnType::kTimestamp, true}};
  }
  uint64_t rows = 0;
  auto parsed = ParseTable(input, o, [&](EncodedSegment s) -> aimass::Status {
    auto cols = DecodeSegment(s.bytes);
    if (!cols.ok() || cols->empty() || (*cols)[0].rows != s.rows) std::abort();
    if (EncodeSegment(*cols) != s.bytes) std::abort();
    rows += s.rows;
    return aimass::Status::Ok();
  });
  if (parsed.ok() && parsed->rows != rows) std::abort();
  return 0;
}
