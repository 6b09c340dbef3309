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

void MqSource::Stored::Add(uint64_t off) {
  if (Has(off)) return;
  above.insert(off);
  while (!above.empty() && static_cast<int64_t>(*above.begin()) == watermark + 1) {
    ++watermark;
    above.erase(above.begin());
  }
  // Offsets below the lowest one above that never come (dead-lettered, expired by retention)
  // would hold the watermark back for ever: past 10,000 held, the watermark moves up.
  while (above.size() > 10000) {
    watermark = static_cast<int64_t>(*above.begin());
    above.erase(above.begin());
  }
}

std::map<std::string, MqSource::Stored> MqSource::Parse(const json& offset) {
  std::map<std::string, Stored> out;
  if (!offset.is_object()) return out;
  if (offset.contains("partitions") && offset["partitions"].is_object()) {
    for (auto it = offset["partitions"].begin(); it != offset["partitions"].end(); ++it) {
      if (it.value().is_number_integer()) out[it.key()].watermark = it.value().get<int64_t>();
    }
  }
  if (offset.contains("above") && offset["above"].is_object()) {
    for (auto it = offset["above"].begin(); it != offset["above"].end(); ++it) {
      if (!it.value().is_array()) continue;
      for (const auto& o : it.value()) {
        if (o.is_number_unsigned()) out[it.key()].Add(o.get<uint64_t>());
      }
    }
  }
  return out;
}

json MqSource::Render(const std::map<std::string, Stored>& stored) {
  json partitions = json::object(), above = json::object();
  for (const auto& [key, s] : stored) {
    partitions[key] = s.watermark;
    if (!s.above.empty()) above[key] = json(std::vector<uint64_t>(s.above.begin(), s.above.end()));
  }
  json out = {{"partitions", partitions}};
  if (!above.empty()) out["above"] = above;
  return out;
}

MqSource::MqSource(mq::Broker& broker, std::string collector, const json& source)
    : broker_(broker), subscription_("collector-" + collector), topic_(source["topic"].get<std::string>()) {}

Status MqSource::Open(const json& offset) {
  // Messages pulled and not stored (a write failed): back to the subscription at once.
  if (!unacked_.empty()) {
    std::vector<std::string> ids;
    for (const auto& u : unacked_) ids.push_back(u.id);
    (void)broker_.Nack(subscription_, ids, std::chrono::milliseconds(0));
  }
  unacked_.clear();
  committed_ = Parse(offset);
  read_ = committed_;
  mq::SubscriptionSpec spec;
  spec.name = subscription_;
  spec.topic = topic_;
  spec.from_earliest = true;
  spec.max_deliveries = 1000;  // the most allowed: a collector that cannot store must not lose messages to dead letters
  AIMASS_RETURN_IF_ERROR(broker_.EnsureSubscription(spec));
  // Resume just after what is stored; messages in flight from before come back at once.
  for (const auto& [key, stored] : committed_) {
    size_t colon = key.rfind(':');
    if (colon == std::string::npos || stored.watermark < 0) continue;
    mq::SeekTarget target;
    target.topic = key.substr(0, colon);
    target.partition = static_cast<uint32_t>(std::strtoul(key.c_str() + colon + 1, nullptr, 10));
    target.offset = static_cast<uint64_t>(stored.watermark + 1);
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
    Stored& seen = read_[key];
    if (seen.Has(off)) {
      // Stored already (or in a batch being stored): a redelivery, acknowledged once stored.
      if (committed_[key].Has(off)) stale.push_back(d.id);
      continue;
    }
    seen.Add(off);
    unacked_.push_back({d.id, key, off});
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
  out.offset = Render(read_);
  return Status::Ok();
}

void MqSource::Committed(const json& offset) {
  committed_ = Parse(offset);
  std::vector<std::string> ack;
  std::vector<Pending> keep;
  for (auto& u : unacked_) {
    if (committed_[u.key].Has(u.offset)) {
      ack.push_back(u.id);
    } else {
      keep.push_back(std::move(u));
    }
  }
  unacked_ = std::move(keep);
  if (!ack.empty()) (void)broker_.Ack(subscription_, ack);
}

json MqSource::Lag() {
  auto info = broker_.GetSubscription(subscription_);
  if (!info.ok()) return {{"messages", nullptr}};
  return {{"messages", info->backlog}};
}

void MqSource::Drop() { (void)broker_.DeleteSubscription(subscription_); }

}  // namespace aimass::collector
