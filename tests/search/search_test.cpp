// The search module's parts: the vocabulary's edit
// distance, the query and filter languages, relevance measures, index specs, and an index on
// disk (Xapian) written, searched, filtered, faceted and reopened.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "search/filter_syntax.hpp"
#include "search/index.hpp"
#include "search/query_syntax.hpp"
#include "search/relevance.hpp"
#include "search/vocabulary.hpp"
#include "test_support.hpp"

namespace aimass::search {
namespace {

using nlohmann::json;

TEST(VocabularyTest, EditsCountTranspositionsOnceAndFirstLettersTwice) {
  EXPECT_EQ(Vocabulary::Distance("recieve", "receive", 2), 1);
  EXPECT_EQ(Vocabulary::Distance("mashine", "machine", 2), 1);
  EXPECT_EQ(Vocabulary::Distance("kitten", "sitting", 2), 3);  // over the bound: max + 1
  Vocabulary v;
  v.Add({"machine", "machines", "marine", "receive", "deceive", "machine", "machines", "machines"});
  EXPECT_EQ(v.size(), 5u);
  auto near = v.Near("mashine", 1, 10);
  ASSERT_EQ(near.size(), 1u);
  EXPECT_EQ(near[0].second, "machine");
  // "deceive" differs from "receive" in its first letter: two edits.
  auto r = v.Near("receive", 2, 10);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], (std::pair<int, std::string>{2, "deceive"}));
  EXPECT_TRUE(v.Near("receive", 1, 10).empty());
  // Completions, the most frequent first.
  EXPECT_EQ(v.WithPrefix("mach", 100, 10), (std::vector<std::string>{"machines", "machine"}));
  EXPECT_EQ(v.WithPrefix("mach", 100, 1), (std::vector<std::string>{"machines"}));
  v.AddCounted({{"machine", 5}, {"mach", 1}});
  EXPECT_EQ(v.WithPrefix("mach", 100, 10), (std::vector<std::string>{"machine", "machines"}));
  EXPECT_EQ(v.size(), 6u);
  // Saved with a revision, loaded back only for that revision.
  testing::TempDir dir;
  ASSERT_TRUE(v.Save(dir.file("vocabulary"), 7).ok());
  Vocabulary back;
  EXPECT_FALSE(back.Load(dir.file("vocabulary"), 8));
  ASSERT_TRUE(back.Load(dir.file("vocabulary"), 7));
  EXPECT_EQ(back.size(), 6u);
  EXPECT_EQ(back.WithPrefix("mach", 100, 10), (std::vector<std::string>{"machine", "machines"}));
  back.Clear();
  EXPECT_EQ(back.size(), 0u);
}

TEST(QuerySyntaxTest, BuildsGroupsOfRequiredOptionalAndExcludedParts) {
  auto q = ParseQuery("wool +scarf -red \"rain coat\" (a OR b) NOT c");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->kind, QueryNode::kGroup);
  ASSERT_EQ(q->optional.size(), 3u);  // wool, the phrase, the OR
  EXPECT_EQ(q->optional[1].kind, QueryNode::kPhrase);
  EXPECT_EQ(q->optional[2].kind, QueryNode::kOr);
  ASSERT_EQ(q->required.size(), 1u);
  EXPECT_EQ(q->required[0].text, "scarf");
  ASSERT_EQ(q->excluded.size(), 2u);
  auto a = ParseQuery("kernel AND modul");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->required.size(), 2u);
  EXPECT_TRUE(a->required[1].prefix);  // still being typed
  EXPECT_FALSE(ParseQuery("kernel ")->optional[0].prefix);
  EXPECT_FALSE(ParseQuery("\"open").ok());
  EXPECT_FALSE(ParseQuery("(a").ok());
  EXPECT_FALSE(ParseQuery("a)").ok());
  EXPECT_TRUE(ParseQuery("AND OR NOT").ok());
  EXPECT_FALSE(ParseQuery(std::string(40, '(')).ok());
}

TEST(FilterSyntaxTest, ParsesMeilisearchFiltersAndNamesErrors) {
  auto f = ParseFilter("category = 'x y' AND (price < 10 OR price 20 TO 30) AND NOT tag IN [a, \"b\"] AND size EXISTS");
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->kind, FilterNode::kAnd);
  ASSERT_EQ(f->children.size(), 4u);
  EXPECT_EQ(f->children[0].values, std::vector<std::string>{"x y"});
  EXPECT_EQ(f->children[1].kind, FilterNode::kOr);
  EXPECT_EQ(f->children[1].children[1].kind, FilterNode::kRange);
  EXPECT_EQ(f->children[2].kind, FilterNode::kNot);
  EXPECT_EQ(f->children[2].children[0].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f->children[3].kind, FilterNode::kExists);
  auto notin = ParseFilter("tag NOT IN [c]");
  ASSERT_TRUE(notin.ok());
  EXPECT_EQ(notin->kind, FilterNode::kNot);
  for (const char* bad : {"price <", "= 3", "a = 'open", "(a = 1", "a IN b", "a = 1 b = 2", "a ~ 1"}) {
    auto r = ParseFilter(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("filter:"), std::string::npos);
    }
  }
}

TEST(RelevanceTest, MatchesTrecEvalsDefinitions) {
  std::map<std::string, double> judged = {{"a", 3}, {"b", 1}, {"c", 2}};
  // Ranked a, x, c; b never retrieved.
  RelevanceScores s = Score({"a", "x", "c"}, judged, 3, 100);
  const double dcg = 3 + 2 / std::log2(4.0), idcg = 3 + 2 / std::log2(3.0) + 1 / std::log2(4.0);
  EXPECT_NEAR(s.ndcg, dcg / idcg, 1e-12);
  EXPECT_NEAR(s.ap, (1.0 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(s.precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(s.recall, 2.0 / 3, 1e-12);
  EXPECT_EQ(Score({"a"}, {}, 10, 100).ndcg, 0);
}

TEST(IndexSpecTest, ChecksFieldsAndSettings) {
  auto ok = ParseIndexSpec(json::parse(R"({"name": "p", "fields": {"t": {"type": "text", "weight": 3}, "c": "keyword"},
                                          "typo_tolerance": {"one_typo": 4, "two_typos": 8}, "ranking": {"k1": 2}})"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->Field("t")->weight, 3);
  EXPECT_EQ(ok->one_typo, 4);
  EXPECT_EQ(ok->k1, 2);
  EXPECT_EQ(ok->Field("c")->type, FieldSpec::kKeyword);
  for (const char* bad : {R"({"name": "p"})", R"({"name": "P", "fields": {"t": "text"}})",
                          R"({"name": "p", "fields": {"_t": "text"}})", R"({"name": "p", "fields": {"t": "text"}, "ranking": {"b": 2}})",
                          R"({"name": "p", "fields": {"t": {"type": "number", "facet": true}}})",
                          R"({"name": "p", "fields": {"t": "text"}, "vector": {"dims": 4, "fields": ["nope"]}})"}) {
    EXPECT_FALSE(ParseIndexSpec(json::parse(bad)).ok()) << bad;
  }
  bool reindex = false;
  auto patched = PatchIndexSpec(*ok, json::parse(R"({"synonyms": {"TV": ["television"]}})"), &reindex);
  ASSERT_TRUE(patched.ok());
  EXPECT_FALSE(reindex);
  EXPECT_EQ(patched->synonyms.at("tv"), std::vector<std::string>{"television"});
  ASSERT_TRUE(PatchIndexSpec(*ok, json::parse(R"({"language": "fr"})"), &reindex).ok());
  EXPECT_TRUE(reindex);
}

TEST(IndexTest, WritesSearchesFiltersAndReopens) {
  testing::TempDir dir;
  auto spec = ParseIndexSpec(json::parse(R"({"name": "shop", "fields": {"title": {"type": "text", "weight": 2},
      "body": "text", "tags": {"type": "keyword", "facet": true}, "price": {"type": "number", "sortable": true}}})"));
  ASSERT_TRUE(spec.ok());
  {
    auto ix = Index::Open(dir.path() + "/shop", *spec, nullptr);
    ASSERT_TRUE(ix.ok()) << ix.status().message();
    std::vector<json> docs = {json::parse(R"({"id": "1", "title": "Red wool scarf", "body": "warm", "tags": ["winter"], "price": 20})"),
                              json::parse(R"({"id": "2", "title": "Blue shirt", "body": "a scarf pattern", "tags": "summer", "price": 35})"),
                              json::parse(R"({"id": 3, "title": "Rain coat", "tags": ["winter", "wet"], "price": "80"})")};
    ASSERT_TRUE((*ix)->Check(docs).ok());
    auto w = (*ix)->Write(docs);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->added, 3);
    SearchRequest r;
    r.q = "scarf";
    auto res = (*ix)->Search(r);
    ASSERT_TRUE(res.ok());
    ASSERT_EQ(res->hits.size(), 2u);
    EXPECT_EQ(res->hits[0].id, "1");  // the title weighs twice
    EXPECT_EQ(res->hits[0].highlights["title"], "Red wool <em>scarf</em>");
    r.q = "";
    r.filter = "tags = WINTER AND price >= 50";
    r.facets = {"tags"};
    res = (*ix)->Search(r);
    ASSERT_TRUE(res.ok());
    ASSERT_EQ(res->hits.size(), 1u);
    EXPECT_EQ(res->hits[0].id, "3");
    EXPECT_EQ(res->facets["tags"], json::parse(R"({"wet": 1, "winter": 1})"));
    r.filter = "";
    r.facets = {};
    r.sort = {{"price", false}};
    res = (*ix)->Search(r);
    ASSERT_EQ(res->hits.size(), 3u);
    EXPECT_EQ(res->hits[0].id, "3");
    EXPECT_FALSE((*ix)->Check({json::parse(R"({"id": 4, "price": "cheap"})")}).ok());
    r.sort = {{"title", true}};
    EXPECT_FALSE((*ix)->Search(r).ok());
    auto d = (*ix)->Delete({"2", "9"});
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, 1);
  }
  auto again = Index::Open(dir.path() + "/shop", *spec, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->DocCount(), 2);
  SearchRequest typo;
  typo.q = "scraf";  // five letters, one transposition
  auto res = (*again)->Search(typo);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->hits.size(), 1u);
  EXPECT_EQ(res->hits[0].id, "1");
}

}  // namespace
}  // namespace aimass::search
