#include "datasets/table_parser.hpp"

#include <simdjson.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "datasets/segment.hpp"
#include "datasets/values.hpp"

namespace aimass::datasets {

namespace {

constexpr size_t kMaxColumns = 4096;

std::string Short(std::string_view s) {
  return s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 61)) + "...";
}

// One record's fields. `text` views point into the input or into `owned` (unescaped fields,
// JSON numbers), which keeps each string in place until the next record.
struct Record {
  std::vector<std::optional<std::string_view>> fields;
  std::deque<std::string> owned;
  size_t used = 0;
  std::string& Own() {
    if (used == owned.size()) owned.emplace_back();
    std::string& s = owned[used++];
    s.clear();
    return s;
  }
  void Reset() {
    fields.clear();
    used = 0;
  }
};

// Splits delimited text into records. CSV follows RFC 4180 (quotes, "" inside them, line
// breaks inside quoted fields, CRLF or LF); TSV has no quoting. Blank lines are skipped.
class DelimitedReader {
 public:
  DelimitedReader(std::string_view data, char sep, bool quotes, uint64_t first_line)
      : data_(data), sep_(sep), quotes_(quotes), line_(first_line) {}

  // False at the end of the data.
  Result<bool> Next(Record& r) {
    r.Reset();
    while (pos_ < data_.size() && (data_[pos_] == '\n' || (data_[pos_] == '\r' && pos_ + 1 < data_.size() &&
                                                           data_[pos_ + 1] == '\n'))) {
      pos_ += data_[pos_] == '\n' ? 1 : 2;
      ++line_;
    }
    if (pos_ >= data_.size()) return false;
    record_line_ = line_;
    const char* d = data_.data();
    const size_t n = data_.size();
    while (true) {
      if (quotes_ && pos_ < n && d[pos_] == '"') {
        size_t start = ++pos_;
        bool escaped = false;
        size_t close;
        while (true) {
          const void* q = std::memchr(d + pos_, '"', n - pos_);
          if (!q) return Status::BadRequest("line " + std::to_string(record_line_) + ": a quoted field is not closed");
          close = static_cast<const char*>(q) - d;
          if (close + 1 < n && d[close + 1] == '"') {
            escaped = true;
            pos_ = close + 2;
            continue;
          }
          break;
        }
        std::string_view raw(d + start, close - start);
        line_ += std::count(raw.begin(), raw.end(), '\n');
        pos_ = close + 1;
        if (escaped) {
          std::string& s = r.Own();
          s.reserve(raw.size());
          for (size_t i = 0; i < raw.size(); ++i) {
            s += raw[i];
            if (raw[i] == '"') ++i;  // "" stands for one quote
          }
          r.fields.emplace_back(std::string_view(s));
        } else {
          r.fields.emplace_back(raw);
        }
        if (pos_ < n && d[pos_] != sep_ && d[pos_] != '\n' && d[pos_] != '\r') {
          return Status::BadRequest("line " + std::to_string(line_) + ": unexpected text after a closing quote");
        }
        if (pos_ < n && d[pos_] == '\r') ++pos_;
      } else {
        size_t start = pos_;
        while (pos_ < n && d[pos_] != sep_ && d[pos_] != '\n') ++pos_;
        size_t end = pos_;
        if (end > start && d[end - 1] == '\r' && (pos_ == n || d[pos_] == '\n')) --end;
        r.fields.emplace_back(std::string_view(d + start, end - start));
      }
      if (r.fields.size() > kMaxColumns) {
        return Status::BadRequest("line " + std::to_string(record_line_) + ": more than " + std::to_string(kMaxColumns) + " fields");
      }
      if (pos_ < n && d[pos_] == sep_) {
        ++pos_;
        continue;
      }
      if (pos_ < n) ++pos_;  // the '\n'
      ++line_;
      return true;
    }
  }
  size_t offset() const { return pos_; }
  uint64_t record_line() const { return record_line_; }

 private:
  std::string_view data_;
  char sep_;
  bool quotes_;
  size_t pos_ = 0;
  uint64_t line_;
  uint64_t record_line_ = 0;
};

// One JSON object per line; its members become the record's fields by column, looked up in
// (or, while inferring, added to) `columns`.
class JsonLinesReader {
 public:
  JsonLinesReader(std::string_view data, uint64_t first_line) : data_(data), line_(first_line) {}

  // `index` maps member names to columns; with `names` non-null an unknown member becomes a
  // new column, else it is an error.
  Result<bool> Next(Record& r, std::unordered_map<std::string, size_t>& index, std::vector<std::string>* names) {
    r.Reset();
    std::string_view text;
    while (true) {
      if (pos_ >= data_.size()) return false;
      size_t nl = data_.find('\n', pos_);
      size_t end = nl == std::string_view::npos ? data_.size() : nl;
      text = data_.substr(pos_, end - pos_);
      pos_ = nl == std::string_view::npos ? data_.size() : nl + 1;
      record_line_ = line_++;
      while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
      if (!text.empty()) break;
    }
    simdjson::dom::element doc;
    if (parser_.parse(text.data(), text.size(), true).get(doc) != simdjson::SUCCESS) {
      return Status::BadRequest("line " + std::to_string(record_line_) + ": not valid JSON");
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) {
      return Status::BadRequest("line " + std::to_string(record_line_) + ": not a JSON object");
    }
    r.fields.assign(names ? names->size() : index.size(), std::nullopt);
    for (auto [key, value] : obj) {
      auto it = index.find(std::string(key));
      size_t col;
      if (it != index.end()) {
        col = it->second;
      } else if (names) {
        if (key.empty() || key.size() > 256) {
          return Status::BadRequest("line " + std::to_string(record_line_) + ": a member name is 1 to 256 bytes");
        }
        if (names->size() >= kMaxColumns) {
          return Status::BadRequest("line " + std::to_string(record_line_) + ": more than " + std::to_string(kMaxColumns) + " columns");
        }
        col = names->size();
        names->emplace_back(key);
        index.emplace(std::string(key), col);
        r.fields.emplace_back(std::nullopt);
      } else {
        return Status::BadRequest("line " + std::to_string(record_line_) + ": member '" + Short(key) +
                                  "' is not a column of the schema");
      }
      std::optional<std::string_view>& f = r.fields[col];
      switch (value.type()) {
        case simdjson::dom::element_type::NULL_VALUE:
          f.reset();
          break;
        case simdjson::dom::element_type::STRING:
          f = std::string_view(value.get_string().value_unsafe());
          break;
        case simdjson::dom::element_type::BOOL:
          f = value.get_bool().value_unsafe() ? "true" : "false";
          break;
        case simdjson::dom::element_type::INT64:
          f = std::string_view(r.Own() = std::to_string(value.get_int64().value_unsafe()));
          break;
        case simdjson::dom::element_type::UINT64:
          f = std::string_view(r.Own() = std::to_string(value.get_uint64().value_unsafe()));
          break;
        case simdjson::dom::element_type::DOUBLE:
          f = std::string_view(r.Own() = FormatFloat(value.get_double().value_unsafe()));
          break;
        default:  // objects and arrays are kept as their JSON text
          f = std::string_view(r.Own() = simdjson::minify(value));
          break;
      }
    }
    return true;
  }
  size_t offset() const { return pos_; }
  uint64_t record_line() const { return record_line_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  uint64_t line_;
  uint64_t record_line_ = 0;
  simdjson::dom::parser parser_;
};

struct Span {
  size_t begin = 0, end = 0;
  uint64_t rows = 0;
  uint64_t first_line = 0;
};

struct Layout {
  std::vector<std::string> names;                 // the input's columns, in its order
  std::unordered_map<std::string, size_t> index;  // JSON Lines: member -> input column
  std::vector<Span> spans;
  uint64_t rows = 0;
  std::vector<TypeGuess> guesses;                 // when inferring
  std::vector<uint64_t> present;                  // JSON Lines: rows that had the member
};

// Pass one: records, their count and where each segment starts; the types when inferring.
Status Scan(std::string_view data, const ParseOptions& o, bool infer, Layout& out) {
  Record rec;
  Span span;
  auto close_span = [&](size_t offset) {
    span.end = offset;
    if (span.rows) out.spans.push_back(span);
    span = Span{offset, offset, 0, 0};
  };
  auto account = [&](size_t offset, uint64_t line) {
    if (span.rows == 0) span.first_line = line;
    ++span.rows;
    ++out.rows;
    if (span.rows >= o.segment_rows || offset - span.begin >= o.segment_bytes) close_span(offset);
  };
  if (o.format == TextFormat::kJsonLines) {
    JsonLinesReader reader(data, 1);
    if (!infer) {
      for (size_t i = 0; i < o.schema.size(); ++i) out.index.emplace(o.schema[i].name, i);
    }
    while (true) {
      AIMASS_ASSIGN_OR_RETURN(bool more, reader.Next(rec, out.index, infer ? &out.names : nullptr));
      if (!more) break;
      if (infer) {
        out.guesses.resize(out.names.size());
        out.present.resize(out.names.size(), 0);
        for (size_t c = 0; c < rec.fields.size(); ++c) {
          if (!rec.fields[c]) continue;
          ++out.present[c];
          out.guesses[c].Add(*rec.fields[c]);
        }
      }
      account(reader.offset(), reader.record_line());
    }
    close_span(data.size());
    if (!infer) {
      for (const auto& c : o.schema) out.names.push_back(c.name);
    }
    return Status::Ok();
  }
  DelimitedReader reader(data, o.format == TextFormat::kCsv ? ',' : '\t', o.format == TextFormat::kCsv, 1);
  AIMASS_ASSIGN_OR_RETURN(bool has_header, reader.Next(rec));
  if (!has_header) return Status::BadRequest("the upload is empty: a header line is needed");
  for (size_t i = 0; i < rec.fields.size(); ++i) {
    std::string name(rec.fields[i].value_or(""));
    if (name.empty()) name = "column_" + std::to_string(i + 1);
    if (name.size() > 256) return Status::BadRequest("column " + std::to_string(i + 1) + ": a name is at most 256 bytes");
    if (std::find(out.names.begin(), out.names.end(), name) != out.names.end()) {
      return Status::BadRequest("column '" + Short(name) + "' appears twice in the header");
    }
    out.names.push_back(std::move(name));
  }
  span.begin = span.end = reader.offset();
  if (infer) out.guesses.resize(out.names.size());
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool more, reader.Next(rec));
    if (!more) break;
    if (rec.fields.size() != out.names.size()) {
      return Status::BadRequest("line " + std::to_string(reader.record_line()) + " has " + std::to_string(rec.fields.size()) +
                                " fields, the header " + std::to_string(out.names.size()));
    }
    if (infer) {
      for (size_t c = 0; c < rec.fields.size(); ++c) out.guesses[c].Add(*rec.fields[c]);
    }
    account(reader.offset(), reader.record_line());
  }
  close_span(reader.offset());
  return Status::Ok();
}

// Pass two for one span: values into columns of `schema`, encoded. `from_input[c]` is the input
// column of schema column c (or -1: not in the input).
Result<EncodedSegment> EncodeSpan(std::string_view data, const ParseOptions& o, const Schema& schema,
                                  const std::vector<int>& from_input, const Layout& layout, const Span& span) {
  std::vector<ColumnBuilder> builders;
  builders.reserve(schema.size());
  for (const auto& c : schema) builders.emplace_back(c.type, span.rows);
  Record rec;
  std::string_view part = data.substr(span.begin, span.end - span.begin);
  std::optional<DelimitedReader> delimited;
  std::optional<JsonLinesReader> json;
  std::unordered_map<std::string, size_t> index = layout.index;
  if (o.format == TextFormat::kJsonLines) {
    json.emplace(part, span.first_line);
  } else {
    delimited.emplace(part, o.format == TextFormat::kCsv ? ',' : '\t', o.format == TextFormat::kCsv, span.first_line);
  }
  for (uint64_t row = 0; row < span.rows; ++row) {
    Result<bool> more = json ? json->Next(rec, index, nullptr) : delimited->Next(rec);
    if (!more.ok()) return more.status();
    if (!*more) return Status::Internal("a segment ended early");
    uint64_t line = json ? json->record_line() : delimited->record_line();
    for (size_t c = 0; c < schema.size(); ++c) {
      const ColumnSpec& spec = schema[c];
      std::optional<std::string_view> text;
      if (from_input[c] >= 0 && static_cast<size_t>(from_input[c]) < rec.fields.size()) text = rec.fields[from_input[c]];
      bool missing = !text || (IsStringType(spec.type) ? text->empty() : IsNullToken(*text));
      if (missing) {
        if (!spec.nullable) {
          return Status::BadRequest("line " + std::to_string(line) + ", column '" + Short(spec.name) +
                                    "': a value is required (the column is not nullable)");
        }
        builders[c].AppendNull();
      } else if (!AppendParsed(builders[c], spec.type, *text)) {
        return Status::BadRequest("line " + std::to_string(line) + ", column '" + Short(spec.name) + "': '" +
                                  Short(*text) + "' is not " + (spec.type == ColumnType::kInteger ? "an " : "a ") +
                                  std::string(TypeName(spec.type)));
      }
    }
  }
  std::vector<ColumnData> columns;
  columns.reserve(builders.size());
  for (auto& b : builders) columns.push_back(b.Finish());
  EncodedSegment seg;
  seg.rows = span.rows;
  seg.bytes = EncodeSegment(columns);
  return seg;
}

}  // namespace

Result<TextFormat> FormatOf(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "text/csv" || t == "application/csv") return TextFormat::kCsv;
  if (t == "text/tab-separated-values" || t == "text/tsv") return TextFormat::kTsv;
  if (t == "application/x-ndjson" || t == "application/jsonl" || t == "application/json-lines" ||
      t == "application/x-jsonlines" || t == "application/jsonlines") {
    return TextFormat::kJsonLines;
  }
  return Status::BadRequest(
      "a table version is text/csv, text/tab-separated-values or application/x-ndjson (gzip: Content-Encoding: gzip)");
}

std::string_view FormatName(TextFormat f) {
  switch (f) {
    case TextFormat::kCsv:
      return "csv";
    case TextFormat::kTsv:
      return "tsv";
    case TextFormat::kJsonLines:
      return "jsonl";
  }
  return "csv";
}

Result<ParsedTable> ParseTable(std::string_view data, const ParseOptions& options,
                               const std::function<Status(EncodedSegment)>& sink) {
  ParseOptions o = options;
  o.segment_rows = std::max<size_t>(o.segment_rows, 1);
  if (o.format != TextFormat::kJsonLines && data.size() >= 3 && std::memcmp(data.data(), "\xEF\xBB\xBF", 3) == 0) {
    data.remove_prefix(3);
  }
  bool infer = o.schema.empty();
  Layout layout;
  AIMASS_RETURN_IF_ERROR(Scan(data, o, infer, layout));
  if (infer && layout.names.empty()) return Status::BadRequest("the table has no columns");
  ParsedTable out;
  out.rows = layout.rows;
  std::vector<int> from_input;
  if (infer) {
    for (size_t c = 0; c < layout.names.size(); ++c) {
      ColumnSpec spec;
      spec.name = layout.names[c];
      spec.type = layout.guesses[c].Result();
      spec.nullable = layout.guesses[c].Nullable(spec.type) ||
                      (!layout.present.empty() && layout.present[c] < layout.rows);
      out.schema.push_back(std::move(spec));
      from_input.push_back(static_cast<int>(c));
    }
  } else {
    out.schema = o.schema;
    from_input.assign(out.schema.size(), -1);
    for (size_t i = 0; i < layout.names.size(); ++i) {
      int c = FindColumn(out.schema, layout.names[i]);
      if (c < 0) return Status::BadRequest("column '" + Short(layout.names[i]) + "' is not in the dataset's schema");
      from_input[c] = static_cast<int>(i);
    }
    for (size_t c = 0; c < out.schema.size(); ++c) {
      if (from_input[c] < 0 && !out.schema[c].nullable && layout.rows > 0) {
        return Status::BadRequest("column '" + Short(out.schema[c].name) + "' is missing and not nullable");
      }
    }
  }

  // Pass two: spans encoded in parallel, handed to the sink in order, at most a few ahead.
  const size_t total = layout.spans.size();
  const size_t threads = std::clamp<size_t>(o.threads, 1, std::max<size_t>(total, 1));
  const size_t window = threads + 1;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<EncodedSegment>>> done(total);
  size_t next = 0, consumed = 0;
  bool stop = false;
  auto work = [&] {
    while (true) {
      size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || next >= total || next < consumed + window; });
        if (stop || next >= total) return;
        i = next++;
      }
      Result<EncodedSegment> seg = EncodeSpan(data, o, out.schema, from_input, layout, layout.spans[i]);
      {
        std::lock_guard lock(mu);
        done[i].emplace(std::move(seg));
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  Status status = Status::Ok();
  for (size_t i = 0; i < total && status.ok(); ++i) {
    std::optional<Result<EncodedSegment>> seg;
    {
      std::unique_lock lock(mu);
      // With one thread (or while the others are busy) this thread encodes spans itself.
      while (!done[i]) {
        if (next < total && next < consumed + window) {
          size_t j = next++;
          lock.unlock();
          Result<EncodedSegment> r = EncodeSpan(data, o, out.schema, from_input, layout, layout.spans[j]);
          lock.lock();
          done[j].emplace(std::move(r));
          cv.notify_all();
        } else {
          cv.wait(lock);
        }
      }
      seg = std::move(done[i]);
      done[i].reset();
      ++consumed;
    }
    cv.notify_all();
    if (!seg->ok()) {
      status = seg->status();
    } else {
      status = sink(std::move(**seg));
    }
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  AIMASS_RETURN_IF_ERROR(status);
  return out;
}

Status CheckRecord(const Schema& schema, const nlohmann::json& object) {
  if (!object.is_object()) return Status::BadRequest("not a JSON object");
  std::vector<bool> seen(schema.size(), false);
  for (auto it = object.begin(); it != object.end(); ++it) {
    int c = FindColumn(schema, it.key());
    if (c < 0) return Status::BadRequest("member '" + Short(it.key()) + "' is not a column of the dataset");
    seen[c] = true;
    const ColumnSpec& spec = schema[c];
    const nlohmann::json& v = it.value();
    std::string text;
    if (v.is_null()) {
      if (!spec.nullable) return Status::BadRequest("'" + Short(spec.name) + "' is null and the column is not nullable");
      continue;
    } else if (v.is_string()) {
      text = v.get<std::string>();
    } else if (v.is_boolean()) {
      text = v.get<bool>() ? "true" : "false";
    } else if (v.is_number_integer()) {
      text = v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>());
    } else if (v.is_number_float()) {
      text = FormatFloat(v.get<double>());
    } else {
      text = v.dump();
    }
    bool missing = IsStringType(spec.type) ? text.empty() : IsNullToken(text);
    if (missing) {
      if (!spec.nullable) return Status::BadRequest("'" + Short(spec.name) + "' is missing and the column is not nullable");
      continue;
    }
    ColumnBuilder probe(spec.type);
    if (!AppendParsed(probe, spec.type, text)) {
      return Status::BadRequest("'" + Short(spec.name) + "': '" + Short(text) + "' is not " +
                                (spec.type == ColumnType::kInteger ? "an " : "a ") + std::string(TypeName(spec.type)));
    }
  }
  for (size_t c = 0; c < schema.size(); ++c) {
    if (!seen[c] && !schema[c].nullable) return Status::BadRequest("'" + Short(schema[c].name) + "' is missing and the column is not nullable");
  }
  return Status::Ok();
}

}  // namespace aimass::datasets
