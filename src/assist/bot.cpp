#include "assist/bot.hpp"

#include <re2/re2.h>

#include <set>

#include "text/nlu_definition.hpp"

namespace aimass::assist {

using nlohmann::json;

namespace {

Status Strings(const json& j, const std::string& what, std::vector<std::string>& out) {
  if (!j.is_array()) return Status::BadRequest(what + " is a list of strings");
  out.clear();
  for (const auto& v : j) {
    if (!v.is_string()) return Status::BadRequest(what + " is a list of strings");
    out.push_back(v.get<std::string>());
  }
  return Status::Ok();
}

Status String(const json& obj, const char* key, const std::string& what, std::string& out) {
  if (!obj.contains(key)) return Status::Ok();
  if (!obj[key].is_string()) return Status::BadRequest(what + "." + key + " is a string");
  out = obj[key].get<std::string>();
  return Status::Ok();
}

Status CheckKeys(const json& obj, std::initializer_list<const char*> keys, const std::string& what) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known = known || it.key() == k;
    if (!known) return Status::BadRequest(what + ": unknown field '" + it.key().substr(0, 64) + "'");
  }
  return Status::Ok();
}

Status CheckRegex(const std::string& pattern, const std::string& what) {
  RE2::Options o;
  o.set_log_errors(false);
  RE2 re(pattern, o);
  if (!re.ok()) return Status::BadRequest(what + " does not compile: " + re.error());
  return Status::Ok();
}

Status ParseSlot(const json& j, const std::set<std::string>& entities, const std::string& form, SlotSpec& s) {
  if (!j.is_object()) return Status::BadRequest("form " + form + ": each slot is an object");
  const std::string what = "form " + form + " slot";
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"name", "entity", "question", "values", "regex", "min", "max", "invalid"}, what));
  AIMASS_RETURN_IF_ERROR(String(j, "name", what, s.name));
  if (s.name.empty()) return Status::BadRequest(what + " needs a name");
  AIMASS_RETURN_IF_ERROR(String(j, "entity", what, s.entity));
  if (!s.entity.empty() && !entities.count(s.entity)) {
    return Status::BadRequest(what + " " + s.name + ": entity '" + s.entity + "' is not declared in entities");
  }
  AIMASS_RETURN_IF_ERROR(String(j, "question", what, s.question));
  if (s.question.empty()) return Status::BadRequest(what + " " + s.name + " needs a question");
  if (j.contains("values")) AIMASS_RETURN_IF_ERROR(Strings(j["values"], what + " " + s.name + ".values", s.values));
  AIMASS_RETURN_IF_ERROR(String(j, "regex", what, s.regex));
  if (!s.regex.empty()) AIMASS_RETURN_IF_ERROR(CheckRegex(s.regex, what + " " + s.name + ".regex"));
  for (const char* k : {"min", "max"}) {
    if (!j.contains(k)) continue;
    if (!j[k].is_number()) return Status::BadRequest(what + " " + s.name + "." + k + " is a number");
    (std::string(k) == "min" ? s.min : s.max) = j[k].get<double>();
  }
  AIMASS_RETURN_IF_ERROR(String(j, "invalid", what, s.invalid));
  return Status::Ok();
}

}  // namespace

Status ValidateBotName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'));
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  if (!ok) return Status::BadRequest("a bot name is [a-z0-9][a-z0-9_-]{0,63}");
  return Status::Ok();
}

Status ValidateConversationId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128;
  for (char c : id) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  if (!ok) return Status::BadRequest("a conversation_id is [a-z0-9_-]{1,128}");
  return Status::Ok();
}

const FormSpec* BotSpec::FormFor(const std::string& intent) const {
  for (const auto& f : forms) {
    if (f.intent == intent) return &f;
  }
  return nullptr;
}

const FormSpec* BotSpec::Form(const std::string& n) const {
  for (const auto& f : forms) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

const std::vector<std::string>* BotSpec::Response(const std::string& key) const {
  auto it = responses.find(key);
  return it == responses.end() || it->second.empty() ? nullptr : &it->second;
}

Result<BotSpec> ParseBot(const json& d) {
  if (!d.is_object()) return Status::BadRequest("a bot is a JSON object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(d, {"name", "description", "language", "intents", "entities", "responses", "forms",
                                       "faq", "fallback", "handoff", "conversation", "training"},
                                   "the bot"));
  BotSpec b;
  b.definition = d;
  AIMASS_RETURN_IF_ERROR(String(d, "name", "the bot", b.name));
  AIMASS_RETURN_IF_ERROR(ValidateBotName(b.name));
  AIMASS_RETURN_IF_ERROR(String(d, "description", "the bot", b.description));
  AIMASS_ASSIGN_OR_RETURN(auto nlu, text::ReadNluDefinition(d));
  b.language = nlu.first.language;
  b.intents = nlu.first.intents;
  std::set<std::string> intents(b.intents.begin(), b.intents.end());
  std::set<std::string> entities;
  if (d.contains("entities")) {
    for (const auto& e : d["entities"]) entities.insert(e["name"].get<std::string>());
  }

  if (d.contains("responses")) {
    const json& r = d["responses"];
    if (!r.is_object()) return Status::BadRequest("responses is an object {key: text or [texts]}");
    for (auto it = r.begin(); it != r.end(); ++it) {
      std::vector<std::string> variants;
      if (it.value().is_string()) variants.push_back(it.value().get<std::string>());
      else AIMASS_RETURN_IF_ERROR(Strings(it.value(), "responses." + it.key(), variants));
      b.responses[it.key()] = std::move(variants);
    }
  }
  if (d.contains("forms")) {
    if (!d["forms"].is_array()) return Status::BadRequest("forms is a list");
    std::set<std::string> names;
    for (const auto& f : d["forms"]) {
      if (!f.is_object()) return Status::BadRequest("each form is an object");
      FormSpec form;
      AIMASS_RETURN_IF_ERROR(CheckKeys(f, {"name", "intent", "slots", "confirm", "done", "topic"}, "a form"));
      AIMASS_RETURN_IF_ERROR(String(f, "name", "a form", form.name));
      if (form.name.empty() || !names.insert(form.name).second) return Status::BadRequest("each form needs a name of its own");
      AIMASS_RETURN_IF_ERROR(String(f, "intent", "form " + form.name, form.intent));
      if (!intents.count(form.intent)) {
        return Status::BadRequest("form " + form.name + ": intent '" + form.intent + "' is not one of the bot's intents");
      }
      if (!f.contains("slots") || !f["slots"].is_array() || f["slots"].empty()) {
        return Status::BadRequest("form " + form.name + " needs a list of slots");
      }
      std::set<std::string> slot_names;
      for (const auto& s : f["slots"]) {
        SlotSpec slot;
        AIMASS_RETURN_IF_ERROR(ParseSlot(s, entities, form.name, slot));
        if (!slot_names.insert(slot.name).second) return Status::BadRequest("form " + form.name + ": slot " + slot.name + " twice");
        form.slots.push_back(std::move(slot));
      }
      if (f.contains("confirm")) {
        if (!f["confirm"].is_boolean()) return Status::BadRequest("form " + form.name + ".confirm is true or false");
        form.confirm = f["confirm"].get<bool>();
      }
      AIMASS_RETURN_IF_ERROR(String(f, "done", "form " + form.name, form.done));
      AIMASS_RETURN_IF_ERROR(String(f, "topic", "form " + form.name, form.topic));
      b.forms.push_back(std::move(form));
    }
  }
  if (d.contains("faq") && !d["faq"].is_null()) {
    const json& f = d["faq"];
    if (!f.is_object()) return Status::BadRequest("faq is an object {index | dataset, question, answer, intents, min_coverage}");
    AIMASS_RETURN_IF_ERROR(CheckKeys(f, {"index", "dataset", "question", "answer", "intents", "min_coverage"}, "faq"));
    FaqSpec faq;
    AIMASS_RETURN_IF_ERROR(String(f, "index", "faq", faq.index));
    AIMASS_RETURN_IF_ERROR(String(f, "dataset", "faq", faq.dataset));
    if (faq.index.empty() == faq.dataset.empty()) return Status::BadRequest("faq names an index or a dataset (one of them)");
    AIMASS_RETURN_IF_ERROR(String(f, "question", "faq", faq.question));
    AIMASS_RETURN_IF_ERROR(String(f, "answer", "faq", faq.answer));
    if (f.contains("intents")) AIMASS_RETURN_IF_ERROR(Strings(f["intents"], "faq.intents", faq.intents));
    if (f.contains("min_coverage")) {
      if (!f["min_coverage"].is_number()) return Status::BadRequest("faq.min_coverage is a number");
      faq.min_coverage = f["min_coverage"].get<double>();
      if (!(faq.min_coverage >= 0 && faq.min_coverage <= 1)) return Status::BadRequest("faq.min_coverage is between 0 and 1");
    }
    b.faq = std::move(faq);
  }
  if (d.contains("fallback")) {
    const json& f = d["fallback"];
    AIMASS_RETURN_IF_ERROR(CheckKeys(f, {"threshold", "max_false_fallbacks", "handoff_after"}, "fallback"));
    if (f.contains("handoff_after")) {
      if (!f["handoff_after"].is_number_integer() || f["handoff_after"].get<int64_t>() < 0 || f["handoff_after"].get<int64_t>() > 100) {
        return Status::BadRequest("fallback.handoff_after is a whole number 0-100 (0: never)");
      }
      b.handoff_after_fallbacks = f["handoff_after"].get<int>();
    }
  }
  if (d.contains("handoff")) {
    const json& h = d["handoff"];
    if (!h.is_object()) return Status::BadRequest("handoff is an object {intents, rules, topic}");
    AIMASS_RETURN_IF_ERROR(CheckKeys(h, {"intents", "rules", "topic"}, "handoff"));
    if (h.contains("intents")) AIMASS_RETURN_IF_ERROR(Strings(h["intents"], "handoff.intents", b.handoff_intents));
    AIMASS_RETURN_IF_ERROR(String(h, "topic", "handoff", b.handoff_topic));
    if (b.handoff_topic.empty()) return Status::BadRequest("handoff.topic is a topic name");
    if (h.contains("rules")) {
      if (!h["rules"].is_array()) return Status::BadRequest("handoff.rules is a list of {intent | regex, reason}");
      for (const auto& r : h["rules"]) {
        if (!r.is_object()) return Status::BadRequest("handoff.rules is a list of {intent | regex, reason}");
        AIMASS_RETURN_IF_ERROR(CheckKeys(r, {"intent", "regex", "reason"}, "a handoff rule"));
        HandoffRule rule;
        AIMASS_RETURN_IF_ERROR(String(r, "intent", "a handoff rule", rule.intent));
        AIMASS_RETURN_IF_ERROR(String(r, "regex", "a handoff rule", rule.regex));
        AIMASS_RETURN_IF_ERROR(String(r, "reason", "a handoff rule", rule.reason));
        if (rule.intent.empty() == rule.regex.empty()) return Status::BadRequest("a handoff rule has an intent or a regex (one of them)");
        if (!rule.regex.empty()) AIMASS_RETURN_IF_ERROR(CheckRegex(rule.regex, "a handoff rule's regex"));
        if (rule.reason.empty()) rule.reason = rule.intent.empty() ? "rule" : "intent:" + rule.intent;
        b.handoff_rules.push_back(std::move(rule));
      }
    }
  }
  if (d.contains("conversation")) {
    const json& c = d["conversation"];
    AIMASS_RETURN_IF_ERROR(CheckKeys(c, {"ttl_s", "cancel_intents", "affirm_intents", "deny_intents"}, "conversation"));
    if (c.contains("ttl_s")) {
      if (!c["ttl_s"].is_number_integer() || c["ttl_s"].get<int64_t>() < 1) return Status::BadRequest("conversation.ttl_s is a whole number of seconds, at least 1");
      b.conversation_ttl_s = c["ttl_s"].get<int64_t>();
    }
    if (c.contains("cancel_intents")) AIMASS_RETURN_IF_ERROR(Strings(c["cancel_intents"], "conversation.cancel_intents", b.cancel_intents));
    if (c.contains("affirm_intents")) AIMASS_RETURN_IF_ERROR(Strings(c["affirm_intents"], "conversation.affirm_intents", b.affirm_intents));
    if (c.contains("deny_intents")) AIMASS_RETURN_IF_ERROR(Strings(c["deny_intents"], "conversation.deny_intents", b.deny_intents));
  }
  return b;
}

}  // namespace aimass::assist
