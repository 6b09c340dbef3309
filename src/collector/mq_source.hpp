// mq: a platform topic, read through the collector's own subscription (`collector-<name>`,
// from the earliest message kept). Messages are acknowledged only once the version holding
// them is stored; after a restart the subscription is moved to just after the offsets stored
// with the last version, and a message at or before them (redelivered) is acknowledged and
// skipped, so none is stored twice. Offset: {"partitions": {"<topic>:<partition>": offset}}.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "collector/source.hpp"
#include "mq/broker.hpp"

namespace aimass::collector {

class MqSource final : public Source {
 public:
  MqSource(mq::Broker& broker, std::string collector, const nlohmann::json& source);
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  void Committed(const nlohmann::json& offset) override;
  nlohmann::json Lag() override;
  // Removes the collector's subscription (the collector is deleted).
  void Drop();

 private:
  nlohmann::json OffsetJson() const;

  mq::Broker& broker_;
  std::string subscription_, topic_;
  std::map<std::string, uint64_t> committed_;  // "<topic>:<partition>" -> last stored offset
  std::map<std::string, uint64_t> read_;       // ... -> last offset pulled
  std::vector<std::pair<std::string, uint64_t>> unacked_;  // delivery id, its offset key
  std::vector<std::string> unacked_keys_;
};

}  // namespace aimass::collector
