// The recommend module's parts that need no server: app configurations, A/B assignment and the
// z-test, and the live state's histories and session pairs.
#include <gtest/gtest.h>

#include <map>

#include "recommend/app_config.hpp"
#include "recommend/experiment.hpp"
#include "recommend/live_app.hpp"

namespace aimass::recommend {
namespace {

using nlohmann::json;

TEST(AppConfig, DefaultsAndRefusals) {
  auto c = ParseAppConfig(json{{"name", "shop"}, {"feedback_types", {{"view", 1}, {"cart", 3}, {"purchase", 5}}}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->exclude_consumed);
  EXPECT_EQ(c->algorithm, "ranker");
  EXPECT_EQ(c->conversion_types, std::vector<std::string>{"purchase"});
  EXPECT_EQ(c->click_types, (std::vector<std::string>{"cart", "view"}));
  for (const json& bad : {json{{"name", "shop"}}, json{{"name", "Shop"}, {"feedback_types", {{"v", 1}}}},
                          json{{"name", "shop"}, {"feedback_types", {{"v", 0}}}},
                          json{{"name", "shop"}, {"feedback_types", {{"v", 1}}}, {"algorithm", "magic"}},
                          json{{"name", "shop"}, {"feedback_types", {{"v", 1}}}, {"training", {{"factors", 1.5}}}},
                          json{{"name", "shop"}, {"feedback_types", {{"v", 1}}}, {"training", {{"unknown", 1}}}},
                          json{{"name", "shop"}, {"feedback_types", {{"v", 1}}}, {"click_types", {"x"}}}}) {
    EXPECT_EQ(ParseAppConfig(bad).status().code(), Code::kBadRequest) << bad.dump();
  }
  auto round = ParseAppConfig(c->Json());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->Json(), c->Json());
}

TEST(Experiment, AssignmentIsStableAndFollowsTheWeights) {
  auto e = ParseExperiment(json{{"name", "e1"},
                                {"variants", {{{"name", "a"}, {"algorithm", "popular"}, {"weight", 1}},
                                              {{"name", "b"}, {"algorithm", "als"}, {"weight", 3}}}}});
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::map<std::string, int> counts;
  for (int u = 0; u < 20000; ++u) {
    auto v = AssignVariant(*e, "user" + std::to_string(u));
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)["name"], (*AssignVariant(*e, "user" + std::to_string(u)))["name"]);
    ++counts[(*v)["name"].get<std::string>()];
  }
  EXPECT_NEAR(counts["b"] / 20000.0, 0.75, 0.02);
  EXPECT_FALSE(ParseExperiment(json{{"name", "e"}, {"variants", {{{"name", "a"}, {"algorithm", "popular"}}}}}).ok());
  EXPECT_FALSE(ParseExperiment(json{{"name", "e"},
                                    {"variants", {{{"name", "a"}, {"algorithm", "popular"}}, {{"name", "a"}, {"algorithm", "als"}}}}})
                   .ok());
}

TEST(Experiment, TwoProportionZTest) {
  // 10% vs 15% of 1,000 each: z = 0.05 / sqrt(0.125 · 0.875 · 2/1000) = 3.38, p = 0.00072.
  auto t = CompareProportions(100, 1000, 150, 1000);
  EXPECT_NEAR(t.z, 3.3806, 1e-3);
  EXPECT_NEAR(t.p_value, 0.000723, 2e-5);
  EXPECT_NEAR(CompareProportions(100, 1000, 100, 1000).p_value, 1.0, 1e-12);
  EXPECT_EQ(CompareProportions(0, 0, 1, 2).p_value, 1.0);
}

TEST(LiveApp, HistoryCountsEveryPieceAndSessionsPairItems) {
  LiveApp a;
  const uint32_t u = a.User("u"), x = a.Item("x"), y = a.Item("y");
  a.Apply(u, x, 1, "view", 1, 10, "s");
  a.Apply(u, x, 5, "buy", 5, 20, "s");
  a.Apply(u, y, 1, "view", 1, 30, "s");
  ASSERT_EQ(a.user_state[u].items.size(), 2u);
  EXPECT_FLOAT_EQ(a.user_state[u].items[0].weight, 6);
  EXPECT_EQ(a.user_state[u].items[0].type, "buy");
  EXPECT_EQ(a.user_state[u].recent, (std::vector<uint32_t>{x, y}));
  EXPECT_FLOAT_EQ(a.live_pairs[x][y], 1.f);
  EXPECT_FLOAT_EQ(a.live_pairs[y][x], 0.5f);
  EXPECT_EQ(a.sessions["s"], (std::vector<uint32_t>{x, y}));
  EXPECT_FLOAT_EQ(a.info[x].popularity, 6);
  EXPECT_EQ(a.feedback_count, 3u);
}

}  // namespace
}  // namespace aimass::recommend
