// Values, type inference, the segment format and the CSV / TSV / JSON Lines reader.
#include <gtest/gtest.h>

#include "datasets/segment.hpp"
#include "datasets/table_parser.hpp"
#include "datasets/values.hpp"

namespace aimass::datasets {
namespace {

TEST(ValuesTest, TimestampsReadAndWriteBack) {
  EXPECT_EQ(ParseTimestamp("1970-01-01"), 0);
  EXPECT_EQ(ParseTimestamp("1970-01-02T00:00:01Z"), 86401000000ll);
  EXPECT_EQ(ParseTimestamp("2010-12-01 08:26:00"), ParseTimestamp("2010-12-01T09:26:00+01:00"));
  EXPECT_EQ(ParseTimestamp("2020-02-29T12:00:00.25Z"), *ParseTimestamp("2020-02-29T12:00:00Z") + 250000);
  EXPECT_EQ(ParseTimestamp("1969-12-31T23:59:59Z"), -1000000);
  for (const char* bad : {"2019-02-29", "2020-13-01", "2020-01-01T25:00", "2020-01-01X", "20200101", "2020-01-01T10:00:00+2"}) {
    EXPECT_FALSE(ParseTimestamp(bad)) << bad;
  }
  for (int64_t t : {int64_t{0}, int64_t{1291191960000000}, int64_t{-1}, int64_t{951825600250000}}) {
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)), t) << FormatTimestamp(t);
  }
  EXPECT_EQ(FormatTimestamp(1291191960000000), "2010-12-01T08:26:00Z");
}

TEST(ValuesTest, NumbersAndBooleans) {
  EXPECT_EQ(ParseInteger("+42"), 42);
  EXPECT_EQ(ParseInteger("-7"), -7);
  EXPECT_FALSE(ParseInteger("9223372036854775808"));
  EXPECT_FALSE(ParseInteger("1.0"));
  EXPECT_FALSE(ParseInteger("-"));
  EXPECT_EQ(ParseFloat("2.55"), 2.55);
  EXPECT_EQ(ParseFloat("-1e3"), -1000);
  EXPECT_FALSE(ParseFloat("inf"));
  EXPECT_FALSE(ParseFloat("nan"));
  EXPECT_EQ(ParseBoolean("TRUE"), true);
  EXPECT_EQ(ParseBoolean("False"), false);
  EXPECT_FALSE(ParseBoolean("yes"));
  EXPECT_EQ(FormatFloat(17850), "17850.0");
  EXPECT_EQ(FormatFloat(2.55), "2.55");
}

ColumnType Guess(std::initializer_list<const char*> values, bool* nullable = nullptr) {
  TypeGuess g;
  for (const char* v : values) g.Add(v);
  if (nullable) *nullable = g.Nullable(g.Result());
  return g.Result();
}

TEST(ValuesTest, InfersTheNarrowestType) {
  bool nullable = false;
  EXPECT_EQ(Guess({"1", "2", ""}, &nullable), ColumnType::kInteger);
  EXPECT_TRUE(nullable);
  EXPECT_EQ(Guess({"1", "2.5", "NA"}, &nullable), ColumnType::kFloat);
  EXPECT_TRUE(nullable);  // NA is missing in a numeric column
  EXPECT_EQ(Guess({"true", "false"}), ColumnType::kBoolean);
  EXPECT_EQ(Guess({"2010-12-01 08:26:00", "2011-01-01"}), ColumnType::kTimestamp);
  EXPECT_EQ(Guess({"a", "b", "a", "b"}), ColumnType::kCategorical);
  EXPECT_EQ(Guess({"a", "b", "c"}), ColumnType::kString);
  // In a string column "NA" is a value, and only empty fields are missing.
  EXPECT_EQ(Guess({"x", "NA", "y", "z"}, &nullable), ColumnType::kString);
  EXPECT_FALSE(nullable);
  EXPECT_EQ(Guess({""}), ColumnType::kString);
}

TEST(SegmentTest, RoundTripsEveryTypeWithNulls) {
  ColumnBuilder ints(ColumnType::kInteger), floats(ColumnType::kFloat), strs(ColumnType::kString), ts(ColumnType::kTimestamp);
  for (int i = 0; i < 1000; ++i) {
    if (i % 7 == 0) {
      ints.AppendNull();
      strs.AppendNull();
    } else {
      ints.AppendInt(i * 3 - 500);
      strs.AppendString(i % 3 ? "abc" : "\"quoted\", with comma");
    }
    floats.AppendFloat(i / 8.0);
    ts.AppendInt(int64_t{i} * 1000000);
  }
  std::vector<ColumnData> cols = {ints.Finish(), floats.Finish(), strs.Finish(), ts.Finish()};
  std::string bytes = EncodeSegment(cols);
  auto back = DecodeSegment(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 4u);
  for (size_t i = 0; i < 1000; ++i) {
    ASSERT_EQ((*back)[0].IsNull(i), i % 7 == 0);
    if (i % 7) {
      EXPECT_EQ((*back)[0].ints[i], cols[0].ints[i]);
      EXPECT_EQ((*back)[2].Str(i), cols[2].Str(i));
    }
    EXPECT_EQ((*back)[1].floats[i], i / 8.0);
    EXPECT_EQ((*back)[3].ints[i], int64_t(i) * 1000000);
  }
  EXPECT_EQ((*back)[2].dict_size(), 3u);  // "", "abc" and the quoted one, stored once each
  // A flipped byte anywhere is an error, never a crash or wrong values passed on silently.
  for (size_t pos : {size_t{3}, size_t{12}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[pos] ^= 0x5a;
    auto r = DecodeSegment(bad);
    if (r.ok()) {
      // A flip inside a compressed block may still decode; then the values must differ.
      EXPECT_NE(EncodeSegment(*r), bytes) << pos;
    }
  }
  EXPECT_FALSE(DecodeSegment(bytes.substr(0, bytes.size() - 5)).ok());
}

struct Parsed {
  ParsedTable table;
  std::vector<std::vector<ColumnData>> segments;
};

Result<Parsed> Parse(std::string_view text, TextFormat format, size_t segment_rows = 65536, Schema schema = {}, int threads = 1) {
  ParseOptions o;
  o.format = format;
  o.segment_rows = segment_rows;
  o.schema = std::move(schema);
  o.threads = threads;
  Parsed out;
  auto r = ParseTable(text, o, [&](EncodedSegment s) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto cols, DecodeSegment(s.bytes));
    if (cols.empty() || cols[0].rows != s.rows) return Status::Internal("row count");
    out.segments.push_back(std::move(cols));
    return Status::Ok();
  });
  if (!r.ok()) return r.status();
  out.table = std::move(*r);
  return out;
}

TEST(TableParserTest, CsvQuotingLineBreaksAndCrlf) {
  std::string csv =
      "\xEF\xBB\xBFid,name,score,when\r\n"
      "1,\"Smith, Jane\",2.5,2020-01-01\r\n"
      "2,\"say \"\"hi\"\"\",,2020-01-02 10:00:00\r\n"
      "\r\n"
      "3,\"two\nlines\",-1,\r\n";
  auto p = Parse(csv, TextFormat::kCsv);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Schema& s = p->table.schema;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].name, "id");  // the byte order mark is not part of the name
  EXPECT_EQ(s[0].type, ColumnType::kInteger);
  EXPECT_FALSE(s[0].nullable);
  EXPECT_EQ(s[1].type, ColumnType::kString);
  EXPECT_EQ(s[2].type, ColumnType::kFloat);
  EXPECT_TRUE(s[2].nullable);
  EXPECT_EQ(s[3].type, ColumnType::kTimestamp);
  EXPECT_EQ(p->table.rows, 3u);
  const auto& seg = p->segments.at(0);
  EXPECT_EQ(seg[1].Str(0), "Smith, Jane");
  EXPECT_EQ(seg[1].Str(1), "say \"hi\"");
  EXPECT_EQ(seg[1].Str(2), "two\nlines");
  EXPECT_TRUE(seg[2].IsNull(1));
  EXPECT_TRUE(seg[3].IsNull(2));
}

TEST(TableParserTest, BadRecordsNameTheirLine) {
  auto p = Parse("a,b\n1,2\n3\n", TextFormat::kCsv);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kBadRequest);
  EXPECT_NE(p.status().message().find("line 3"), std::string::npos) << p.status().message();
  p = Parse("a,b\n1,\"open\n", TextFormat::kCsv);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("not closed"), std::string::npos);
  p = Parse("a,a\n1,2\n", TextFormat::kCsv);
  ASSERT_FALSE(p.ok());
  p = Parse("", TextFormat::kCsv);
  ASSERT_FALSE(p.ok());
  p = Parse("{\"a\":1}\n[1,2]\n", TextFormat::kJsonLines);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("line 2"), std::string::npos);
}

TEST(TableParserTest, DeclaredSchemaIsEnforced) {
  Schema schema = {{"a", ColumnType::kInteger, false}, {"b", ColumnType::kString, true}};
  auto p = Parse("b,a\nx,1\n,2\n", TextFormat::kCsv, 65536, schema);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->segments[0][0].ints[1], 2);  // columns matched by name, not position
  EXPECT_TRUE(p->segments[0][1].IsNull(1));
  p = Parse("a,b\n1,x\nseven,y\n", TextFormat::kCsv, 65536, schema);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("line 3, column 'a': 'seven' is not an integer"), std::string::npos)
      << p.status().message();
  p = Parse("a,b\n,x\n", TextFormat::kCsv, 65536, schema);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("not nullable"), std::string::npos);
  p = Parse("a,c\n1,2\n", TextFormat::kCsv, 65536, schema);
  ASSERT_FALSE(p.ok());
}

TEST(TableParserTest, JsonLinesMembersBecomeColumns) {
  std::string jsonl =
      "{\"user\":\"u1\",\"n\":1,\"tags\":[\"a\"],\"ok\":true}\n"
      "\n"
      "{\"n\":2.5,\"user\":\"u2\",\"extra\":null}\n"
      "{\"user\":\"u3\",\"n\":3,\"ok\":false}\n";
  auto p = Parse(jsonl, TextFormat::kJsonLines);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Schema& s = p->table.schema;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[FindColumn(s, "n")].type, ColumnType::kFloat);
  EXPECT_EQ(s[FindColumn(s, "ok")].type, ColumnType::kBoolean);
  EXPECT_TRUE(s[FindColumn(s, "ok")].nullable);  // absent from one line
  EXPECT_FALSE(s[FindColumn(s, "user")].nullable);
  EXPECT_EQ(p->segments[0][FindColumn(s, "tags")].Str(0), "[\"a\"]");
}

TEST(TableParserTest, SegmentsComeInOrderFromEveryThread) {
  std::string csv = "i,s\n";
  for (int i = 0; i < 1000; ++i) csv += std::to_string(i) + ",v" + std::to_string(i % 5) + "\n";
  auto p = Parse(csv, TextFormat::kCsv, 64, {}, 3);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->segments.size(), 16u);  // 15 of 64 rows and one of 40
  int64_t next = 0;
  for (const auto& seg : p->segments) {
    for (size_t r = 0; r < seg[0].rows; ++r) EXPECT_EQ(seg[0].ints[r], next++);
  }
  EXPECT_EQ(next, 1000);
  EXPECT_EQ(p->table.schema[1].type, ColumnType::kCategorical);
  // A bad value in a late segment stops the parse with its line, whatever thread met it.
  Schema declared = {{"i", ColumnType::kInteger, false}, {"s", ColumnType::kString, false}};
  std::string bad = csv + "x,y\n";
  auto q = Parse(bad, TextFormat::kCsv, 64, declared, 3);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("line 1002"), std::string::npos) << q.status().message();
}

}  // namespace
}  // namespace aimass::datasets
