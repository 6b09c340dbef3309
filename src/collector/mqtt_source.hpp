// mqtt: a subscription to an MQTT broker, for devices and sensors. Each message (QoS 1) is
// appended to the collector's spool and fdatasynced before it is acknowledged (PUBACK), so an
// acknowledged message is never lost; the collector then reads the spool as it reads HTTP
// pushes. The session is persistent (clean session off, client id `aimass-<collector>`), so
// the broker keeps messages for the collector while it is away, and resends after a reconnect
// those whose PUBACK it did not get: such a resend (DUP) whose packet id and payload match one
// of the last spooled messages was spooled already, and is acknowledged and not spooled again.
// Offset: {"position"} in the spool.
#pragma once

#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "collector/http_source.hpp"
#include "collector/mqtt_client.hpp"
#include "collector/source.hpp"

namespace aimass::collector {

class MqttSource final : public Source {
 public:
  MqttSource(std::string collector, const nlohmann::json& source, std::string spool_dir);
  // Scans the spool and remembers the messages spooled last (for resends after a crash).
  Status Init();
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  void Committed(const nlohmann::json& offset) override { spool_.Committed(offset); }
  nlohmann::json Lag() override { return spool_.Lag(); }

 private:
  // Receives what the broker has for up to `wait`, spools it (one sync) and acknowledges it.
  Status Receive(std::chrono::milliseconds wait);
  void Remember(uint16_t packet_id, uint64_t hash);

  MqttClient client_;
  HttpSource spool_;
  std::string topic_column_;  // when set, the message's topic goes into this column
  std::deque<std::pair<uint16_t, uint64_t>> recent_;  // (packet id, payload hash), newest last
  std::set<std::pair<uint16_t, uint64_t>> recent_set_;
};

}  // namespace aimass::collector
