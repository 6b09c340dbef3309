// A minimal MQTT 3.1.1 subscriber: CONNECT with a persistent session (clean session off, a
// fixed client id), SUBSCRIBE at QoS 0 or 1, PUBLISH in, PUBACK out when the caller says,
// keep-alive pings. Written here rather than taken from libmosquitto because a collector must
// acknowledge a message only after it is durable: libmosquitto 2.0 acknowledges before it
// calls back (eclipse-mosquitto/mosquitto#2884), so a crash there would lose the message
// (docs/architecture.md, decision 100). Blocking; one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::collector {

struct MqttOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id;
  std::string username, password;
  std::vector<std::string> topics;
  int qos = 1;
  int keepalive_s = 30;
};

struct MqttMessage {
  std::string topic;
  std::string payload;
  uint16_t packet_id = 0;  // 0 at QoS 0
  int qos = 0;
  bool dup = false;        // a redelivery (after a reconnect)
};

class MqttClient {
 public:
  explicit MqttClient(MqttOptions options) : options_(std::move(options)) {}
  ~MqttClient();

  bool connected() const { return fd_ >= 0; }
  // Connects and subscribes; unavailable when the broker cannot be reached or refuses.
  Status Connect();
  // The next message, waiting up to `wait`; nullopt when none came. A broken connection is
  // unavailable (the caller connects again).
  Result<std::optional<MqttMessage>> Next(std::chrono::milliseconds wait);
  Status Ack(uint16_t packet_id);
  void Close();

 private:
  Status Send(const std::string& packet);
  // Reads until one whole packet is buffered or `deadline`; false when it is not complete.
  Result<bool> ReadPacket(std::chrono::steady_clock::time_point deadline, uint8_t* type_flags, std::string* body);

  MqttOptions options_;
  int fd_ = -1;
  std::string in_;  // bytes read, not yet a whole packet
  std::chrono::steady_clock::time_point last_sent_{};
};

// Packet pieces (exposed for the unit tests and the fuzz target): MQTT's remaining-length
// varint and strings; one packet framed from the bytes read so far (how many it took, 0 while
// it is incomplete; malformed or over 16 MiB is an error); a PUBLISH's fields.
std::string MqttRemainingLength(size_t n);
std::string MqttString(const std::string& s);
Result<size_t> MqttFrame(std::string_view in, uint8_t* type_flags, std::string_view* body);
Result<MqttMessage> MqttDecodePublish(uint8_t type_flags, std::string_view body);

}  // namespace aimass::collector
