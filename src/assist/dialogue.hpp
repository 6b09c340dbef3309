// The dialogue policy: given a bot, the state of a conversation and what the NLU model made of
// a message, what the bot says and how the state changes. Rules, as Rasa's RulePolicy and
// forms: a form's intent starts it; its slots fill from entities (a later entity of a filled
// slot corrects it: "no, Tuesday") or from the answer to the slot's question, each checked
// against the slot's validation; a form may ask for confirmation before it is submitted. FAQ
// intents and out-of-scope messages are answered from the FAQ when it has a close question;
// otherwise the bot says it did not understand, and after `handoff_after` such turns in a row,
// on a handoff intent or a handoff rule, a person takes over. Pure: no I/O, so it is tested on
// its own.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "assist/bot.hpp"
#include "text/annotated_text.hpp"

namespace aimass::assist {

struct Understanding {
  std::string intent;  // text::kOutOfScope when nothing fits
  double confidence = 0;
  std::vector<text::EntitySpan> entities;
};

struct FaqAnswer {
  std::string answer;
  std::string question;
  nlohmann::json source;  // {index, id}
  double coverage = 0;
};

// What the state of a conversation holds between messages (stored as JSON).
struct ConversationState {
  std::string status = "bot";  // bot | handoff (a person has it) | closed
  std::string form;            // the active form
  std::string requested_slot;  // the slot whose question was asked last
  bool confirming = false;     // the form waits for a yes or no
  nlohmann::json slots = nlohmann::json::object();
  int fallbacks_in_row = 0;
  int turns = 0;               // customer messages
  std::string last_intent;

  nlohmann::json ToJson() const;
  static ConversationState FromJson(const nlohmann::json& j);
};

struct Reply {
  std::string text;
  nlohmann::json source;  // the FAQ entry an answer came from, or null
};

struct Outcome {
  std::vector<Reply> replies;
  bool fallback = false;       // the bot did not understand
  std::string handoff_reason;  // non-empty: hand the conversation to a person
  std::string submitted_form;  // a form completed by this message (its slots are in the state)
  bool answered_from_faq = false;
};

using FaqLookup = std::function<std::optional<FaqAnswer>(const std::string& text)>;

Outcome Respond(const BotSpec& bot, ConversationState& state, const std::string& text, const Understanding& u,
                const FaqLookup& faq);

// `{name}` placeholders filled from `values` (unknown ones stay as written).
std::string FillPlaceholders(const std::string& text, const nlohmann::json& values);

}  // namespace aimass::assist
