#include "collector/mqtt_client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aimass::collector {

namespace {

constexpr uint8_t kConnect = 0x10, kConnack = 0x20, kPublish = 0x30, kPuback = 0x40, kSubscribe = 0x82,
                  kSuback = 0x90, kPingreq = 0xC0, kPingresp = 0xD0, kDisconnect = 0xE0;
constexpr size_t kMaxPacket = 16u << 20;  // a message larger than this ends the connection

uint16_t Get16(std::string_view s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) | static_cast<uint8_t>(s[at + 1]));
}

std::string Put16(uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

}  // namespace

std::string MqttRemainingLength(size_t n) {
  std::string out;
  do {
    uint8_t b = n % 128;
    n /= 128;
    if (n) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n);
  return out;
}

std::string MqttString(const std::string& s) { return Put16(static_cast<uint16_t>(s.size())) + s; }

Result<size_t> MqttFrame(std::string_view in, uint8_t* type_flags, std::string_view* body) {
  if (in.size() < 2) return size_t{0};
  size_t len = 0, mult = 1, i = 1;
  for (;; ++i) {
    if (i > 4) return Status::Unavailable("the MQTT broker sent a malformed packet");
    if (i >= in.size()) return size_t{0};
    uint8_t b = static_cast<uint8_t>(in[i]);
    len += (b & 0x7f) * mult;
    mult *= 128;
    if (!(b & 0x80)) break;
  }
  if (len > kMaxPacket) return Status::Unavailable("the MQTT broker sent a packet over 16 MiB");
  size_t header = i + 1;
  if (in.size() < header + len) return size_t{0};
  *type_flags = static_cast<uint8_t>(in[0]);
  *body = in.substr(header, len);
  return header + len;
}

Result<MqttMessage> MqttDecodePublish(uint8_t type_flags, std::string_view body) {
  MqttMessage m;
  m.dup = type_flags & 0x08;
  m.qos = (type_flags >> 1) & 0x03;
  if (m.qos > 2 || body.size() < 2) return Status::Unavailable("a malformed PUBLISH");
  size_t tlen = Get16(body, 0);
  size_t at = 2 + tlen;
  if (body.size() < at + (m.qos ? 2 : 0)) return Status::Unavailable("a malformed PUBLISH");
  m.topic = std::string(body.substr(2, tlen));
  if (m.qos) {
    m.packet_id = Get16(body, at);
    at += 2;
  }
  m.payload = std::string(body.substr(at));
  return m;
}

MqttClient::~MqttClient() { Close(); }

void MqttClient::Close() {
  if (fd_ >= 0) {
    std::string bye{static_cast<char>(kDisconnect), 0};
    (void)::send(fd_, bye.data(), bye.size(), MSG_NOSIGNAL);
    ::close(fd_);
  }
  fd_ = -1;
  in_.clear();
}

Status MqttClient::Send(const std::string& packet) {
  size_t done = 0;
  while (done < packet.size()) {
    ssize_t n = ::send(fd_, packet.data() + done, packet.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Close();
      return Status::Unavailable("the MQTT broker closed the connection");
    }
    done += static_cast<size_t>(n);
  }
  last_sent_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

Result<bool> MqttClient::ReadPacket(std::chrono::steady_clock::time_point deadline, uint8_t* type_flags, std::string* body) {
  while (true) {
    std::string_view framed;
    auto taken = MqttFrame(in_, type_flags, &framed);
    if (!taken.ok()) {
      Close();
      return taken.status();
    }
    if (*taken > 0) {
      body->assign(framed);
      in_.erase(0, *taken);
      return true;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    pollfd p{fd_, POLLIN, 0};
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      Close();
      return Status::Unavailable("the MQTT broker closed the connection");
    }
    in_.append(buf, static_cast<size_t>(n));
  }
}

Status MqttClient::Connect() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(options_.port);
  if (::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    return Status::Unavailable("cannot resolve the MQTT broker " + options_.host);
  }
  for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) return Status::Unavailable("cannot connect to the MQTT broker " + options_.host + ":" + port);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // CONNECT: protocol level 4 (3.1.1), clean session off: the broker keeps the subscription
  // and the unacknowledged messages while the collector is away.
  uint8_t flags = 0;
  std::string payload = MqttString(options_.client_id);
  if (!options_.username.empty()) {
    flags |= 0x80;
    payload += MqttString(options_.username);
    if (!options_.password.empty()) {
      flags |= 0x40;
      payload += MqttString(options_.password);
    }
  }
  std::string var = MqttString("MQTT") + std::string{4, static_cast<char>(flags)} + Put16(static_cast<uint16_t>(options_.keepalive_s));
  std::string body = var + payload;
  AIMASS_RETURN_IF_ERROR(Send(std::string{static_cast<char>(kConnect)} + MqttRemainingLength(body.size()) + body));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint8_t type = 0;
  std::string reply;
  AIMASS_ASSIGN_OR_RETURN(bool got, ReadPacket(deadline, &type, &reply));
  if (!got || (type & 0xf0) != kConnack || reply.size() < 2) {
    Close();
    return Status::Unavailable("the MQTT broker did not accept the connection");
  }
  if (reply[1] != 0) {
    int rc = static_cast<uint8_t>(reply[1]);
    Close();
    return Status::Unavailable("the MQTT broker refused the connection (return code " + std::to_string(rc) + ")");
  }
  // SUBSCRIBE (again, if the session was kept: harmless, and the topics may have changed).
  std::string sub = Put16(1);
  for (const auto& t : options_.topics) sub += MqttString(t) + std::string(1, static_cast<char>(options_.qos));
  AIMASS_RETURN_IF_ERROR(Send(std::string{static_cast<char>(kSubscribe)} + MqttRemainingLength(sub.size()) + sub));
  AIMASS_ASSIGN_OR_RETURN(got, ReadPacket(deadline, &type, &reply));
  if (!got) {
    Close();
    return Status::Unavailable("the MQTT broker did not answer the subscription");
  }
  if ((type & 0xf0) != (kSuback & 0xf0)) {
    // A redelivered PUBLISH may come before the SUBACK: kept for Next (which skips the SUBACK).
    in_.insert(0, std::string{static_cast<char>(type)} + MqttRemainingLength(reply.size()) + reply);
    return Status::Ok();
  }
  for (size_t i = 2; i < reply.size(); ++i) {
    if (static_cast<uint8_t>(reply[i]) == 0x80) {
      Close();
      return Status::Unavailable("the MQTT broker refused the subscription to " + options_.topics.at(i - 2));
    }
  }
  return Status::Ok();
}

Result<std::optional<MqttMessage>> MqttClient::Next(std::chrono::milliseconds wait) {
  if (fd_ < 0) return Status::Unavailable("not connected to the MQTT broker");
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    // Keep-alive: a ping when nothing was sent for half the interval.
    if (std::chrono::steady_clock::now() - last_sent_ > std::chrono::seconds(options_.keepalive_s) / 2) {
      AIMASS_RETURN_IF_ERROR(Send(std::string{static_cast<char>(kPingreq), 0}));
    }
    uint8_t type = 0;
    std::string body;
    AIMASS_ASSIGN_OR_RETURN(bool got, ReadPacket(deadline, &type, &body));
    if (!got) return std::optional<MqttMessage>();
    switch (type & 0xf0) {
      case kPublish: {
        AIMASS_ASSIGN_OR_RETURN(MqttMessage m, MqttDecodePublish(type, body));
        return std::optional<MqttMessage>(std::move(m));
      }
      case kPingresp & 0xf0:
      case kSuback & 0xf0:
        continue;
      default:
        continue;  // nothing else is expected by a subscriber
    }
  }
}

Status MqttClient::Ack(uint16_t packet_id) {
  if (fd_ < 0) return Status::Unavailable("not connected to the MQTT broker");
  return Send(std::string{static_cast<char>(kPuback), 2} + Put16(packet_id));
}

}  // namespace aimass::collector
