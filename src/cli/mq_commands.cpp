#include "cli/mq_commands.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <iostream>
#include <iterator>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

struct MqCommands {
  CLI::App* root = nullptr;
  // topic
  CLI::App *tp_add = nullptr, *tp_list = nullptr, *tp_show = nullptr, *tp_delete = nullptr;
  CLI::App* pub = nullptr;
  // sub
  CLI::App *sb_add = nullptr, *sb_list = nullptr, *sb_show = nullptr, *sb_delete = nullptr, *sb_pull = nullptr,
           *sb_ack = nullptr, *sb_nack = nullptr, *sb_seek = nullptr;
  // dlq
  CLI::App *dlq_list = nullptr, *dlq_replay = nullptr, *dlq_purge = nullptr;

  std::string name, topic, fsync, set_json, body, key, dedup_id, file, start, time;
  std::vector<std::string> headers, ids;
  std::vector<uint64_t> dlq_ids;
  int64_t partitions = 0, delay_ms = 0, ttl_ms = 0, max_deliveries = 0, ack_timeout_ms = 0, max = 10, wait_ms = 0,
          from = 0, offset = 0, partition = 0;
  bool ack = false, earliest = false, latest = false;
  // Options whose presence matters (a value given is sent as given, for the server to judge).
  CLI::Option *o_partitions = nullptr, *o_delay = nullptr, *o_ttl = nullptr, *o_max_deliveries = nullptr,
              *o_ack_timeout = nullptr, *o_nack_delay = nullptr, *o_offset = nullptr, *o_partition = nullptr,
              *o_seek_topic = nullptr, *o_time = nullptr, *o_dlq_max = nullptr, *o_body = nullptr, *o_file = nullptr;
};

namespace {

// RFC 3339 (2026-11-28T02:00:00Z, 2026-11-28T03:00:00.250+01:00) as ms since the epoch.
std::optional<int64_t> ParseRfc3339Ms(const std::string& s) {
  size_t i = 0;
  auto num = [&](int digits, int& out) {
    if (i + static_cast<size_t>(digits) > s.size()) return false;
    out = 0;
    for (int k = 0; k < digits; ++k, ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto lit = [&](char c) {
    if (i < s.size() && std::toupper(static_cast<unsigned char>(s[i])) == c) {
      ++i;
      return true;
    }
    return false;
  };
  int y, mo, d, h, mi, sec;
  if (!num(4, y) || !lit('-') || !num(2, mo) || !lit('-') || !num(2, d) || !(lit('T') || lit(' ')) || !num(2, h) ||
      !lit(':') || !num(2, mi) || !lit(':') || !num(2, sec)) {
    return std::nullopt;
  }
  int64_t ms = 0;
  if (lit('.')) {
    int digits = 0;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++digits) {
      if (digits < 3) ms = ms * 10 + (s[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  int64_t zone_s = 0;
  if (!lit('Z')) {
    int sign = i < s.size() && s[i] == '+' ? 1 : i < s.size() && s[i] == '-' ? -1 : 0;
    int zh, zm;
    if (sign == 0) return std::nullopt;
    ++i;
    if (!num(2, zh) || !lit(':') || !num(2, zm) || zh > 23 || zm > 59) return std::nullopt;
    zone_s = sign * (zh * 3600 + zm * 60);
  }
  if (i != s.size() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return (days * 86400 + h * 3600 + mi * 60 + sec - zone_s) * 1000 + ms;
}

// A body for a terminal's one line: control characters escaped.
std::string OneLine(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
    else out.push_back(static_cast<char>(c));
  }
  return out;
}

// j[key] without the undefined behaviour of a const operator[] on a missing key.
const json& At(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Text(const json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string HeadersText(const json& h) {
  std::string out;
  if (!h.is_object()) return out;
  for (const auto& [k, v] : h.items()) out += (out.empty() ? "" : ",") + k + "=" + OneLine(Text(v));
  return out;
}

void PrintMessages(const json& messages) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : messages) {
    rows.push_back({Text(At(m, "id")), OneLine(Text(At(m, "key"))), Text(At(m, "deliveries")), HeadersText(At(m, "headers")),
                    OneLine(Text(At(m, "body")))});
  }
  PrintTable({"ID", "KEY", "DELIVERIES", "HEADERS", "BODY"}, rows);
}

void PrintDeadLetters(const json& letters) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : letters) {
    const json& h = At(d, "headers");
    auto header = [&](const char* name) { return h.is_object() && h.contains(name) ? Text(h[name]) : std::string(); };
    std::string from = header("x-original-topic") + ":" + header("x-original-partition") + ":" + header("x-original-offset");
    rows.push_back({Text(At(d, "id")), Text(At(d, "reason")), header("x-delivery-count"), from, OneLine(Text(At(d, "key"))),
                    OneLine(Text(At(d, "body")))});
  }
  PrintTable({"ID", "REASON", "DELIVERIES", "FROM", "KEY", "BODY"}, rows);
}

// Ack and nack answers: ids not in flight are an error (exit 1), since their messages will come
// again (or were handled already), which a script must hear about.
int AckAnswer(const json& res, const char* field, const char* verb, bool as_json) {
  const json& unknown = At(res, "unknown");
  if (as_json) std::cout << res.dump() << "\n";
  else std::cout << verb << " " << Text(At(res, field)) << " message" << (At(res, field) == 1 ? "" : "s") << "\n";
  if (unknown.is_array() && !unknown.empty()) {
    std::string list;
    for (const auto& id : unknown) list += (list.empty() ? "" : ", ") + Text(id);
    return Fail(Status::BadRequest("not in flight (acknowledged already, redelivered after the ack timeout, or no such id): " + list));
  }
  return kOk;
}

const CLI::Validator kNameValue(
    [](std::string& s) { return s.find('=') == std::string::npos || s.front() == '=' ? "expected NAME=VALUE" : ""; },
    "NAME=VALUE");

const CLI::Validator kRfc3339(
    [](std::string& s) {
      return ParseRfc3339Ms(s) ? "" : "expected an RFC 3339 time such as 2026-11-28T02:00:00Z";
    },
    "RFC3339");

}  // namespace

std::shared_ptr<MqCommands> AddMqCommands(CLI::App& app) {
  auto c = std::make_shared<MqCommands>();
  c->root = app.add_subcommand("mq", "The message queue: topics, publish, subscriptions, dead letters");
  c->root->require_subcommand(1);

  auto* tp = c->root->add_subcommand("topic", "Topics: partitioned logs that take messages");
  tp->require_subcommand(1);
  c->tp_add = tp->add_subcommand("add", "Create a topic");
  c->tp_add->add_option("name", c->name, "Topic name")->required();
  c->o_partitions = c->tp_add->add_option("--partitions,-p", c->partitions, "Partitions, 1 to 1024 (default 1)");
  c->tp_add->add_option("--fsync", c->fsync, "When a publish is answered (default: the server's, mq.fsync)")
      ->check(CLI::IsMember({"always", "interval", "never"}));
  c->tp_add->add_option("--set", c->set_json, "Any other fields as a JSON object (retention, dedup_window_ms)");
  c->tp_list = tp->add_subcommand("list", "List topics");
  c->tp_show = tp->add_subcommand("show", "Show a topic: partitions, offsets, size");
  c->tp_show->add_option("name", c->name, "Topic name")->required();
  c->tp_delete = tp->add_subcommand("delete", "Delete a topic and its messages");
  c->tp_delete->add_option("name", c->name, "Topic name")->required();

  c->pub = c->root->add_subcommand("pub", "Publish one message");
  c->pub->add_option("topic", c->topic, "Topic name")->required();
  c->o_body = c->pub->add_option("body", c->body, "The body (UTF-8 text); - reads it from stdin");
  c->o_file = c->pub->add_option("--file,-f", c->file, "Read the body from this file")->excludes(c->o_body);
  c->pub->add_option("--key,-k", c->key, "Key: same key, same partition, delivered in order");
  c->pub->add_option("--header,-H", c->headers, "Header NAME=VALUE; repeatable")->check(kNameValue);
  c->o_delay = c->pub->add_option("--delay-ms", c->delay_ms, "Not delivered before this many ms");
  c->o_ttl = c->pub->add_option("--ttl-ms", c->ttl_ms, "Dead-lettered when not delivered within this many ms");
  c->pub->add_option("--dedup-id", c->dedup_id, "Dropped when a message with this id came within the dedup window");
  c->pub->callback([raw = c.get()] {
    if (raw->o_body->count() == 0 && raw->o_file->count() == 0) {
      throw CLI::ValidationError("body", "give the body, - to read it from stdin, or --file FILE");
    }
  });

  auto* sb = c->root->add_subcommand("sub", "Subscriptions: read a topic (or pattern); pull, ack, nack, seek");
  sb->require_subcommand(1);
  c->sb_add = sb->add_subcommand("add", "Create a subscription");
  c->sb_add->add_option("name", c->name, "Subscription name")->required();
  c->sb_add->add_option("--topic,-t", c->topic, "Topic or pattern (registry.*, iot.>)")->required();
  c->o_max_deliveries = c->sb_add->add_option("--max-deliveries", c->max_deliveries,
                                              "Deliveries before a message is dead-lettered, 1 to 1000 (default 5)");
  c->o_ack_timeout = c->sb_add->add_option("--ack-timeout-ms", c->ack_timeout_ms,
                                           "Redelivered when not acked within this (default 30000)");
  c->sb_add->add_option("--start", c->start, "latest (default: from now on) or earliest (the oldest kept)")
      ->check(CLI::IsMember({"earliest", "latest"}));
  c->sb_add->add_option("--set", c->set_json, "Any other fields as a JSON object (backoff_ms, max_backoff_ms)");
  c->sb_list = sb->add_subcommand("list", "List subscriptions with backlog, in flight and dead letters");
  c->sb_show = sb->add_subcommand("show", "Show a subscription");
  c->sb_show->add_option("name", c->name, "Subscription name")->required();
  c->sb_delete = sb->add_subcommand("delete", "Delete a subscription, its state and dead letters");
  c->sb_delete->add_option("name", c->name, "Subscription name")->required();
  c->sb_pull = sb->add_subcommand("pull", "Fetch messages (they stay in flight until acked)");
  c->sb_pull->add_option("name", c->name, "Subscription name")->required();
  c->sb_pull->add_option("--max,-n", c->max, "At most this many, 1 to 1000 (default 10)");
  c->sb_pull->add_option("--wait-ms,-w", c->wait_ms, "Wait up to this long for the first one, at most 30000 (default 0)");
  c->sb_pull->add_flag("--ack", c->ack, "Acknowledge the messages printed");
  c->sb_ack = sb->add_subcommand("ack", "Acknowledge messages: done with them");
  c->sb_ack->add_option("name", c->name, "Subscription name")->required();
  c->sb_ack->add_option("ids", c->ids, "Message ids (topic:partition:offset)")->required();
  c->sb_nack = sb->add_subcommand("nack", "Give messages back, to be delivered again");
  c->sb_nack->add_option("name", c->name, "Subscription name")->required();
  c->sb_nack->add_option("ids", c->ids, "Message ids (topic:partition:offset)")->required();
  c->o_nack_delay = c->sb_nack->add_option("--delay-ms", c->delay_ms, "Visible again after this many ms (default 0)");
  c->sb_seek = sb->add_subcommand("seek", "Replay or skip: move to an offset, a time, or an end");
  c->sb_seek->add_option("name", c->name, "Subscription name")->required();
  auto* to = c->sb_seek->add_option_group("position", "Where to move (exactly one)");
  c->o_offset = to->add_option("--offset", c->offset, "An offset of one partition");
  c->o_time = to->add_option("--time", c->time, "Every partition: the first message at or after this RFC 3339 time")
                  ->check(kRfc3339);
  to->add_flag("--earliest", c->earliest, "The oldest kept message");
  to->add_flag("--latest", c->latest, "The end: skip everything not yet delivered");
  to->require_option(1);
  c->o_seek_topic = c->sb_seek->add_option(
      "--topic,-t", c->topic, "Only this topic; for --offset, default: the one topic the subscription reads");
  c->o_partition = c->sb_seek->add_option(
      "--partition", c->partition, "Only this partition; for --offset, default: 0 on a one-partition topic");

  auto* dlq = c->root->add_subcommand("dlq", "A subscription's dead letters");
  dlq->require_subcommand(1);
  c->dlq_list = dlq->add_subcommand("list", "List dead letters with their reason and delivery count");
  c->dlq_list->add_option("sub", c->name, "Subscription name")->required();
  c->dlq_list->add_option("--from", c->from, "From this dead-letter id (default 0)")->check(CLI::NonNegativeNumber);
  c->o_dlq_max = c->dlq_list->add_option("--max,-n", c->max, "At most this many (default all)")->check(CLI::PositiveNumber);
  c->dlq_replay = dlq->add_subcommand("replay", "Send dead letters back to the subscription (all without ids)");
  c->dlq_replay->add_option("sub", c->name, "Subscription name")->required();
  c->dlq_replay->add_option("ids", c->dlq_ids, "Dead-letter ids");
  c->dlq_purge = dlq->add_subcommand("purge", "Drop dead letters (all without ids)");
  c->dlq_purge->add_option("sub", c->name, "Subscription name")->required();
  c->dlq_purge->add_option("ids", c->dlq_ids, "Dead-letter ids");
  return c;
}

std::optional<int> RunMqCommands(MqCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/mq/";
  const std::string sub_path = "subscriptions/" + UrlEncode(c.name);
  auto call = [&](http::Method m, const std::string& path, const json* body = nullptr) {
    return api.Call(m, base + path, body);
  };
  auto deleted = [&](const char* what, const std::string& path) -> int {
    auto res = call(http::Method::kDelete, path);
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << json{{"deleted", c.name}}.dump() << "\n";
    else std::cout << "Deleted " << what << " " << c.name << "\n";
    return kOk;
  };

  // -- topics -----------------------------------------------------------------------------------
  if (c.tp_add->parsed()) {
    auto body = ParseSetFields(c.set_json);
    if (!body.ok()) return Fail(body.status());
    (*body)["name"] = c.name;
    if (c.o_partitions->count()) (*body)["partitions"] = c.partitions;
    if (!c.fsync.empty()) (*body)["fsync"] = c.fsync;
    auto res = call(http::Method::kPost, "topics", &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Created topic " << c.name << " (" << Text((*res)["partitions"]) << " partition"
              << ((*res)["partitions"] == 1 ? "" : "s") << ", fsync " << Text((*res)["fsync"]) << ")\n";
    return kOk;
  }
  if (c.tp_list->parsed()) {
    auto res = call(http::Method::kGet, "topics");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["topics"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : (*res)["topics"]) {
      rows.push_back({Text(At(t, "name")), Text(At(t, "partitions")), Text(At(t, "fsync")), Text(At(t, "messages")), Text(At(t, "bytes"))});
    }
    PrintTable({"NAME", "PARTITIONS", "FSYNC", "MESSAGES", "BYTES"}, rows);
    return kOk;
  }
  if (c.tp_show->parsed()) {
    auto res = call(http::Method::kGet, "topics/" + UrlEncode(c.name));
    if (!res.ok()) return Fail(res.status());
    return PrintJson(*res, as_json);
  }
  if (c.tp_delete->parsed()) return deleted("topic", "topics/" + UrlEncode(c.name));

  // -- publish ----------------------------------------------------------------------------------
  if (c.pub->parsed()) {
    std::string body;
    if (c.o_file->count()) {
      auto text = ReadFile(c.file);
      if (!text.ok()) return Fail(text.status());
      body = std::move(*text);
    } else if (c.body == "-") {
      body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      body = c.body;
    }
    json m = {{"body", body}};
    if (!c.key.empty()) m["key"] = c.key;
    if (!c.headers.empty()) {
      m["headers"] = json::object();
      for (const auto& h : c.headers) {
        size_t eq = h.find('=');
        m["headers"][h.substr(0, eq)] = h.substr(eq + 1);
      }
    }
    if (c.o_delay->count()) m["delay_ms"] = c.delay_ms;
    if (c.o_ttl->count()) m["ttl_ms"] = c.ttl_ms;
    if (!c.dedup_id.empty()) m["dedup_id"] = c.dedup_id;
    json req = {{"messages", json::array({m})}};
    try {
      (void)req.dump();
    } catch (const json::exception&) {
      return Fail(Status::BadRequest("the body, key or a header is not UTF-8 text; the HTTP API carries text only"));
    }
    auto res = call(http::Method::kPost, "topics/" + UrlEncode(c.topic) + "/messages", &req);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    const json& results = (*res)["results"];
    const json& r = results.is_array() && !results.empty() ? results[0] : json::object();
    std::cout << "Published to " << c.topic << ": partition " << Text(At(r, "partition")) << ", offset " << Text(At(r, "offset"));
    if (r.value("duplicate", false)) std::cout << " (a duplicate within the dedup window: not appended again)";
    std::cout << "\n";
    return kOk;
  }

  // -- subscriptions ----------------------------------------------------------------------------
  if (c.sb_add->parsed()) {
    auto body = ParseSetFields(c.set_json);
    if (!body.ok()) return Fail(body.status());
    (*body)["name"] = c.name;
    (*body)["topic"] = c.topic;
    if (c.o_max_deliveries->count()) (*body)["max_deliveries"] = c.max_deliveries;
    if (c.o_ack_timeout->count()) (*body)["ack_timeout_ms"] = c.ack_timeout_ms;
    if (!c.start.empty()) (*body)["start"] = c.start;
    auto res = call(http::Method::kPost, "subscriptions", &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Created subscription " << c.name << " on " << c.topic << " (from the " << Text((*res)["start"])
              << ", max " << Text((*res)["max_deliveries"]) << " deliveries, ack timeout "
              << Text((*res)["ack_timeout_ms"]) << " ms)\n";
    return kOk;
  }
  if (c.sb_list->parsed()) {
    auto res = call(http::Method::kGet, "subscriptions");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["subscriptions"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : (*res)["subscriptions"]) {
      rows.push_back({Text(At(s, "name")), Text(At(s, "topic")), Text(At(s, "backlog")), Text(At(s, "in_flight")),
                      Text(At(s, "dead_letters")), Text(At(s, "max_deliveries"))});
    }
    PrintTable({"NAME", "TOPIC", "BACKLOG", "IN FLIGHT", "DEAD LETTERS", "MAX DELIVERIES"}, rows);
    return kOk;
  }
  if (c.sb_show->parsed()) {
    auto res = call(http::Method::kGet, sub_path);
    if (!res.ok()) return Fail(res.status());
    return PrintJson(*res, as_json);
  }
  if (c.sb_delete->parsed()) return deleted("subscription", sub_path);
  if (c.sb_pull->parsed()) {
    auto res = call(http::Method::kGet, sub_path + "/messages?max=" + std::to_string(c.max) +
                                            "&wait_ms=" + std::to_string(c.wait_ms));
    if (!res.ok()) return Fail(res.status());
    const json& messages = (*res)["messages"];
    if (as_json) std::cout << messages.dump() << "\n";
    else if (messages.empty()) std::cout << "No messages\n";
    else PrintMessages(messages);
    std::cout << std::flush;
    if (!c.ack || messages.empty()) return kOk;
    json ack = {{"ids", json::array()}};
    for (const auto& m : messages) ack["ids"].push_back(At(m, "id"));
    auto acked = call(http::Method::kPost, sub_path + "/ack", &ack);
    if (!acked.ok()) return Fail(acked.status());
    const json& unknown = (*acked)["unknown"];
    if (unknown.is_array() && !unknown.empty()) {
      std::string list;
      for (const auto& id : unknown) list += (list.empty() ? "" : ", ") + Text(id);
      return Fail(Status::BadRequest("printed but not acknowledged (no longer in flight): " + list));
    }
    return kOk;
  }
  if (c.sb_ack->parsed() || c.sb_nack->parsed()) {
    bool nack = c.sb_nack->parsed();
    json body = {{"ids", c.ids}};
    if (nack && c.o_nack_delay->count()) body["delay_ms"] = c.delay_ms;
    auto res = call(http::Method::kPost, sub_path + (nack ? "/nack" : "/ack"), &body);
    if (!res.ok()) return Fail(res.status());
    return AckAnswer(*res, nack ? "nacked" : "acked", nack ? "Gave back" : "Acknowledged", as_json);
  }
  if (c.sb_seek->parsed()) {
    json body = json::object();
    if (c.o_offset->count()) {
      std::string topic = c.topic;
      if (!c.o_seek_topic->count()) {
        auto info = call(http::Method::kGet, sub_path);
        if (!info.ok()) return Fail(info.status());
        const json& topics = (*info)["topics"];
        if (topics.size() != 1) {
          return Fail(Status::BadRequest("--topic is needed: subscription " + c.name + " reads " +
                                         std::to_string(topics.size()) + " topics"));
        }
        topic = topics[0].get<std::string>();
      }
      int64_t partition = c.partition;
      if (!c.o_partition->count()) {
        auto info = call(http::Method::kGet, "topics/" + UrlEncode(topic));
        if (!info.ok()) return Fail(info.status());
        if ((*info)["partitions"] != 1) {
          return Fail(Status::BadRequest("--partition is needed: topic " + topic + " has " +
                                         Text((*info)["partitions"]) + " partitions"));
        }
        partition = 0;
      }
      body = {{"topic", topic}, {"partition", partition}, {"offset", c.offset}};
    } else {
      if (c.o_time->count()) body["time_ms"] = *ParseRfc3339Ms(c.time);
      else body["position"] = c.earliest ? "earliest" : "latest";
      if (c.o_seek_topic->count()) body["topic"] = c.topic;
      if (c.o_partition->count()) body["partition"] = c.partition;
    }
    auto res = call(http::Method::kPost, sub_path + "/seek", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Moved subscription " << c.name << ": backlog " << Text((*res)["backlog"]) << "\n";
    return kOk;
  }

  // -- dead letters -----------------------------------------------------------------------------
  if (c.dlq_list->parsed()) {
    // Pages of up to 1000 (the server's most) from --from, until --max or the end.
    json all = json::array();
    uint64_t from = static_cast<uint64_t>(c.from);
    bool limited = c.o_dlq_max->count() > 0;
    for (;;) {
      int64_t want = 1000;
      if (limited) want = std::min<int64_t>(want, c.max - static_cast<int64_t>(all.size()));
      if (want <= 0) break;
      auto res = call(http::Method::kGet, sub_path + "/dlq?from=" + std::to_string(from) + "&max=" + std::to_string(want));
      if (!res.ok()) return Fail(res.status());
      const json& page = (*res)["dead_letters"];
      for (const auto& d : page) all.push_back(d);
      if (static_cast<int64_t>(page.size()) < want) break;
      from = At(page.back(), "id").get<uint64_t>() + 1;
    }
    if (as_json) return PrintJson(all, true);
    if (all.empty()) std::cout << "No dead letters\n";
    else PrintDeadLetters(all);
    return kOk;
  }
  if (c.dlq_replay->parsed() || c.dlq_purge->parsed()) {
    bool replay = c.dlq_replay->parsed();
    // No ids: all of them (the server reads a missing or empty list alike).
    json body = json::object();
    if (!c.dlq_ids.empty()) body["ids"] = c.dlq_ids;
    auto res = call(http::Method::kPost, sub_path + (replay ? "/dlq/replay" : "/dlq/purge"), &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    const json& n = (*res)[replay ? "replayed" : "purged"];
    std::cout << (replay ? "Replayed " : "Purged ") << Text(n) << " dead letter" << (n == 1 ? "" : "s");
    if (!c.dlq_ids.empty() && n.is_number_unsigned() && n != c.dlq_ids.size()) {
      size_t missing = c.dlq_ids.size() - std::min<size_t>(n.get<size_t>(), c.dlq_ids.size());
      std::cout << "; " << missing << " of the ids given " << (missing == 1 ? "was" : "were") << " not in the queue";
    }
    std::cout << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
