// The text library: Chinese segmentation, analysis, TF-IDF features, LIBLINEAR models, entity
// rules and the learned tagger, NLU models trained, saved, loaded and checked against damage.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "text/analyzer.hpp"
#include "text/annotated_text.hpp"
#include "text/chinese_segmenter.hpp"
#include "text/entity_rules.hpp"
#include "text/entity_tagger.hpp"
#include "text/linear_model.hpp"
#include "text/nlu_definition.hpp"
#include "text/nlu_model.hpp"
#include "text/nlu_trainer.hpp"
#include "text/text_features.hpp"
#include "test_support.hpp"

namespace aimass::text {
namespace {

using nlohmann::json;

std::vector<std::string> Words(std::string_view text, const std::vector<Segment>& segs) {
  std::vector<std::string> out;
  for (const auto& s : segs) out.push_back(std::string(text.substr(s.begin, s.end - s.begin)) + (s.sub ? "*" : ""));
  return out;
}

TEST(ChineseSegmenterTest, PicksTheMostProbableSplit) {
  ChineseSegmenter zh({{"软件", 500}, {"软件包", 300}, {"安装", 800}, {"如何", 900}, {"包", 100}, {"件", 50}});
  const std::string text = "如何安装软件包";
  EXPECT_EQ(Words(text, zh.Cut(text, false)), (std::vector<std::string>{"如何", "安装", "软件包"}));
  // Search mode adds the dictionary words inside longer ones.
  EXPECT_EQ(Words(text, zh.Cut(text, true)), (std::vector<std::string>{"如何", "安装", "软件包", "软件*"}));
  // Unknown characters stay single.
  const std::string odd = "龘安装";
  EXPECT_EQ(Words(odd, zh.Cut(odd, false)), (std::vector<std::string>{"龘", "安装"}));
}

TEST(AnalyzerTest, WordsAreLoweredStemmedAndCutWithTheirOffsets) {
  Analyzer en("en", nullptr);
  auto t = en.Tokenize("Debian's Packages, v1.2 — naïve!", false);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].word, "debian's");
  EXPECT_EQ(en.Term(t[0]), "debian");
  EXPECT_EQ(en.Term(t[1]), "packag");
  EXPECT_EQ(t[2].word, "v1.2");
  EXPECT_EQ(t[3].word, "naïve");
  EXPECT_EQ(t[1].begin, 9u);
  EXPECT_EQ(t[1].end, 17u);
  EXPECT_EQ(t[3].pos, 4u);
  // Without a dictionary, Han runs become overlapping pairs, between Latin words.
  auto zh = en.Tokenize("安装软件 apt", false);
  std::vector<std::string> words;
  for (const auto& x : zh) words.push_back(x.word);
  EXPECT_EQ(words, (std::vector<std::string>{"安装", "装软", "软件", "apt"}));
  EXPECT_TRUE(zh[0].cjk);
  EXPECT_FALSE(zh[3].cjk);
  Analyzer none("none", nullptr);
  EXPECT_EQ(none.Term(none.Tokenize("Packages", false)[0]), "packages");
  EXPECT_TRUE(Analyzer::ValidLanguage("fr"));
  EXPECT_FALSE(Analyzer::ValidLanguage("klingon"));
}

TEST(FeatureSpaceTest, BlocksAreUnitLengthAndUnknownFeaturesDropped) {
  Analyzer en("en", nullptr);
  FeatureSpace fs = FeatureSpace::Fit({"book a flight", "book a table", "cancel my flight"}, en, FeatureOptions{});
  ASSERT_GT(fs.size(), 10u);
  SparseVector v = fs.Transform("Book a FLIGHT", en);
  double norm = 0;
  for (const auto& e : v.entries) norm += e.second * e.second;
  EXPECT_NEAR(norm, 2.0, 1e-4);  // two blocks, each of length one
  for (size_t i = 1; i < v.entries.size(); ++i) EXPECT_LT(v.entries[i - 1].first, v.entries[i].first);
  EXPECT_TRUE(fs.Transform("zzzz qqqq", en).entries.empty());
  std::string saved;
  fs.Save(saved);
  auto back = FeatureSpace::Load(saved);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Transform("book a flight", en).entries, fs.Transform("book a flight", en).entries);
  EXPECT_FALSE(FeatureSpace::Load(saved.substr(0, saved.size() / 2)).ok());
}

TEST(LinearModelTest, SeparatesClassesAndSurvivesSaving) {
  // Three classes on three features; the third class has no example and never wins.
  std::vector<SparseVector> x = {{{{0, 1.0f}}}, {{{0, 0.9f}, {2, 0.1f}}}, {{{1, 1.0f}}}, {{{1, 0.8f}, {2, 0.2f}}}};
  std::vector<int> y = {0, 0, 1, 1};
  auto m = LinearModel::Train(x, y, 3, 3, LinearOptions{});
  ASSERT_TRUE(m.ok()) << m.status().message();
  float s[3];
  m->Scores({{{0, 1.0f}}}, s);
  EXPECT_GT(s[0], s[1]);
  EXPECT_GT(s[0], s[2]);
  m->Scores({{{1, 1.0f}}}, s);
  EXPECT_GT(s[1], s[0]);
  EXPECT_GT(s[1], s[2]);
  std::string saved;
  m->Save(saved);
  auto back = LinearModel::Load(saved);
  ASSERT_TRUE(back.ok());
  float t[3];
  back->Scores({{{1, 1.0f}}}, t);
  EXPECT_EQ(std::vector<float>(s, s + 3), std::vector<float>(t, t + 3));
  EXPECT_FALSE(LinearModel::Load(saved.substr(0, 10)).ok());
  EXPECT_FALSE(LinearModel::Train(x, {0, 0, 5, 1}, 3, 3, LinearOptions{}).ok());
}

TEST(AnnotatedTextTest, MarksBecomeSpansWithOffsetsAndValues) {
  auto a = ParseAnnotated("fly from [NYC](city:New York) to [Paris](city) [soon");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->text, "fly from NYC to Paris [soon");
  ASSERT_EQ(a->spans.size(), 2u);
  EXPECT_EQ(a->spans[0].value, "New York");
  EXPECT_EQ(a->text.substr(a->spans[0].begin, a->spans[0].end - a->spans[0].begin), "NYC");
  EXPECT_EQ(a->spans[1].value, "Paris");
  EXPECT_FALSE(ParseAnnotated("a [](city) b").ok());
  EXPECT_FALSE(ParseAnnotated("a [x]() b").ok());
}

TEST(EntityRulesTest, LookupsMatchWholeWordsLongestFirstAndRegexesTheirGroup) {
  json defs = json::parse(R"J([
    {"name": "city", "lookup": ["York", {"value": "New York", "synonyms": ["NYC", "the big apple"]}, "北京"]},
    {"name": "time", "regex": "at (\\d{1,2}(:\\d\\d)?) ?(am|pm)?"}])J");
  auto rules = EntityRulesFromJson(defs);
  ASSERT_TRUE(rules.ok());
  auto r = EntityRules::Build(*rules);
  ASSERT_TRUE(r.ok());
  auto found = r->Extract("Fly to new york or NYC at 7:30 pm, not Yorkshire; 去北京");
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0].value, "New York");  // the longer phrase wins over "York"
  EXPECT_EQ(found[0].begin, 7u);
  EXPECT_EQ(found[0].end, 15u);
  EXPECT_EQ(found[1].value, "New York");  // a synonym gives its value
  EXPECT_EQ(found[2].entity, "time");
  EXPECT_EQ(found[2].value, "7:30");
  EXPECT_EQ(found[3].value, "北京");
  EXPECT_FALSE(EntityRules::Build({{"bad", {}, "a("}}).ok());
}

TEST(EntityTaggerTest, LearnsSpansFromMarkedExamplesAndObeysBio) {
  std::vector<AnnotatedText> ex;
  const char* days[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  const char* forms[] = {"book a table for [%s](day)", "can I come on [%s](day)", "[%s](day) please",
                         "no, [%s](day)", "reserve [%s](day) evening", "I want to eat on [%s](day) night"};
  for (const char* f : forms) {
    for (const char* d : days) {
      char buf[200];
      std::snprintf(buf, sizeof buf, f, d);
      ex.push_back(*ParseAnnotated(buf));
    }
  }
  ex.push_back(*ParseAnnotated("hello there"));
  Analyzer en("en", nullptr);
  auto t = EntityTagger::Train(ex, en);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto found = t->Extract("could we come on tuesday", en);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].entity, "day");
  EXPECT_EQ(found[0].value, "tuesday");
  EXPECT_EQ(found[0].begin, 17u);
  EXPECT_TRUE(t->Extract("hello there", en).empty());
  std::string saved;
  t->Save(saved);
  auto back = EntityTagger::Load(saved);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Extract("no, friday", en).size(), 1u);
}

// A small bot from the CLINC150 data: ten intents, their first `per_intent` training examples,
// and the out-of-scope ones.
json ClincBot(size_t per_intent) {
  std::ifstream f(testing::SharedData("clinc150/data_full.json"));
  json d = json::parse(f);
  const std::vector<std::string> names = {"balance", "transfer", "bill_due", "book_flight", "alarm",
                                          "weather", "timer", "calories", "translate", "interest_rate"};
  std::map<std::string, std::vector<std::string>> by;
  for (const auto& r : d["train"]) {
    const std::string intent = r[1];
    if (std::find(names.begin(), names.end(), intent) != names.end() && by[intent].size() < per_intent) {
      by[intent].push_back(r[0]);
    }
  }
  json bot = {{"name", "clinc"}, {"intents", json::array()}};
  for (const auto& [name, ex] : by) bot["intents"].push_back({{"name", name}, {"examples", ex}});
  json oos = json::array();
  for (const auto& r : d["oos_train"]) oos.push_back(r[0]);
  bot["intents"].push_back({{"name", "out_of_scope"}, {"examples", oos}});
  return bot;
}

TEST(NluTrainerTest, KeepsTheBetterKindAndItsModelLoadsAndPredictsTheSame) {
  json bot = ClincBot(60);
  auto def = ReadNluDefinition(bot);
  ASSERT_TRUE(def.ok()) << def.status().message();
  def->first.work_dir = ::testing::TempDir();
  auto r = TrainNlu(def->first, def->second, [](const std::string&) {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const json& e = r->evaluation;
  ASSERT_EQ(e["kinds"].size(), 3u);  // linear, fasttext and their ensemble
  // The kept kind is the best on the held-out scores, or within one and a half examples of it
  // and listed first (simpler).
  double best = 0;
  for (const auto& k : e["kinds"]) best = std::max(best, k["accuracy"].get<double>());
  EXPECT_GE(e["accuracy"].get<double>(), best - 1.5 / e["held_out"].get<double>());
  EXPECT_EQ(e["held_out"], 10 * 60 + 100);  // five folds: every example scored once
  EXPECT_GT(e["in_scope_accuracy"].get<double>(), 0.8);
  EXPECT_EQ(e["intents"].size(), 11u);
  auto m = NluModel::Load(r->model);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->intents().size(), 11u);
  auto p = (*m)->Predict("what is my bank account balance");
  EXPECT_EQ(p.intent, "balance");
  EXPECT_GT(p.confidence, (*m)->threshold());
  EXPECT_EQ(p.ranking[0].intent, "balance");
  EXPECT_EQ(p.probabilities.size(), 11u);
  // Far from every intent: out of scope.
  EXPECT_EQ((*m)->Predict("how many legs does a spider have").intent, "out_of_scope");
  // Loading again gives the same numbers.
  auto again = NluModel::Load(r->model);
  EXPECT_EQ((*again)->Predict("what is my bank account balance").probabilities, p.probabilities);
}

TEST(NluModelTest, DamagedOrForeignFilesAreRejected) {
  EXPECT_FALSE(NluModel::Load("").ok());
  EXPECT_FALSE(NluModel::Load("PK\x03\x04 not a model").ok());
  json bot = {{"name", "tiny"},
              {"intents", {{{"name", "greet"}, {"examples", {"hi", "hello", "good morning", "hey there"}}},
                           {{"name", "bye"}, {"examples", {"bye", "goodbye", "see you", "good night"}}}}}};
  auto def = ReadNluDefinition(bot);
  ASSERT_TRUE(def.ok());
  def->first.kinds = {"linear"};
  auto r = TrainNlu(def->first, def->second, [](const std::string&) {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(NluModel::Load(r->model).ok());
  for (size_t cut : {size_t{11}, size_t{20}, r->model.size() / 2, r->model.size() - 1}) {
    EXPECT_FALSE(NluModel::Load(r->model.substr(0, cut)).ok()) << cut;
  }
  std::string flipped = r->model;
  flipped[15] ^= 0x5A;  // inside the header's length
  EXPECT_FALSE(NluModel::Load(flipped).ok());
}

TEST(NluDefinitionTest, BadDefinitionsSayWhatIsWrong) {
  auto bad = [](const char* text) {
    auto r = ReadNluDefinition(json::parse(text));
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(bad(R"J({"intents": []})J").find("intents"), std::string::npos);
  EXPECT_NE(bad(R"J({"intents": [{"name": "a b", "examples": ["x"]}]})J").find("intent name"), std::string::npos);
  EXPECT_NE(bad(R"J({"intents": [{"name": "a", "examples": []}]})J").find("examples"), std::string::npos);
  EXPECT_NE(bad(R"J({"intents": [{"name": "a", "examples": ["[x](day)"]}]})J").find("declare"), std::string::npos);
  EXPECT_NE(bad(R"J({"language": "klingon", "intents": [{"name": "a", "examples": ["x"]}]})J").find("language"), std::string::npos);
  EXPECT_NE(bad(R"J({"intents": [{"name": "a", "examples": ["x"]}], "fallback": {"threshold": 2}})J").find("threshold"), std::string::npos);
  EXPECT_NE(bad(R"J({"intents": [{"name": "a", "examples": ["x"]}], "entities": [{"name": "t", "regex": "("}]})J").find("regex"), std::string::npos);
  EXPECT_EQ(bad(R"J({"intents": [{"name": "a", "examples": ["x"]}], "training": {"kinds": ["linear"]}})J"), "");
}

}  // namespace
}  // namespace aimass::text
