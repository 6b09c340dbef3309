// Reads a table from CSV, TSV or JSON Lines text into segments. Two passes over the bytes: the
// first splits them into records (checking their shape) and infers the schema when none is
// given; the second, on every core, reads each segment's values into columns and encodes it.
// Segments are handed over in order, so the caller can store each before the next is read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/column.hpp"

namespace aimass::datasets {

enum class TextFormat { kCsv, kTsv, kJsonLines };

// text/csv, text/tab-separated-values, application/x-ndjson (also application/jsonl,
// application/json-lines, application/x-jsonlines); parameters such as charset are ignored.
Result<TextFormat> FormatOf(std::string_view content_type);
std::string_view FormatName(TextFormat f);  // csv, tsv, jsonl

struct ParseOptions {
  TextFormat format = TextFormat::kCsv;
  // Declared (or the parent's, for an append): every value must fit it and every column of the
  // input must be in it; columns it has and the input lacks are missing values. Empty: inferred.
  Schema schema;
  size_t segment_rows = 65536;
  size_t segment_bytes = 256u << 20;  // a segment also ends after this much input
  int threads = 1;
};

struct EncodedSegment {
  std::string bytes;
  uint64_t rows = 0;
};

struct ParsedTable {
  Schema schema;
  uint64_t rows = 0;
};

// Reads all of `data`. A malformed record (a CSV row with the wrong number of fields, an
// unterminated quote, a line that is not a JSON object) or a value that does not fit the schema
// is bad_request naming its line and column; segments already handed to `sink` stay with the
// caller to discard. A sink error stops the parse and is returned.
Result<ParsedTable> ParseTable(std::string_view data, const ParseOptions& options,
                               const std::function<Status(EncodedSegment)>& sink);

// Whether a JSON object would be read into `schema` as a JSON Lines record is: every member a
// column, every value of its column's type, every column that is not nullable present. The
// error names the member and why.
Status CheckRecord(const Schema& schema, const nlohmann::json& object);

}  // namespace aimass::datasets
