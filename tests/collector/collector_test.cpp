// Collector documents, line parsing, and the http spool's durability rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "collector/http_source.hpp"
#include "collector/line_parser.hpp"
#include "collector/mqtt_client.hpp"
#include "collector/spec.hpp"
#include "test_support.hpp"

namespace aimass::collector {
namespace {

using nlohmann::json;

TEST(CollectorSpecTest, ChecksEachSourceAndMasksSecrets) {
  auto ok = ParseCollectorSpec({{"name", "logs"}, {"dataset", "d"}, {"source", {{"type", "file_tail"}, {"path", "/var/log/app.log"}, {"format", "regex"}, {"pattern", "(?P<level>[A-Z]+) (?P<msg>.*)"}}},
                                {"batch", {{"max_rows", 50}, {"max_wait_s", 0.5}}}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->type, SourceType::kFileTail);
  EXPECT_EQ(ok->max_rows, 50u);
  for (const json& bad : {json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "file_tail"}, {"path", "rel"}}}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "http"}}}, {"schedule", "@daily"}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "sql"}, {"driver", "sqlite"}, {"path", "/a"}, {"query", "q"}, {"cursor_column", "id"}}}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "sql"}, {"driver", "sqlite"}, {"path", "/a"}, {"query", "q"}, {"cursor_column", "a\"b"}}}, {"schedule", "@daily"}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "directory"}, {"path", "/in"}, {"format", "csv"}, {"columns", json::array()}}}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "http"}}}, {"batch", {{"max_wait_s", 0}}}},
                          json{{"name", "x"}, {"dataset", "d"}, {"source", {{"type", "mq"}}}}}) {
    auto r = ParseCollectorSpec(bad);
    EXPECT_FALSE(r.ok()) << bad.dump();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadRequest) << bad.dump();
    }
  }
  auto pg = ParseCollectorSpec({{"name", "orders"}, {"dataset", "d"}, {"schedule", "*/5 * * * *"},
                                {"source", {{"type", "sql"}, {"driver", "postgres"}, {"dsn", "postgresql://app:hunter2@db/shop password=x"},
                                            {"query", "SELECT * FROM orders"}, {"cursor_column", "id"}}}});
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  std::string shown = SpecJson(*pg, false).dump();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("app:***@db"), std::string::npos) << shown;
  EXPECT_NE(SpecJson(*pg, true).dump().find("hunter2"), std::string::npos);
}

TEST(MqttTest, PacketPiecesAndSourceDocuments) {
  EXPECT_EQ(MqttRemainingLength(0), std::string(1, '\0'));
  EXPECT_EQ(MqttRemainingLength(127), "\x7f");
  EXPECT_EQ(MqttRemainingLength(128), std::string("\x80\x01", 2));
  EXPECT_EQ(MqttRemainingLength(16383), "\xff\x7f");
  EXPECT_EQ(MqttRemainingLength(2097152), std::string("\x80\x80\x80\x01", 4));
  EXPECT_EQ(MqttString("MQTT"), std::string("\0\x04MQTT", 6));
  auto ok = ParseCollectorSpec({{"name", "iot"}, {"dataset", "d"},
                                {"source", {{"type", "mqtt"}, {"host", "broker"}, {"topics", {"a/+", "b/#"}}, {"password", "pw"}}}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(SpecJson(*ok, false)["source"]["password"], "***");
  for (const json& src : {json{{"type", "mqtt"}, {"host", "b"}}, json{{"type", "mqtt"}, {"host", "b"}, {"topic", "a"}, {"topics", {"b"}}},
                          json{{"type", "mqtt"}, {"host", "b"}, {"topic", "a"}, {"qos", 2}},
                          json{{"type", "mqtt"}, {"host", "b"}, {"topic", "a"}, {"port", 70000}}}) {
    EXPECT_FALSE(ParseCollectorSpec({{"name", "x"}, {"dataset", "d"}, {"source", src}}).ok()) << src.dump();
  }
}

TEST(LineParserTest, JsonCsvAndRegex) {
  LineParser j(json{{"format", "json"}});
  EXPECT_EQ(*j.Parse("{\"a\":1}\r"), json({{"a", 1}}));
  EXPECT_FALSE(j.Parse("[1]").ok());
  EXPECT_FALSE(j.Parse("{").ok());
  LineParser c(json{{"format", "csv"}});
  ASSERT_TRUE(c.wants_header());
  ASSERT_TRUE(c.SetHeader("name,note").ok());
  EXPECT_EQ(*c.Parse("\"Smith, J\",\"said \"\"hi\"\"\""), json({{"name", "Smith, J"}, {"note", "said \"hi\""}}));
  EXPECT_EQ(*c.Parse("x,"), json({{"name", "x"}, {"note", nullptr}}));
  EXPECT_FALSE(c.Parse("a,b,c").ok());
  LineParser r(json{{"format", "regex"}, {"pattern", "^(?P<level>[A-Z]+) (?P<code>\\d+)?"}});
  EXPECT_EQ(*r.Parse("WARN 42 disk"), json({{"level", "WARN"}, {"code", "42"}}));
  EXPECT_EQ(*r.Parse("INFO x"), json({{"level", "INFO"}, {"code", nullptr}}));
  EXPECT_FALSE(r.Parse("lower").ok());
}

TEST(HttpSpoolTest, AcknowledgedRowsSurviveAndATornTailIsCut) {
  testing::TempDir dir;
  const std::string spool = dir.file("spool");
  {
    HttpSource s(spool);
    ASSERT_TRUE(s.Init().ok());
    ASSERT_EQ(*s.Append({"{\"id\":1}", "{\"id\":2}"}), 0u);
    ASSERT_EQ(*s.Append({"{\"id\":3}"}), 18u);
  }
  // A crash in the middle of a push leaves a line without its newline: it was never acknowledged.
  {
    std::ofstream f(spool + "/00000000000000000000.log", std::ios::app);
    f << "{\"id\":4";
  }
  HttpSource s(spool);
  ASSERT_TRUE(s.Init().ok());
  ASSERT_TRUE(s.Open(json{{"position", 9}}).ok());  // after the first row
  Pulled p;
  ASSERT_TRUE(s.Pull(10, std::chrono::milliseconds(10), p).ok());
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows[0]["id"], 2);
  EXPECT_EQ(p.rows[1]["id"], 3);
  EXPECT_EQ(p.offset["position"], 27);
  EXPECT_EQ(s.Lag()["bytes"], 0);
  ASSERT_EQ(*s.Append({"{\"id\":5}"}), 27u);  // after the cut tail
}

}  // namespace
}  // namespace aimass::collector
