#include "registry/search.hpp"

#include <gtest/gtest.h>

#include "registry/registry.hpp"

namespace aimass::registry {
namespace {

TEST(SearchFilterTest, ValuesAreBoundNeverSpliced) {
  auto f = CompileFilter("name = 'x'' OR 1=1 --' AND task = \"ner\"");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->where, "(m.name = ? AND m.task = ?)");
  ASSERT_EQ(f->params.size(), 2u);
  EXPECT_EQ(std::get<std::string>(f->params[0]), "x' OR 1=1 --");
  EXPECT_EQ(std::get<std::string>(f->params[1]), "ner");
}

TEST(SearchFilterTest, PrecedenceAndParentheses) {
  auto f = CompileFilter("task = 'a' OR task = 'b' AND NOT (framework = 'onnx' OR version >= 3)");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->where,
            "(m.task = ? OR (m.task = ? AND (NOT (v.framework = ? OR v.version >= ?))))");
  auto chain = CompileFilter("version > 1 AND version > 2 AND version > 3 OR task = 'a'");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->where, "((v.version > ? AND v.version > ? AND v.version > ?) OR m.task = ?)");
}

TEST(SearchFilterTest, KeywordsAreCaseInsensitive) {
  EXPECT_TRUE(CompileFilter("task = 'a' and name like 'x%' or not status != 'ready'").ok());
}

TEST(SearchFilterTest, MetricsTagsAliasesAndTime) {
  auto f = CompileFilter("metrics.top-1.acc > 0.9 AND tag = 'nlp' AND alias != 'production' AND "
                         "created >= '2026-01-02T03:04:05Z'");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->params.size(), 5u);
  EXPECT_EQ(std::get<std::string>(f->params[0]), "$.\"top-1.acc\"");
  EXPECT_DOUBLE_EQ(std::get<double>(f->params[1]), 0.9);
  EXPECT_EQ(std::get<int64_t>(f->params[4]), 1767323045);
  EXPECT_NE(f->where.find("NOT EXISTS (SELECT 1 FROM registry_aliases"), std::string::npos);
}

TEST(SearchFilterTest, BlankIsEverything) {
  auto f = CompileFilter("  ");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->where, "1=1");
}

TEST(SearchFilterTest, ErrorsNameThePosition) {
  for (const char* bad : {"task =", "task = 'a", "(task = 'a'", "task = 'a')", "x = 1",
                          "task > 'a'", "metrics.a > 'b'", "metrics.a\"b > 1", "version = 'x'",
                          "created > 'yesterday'", "version = 1e19", "version = 1.5", "tag LIKE 'a'", "task ! 'a'", "task = 'a' ;",
                          "AND", "NOT", "= 'a'"}) {
    auto f = CompileFilter(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().code(), Code::kBadRequest) << bad;
    EXPECT_NE(f.status().message().find("filter"), std::string::npos) << f.status().message();
  }
}

TEST(SearchFilterTest, DepthAndLengthAreBounded) {
  std::string deep(200, '(');
  deep += "task = 'a'" + std::string(200, ')');
  EXPECT_FALSE(CompileFilter(deep).ok());
  EXPECT_FALSE(CompileFilter(std::string(5000, ' ') + "task = 'a'").ok());
}

TEST(SearchOrderTest, KnownOrdersOnly) {
  EXPECT_TRUE(CompileOrder("created").ok());
  EXPECT_TRUE(CompileOrder("version asc").ok());
  EXPECT_TRUE(CompileOrder("metrics.accuracy desc").ok());
  EXPECT_FALSE(CompileOrder("metrics.a'b").ok());
  EXPECT_FALSE(CompileOrder("name sideways").ok());
  EXPECT_FALSE(CompileOrder("random()").ok());
}

// Found by fuzz/search_filter_fuzz.cpp: a long AND chain once became one nested group per
// operator and overflowed SQLite's parser stack. Every accepted filter must prepare.
TEST(SearchFilterTest, LongChainsStayPreparable) {
  std::string chain = "tag = 'x'";
  for (int i = 0; i < 99; ++i) chain += " and created > " + std::to_string(i);
  auto f = CompileFilter(chain);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto db = std::move(storage::OpenSqlite({":memory:", 1000, 0}).value());
  ASSERT_TRUE(db->Migrate(Registry::Migrations()).ok());
  auto rows = db->Query("SELECT 1 FROM registry_versions v JOIN registry_models m ON m.id = "
                        "v.model_id WHERE " + f->where, f->params);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_FALSE(CompileFilter(chain + " and version > 1").ok()) << "101 comparisons";
  std::string deep = std::string(24, '(') + "task = 'a'" + std::string(24, ')');
  ASSERT_TRUE(CompileFilter(deep).ok());
  auto deep_f = CompileFilter(deep);
  EXPECT_TRUE(db->Query("SELECT 1 FROM registry_versions v JOIN registry_models m ON m.id = "
                        "v.model_id WHERE " + deep_f->where, deep_f->params).ok());
  std::string nots;
  for (int i = 0; i < 24; ++i) nots += "NOT ";
  auto nf = CompileFilter(nots + "task = 'a'");
  ASSERT_TRUE(nf.ok());
  EXPECT_TRUE(db->Query("SELECT 1 FROM registry_versions v JOIN registry_models m ON m.id = "
                        "v.model_id WHERE " + nf->where, nf->params).ok());
}

}  // namespace
}  // namespace aimass::registry
