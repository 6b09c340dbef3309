// Broker: the message queue as the rest of the platform sees it. Topics (with partitions)
// take messages; a subscription reads every message of the topics its pattern matches
// (`registry.*`, `iot.>`), and the consumers fetching from one subscription share its work.
// Messages with the same key are delivered in order within a subscription: one is not handed
// out while an earlier one of its key is in flight or waiting to be redelivered. Delivery is
// at-least-once: unacknowledged messages come back after the ack timeout with exponential
// backoff, and after max_deliveries (or past their TTL) they move to the subscription's
// dead-letter queue. The embedded log (OpenEmbeddedBroker) is the default implementation;
// NATS JetStream (OpenJetStreamBroker) sits behind the same interface in the distributed mode.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.hpp"
#include "mq/message.hpp"
#include "mq/partition_log.hpp"

namespace aimass::mq {

struct TopicSpec {
  std::string name;
  uint32_t partitions = 1;
  std::optional<FsyncPolicy> fsync;  // unset: the broker's default
  Retention retention;
  int64_t dedup_window_ms = 120000;
};

struct TopicInfo {
  TopicSpec spec;
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  int64_t created_ms = 0;
  uint64_t messages = 0;  // kept in the log, all partitions
  uint64_t bytes = 0;
  std::vector<uint64_t> next_offsets;  // per partition
};

struct SubscriptionSpec {
  std::string name;
  std::string topic;  // a topic name or a pattern with `*` / final `>`
  int max_deliveries = 5;
  int64_t ack_timeout_ms = 30000;
  int64_t backoff_ms = 1000;        // redelivery delay after the first failed delivery, doubling
  int64_t max_backoff_ms = 60000;
  bool from_earliest = false;       // start at the oldest kept message instead of the next one
};

struct SubscriptionInfo {
  SubscriptionSpec spec;
  int64_t created_ms = 0;
  uint64_t backlog = 0;      // published and not yet acknowledged or dead
  uint64_t in_flight = 0;
  uint64_t dead_letters = 0;
  std::vector<std::string> topics;  // matched now
};

// A message handed to a consumer: ack or nack it by `id`.
struct Delivery {
  std::string id;  // "<topic>:<partition>:<offset>"
  int deliveries = 0;
  Message message;
};

struct DeadLetter {
  uint64_t id = 0;  // its offset in the dead-letter queue
  std::string reason;
  Message message;  // its headers carry x-dead-letter-reason, x-delivery-count, x-original-*
};

// Where to move a subscription: an offset of one partition, a time (all partitions), or an end.
struct SeekTarget {
  std::optional<std::string> topic;
  std::optional<uint32_t> partition;
  std::optional<uint64_t> offset;
  std::optional<int64_t> time_ms;
  std::optional<bool> earliest;  // true: the oldest kept; false: the end
};

struct PublishResult {
  uint32_t partition = 0;
  uint64_t offset = 0;
  bool duplicate = false;  // dropped by the dedup window; offset is the original's
};

struct AckResult {
  size_t done = 0;
  std::vector<std::string> unknown;  // ids not in flight (acked already, redelivered or bad)
};

// A publish sent and not yet known durable. Call `wait` once: it returns the results (one per
// message, in order) when the durability policy covers them. The order is fixed when
// StartPublish returns; the offsets may be known only then (the embedded log knows them at
// once, JetStream when its acknowledgements come back).
struct PendingPublish {
  std::function<Result<std::vector<PublishResult>>()> wait;
};

class Broker {
 public:
  virtual ~Broker() = default;

  virtual Result<TopicInfo> CreateTopic(const TopicSpec& spec) = 0;
  virtual Result<std::vector<TopicInfo>> ListTopics() = 0;
  virtual Result<TopicInfo> GetTopic(const std::string& name) = 0;
  virtual Status DeleteTopic(const std::string& name) = 0;

  // Appends to the topic; returns once the topic's fsync policy is met.
  virtual Result<std::vector<PublishResult>> Publish(const std::string& topic, std::vector<OutgoingMessage> messages) {
    AIMASS_ASSIGN_OR_RETURN(PendingPublish p, StartPublish(topic, std::move(messages)));
    return p.wait();
  }
  // Publish in two steps: when StartPublish returns, the messages are on their way in order;
  // `wait` returns their results once the durability policy covers them. A stream sends its
  // next batch while the previous one waits, and both share one fdatasync (or one round trip).
  virtual Result<PendingPublish> StartPublish(const std::string& topic, std::vector<OutgoingMessage> messages) = 0;

  virtual Result<SubscriptionInfo> CreateSubscription(const SubscriptionSpec& spec) = 0;
  // The subscription `spec` names, made unless it exists (one made meanwhile elsewhere counts as
  // existing): what a module that follows a topic calls before it fetches.
  Status EnsureSubscription(const SubscriptionSpec& spec) {
    if (GetSubscription(spec.name).ok()) return Status::Ok();
    auto created = CreateSubscription(spec);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
    return Status::Ok();
  }
  virtual Result<std::vector<SubscriptionInfo>> ListSubscriptions() = 0;
  virtual Result<SubscriptionInfo> GetSubscription(const std::string& name) = 0;
  virtual Status DeleteSubscription(const std::string& name) = 0;

  // Up to `max` messages, waiting up to `wait` for the first one.
  virtual Result<std::vector<Delivery>> Fetch(const std::string& subscription, size_t max,
                                              std::chrono::milliseconds wait) = 0;
  virtual Result<AckResult> Ack(const std::string& subscription, const std::vector<std::string>& ids) = 0;
  // Gives messages back: visible again after `delay` (none: at once).
  virtual Result<AckResult> Nack(const std::string& subscription, const std::vector<std::string>& ids,
                                 std::chrono::milliseconds delay) = 0;
  virtual Status Seek(const std::string& subscription, const SeekTarget& target) = 0;

  virtual Result<std::vector<DeadLetter>> DeadLetters(const std::string& subscription, uint64_t from, size_t max) = 0;
  // Sends dead letters (all when `ids` is empty) back to the subscription, and out of its
  // dead-letter queue. Returns how many.
  virtual Result<size_t> ReplayDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) = 0;
  virtual Result<size_t> PurgeDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) = 0;

  // Change notification for waiters that must not hold a thread each (the HTTP long poll):
  // ChangeCount grows at every publish made durable, nack and replay; WaitForChange returns once
  // it differs from `seen` or at `until`. A backend without notifications just sleeps.
  virtual uint64_t ChangeCount() { return 0; }
  virtual void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point until) {
    std::this_thread::sleep_until(until);
  }
};

struct EmbeddedBrokerOptions {
  std::string dir;  // data_dir/mq
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  std::chrono::milliseconds fsync_interval{100};
  uint64_t segment_bytes = 64ull << 20;
  // Subscription state (offsets, in-flight, delivery counts) is written at most this often.
  std::chrono::milliseconds state_interval{100};
  // A clock for tests; null: the system's, in ms since the epoch.
  std::function<int64_t()> now_ms;
};

Result<std::unique_ptr<Broker>> OpenEmbeddedBroker(const EmbeddedBrokerOptions& options);

struct JetStreamBrokerOptions {
  std::string url;                // nats://host:port, comma-separated for a cluster
  std::string prefix = "AIMASS";  // names this platform's streams and subjects
  std::function<int64_t()> now_ms;  // null: the system clock
};

// The queue on a NATS JetStream server, for processes on several machines (docs/mq.md says
// what differs from the embedded log). Fails when the server cannot be reached.
Result<std::unique_ptr<Broker>> OpenJetStreamBroker(const JetStreamBrokerOptions& options);

}  // namespace aimass::mq
