#include "registry/search.hpp"

#include <gtest/gtest.h>

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
                          "created > 'yesterday'", "tag LIKE 'a'", "task ! 'a'", "task = 'a' ;",
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

}  // namespace
}  // namespace aimass::registry
