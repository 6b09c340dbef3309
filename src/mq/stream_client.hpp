// A C++ client of the message queue's gRPC streams (proto/mq.proto), for services that
// publish or consume at high rates. A Publisher pipelines: Send() batches without waiting,
// Receive() their answers in order. A Consumer takes deliveries as they come, within the
// credits it grants, and acks them on the same stream. Each is used by one thread at a time;
// a Consumer's Ack may be called from another thread than Next.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

class Publisher {
 public:
  // `address` "host:port" of aimass's gRPC listener; `token` a login token or API key.
  static Result<std::unique_ptr<Publisher>> Connect(const std::string& address, const std::string& token);
  ~Publisher();

  Status Send(uint64_t seq, const std::string& topic, const std::vector<OutgoingMessage>& messages);
  // The answer to the oldest batch sent and not yet received: its seq and results, or the
  // error the server gave that batch.
  Result<std::pair<uint64_t, std::vector<PublishResult>>> Receive();
  // Send then Receive.
  Result<std::vector<PublishResult>> Publish(const std::string& topic, const std::vector<OutgoingMessage>& messages);
  Status Close();

 private:
  struct Impl;
  explicit Publisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Consumer {
 public:
  static Result<std::unique_ptr<Consumer>> Connect(const std::string& address, const std::string& token,
                                                   const std::string& subscription, uint32_t credits);
  ~Consumer();

  // The next batch of deliveries (blocks); an error when the stream ended.
  Result<std::vector<Delivery>> Next();
  // Acks, and grants as many new credits (keeping the number in flight steady).
  Status Ack(const std::vector<std::string>& ids);
  Status Nack(const std::vector<std::string>& ids, int64_t delay_ms);
  // Ends the stream from any thread: a Next() blocked in it returns an error.
  void Cancel();
  Status Close();

 private:
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::mq
