// The assist module's parts: bot definitions checked, the dialogue policy (forms, corrections,
// confirmation, FAQ, fallbacks and handoff), FAQ coverage, the voice channel's grammar, and the
// store with its analytics.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "assist/analytics.hpp"
#include "assist/bot.hpp"
#include "assist/dialogue.hpp"
#include "assist/faq_match.hpp"
#include "assist/store.hpp"
#include "assist/voice.hpp"
#include "speech/wav.hpp"

namespace aimass::assist {
namespace {

using nlohmann::json;

json RestaurantBot() {
  return json::parse(R"J({
    "name": "diner",
    "intents": [
      {"name": "greet", "examples": ["hi", "hello"]},
      {"name": "book", "examples": ["book a table for [friday](day)", "a table please"]},
      {"name": "faq", "examples": ["do you have parking", "are you open late"]},
      {"name": "cancel", "examples": ["stop", "cancel that"]},
      {"name": "human_handoff", "examples": ["let me talk to a person"]},
      {"name": "complaint", "examples": ["the food was cold"]}
    ],
    "entities": [{"name": "day", "lookup": ["monday", "tuesday", "friday"]}, {"name": "number", "regex": "\\b(\\d+)\\b"}],
    "responses": {"greet": ["Hello!", "Hi again!"], "fallback": "Pardon?"},
    "forms": [{"name": "booking", "intent": "book", "confirm": true, "done": "Booked for {people} on {day}.",
               "slots": [{"name": "day", "entity": "day", "question": "Which day?"},
                         {"name": "people", "entity": "number", "question": "For how many?", "min": 1, "max": 12,
                          "invalid": "We seat 1 to 12."}]}],
    "faq": {"index": "diner-faq"},
    "fallback": {"handoff_after": 2},
    "handoff": {"rules": [{"intent": "complaint", "reason": "complaint"}]}
  })J");
}

Understanding U(const std::string& intent, std::vector<text::EntitySpan> entities = {}) {
  return {intent, 0.9, std::move(entities)};
}

text::EntitySpan E(const std::string& entity, const std::string& value) { return {entity, value, 0, 0, "lookup", 1}; }

std::vector<std::string> Texts(const Outcome& o) {
  std::vector<std::string> t;
  for (const auto& r : o.replies) t.push_back(r.text);
  return t;
}

const FaqLookup kNoFaq = [](const std::string&) { return std::optional<FaqAnswer>(); };

TEST(BotTest, DefinitionsAreCheckedWithReasons) {
  auto b = ParseBot(RestaurantBot());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->forms.size(), 1u);
  EXPECT_EQ(b->FormFor("book")->name, "booking");
  EXPECT_EQ(b->handoff_after_fallbacks, 2);
  auto bad = [](json j) {
    auto r = ParseBot(j);
    return r.ok() ? std::string() : r.status().message();
  };
  json j = RestaurantBot();
  j["forms"][0]["intent"] = "nope";
  EXPECT_NE(bad(j).find("not one of the bot's intents"), std::string::npos);
  j = RestaurantBot();
  j["forms"][0]["slots"][0]["entity"] = "colour";
  EXPECT_NE(bad(j).find("not declared"), std::string::npos);
  j = RestaurantBot();
  j["faq"] = {{"index", "a"}, {"dataset", "b"}};
  EXPECT_NE(bad(j).find("one of them"), std::string::npos);
  j = RestaurantBot();
  j["name"] = "Bad Name";
  EXPECT_NE(bad(j).find("bot name"), std::string::npos);
  j = RestaurantBot();
  j["surprise"] = 1;
  EXPECT_NE(bad(j).find("unknown field"), std::string::npos);
  EXPECT_FALSE(ValidateConversationId("A B").ok());
  EXPECT_TRUE(ValidateConversationId("c-42_x").ok());
}

TEST(DialogueTest, FormAsksValidatesCorrectsConfirmsAndSubmits) {
  BotSpec bot = *ParseBot(RestaurantBot());
  ConversationState s;
  auto o = Respond(bot, s, "book a table", U("book"), kNoFaq);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"Which day?"});
  EXPECT_EQ(s.form, "booking");
  EXPECT_EQ(s.requested_slot, "day");
  o = Respond(bot, s, "friday", U("inform", {E("day", "friday")}), kNoFaq);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"For how many?"});
  // An answer that does not validate is refused with the slot's message; the slot stays empty.
  o = Respond(bot, s, "40", U("inform", {E("number", "40")}), kNoFaq);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"We seat 1 to 12."});
  EXPECT_FALSE(s.slots.contains("people"));
  o = Respond(bot, s, "4", U("inform", {E("number", "4")}), kNoFaq);
  ASSERT_EQ(o.replies.size(), 1u);
  EXPECT_TRUE(s.confirming);
  EXPECT_NE(o.replies[0].text.find("day: friday"), std::string::npos);
  // "no, Tuesday": the correction changes the slot and asks again.
  o = Respond(bot, s, "no, tuesday", U("deny", {E("day", "tuesday")}), kNoFaq);
  ASSERT_EQ(o.replies.size(), 2u);
  EXPECT_EQ(o.replies[0].text, "Changed day to tuesday.");
  EXPECT_NE(o.replies[1].text.find("day: tuesday"), std::string::npos);
  EXPECT_TRUE(o.submitted_form.empty());
  o = Respond(bot, s, "yes", U("affirm"), kNoFaq);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"Booked for 4 on tuesday."});
  EXPECT_EQ(o.submitted_form, "booking");
  EXPECT_TRUE(s.form.empty());
  EXPECT_EQ(s.slots["people"], 4);
}

TEST(DialogueTest, EntitiesInTheStartingMessageFillSlotsAndCancelStops) {
  BotSpec bot = *ParseBot(RestaurantBot());
  ConversationState s;
  auto o = Respond(bot, s, "book friday for 2", U("book", {E("day", "friday"), E("number", "2")}), kNoFaq);
  EXPECT_TRUE(s.confirming);
  o = Respond(bot, s, "cancel that", U("cancel"), kNoFaq);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"Okay, I've stopped that."});
  EXPECT_TRUE(s.form.empty());
}

TEST(DialogueTest, FallbacksInARowHandOffAndRulesToo) {
  BotSpec bot = *ParseBot(RestaurantBot());
  ConversationState s;
  auto o = Respond(bot, s, "purple monkey", U("out_of_scope"), kNoFaq);
  EXPECT_TRUE(o.fallback);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"Pardon?"});
  // An understood message in between resets the count.
  o = Respond(bot, s, "hello", U("greet"), kNoFaq);
  EXPECT_EQ(s.fallbacks_in_row, 0);
  EXPECT_EQ(Texts(o), std::vector<std::string>{"Hello!"});  // variants rotate with the turn (2 of 2)
  Respond(bot, s, "purple monkey", U("out_of_scope"), kNoFaq);
  o = Respond(bot, s, "dishwasher lasagne", U("out_of_scope"), kNoFaq);
  EXPECT_EQ(o.handoff_reason, "fallback");
  EXPECT_EQ(s.status, "handoff");
  ConversationState t;
  EXPECT_EQ(Respond(bot, t, "let me talk to a person", U("human_handoff"), kNoFaq).handoff_reason, "requested");
  ConversationState c;
  EXPECT_EQ(Respond(bot, c, "the soup was cold", U("complaint"), kNoFaq).handoff_reason, "complaint");
}

TEST(DialogueTest, FaqAnswersOutOfScopeAndFaqIntentsWithTheirSource) {
  BotSpec bot = *ParseBot(RestaurantBot());
  ConversationState s;
  FaqLookup faq = [](const std::string& t) -> std::optional<FaqAnswer> {
    if (t.find("parking") == std::string::npos) return std::nullopt;
    return FaqAnswer{"Yes, behind the building.", "Do you have parking?", json{{"index", "diner-faq"}, {"id", "7"}}, 1.0};
  };
  auto o = Respond(bot, s, "is there parking", U("faq"), faq);
  ASSERT_EQ(o.replies.size(), 1u);
  EXPECT_EQ(o.replies[0].text, "Yes, behind the building.");
  EXPECT_EQ(o.replies[0].source["id"], "7");
  EXPECT_TRUE(o.answered_from_faq);
  o = Respond(bot, s, "where can I leave my car, parking?", U("out_of_scope"), faq);
  EXPECT_TRUE(o.answered_from_faq);
  EXPECT_FALSE(o.fallback);
  o = Respond(bot, s, "what is the meaning of life", U("out_of_scope"), faq);
  EXPECT_TRUE(o.fallback);
}

TEST(FaqMatchTest, CoverageCountsContentWordsOnly) {
  EXPECT_DOUBLE_EQ(Coverage("How do I install packages?", "How can I install a package with apt?", "en"), 1.0);
  EXPECT_DOUBLE_EQ(Coverage("what is the weather", "How can I install a package?", "en"), 0.0);
  EXPECT_DOUBLE_EQ(Coverage("the a of", "anything", "en"), 0.0);
}

TEST(VoiceTest, TheGrammarIsTheExamplesWithEntitiesAsTheirValues) {
  BotSpec bot = *ParseBot(RestaurantBot());
  auto in = GrammarOf(bot);
  ASSERT_TRUE(in.ok()) << in.status().message();
  // The lookup entity stands for its list; the regex one for what the examples said.
  EXPECT_EQ(in->slots.at("day"), (std::vector<std::string>{"monday", "tuesday", "friday"}));
  auto has = [&](std::vector<std::string> s) { return std::find(in->sentences.begin(), in->sentences.end(), s) != in->sentences.end(); };
  EXPECT_TRUE(has({"book", "a", "table", "for", "$day"}));
  EXPECT_TRUE(has({"let", "me", "talk", "to", "a", "person"}));
  EXPECT_TRUE(has({"$day"}));  // a form's answer alone
  EXPECT_FALSE(in->slots.count("number"));  // no example mentions it

  // Speech recognition is US English: a Chinese bot is told so; overlong audio is refused.
  VoiceChannel voice(VoiceOptions{.max_seconds = 1});
  json zh = RestaurantBot();
  zh["language"] = "zh";
  const std::string second = speech::WriteWav(speech::Audio{16000, std::vector<int16_t>(16000, 0)});
  EXPECT_EQ(voice.Hear(*ParseBot(zh), 1, second).status().code(), Code::kUnprocessable);
  const std::string two = speech::WriteWav(speech::Audio{8000, std::vector<int16_t>(16001, 0)});
  EXPECT_EQ(voice.Hear(bot, 1, two).status().code(), Code::kPayloadTooLarge);
  EXPECT_EQ(voice.Hear(bot, 1, "RIFF").status().code(), Code::kBadRequest);
}

TEST(StoreTest, VersionsConversationsHandoffsAndAnalytics) {
  storage::SqliteOptions o;
  o.path = ":memory:";
  auto db = storage::OpenSqlite(o);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Migrate(AssistStore::Migrations()).ok());
  AssistStore st(**db);
  ASSERT_TRUE(st.AddVersion("diner", "{}", "ann", true, 1000).ok());
  EXPECT_EQ(st.AddVersion("diner", "{}", "ann", true, 1000).status().code(), Code::kConflict);
  auto v2 = st.AddVersion("diner", "{\"v\":2}", "bob", false, 2000);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(st.GetBot("diner")->latest_version, 2);

  const int64_t t0 = 1'800'000'000'000;
  auto turn = [&](const std::string& role, const std::string& intent, bool fallback, int64_t at) {
    return TurnRow{0, "", "", 1, role, "x", intent, 0.5, fallback, false, "", "", at};
  };
  ConversationRow a{"diner", "a", "{}", "bot", 1, "", "", t0, t0};
  ASSERT_TRUE(st.SaveTurns(a, {turn("user", "greet", false, t0), turn("bot", "", false, t0)}, std::nullopt).ok());
  ConversationRow b{"diner", "b", "{}", "handoff", 1, "", "fallback", t0, t0 + 1000};
  auto saved = st.SaveTurns(b, {turn("user", "out_of_scope", true, t0 + 1000), turn("user", "out_of_scope", true, t0 + 2000)},
                            HandoffRow{0, "diner", "b", "fallback", "waiting", "", t0 + 2000, 0, 0});
  ASSERT_TRUE(saved.ok());
  EXPECT_LT((*saved)[0].id, (*saved)[1].id);
  auto h = st.OpenHandoff("diner", "b");
  ASSERT_TRUE(h.ok() && *h);
  ASSERT_TRUE(st.ClaimHandoff((*h)->id, "carol", t0 + 3000).ok());
  EXPECT_EQ(st.ClaimHandoff((*h)->id, "dave", t0 + 3000).code(), Code::kConflict);
  EXPECT_EQ((*st.GetConversation("diner", "b"))->agent, "carol");
  ASSERT_TRUE(st.EndHandoff((*h)->id, "released", t0 + 4000).ok());
  EXPECT_EQ((*st.GetConversation("diner", "b"))->status, "bot");
  EXPECT_EQ(st.EndHandoff((*h)->id, "closed", t0 + 4000).code(), Code::kConflict);
  EXPECT_EQ(*st.ExpireIdle("diner", t0 + 500), 1);  // a, idle since t0
  EXPECT_EQ((*st.GetConversation("diner", "a"))->status, "expired");

  auto an = BotAnalytics(**db, "diner", t0, t0 + 3600000, 3600000);
  ASSERT_TRUE(an.ok()) << an.status().message();
  EXPECT_EQ((*an)["messages"], 3);
  EXPECT_EQ((*an)["conversations"], 2);
  EXPECT_EQ((*an)["fallbacks"], 2);
  EXPECT_DOUBLE_EQ((*an)["containment_rate"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ((*an)["average_turns"].get<double>(), 1.5);
  EXPECT_EQ((*an)["handoff_reasons"][0]["reason"], "fallback");
  EXPECT_EQ((*an)["series"].size(), 1u);
  EXPECT_FALSE(BotAnalytics(**db, "diner", t0, t0 - 1, 3600000).ok());
  ASSERT_TRUE(st.DeleteBot("diner").ok());
  EXPECT_FALSE(st.GetBot("diner").ok());
  EXPECT_TRUE((*st.Turns("diner", "a", 0, 10)).empty());
}

}  // namespace
}  // namespace aimass::assist
