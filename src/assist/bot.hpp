// A bot's definition: what it understands (intents, entities, language: read by
// text/nlu_definition.hpp) and how it talks (responses, forms with their slots, FAQ source,
// fallback and handoff policies, conversation expiry). Stored as JSON, one row per version;
// this is its checked, typed form.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::assist {

struct SlotSpec {
  std::string name;
  std::string entity;    // filled by this entity; empty: by the whole answer
  std::string question;  // asked when the slot is missing
  std::vector<std::string> values;  // allowed values (case-insensitive), when given
  std::string regex;     // the value must match it whole, when given
  std::optional<double> min, max;   // a number within, when given
  std::string invalid;   // said when an answer does not validate
};

struct FormSpec {
  std::string name;
  std::string intent;  // the intent that starts it
  std::vector<SlotSpec> slots;
  bool confirm = false;       // ask before submitting
  std::string done;           // said when submitted ({slot} placeholders)
  std::string topic;          // the mq topic a submitted form is published to (empty: none)
};

struct FaqSpec {
  std::string index;               // a search index…
  std::string dataset;             // …or a dataset of question/answer rows (indexed for the bot)
  std::string question = "question";  // the fields (dataset columns) of questions and answers
  std::string answer = "answer";
  std::vector<std::string> intents = {"faq"};  // intents answered from the FAQ
  double min_coverage = 0.6;       // share of the message's words the question must contain
};

struct HandoffRule {
  std::string intent;   // when this intent is recognised…
  std::string regex;    // …or the text matches this (RE2)
  std::string reason;
};

struct BotSpec {
  std::string name;
  std::string description;
  std::string language = "en";
  std::vector<std::string> intents;  // names, as the definition lists them
  std::map<std::string, std::vector<std::string>> responses;  // key → variants
  std::vector<FormSpec> forms;
  std::optional<FaqSpec> faq;
  int handoff_after_fallbacks = 2;   // fallbacks in a row before a person takes over (0: never)
  std::vector<std::string> handoff_intents = {"human_handoff"};
  std::vector<HandoffRule> handoff_rules;
  std::string handoff_topic = "assist.handoff";
  std::vector<std::string> cancel_intents = {"cancel"};
  std::vector<std::string> affirm_intents = {"affirm"};
  std::vector<std::string> deny_intents = {"deny"};
  int64_t conversation_ttl_s = 1800;
  nlohmann::json definition;  // as given

  const FormSpec* FormFor(const std::string& intent) const;
  const FormSpec* Form(const std::string& name) const;
  // The variants of a response key (empty when none).
  const std::vector<std::string>* Response(const std::string& key) const;
};

// Checks a whole definition (its understanding part with the NLU reader). `name` may come from
// the URL rather than the body.
Result<BotSpec> ParseBot(const nlohmann::json& definition);

// Bot and conversation names: [a-z0-9][a-z0-9_-]{0,63} and [A-Za-z0-9_-]{1,128}.
Status ValidateBotName(const std::string& name);
Status ValidateConversationId(const std::string& id);

}  // namespace aimass::assist
