#include "assist/analytics.hpp"

#include <map>

#include "common/time.hpp"

namespace aimass::assist {

using nlohmann::json;

Result<json> BotAnalytics(storage::Db& db, const std::string& bot, int64_t from_ms, int64_t to_ms, int64_t interval_ms) {
  if (to_ms <= from_ms) return Status::BadRequest("from is before to");
  if (interval_ms < 60000) return Status::BadRequest("interval is at least a minute");
  if ((to_ms - from_ms) / interval_ms > 10000) return Status::BadRequest("at most 10000 intervals: widen the interval");
  const std::string range = " WHERE bot = ? AND created_ms >= ? AND created_ms < ?";
  const std::vector<storage::Value> p = {bot, from_ms, to_ms};

  // Messages and intents per interval.
  AIMASS_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT (created_ms - ?) / ?, intent, COUNT(*), SUM(fallback) FROM assist_turns" +
                                                  range + " AND role = 'user' GROUP BY 1, 2",
                                              {from_ms, interval_ms, bot, from_ms, to_ms}));
  std::map<int64_t, json> buckets;
  std::map<std::string, int64_t> intents;
  int64_t messages = 0, fallbacks = 0;
  for (const auto& r : rows) {
    const int64_t b = r.Int(0);
    json& bucket = buckets[b];
    if (bucket.is_null()) bucket = {{"start", Rfc3339Ms(from_ms + b * interval_ms)}, {"messages", 0}, {"fallbacks", 0}, {"intents", json::object()}};
    const std::string intent = r.Text(1).empty() ? "(with a person)" : r.Text(1);
    bucket["messages"] = bucket["messages"].get<int64_t>() + r.Int(2);
    bucket["fallbacks"] = bucket["fallbacks"].get<int64_t>() + r.Int(3);
    bucket["intents"][intent] = r.Int(2);
    intents[intent] += r.Int(2);
    messages += r.Int(2);
    fallbacks += r.Int(3);
  }
  json series = json::array();
  for (auto& [b, j] : buckets) series.push_back(std::move(j));
  json top = json::array();
  std::vector<std::pair<int64_t, std::string>> sorted;
  for (const auto& [name, n] : intents) sorted.push_back({n, name});
  std::sort(sorted.rbegin(), sorted.rend());
  for (const auto& [n, name] : sorted) top.push_back({{"intent", name}, {"messages", n}});

  // Conversations (each session counts) and those a person took over.
  AIMASS_ASSIGN_OR_RETURN(auto conv, db.Query("SELECT COUNT(*) FROM (SELECT DISTINCT conversation, session FROM assist_turns" +
                                                  range + " AND role = 'user') t",
                                              p));
  const int64_t conversations = conv.empty() ? 0 : conv[0].Int(0);
  AIMASS_ASSIGN_OR_RETURN(auto handed, db.Query("SELECT reason, COUNT(*), COUNT(DISTINCT conversation) FROM assist_handoffs" + range +
                                                    " GROUP BY reason ORDER BY COUNT(*) DESC",
                                                p));
  json reasons = json::array();
  int64_t handoffs = 0;
  for (const auto& r : handed) {
    reasons.push_back({{"reason", r.Text(0)}, {"handoffs", r.Int(1)}});
    handoffs += r.Int(1);
  }
  AIMASS_ASSIGN_OR_RETURN(auto hc, db.Query("SELECT COUNT(DISTINCT conversation) FROM assist_handoffs" + range, p));
  const int64_t handed_conversations = hc.empty() ? 0 : hc[0].Int(0);
  auto ratio = [](int64_t a, int64_t b) { return b ? json(static_cast<double>(a) / static_cast<double>(b)) : json(nullptr); };
  return json{{"bot", bot},
              {"from", Rfc3339Ms(from_ms)},
              {"to", Rfc3339Ms(to_ms)},
              {"interval_s", interval_ms / 1000},
              {"messages", messages},
              {"conversations", conversations},
              {"fallbacks", fallbacks},
              {"fallback_rate", ratio(fallbacks, messages)},
              {"handoffs", handoffs},
              {"containment_rate", conversations ? json(1.0 - static_cast<double>(std::min(handed_conversations, conversations)) /
                                                                  static_cast<double>(conversations))
                                                 : json(nullptr)},
              {"average_turns", ratio(messages, conversations)},
              {"handoff_reasons", reasons},
              {"intents", top},
              {"series", series}};
}

}  // namespace aimass::assist
