#include "collector/mqtt_source.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <thread>

namespace aimass::collector {

using nlohmann::json;

namespace {

constexpr size_t kRecent = 4096;  // spooled messages remembered for resends (well above brokers' in-flight windows)
constexpr size_t kReceiveBatch = 1000;

uint64_t PayloadHash(const std::string& topic, const std::string& payload) {
  return std::hash<std::string>{}(topic) * 1000003u ^ std::hash<std::string>{}(payload);
}

MqttOptions OptionsFrom(const std::string& collector, const json& source) {
  MqttOptions o;
  o.host = source.value("host", "127.0.0.1");
  o.port = source.value("port", 1883);
  o.client_id = source.value("client_id", "aimass-" + collector);
  o.username = source.value("username", "");
  o.password = source.value("password", "");
  o.qos = source.value("qos", 1);
  if (source.contains("topics")) {
    for (const auto& t : source["topics"]) o.topics.push_back(t.get<std::string>());
  } else {
    o.topics.push_back(source["topic"].get<std::string>());
  }
  return o;
}

}  // namespace

MqttSource::MqttSource(std::string collector, const json& source, std::string spool_dir)
    : client_(OptionsFrom(collector, source)), spool_(std::move(spool_dir)), topic_column_(source.value("topic_column", "")) {}

Status MqttSource::Init() {
  AIMASS_RETURN_IF_ERROR(spool_.Init());
  // The messages spooled last, whose PUBACK a crash may have kept from the broker.
  AIMASS_RETURN_IF_ERROR(spool_.Open(json{{"position", 0}}));
  Pulled all;
  do {
    all = Pulled();
    AIMASS_RETURN_IF_ERROR(spool_.Pull(100000, std::chrono::milliseconds(0), all));
    for (const auto& env : all.rows) {
      if (env.contains("i") && env.contains("h")) Remember(env["i"].get<uint16_t>(), env["h"].get<uint64_t>());
    }
  } while (!all.rows.empty() || !all.rejected.empty());
  return Status::Ok();
}

void MqttSource::Remember(uint16_t packet_id, uint64_t hash) {
  if (packet_id == 0) return;
  recent_.emplace_back(packet_id, hash);
  recent_set_.insert(recent_.back());
  while (recent_.size() > kRecent) {
    recent_set_.erase(recent_.front());
    recent_.pop_front();
  }
}

Status MqttSource::Open(const json& offset) { return spool_.Open(offset); }

Status MqttSource::Receive(std::chrono::milliseconds wait) {
  if (!client_.connected()) AIMASS_RETURN_IF_ERROR(client_.Connect());
  std::vector<std::string> lines;
  std::vector<std::pair<uint16_t, uint64_t>> spooled;  // remembered only once they are durable
  std::vector<uint16_t> acks;
  Status lost = Status::Ok();
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (lines.size() + acks.size() < kReceiveBatch) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // Once something came, what follows at once joins it (one sync for all).
    if (!lines.empty() || !acks.empty()) left = std::chrono::milliseconds(0);
    auto m = client_.Next(std::max(left, std::chrono::milliseconds(0)));
    if (!m.ok()) {
      lost = m.status();  // what came before is still spooled below
      break;
    }
    if (!*m) break;
    uint64_t h = PayloadHash((*m)->topic, (*m)->payload);
    if ((*m)->qos > 0 && (*m)->dup && recent_set_.count({(*m)->packet_id, h})) {
      acks.push_back((*m)->packet_id);  // spooled before a crash kept its PUBACK from the broker
      continue;
    }
    json env = {{"t", (*m)->topic}, {"p", (*m)->payload}, {"i", (*m)->packet_id}, {"h", h}};
    lines.push_back(env.dump(-1, ' ', false, json::error_handler_t::replace));
    if ((*m)->qos > 0) acks.push_back((*m)->packet_id);
    spooled.emplace_back((*m)->packet_id, h);
  }
  if (!lines.empty()) AIMASS_RETURN_IF_ERROR(spool_.Append(lines).status());
  for (const auto& [id, h] : spooled) Remember(id, h);
  // Durable now: the broker may forget them (on a lost connection it resends them, as DUP).
  if (lost.ok()) {
    for (uint16_t id : acks) AIMASS_RETURN_IF_ERROR(client_.Ack(id));
  }
  return lost;
}

Status MqttSource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  Status received = Receive(std::min(wait, std::chrono::milliseconds(200)));
  Pulled raw;
  AIMASS_RETURN_IF_ERROR(spool_.Pull(max_rows, std::chrono::milliseconds(0), raw));
  for (auto& r : raw.rejected) out.rejected.push_back(std::move(r));
  for (size_t i = 0; i < raw.rows.size(); ++i) {
    const json& env = raw.rows[i];
    std::string position = "mqtt:" + raw.positions[i].substr(raw.positions[i].find(':') + 1);
    std::string payload = env.value("p", "");
    json row = json::parse(payload, nullptr, false);
    if (!row.is_object()) {
      out.rejected.push_back({std::move(position), payload.substr(0, 4096), row.is_discarded() ? "not valid JSON" : "not a JSON object"});
      continue;
    }
    if (!topic_column_.empty()) row[topic_column_] = env.value("t", "");
    out.rows.push_back(std::move(row));
    out.positions.push_back(std::move(position));
  }
  out.offset = raw.offset;
  if (!received.ok() && out.rows.empty() && out.rejected.empty()) {
    // The broker is away: wait a little before the next try, and say why.
    std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(500)));
    return received;
  }
  return Status::Ok();
}

}  // namespace aimass::collector
