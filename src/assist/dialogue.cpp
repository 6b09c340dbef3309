#include "assist/dialogue.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/text.hpp"
#include "text/nlu_model.hpp"

namespace aimass::assist {

using nlohmann::json;

namespace {

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// The bot's own words where the definition gives none, in its language.
std::string Default(const BotSpec& bot, const std::string& key) {
  const bool zh = bot.language == "zh";
  if (key == "fallback") return zh ? "抱歉，我没有理解。能换个说法吗？" : "Sorry, I didn't get that. Could you say it another way?";
  if (key == "handoff") return zh ? "正在为您转接人工客服，请稍候。" : "Let me connect you with a person. Please wait a moment.";
  if (key == "cancelled") return zh ? "好的，已取消。" : "Okay, I've stopped that.";
  if (key == "changed") return zh ? "已将{slot}改为{value}。" : "Changed {slot} to {value}.";
  if (key == "ask_change") return zh ? "您想修改哪一项？" : "What would you like to change?";
  if (key == "confirm") return zh ? "请确认：{summary}。对吗？" : "So that's {summary}. Is that right?";
  if (key == "done") return zh ? "已完成：{summary}。" : "Done: {summary}.";
  if (key == "invalid") return zh ? "“{value}”不是有效的{slot}。" : "\"{value}\" is not a valid {slot}.";
  return "";
}

// A response variant, rotating with the turn so that repeats vary.
std::string Say(const BotSpec& bot, const ConversationState& state, const std::string& key, const std::string& fallback_key = "") {
  if (const auto* v = bot.Response(key)) return (*v)[static_cast<size_t>(state.turns) % v->size()];
  if (!fallback_key.empty()) {
    if (const auto* v = bot.Response(fallback_key)) return (*v)[static_cast<size_t>(state.turns) % v->size()];
    return Default(bot, fallback_key);
  }
  return Default(bot, key);
}

std::string Trim(const std::string& s) { return std::string(TrimSpaces(s)); }

// A short answer as said, lower-cased, without its closing full stops and exclamation marks.
std::string Bare(const std::string& text) {
  std::string t = AsciiLower(Trim(text));
  while (!t.empty() && (t.back() == '.' || t.back() == '!')) t.pop_back();
  return t;
}

bool IsYes(const std::string& text) {
  static const std::vector<std::string> kYes = {"yes", "y", "yeah", "yep", "sure", "correct", "right", "ok", "okay",
                                                "confirm", "是", "对", "好", "是的", "对的", "没错", "确认", "可以"};
  return Contains(kYes, Bare(text));
}

bool IsNo(const std::string& text) {
  static const std::vector<std::string> kNo = {"no", "n", "nope", "wrong", "not right", "不", "不是", "不对", "错了"};
  return Contains(kNo, Bare(text));
}

// The value as the slot keeps it, or an error message when it does not validate.
Result<json> Validate(const SlotSpec& s, const std::string& raw) {
  const std::string value = Trim(raw);
  if (value.empty()) return Status::BadRequest("");
  if (!s.values.empty()) {
    const std::string lower = AsciiLower(value);
    for (const auto& v : s.values) {
      if (AsciiLower(v) == lower) return json(v);
    }
    return Status::BadRequest("");
  }
  if (!s.regex.empty()) {
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(s.regex, o);
    if (!RE2::FullMatch(value, re)) return Status::BadRequest("");
  }
  if (s.min || s.max) {
    char* end = nullptr;
    const double d = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') return Status::BadRequest("");
    if ((s.min && d < *s.min) || (s.max && d > *s.max)) return Status::BadRequest("");
    if (d == std::floor(d) && std::fabs(d) < 1e15) return json(static_cast<int64_t>(d));  // "4", not "4.0"
    return json(d);
  }
  return json(value);
}

std::string ValueText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string Summary(const FormSpec& form, const json& slots) {
  std::string out;
  for (const auto& s : form.slots) {
    if (!slots.contains(s.name)) continue;
    if (!out.empty()) out += ", ";
    out += s.name + ": " + ValueText(slots[s.name]);
  }
  return out;
}

json PlaceholderValues(const ConversationState& state, const Understanding& u) {
  json v = state.slots;
  for (const auto& e : u.entities) {
    if (!v.contains(e.entity)) v[e.entity] = e.value;
  }
  return v;
}

void Handoff(const BotSpec& bot, ConversationState& state, Outcome& out, const std::string& reason) {
  out.handoff_reason = reason;
  state.status = "handoff";
  state.form.clear();
  state.requested_slot.clear();
  state.confirming = false;
  out.replies.push_back({Say(bot, state, "handoff"), nullptr});
}

// A form's next move once its slots were updated: ask for a missing slot, ask for confirmation,
// or submit.
void Advance(const BotSpec& bot, const FormSpec& form, ConversationState& state, Outcome& out) {
  for (const auto& s : form.slots) {
    if (!state.slots.contains(s.name)) {
      state.requested_slot = s.name;
      state.confirming = false;
      out.replies.push_back({FillPlaceholders(s.question, state.slots), nullptr});
      return;
    }
  }
  state.requested_slot.clear();
  const json summary = {{"summary", Summary(form, state.slots)}};
  if (form.confirm && !state.confirming) {
    state.confirming = true;
    out.replies.push_back({FillPlaceholders(Say(bot, state, "confirm_" + form.name, "confirm"), summary), nullptr});
    return;
  }
  json values = state.slots;
  values["summary"] = summary["summary"];
  const std::string done = form.done.empty() ? Say(bot, state, "done") : form.done;
  out.replies.push_back({FillPlaceholders(done, values), nullptr});
  out.submitted_form = form.name;
  state.form.clear();
  state.confirming = false;
}

// Fills the form's slots from a message; returns whether any slot changed or filled.
bool FillSlots(const BotSpec& bot, const FormSpec& form, ConversationState& state, const std::string& text,
               const Understanding& u, Outcome& out) {
  bool filled = false;
  bool requested_done = false;
  std::vector<std::string> this_turn;
  for (const auto& e : u.entities) {
    // Which slot an entity fills: the one just asked for, else the first empty one of its
    // entity, else (a correction) the first of its entity not already set by this message.
    const SlotSpec* pick = nullptr;
    for (const auto& s : form.slots) {
      if (s.entity != e.entity || Contains(this_turn, s.name)) continue;
      if (s.name == state.requested_slot) {
        pick = &s;
        break;
      }
      if (!pick || (state.slots.contains(pick->name) && !state.slots.contains(s.name))) pick = &s;
    }
    if (!pick) continue;
    const SlotSpec& s = *pick;
    this_turn.push_back(s.name);
    if (s.name == state.requested_slot) requested_done = true;
    auto v = Validate(s, e.value);
    if (!v.ok()) {
      const std::string msg = s.invalid.empty() ? Say(bot, state, "invalid") : s.invalid;
      out.replies.push_back({FillPlaceholders(msg, {{"value", e.value}, {"slot", s.name}}), nullptr});
      continue;
    }
    const bool had = state.slots.contains(s.name);
    if (had && state.slots[s.name] == *v) continue;
    if (had) {
      out.replies.push_back({FillPlaceholders(Say(bot, state, "changed"), {{"slot", s.name}, {"value", ValueText(*v)}}), nullptr});
    }
    state.slots[s.name] = *v;
    filled = true;
  }
  // The answer to the question just asked, taken whole when no entity filled it.
  if (!requested_done && !state.requested_slot.empty()) {
    for (const auto& s : form.slots) {
      if (s.name != state.requested_slot) continue;
      if (!s.entity.empty() && s.values.empty()) break;  // needs its entity
      auto v = Validate(s, text);
      if (v.ok()) {
        state.slots[s.name] = *v;
        filled = true;
      } else if (s.entity.empty() || !s.values.empty()) {
        const std::string msg = s.invalid.empty() ? Say(bot, state, "invalid") : s.invalid;
        out.replies.push_back({FillPlaceholders(msg, {{"value", Trim(text)}, {"slot", s.name}}), nullptr});
      }
      break;
    }
  }
  return filled;
}

bool Answer(const BotSpec& bot, const std::string& text, const FaqLookup& faq, Outcome& out) {
  if (!bot.faq || !faq) return false;
  auto a = faq(text);
  if (!a) return false;
  json source = a->source;
  source["question"] = a->question;
  out.replies.push_back({a->answer, source});
  out.answered_from_faq = true;
  return true;
}

void Fallback(const BotSpec& bot, ConversationState& state, Outcome& out) {
  out.fallback = true;
  ++state.fallbacks_in_row;
  if (bot.handoff_after_fallbacks > 0 && state.fallbacks_in_row >= bot.handoff_after_fallbacks) {
    Handoff(bot, state, out, "fallback");
    return;
  }
  out.replies.push_back({Say(bot, state, "fallback"), nullptr});
}

}  // namespace

json ConversationState::ToJson() const {
  return {{"status", status}, {"form", form.empty() ? json(nullptr) : json(form)},
          {"requested_slot", requested_slot.empty() ? json(nullptr) : json(requested_slot)}, {"confirming", confirming},
          {"slots", slots}, {"fallbacks_in_row", fallbacks_in_row}, {"turns", turns},
          {"last_intent", last_intent.empty() ? json(nullptr) : json(last_intent)}};
}

ConversationState ConversationState::FromJson(const json& j) {
  ConversationState s;
  if (!j.is_object()) return s;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  s.status = str("status").empty() ? "bot" : str("status");
  s.form = str("form");
  s.requested_slot = str("requested_slot");
  s.confirming = j.value("confirming", false);
  if (j.contains("slots") && j["slots"].is_object()) s.slots = j["slots"];
  s.fallbacks_in_row = j.value("fallbacks_in_row", 0);
  s.turns = j.value("turns", 0);
  s.last_intent = str("last_intent");
  return s;
}

std::string FillPlaceholders(const std::string& text, const json& values) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i + 1);
      if (close != std::string::npos) {
        const std::string key = text.substr(i + 1, close - i - 1);
        if (values.is_object() && values.contains(key)) {
          out += ValueText(values[key]);
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

Outcome Respond(const BotSpec& bot, ConversationState& state, const std::string& text, const Understanding& u,
                const FaqLookup& faq) {
  Outcome out;
  ++state.turns;
  state.last_intent = u.intent;
  const bool oos = u.intent == text::kOutOfScope;

  // A person asked for, or a rule says so.
  if (!oos && Contains(bot.handoff_intents, u.intent)) {
    Handoff(bot, state, out, "requested");
    return out;
  }
  for (const auto& r : bot.handoff_rules) {
    bool hit = !r.intent.empty() && r.intent == u.intent;
    if (!r.regex.empty()) {
      RE2::Options o;
      o.set_log_errors(false);
      RE2 re(r.regex, o);
      hit = RE2::PartialMatch(text, re);
    }
    if (hit) {
      Handoff(bot, state, out, r.reason);
      return out;
    }
  }

  if (const FormSpec* form = state.form.empty() ? nullptr : bot.Form(state.form)) {
    if (!oos && Contains(bot.cancel_intents, u.intent)) {
      state.form.clear();
      state.requested_slot.clear();
      state.confirming = false;
      state.fallbacks_in_row = 0;
      out.replies.push_back({Say(bot, state, "cancelled"), nullptr});
      return out;
    }
    const bool filled = FillSlots(bot, *form, state, text, u, out);
    if (state.confirming && !filled) {
      const bool yes = (!oos && Contains(bot.affirm_intents, u.intent)) || IsYes(text);
      const bool no = (!oos && Contains(bot.deny_intents, u.intent)) || IsNo(text);
      if (yes && !no) {
        state.fallbacks_in_row = 0;
        Advance(bot, *form, state, out);
        return out;
      }
      if (no) {
        state.fallbacks_in_row = 0;
        out.replies.push_back({Say(bot, state, "ask_change"), nullptr});
        return out;
      }
    }
    if (filled) {
      state.fallbacks_in_row = 0;
      state.confirming = false;
      Advance(bot, *form, state, out);
      return out;
    }
    if (!out.replies.empty()) return out;  // an answer that did not validate: said so
    // Not an answer: another question in between is answered, then the form asks again.
    const bool faq_intent = !oos && bot.faq && Contains(bot.faq->intents, u.intent);
    bool handled = (oos || faq_intent) && Answer(bot, text, faq, out);
    if (!handled && !oos && bot.Response(u.intent) && u.intent != form->intent) {
      out.replies.push_back({FillPlaceholders(Say(bot, state, u.intent), PlaceholderValues(state, u)), nullptr});
      handled = true;
    }
    if (!handled) {
      Fallback(bot, state, out);
      if (!out.handoff_reason.empty()) return out;
    }
    if (state.confirming) {
      out.replies.push_back({FillPlaceholders(Say(bot, state, "confirm_" + form->name, "confirm"),
                                              {{"summary", Summary(*form, state.slots)}}),
                             nullptr});
    } else {
      Advance(bot, *form, state, out);
    }
    return out;
  }

  if (oos || (bot.faq && Contains(bot.faq->intents, u.intent))) {
    if (Answer(bot, text, faq, out)) {
      state.fallbacks_in_row = 0;
      return out;
    }
    Fallback(bot, state, out);
    return out;
  }
  state.fallbacks_in_row = 0;
  if (const FormSpec* form = bot.FormFor(u.intent)) {
    state.form = form->name;
    state.requested_slot.clear();
    state.confirming = false;
    for (const auto& s : form->slots) state.slots.erase(s.name);
    if (const auto* intro = bot.Response(u.intent)) out.replies.push_back({FillPlaceholders((*intro)[0], PlaceholderValues(state, u)), nullptr});
    FillSlots(bot, *form, state, text, u, out);
    Advance(bot, *form, state, out);
    return out;
  }
  if (bot.Response(u.intent)) {
    out.replies.push_back({FillPlaceholders(Say(bot, state, u.intent), PlaceholderValues(state, u)), nullptr});
  }
  return out;
}

}  // namespace aimass::assist
