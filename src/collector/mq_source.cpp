#include "collector/mq_source.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {

// "<topic>:<partition>:<offset>" -> ("<topic>:<partition>", offset).
bool SplitId(const std::string& id, std::string& key, uint64_t& offset) {
  size_t last = id.rfind(':');
  if (last == std::string::npos || last == 0) return false;
  key = id.substr(0, last);
  try {
    offset = std::stoull(id.substr(last + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace

MqSource::MqSource(mq::Broker& broker, std::string collector, const json& source)
    : broker_(broker), subscription_("collector-" + collector), topic_(source["topic"].get<std::string>()) {}

Status MqSource::Open(const json& offset) {
  committed_.clear();
  // Messages pulled and not stored (a write failed): back to the subscription at once.
  if (!unacked_.empty()) {
    std::vector<std::string> ids;
    for (const auto& u : unacked_) ids.push_back(u.first);
    (void)broker_.Nack(subscription_, ids, std::chrono::milliseconds(0));
  }
  unacked_.clear();
  unacked_keys_.clear();
  if (offset.is_object() && offset.contains("partitions")) {
    for (auto it = offset["partitions"].begin(); it != offset["partitions"].end(); ++it) {
      committed_[it.key()] = it.value().get<uint64_t>();
    }
  }
  read_ = committed_;
  if (!broker_.GetSubscription(subscription_).ok()) {
    mq::SubscriptionSpec spec;
    spec.name = subscription_;
    spec.topic = topic_;
    spec.from_earliest = true;
    spec.max_deliveries = 1000;  // the most allowed: a collector that cannot store must not lose messages to dead letters
    auto created = broker_.CreateSubscription(spec);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  }
  // Resume just after what is stored; messages in flight from before come back at once.
  for (const auto& [key, off] : committed_) {
    size_t colon = key.rfind(':');
    mq::SeekTarget target;
    target.topic = key.substr(0, colon);
    target.partition = static_cast<uint32_t>(std::stoul(key.substr(colon + 1)));
    target.offset = off + 1;
    (void)broker_.Seek(subscription_, target);
  }
  return Status::Ok();
}

Status MqSource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  AIMASS_ASSIGN_OR_RETURN(auto deliveries, broker_.Fetch(subscription_, max_rows, wait));
  std::vector<std::string> stale;
  for (auto& d : deliveries) {
    std::string key;
    uint64_t off = 0;
    if (!SplitId(d.id, key, off)) continue;
    auto done = committed_.find(key);
    auto seen = read_.find(key);
    if ((done != committed_.end() && off <= done->second) || (seen != read_.end() && off <= seen->second)) {
      stale.push_back(d.id);  // stored already (a redelivery): acknowledged, not stored again
      continue;
    }
    read_[key] = off;
    unacked_.emplace_back(d.id, off);
    unacked_keys_.push_back(key);
    std::string position = "mq:" + d.id;
    json row = json::parse(d.message.body, nullptr, false);
    if (row.is_object()) {
      out.rows.push_back(std::move(row));
      out.positions.push_back(std::move(position));
    } else {
      out.rejected.push_back({std::move(position), d.message.body.substr(0, 4096),
                              row.is_discarded() ? "not valid JSON" : "not a JSON object"});
    }
  }
  if (!stale.empty()) (void)broker_.Ack(subscription_, stale);
  out.offset = OffsetJson();
  return Status::Ok();
}

json MqSource::OffsetJson() const {
  json p = json::object();
  for (const auto& [k, v] : read_) p[k] = v;
  return {{"partitions", p}};
}

void MqSource::Committed(const json& offset) {
  if (!offset.is_object() || !offset.contains("partitions")) return;
  for (auto it = offset["partitions"].begin(); it != offset["partitions"].end(); ++it) {
    committed_[it.key()] = it.value().get<uint64_t>();
  }
  std::vector<std::string> ack;
  std::vector<std::pair<std::string, uint64_t>> keep;
  std::vector<std::string> keep_keys;
  for (size_t i = 0; i < unacked_.size(); ++i) {
    auto c = committed_.find(unacked_keys_[i]);
    if (c != committed_.end() && unacked_[i].second <= c->second) {
      ack.push_back(unacked_[i].first);
    } else {
      keep.push_back(unacked_[i]);
      keep_keys.push_back(unacked_keys_[i]);
    }
  }
  unacked_ = std::move(keep);
  unacked_keys_ = std::move(keep_keys);
  if (!ack.empty()) (void)broker_.Ack(subscription_, ack);
}

json MqSource::Lag() {
  auto info = broker_.GetSubscription(subscription_);
  if (!info.ok()) return {{"messages", nullptr}};
  return {{"messages", info->backlog}};
}

void MqSource::Drop() { (void)broker_.DeleteSubscription(subscription_); }

}  // namespace aimass::collector
