// The embedded broker: topics as partition logs under data_dir/mq/topics, subscriptions with
// their state, dead letters and replays under data_dir/mq/subscriptions. Why it is shaped so:
// - A subscription keeps, per source partition, a window of messages read from the log
//   (`pending`, at most kWindow) with their delivery state; the floor below it is done. Acks
//   may come in any order (per-message acks), so the acked offsets above the floor are kept
//   too (`done`), and persisted with the floor and delivery counts.
// - Subscription state is written by a background thread at most every state_interval (and
//   at close), so an ack costs no fsync; a crash may redeliver what was acked in the last
//   interval — at-least-once, never lost.
// - Dead letters are a log of the subscription's own; replaying them appends them to a
//   second log of its own (`~replay`), read like a topic by that subscription only.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "common/topic_pattern.hpp"
#include "mq/broker.hpp"
#include "mq/spec.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace aimass::mq {

namespace {

constexpr size_t kWindow = 1024;           // messages read ahead per source partition
constexpr const char* kReplaySource = "~replay:0";

struct Topic {
  TopicSpec spec;
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  int64_t created_ms = 0;
  std::string dir;
  std::vector<std::unique_ptr<PartitionLog>> parts;
  std::atomic<uint64_t> round_robin{0};
  // Dedup window: id → (when it leaves the window, where the original went).
  std::mutex dedup_mu;
  std::unordered_map<std::string, std::pair<int64_t, PublishResult>> dedup;
  std::deque<std::pair<int64_t, std::string>> dedup_order;

  void ForgetDedup(int64_t now) {
    while (!dedup_order.empty() && dedup_order.front().first <= now) {
      auto it = dedup.find(dedup_order.front().second);
      if (it != dedup.end() && it->second.first <= now) dedup.erase(it);
      dedup_order.pop_front();
    }
  }
  void RememberDedup(const std::string& id, int64_t until, PublishResult where) {
    dedup[id] = {until, where};
    dedup_order.emplace_back(until, id);
  }
};

struct Pending {
  Message msg;
  int deliveries = 0;
  bool in_flight = false;
  int64_t visible_at = 0;
  int64_t deadline = 0;  // in flight: when the ack is overdue
};

// One partition a subscription reads: a topic's, or its own replay log.
struct Source {
  std::shared_ptr<Topic> topic;  // null for the replay log
  PartitionLog* log = nullptr;
  uint32_t partition = 0;
  uint64_t floor = 0;  // every offset below is done
  uint64_t next = 0;   // the next to read from the log into `pending`
  std::map<uint64_t, Pending> pending;
  std::set<uint64_t> done;  // acked or dead, at or above floor
  std::map<uint64_t, int> restored_deliveries;  // from the state file, applied when read

  void AdvanceFloor() {
    floor = pending.empty() ? next : pending.begin()->first;
    done.erase(done.begin(), done.lower_bound(floor));
  }
};

struct Subscription {
  SubscriptionSpec spec;
  int64_t created_ms = 0;
  std::string dir;
  std::mutex mu;
  std::map<std::string, Source> sources;  // "topic:partition"
  std::unique_ptr<PartitionLog> dlq;
  std::unique_ptr<PartitionLog> replay;
  std::set<uint64_t> dlq_removed;  // replayed or purged, above the DLQ's first offset
  bool dirty = false;
  size_t round_robin = 0;
};

std::string SourceName(const std::string& topic, uint32_t partition) { return topic + ":" + std::to_string(partition); }

class EmbeddedBroker final : public Broker {
 public:
  explicit EmbeddedBroker(EmbeddedBrokerOptions o) : opt_(std::move(o)) {
    if (!opt_.now_ms) opt_.now_ms = [] { return UnixNowMs(); };
  }
  ~EmbeddedBroker() override {
    {
      std::lock_guard lock(wake_mu_);
      stopping_ = true;
    }
    wake_cv_.notify_all();
    if (background_.joinable()) background_.join();
    std::shared_lock lock(mu_);
    for (auto& [name, sub] : subs_) SaveState(*sub);
  }

  Status Load();
  void StartBackground() { background_ = NamedThread("mq-background", [this] { Background(); }); }

  Result<TopicInfo> CreateTopic(const TopicSpec& spec) override;
  Result<std::vector<TopicInfo>> ListTopics() override;
  Result<TopicInfo> GetTopic(const std::string& name) override;
  Status DeleteTopic(const std::string& name) override;
  Result<PendingPublish> StartPublish(const std::string& topic, std::vector<OutgoingMessage> messages) override;
  Result<SubscriptionInfo> CreateSubscription(const SubscriptionSpec& spec) override;
  Result<std::vector<SubscriptionInfo>> ListSubscriptions() override;
  Result<SubscriptionInfo> GetSubscription(const std::string& name) override;
  Status DeleteSubscription(const std::string& name) override;
  Result<std::vector<Delivery>> Fetch(const std::string& subscription, size_t max, std::chrono::milliseconds wait) override;
  Result<AckResult> Ack(const std::string& subscription, const std::vector<std::string>& ids) override;
  Result<AckResult> Nack(const std::string& subscription, const std::vector<std::string>& ids,
                         std::chrono::milliseconds delay) override;
  Status Seek(const std::string& subscription, const SeekTarget& target) override;
  Result<std::vector<DeadLetter>> DeadLetters(const std::string& subscription, uint64_t from, size_t max) override;
  Result<size_t> ReplayDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) override;
  Result<size_t> PurgeDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) override;

 private:
  Result<std::shared_ptr<Topic>> OpenTopic(TopicSpec spec, int64_t created_ms);
  Result<std::shared_ptr<Subscription>> OpenSubscription(SubscriptionSpec spec, int64_t created_ms, bool fresh);
  Result<std::shared_ptr<Subscription>> FindSubscription(const std::string& name);
  void AttachTopic(Subscription& sub, const std::shared_ptr<Topic>& topic, bool from_start);
  TopicInfo Info(const Topic& t) const;
  SubscriptionInfo Info(Subscription& s);

  // With sub.mu held.
  Status Fill(Subscription& sub, Source& s);
  void Expire(Subscription& sub, Source& s, int64_t now);
  Status Dead(Subscription& sub, Source& s, std::map<uint64_t, Pending>::iterator it, const char* reason);
  void Collect(Subscription& sub, size_t max, int64_t now, std::vector<Delivery>& out);
  Source* FindSource(Subscription& sub, const std::string& id, uint64_t& offset);

  void SaveState(Subscription& sub);
  void LoadState(Subscription& sub);
  void Wake() {
    {
      std::lock_guard lock(wake_mu_);
      ++generation_;
    }
    wake_cv_.notify_all();
  }
  void Background();

 public:
  uint64_t ChangeCount() override {
    std::lock_guard lock(wake_mu_);
    return generation_;
  }
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point until) override {
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_until(lock, until, [&] { return generation_ != seen || stopping_; });
  }

 private:

  EmbeddedBrokerOptions opt_;
  std::shared_mutex mu_;  // the maps; a topic's or subscription's own state has its own lock
  std::map<std::string, std::shared_ptr<Topic>> topics_;
  std::map<std::string, std::shared_ptr<Subscription>> subs_;

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::thread background_;
};

Result<std::shared_ptr<Topic>> EmbeddedBroker::OpenTopic(TopicSpec spec, int64_t created_ms) {
  auto t = std::make_shared<Topic>();
  t->fsync = spec.fsync.value_or(opt_.fsync);
  t->created_ms = created_ms;
  t->dir = opt_.dir + "/topics/" + spec.name;
  int64_t now = opt_.now_ms();
  for (uint32_t p = 0; p < spec.partitions; ++p) {
    LogOptions lo{t->dir + "/" + std::to_string(p), t->fsync, opt_.segment_bytes, spec.retention};
    auto visit = [&](const Message& m) {
      if (!m.dedup_id.empty() && m.timestamp_ms + spec.dedup_window_ms > now) {
        t->RememberDedup(m.dedup_id, m.timestamp_ms + spec.dedup_window_ms, PublishResult{p, m.offset, true});
      }
    };
    AIMASS_ASSIGN_OR_RETURN(auto log, PartitionLog::Open(lo, visit));
    t->parts.push_back(std::move(log));
  }
  t->spec = std::move(spec);
  return t;
}

Status EmbeddedBroker::Load() {
  std::error_code ec;
  fs::create_directories(opt_.dir + "/topics", ec);
  fs::create_directories(opt_.dir + "/subscriptions", ec);
  if (ec) return Status::Internal("cannot create " + opt_.dir + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(opt_.dir + "/topics")) {
    auto text = ReadFile(e.path().string() + "/topic.json");
    if (!text.ok()) continue;  // a topic whose creation did not finish
    json j = json::parse(*text, nullptr, false);
    if (!j.is_object()) return Status::Internal("corrupt " + e.path().string() + "/topic.json");
    AIMASS_ASSIGN_OR_RETURN(auto t, OpenTopic(TopicSpecFromJson(j), j.value("created_ms", int64_t{0})));
    topics_[t->spec.name] = t;
  }
  for (const auto& e : fs::directory_iterator(opt_.dir + "/subscriptions")) {
    auto text = ReadFile(e.path().string() + "/subscription.json");
    if (!text.ok()) continue;
    json j = json::parse(*text, nullptr, false);
    if (!j.is_object()) return Status::Internal("corrupt " + e.path().string() + "/subscription.json");
    AIMASS_ASSIGN_OR_RETURN(auto sub, OpenSubscription(SubscriptionSpecFromJson(j), j.value("created_ms", int64_t{0}), false));
    subs_[sub->spec.name] = sub;
  }
  return Status::Ok();
}

void EmbeddedBroker::AttachTopic(Subscription& sub, const std::shared_ptr<Topic>& topic, bool from_start) {
  for (uint32_t p = 0; p < topic->parts.size(); ++p) {
    std::string name = SourceName(topic->spec.name, p);
    if (sub.sources.count(name)) continue;
    Source s;
    s.topic = topic;
    s.log = topic->parts[p].get();
    s.partition = p;
    s.floor = s.next = from_start ? s.log->first_offset() : s.log->next_offset();
    sub.sources.emplace(name, std::move(s));
  }
}

Result<std::shared_ptr<Subscription>> EmbeddedBroker::OpenSubscription(SubscriptionSpec spec, int64_t created_ms, bool fresh) {
  auto sub = std::make_shared<Subscription>();
  sub->created_ms = created_ms;
  sub->dir = opt_.dir + "/subscriptions/" + spec.name;
  LogOptions lo{sub->dir + "/dlq", opt_.fsync, opt_.segment_bytes, {}};
  AIMASS_ASSIGN_OR_RETURN(sub->dlq, PartitionLog::Open(lo));
  lo.dir = sub->dir + "/replay";
  AIMASS_ASSIGN_OR_RETURN(sub->replay, PartitionLog::Open(lo));
  sub->spec = std::move(spec);
  Source replay;
  replay.log = sub->replay.get();
  replay.floor = replay.next = sub->replay->next_offset();
  sub->sources.emplace(kReplaySource, std::move(replay));
  for (const auto& [name, t] : topics_) {
    if (TopicMatches(sub->spec.topic, name)) AttachTopic(*sub, t, sub->spec.from_earliest);
  }
  if (!fresh) LoadState(*sub);
  return sub;
}

void EmbeddedBroker::SaveState(Subscription& sub) {
  json j;
  {
    std::lock_guard lock(sub.mu);
    if (!sub.dirty) return;
    json sources = json::object();
    for (const auto& [name, s] : sub.sources) {
      json d = json::object();
      for (const auto& [off, p] : s.pending) {
        if (p.deliveries > 0) d[std::to_string(off)] = p.deliveries;
      }
      sources[name] = {{"floor", s.floor}, {"done", s.done}, {"deliveries", d}};
    }
    j = {{"sources", sources}, {"dlq_removed", sub.dlq_removed}};
    sub.dirty = false;
  }
  Status st = Status::Ok();
  if (int err = AIMASS_FAILPOINT("mq.before_state_save")) st = failpoint::IoError("cannot save the state", err);
  if (st.ok()) st = WriteFileAtomically(sub.dir + "/state.json", j.dump(), 0600);
  if (!st.ok()) {
    spdlog::error("mq subscription {}: cannot save its state: {}", sub.spec.name, st.message());
    std::lock_guard lock(sub.mu);
    sub.dirty = true;
  }
}

void EmbeddedBroker::LoadState(Subscription& sub) {
  auto text = ReadFile(sub.dir + "/state.json");
  if (!text.ok()) return;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    spdlog::error("mq subscription {}: unreadable state.json, starting from its defaults", sub.spec.name);
    return;
  }
  json sources = j.value("sources", json::object());
  for (const auto& [name, v] : sources.items()) {
    auto it = sub.sources.find(name);
    if (it == sub.sources.end()) continue;
    Source& s = it->second;
    s.floor = s.next = std::max(v.value("floor", uint64_t{0}), s.log->first_offset());
    for (uint64_t d : v.value("done", std::vector<uint64_t>{})) {
      if (d >= s.floor) s.done.insert(d);
    }
    json deliveries = v.value("deliveries", json::object());
    for (const auto& [off, n] : deliveries.items()) {
      s.restored_deliveries[std::stoull(off)] = n.get<int>();
    }
  }
  for (uint64_t d : j.value("dlq_removed", std::vector<uint64_t>{})) sub.dlq_removed.insert(d);
}

TopicInfo EmbeddedBroker::Info(const Topic& t) const {
  TopicInfo i;
  i.spec = t.spec;
  i.fsync = t.fsync;
  i.created_ms = t.created_ms;
  for (const auto& p : t.parts) {
    i.messages += p->next_offset() - p->first_offset();
    i.bytes += p->bytes();
    i.next_offsets.push_back(p->next_offset());
  }
  return i;
}

SubscriptionInfo EmbeddedBroker::Info(Subscription& s) {
  SubscriptionInfo i;
  i.spec = s.spec;
  i.created_ms = s.created_ms;
  std::lock_guard lock(s.mu);
  std::set<std::string> topics;
  for (const auto& [name, src] : s.sources) {
    i.backlog += src.log->next_offset() - std::max(src.floor, src.log->first_offset()) - src.done.size();
    for (const auto& [off, p] : src.pending) i.in_flight += p.in_flight ? 1 : 0;
    if (src.topic) topics.insert(src.topic->spec.name);
  }
  i.topics.assign(topics.begin(), topics.end());
  i.dead_letters = s.dlq->next_offset() - s.dlq->first_offset() - s.dlq_removed.size();
  return i;
}

Result<TopicInfo> EmbeddedBroker::CreateTopic(const TopicSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateTopicSpec(spec));
  std::unique_lock lock(mu_);
  if (topics_.count(spec.name)) return Status::Conflict("topic '" + spec.name + "' exists");
  int64_t now = opt_.now_ms();
  AIMASS_ASSIGN_OR_RETURN(auto t, OpenTopic(spec, now));
  json j = SpecJson(t->spec);
  j["created_ms"] = now;
  // topic.json last: a crash before it leaves a directory Load() skips.
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(t->dir + "/topic.json", j.dump(), 0600));
  topics_[spec.name] = t;
  for (auto& [name, sub] : subs_) {
    if (!TopicMatches(sub->spec.topic, spec.name)) continue;
    std::lock_guard sl(sub->mu);
    AttachTopic(*sub, t, true);  // a new topic: everything in it is new to the subscription
    sub->dirty = true;
  }
  return Info(*t);
}

Result<std::vector<TopicInfo>> EmbeddedBroker::ListTopics() {
  std::shared_lock lock(mu_);
  std::vector<TopicInfo> out;
  for (const auto& [name, t] : topics_) out.push_back(Info(*t));
  return out;
}

Result<TopicInfo> EmbeddedBroker::GetTopic(const std::string& name) {
  std::shared_lock lock(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return Status::NotFound("no topic '" + name.substr(0, 128) + "'");
  return Info(*it->second);
}

Status EmbeddedBroker::DeleteTopic(const std::string& name) {
  std::unique_lock lock(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return Status::NotFound("no topic '" + name.substr(0, 128) + "'");
  for (auto& [sname, sub] : subs_) {
    std::lock_guard sl(sub->mu);
    std::erase_if(sub->sources, [&](const auto& kv) { return kv.second.topic == it->second; });
    sub->dirty = true;
  }
  std::string dir = it->second->dir;
  topics_.erase(it);
  std::error_code ec;
  fs::remove(dir + "/topic.json", ec);  // first: a crash midway leaves a directory Load() skips
  fs::remove_all(dir, ec);
  return Status::Ok();
}

Result<PendingPublish> EmbeddedBroker::StartPublish(const std::string& topic, std::vector<OutgoingMessage> messages) {
  std::shared_ptr<Topic> t;
  {
    std::shared_lock lock(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return Status::NotFound("no topic '" + topic.substr(0, 128) + "'");
    t = it->second;
  }
  AIMASS_RETURN_IF_ERROR(ValidateOutgoing(messages));
  int64_t now = opt_.now_ms();
  std::vector<PublishResult> results(messages.size());
  bool dedup = std::any_of(messages.begin(), messages.end(), [](const auto& m) { return !m.dedup_id.empty(); });
  // Publishes with dedup ids are serialised per topic, so that two carrying one id cannot
  // both pass the check.
  std::unique_lock<std::mutex> dedup_lock;
  if (dedup) {
    dedup_lock = std::unique_lock(t->dedup_mu);
    t->ForgetDedup(now);
  }
  size_t n = t->parts.size();
  std::vector<std::vector<Message>> batches(n);
  std::vector<std::vector<size_t>> where(n);
  std::unordered_set<std::string> batch_ids;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto& in = messages[i];
    if (!in.dedup_id.empty()) {
      if (auto d = t->dedup.find(in.dedup_id); d != t->dedup.end()) {
        results[i] = d->second.second;
        results[i].duplicate = true;
        continue;
      }
      if (!batch_ids.insert(in.dedup_id).second) {
        results[i].duplicate = true;  // resolved below, once the first has its offset
        results[i].offset = UINT64_MAX;
        continue;
      }
    }
    uint32_t p = in.key.empty() ? static_cast<uint32_t>(t->round_robin.fetch_add(1) % n) : PartitionForKey(in.key, static_cast<uint32_t>(n));
    Message m;
    m.key = std::move(in.key);
    m.headers = std::move(in.headers);
    m.body = std::move(in.body);
    m.dedup_id = std::move(in.dedup_id);
    m.deliver_at_ms = in.delay_ms > 0 ? now + in.delay_ms : 0;
    m.expire_at_ms = in.ttl_ms > 0 ? now + in.ttl_ms : 0;
    batches[p].push_back(std::move(m));
    where[p].push_back(i);
  }
  std::unordered_map<std::string, PublishResult> firsts;
  // Every partition is written before any waits for its fsync: one publish spread over four
  // partitions costs one round of syncs, not four in a row.
  std::vector<std::pair<uint32_t, uint64_t>> tickets;
  for (size_t p = 0; p < n; ++p) {
    if (batches[p].empty()) continue;
    AIMASS_ASSIGN_OR_RETURN(PartitionLog::Written w, t->parts[p]->Write(batches[p], now));
    tickets.emplace_back(static_cast<uint32_t>(p), w.ticket);
    uint64_t first = w.first;
    for (size_t k = 0; k < batches[p].size(); ++k) {
      PublishResult r{static_cast<uint32_t>(p), first + k, false};
      results[where[p][k]] = r;
      if (!batches[p][k].dedup_id.empty()) {
        t->RememberDedup(batches[p][k].dedup_id, now + t->spec.dedup_window_ms, r);
        firsts[batches[p][k].dedup_id] = r;
      }
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    if (results[i].offset == UINT64_MAX) {
      // messages[i].dedup_id was not moved from: it was a duplicate within the batch.
      results[i] = firsts[messages[i].dedup_id];
      results[i].duplicate = true;
    }
  }
  if (dedup_lock.owns_lock()) dedup_lock.unlock();
  PendingPublish pending;
  pending.wait = [this, t, tickets = std::move(tickets), results = std::move(results)]() mutable
      -> Result<std::vector<PublishResult>> {
    for (const auto& [p, ticket] : tickets) AIMASS_RETURN_IF_ERROR(t->parts[p]->WaitDurable(ticket));
    Wake();
    return std::move(results);
  };
  return pending;
}

Result<SubscriptionInfo> EmbeddedBroker::CreateSubscription(const SubscriptionSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateSubscriptionSpec(spec));
  std::unique_lock lock(mu_);
  if (subs_.count(spec.name)) return Status::Conflict("subscription '" + spec.name + "' exists");
  int64_t now = opt_.now_ms();
  std::error_code ec;
  fs::remove_all(opt_.dir + "/subscriptions/" + spec.name, ec);  // leftovers of an unfinished one
  AIMASS_ASSIGN_OR_RETURN(auto sub, OpenSubscription(spec, now, true));
  json j = SpecJson(sub->spec);
  j["created_ms"] = now;
  sub->dirty = true;
  SaveState(*sub);  // the start positions, before the subscription exists for a restart
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(sub->dir + "/subscription.json", j.dump(), 0600));
  subs_[spec.name] = sub;
  return Info(*sub);
}

Result<std::vector<SubscriptionInfo>> EmbeddedBroker::ListSubscriptions() {
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, s] : subs_) subs.push_back(s);
  }
  std::vector<SubscriptionInfo> out;
  for (auto& s : subs) out.push_back(Info(*s));
  return out;
}

Result<std::shared_ptr<Subscription>> EmbeddedBroker::FindSubscription(const std::string& name) {
  std::shared_lock lock(mu_);
  auto it = subs_.find(name);
  if (it == subs_.end()) return Status::NotFound("no subscription '" + name.substr(0, 128) + "'");
  return it->second;
}

Result<SubscriptionInfo> EmbeddedBroker::GetSubscription(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(name));
  return Info(*sub);
}

Status EmbeddedBroker::DeleteSubscription(const std::string& name) {
  std::unique_lock lock(mu_);
  auto it = subs_.find(name);
  if (it == subs_.end()) return Status::NotFound("no subscription '" + name.substr(0, 128) + "'");
  std::string dir = it->second->dir;
  subs_.erase(it);
  std::error_code ec;
  fs::remove(dir + "/subscription.json", ec);
  fs::remove_all(dir, ec);
  return Status::Ok();
}

Status EmbeddedBroker::Fill(Subscription& sub, Source& s) {
  uint64_t first = s.log->first_offset();
  if (s.next < first) {
    // Retention dropped what this subscription had not read yet.
    spdlog::warn("mq subscription {}: {} messages expired by retention before being read", sub.spec.name, first - s.next);
    s.next = first;
    s.AdvanceFloor();
  }
  while (s.pending.size() < kWindow && s.next < s.log->next_offset()) {
    AIMASS_ASSIGN_OR_RETURN(auto batch, s.log->Read(s.next, kWindow - s.pending.size()));
    if (batch.empty()) break;
    for (auto& m : batch) {
      uint64_t off = m.offset;
      s.next = off + 1;
      if (s.done.count(off)) continue;
      Pending p;
      if (s.topic) {
        m.topic = s.topic->spec.name;
        m.partition = s.partition;
      } else {
        // A replayed dead letter: it shows the topic it came from.
        for (const auto& [n, v] : m.headers) {
          if (n == "x-original-topic") m.topic = v;
        }
      }
      p.visible_at = m.deliver_at_ms;
      if (auto d = s.restored_deliveries.find(off); d != s.restored_deliveries.end()) {
        p.deliveries = d->second;
        s.restored_deliveries.erase(d);
      }
      p.msg = std::move(m);
      s.pending.emplace(off, std::move(p));
    }
  }
  s.AdvanceFloor();
  return Status::Ok();
}

Status EmbeddedBroker::Dead(Subscription& sub, Source& s, std::map<uint64_t, Pending>::iterator it, const char* reason) {
  Message m = it->second.msg;
  const std::string topic = s.topic ? s.topic->spec.name : m.topic;
  MarkDeadLetter(m, reason, it->second.deliveries, s.topic ? &topic : nullptr, s.partition, it->first);
  std::vector<Message> one{std::move(m)};
  AIMASS_RETURN_IF_ERROR(sub.dlq->Append(one, opt_.now_ms()).status());
  s.done.insert(it->first);
  s.pending.erase(it);
  sub.dirty = true;
  return Status::Ok();
}

// In-flight messages past their ack timeout come back (or die); visible ones past their TTL die.
void EmbeddedBroker::Expire(Subscription& sub, Source& s, int64_t now) {
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    auto cur = it++;
    Pending& p = cur->second;
    if (p.in_flight && p.deadline <= now) {
      p.in_flight = false;
      if (p.deliveries >= sub.spec.max_deliveries) {
        if (Status st = Dead(sub, s, cur, "max_deliveries"); !st.ok()) spdlog::error("mq: {}", st.message());
        continue;
      }
      p.visible_at = now + RedeliveryBackoffMs(sub.spec, p.deliveries);
      sub.dirty = true;
    }
    if (!p.in_flight && p.msg.expire_at_ms > 0 && p.msg.expire_at_ms <= now) {
      if (Status st = Dead(sub, s, cur, "expired"); !st.ok()) spdlog::error("mq: {}", st.message());
    }
  }
  s.AdvanceFloor();
}

void EmbeddedBroker::Collect(Subscription& sub, size_t max, int64_t now, std::vector<Delivery>& out) {
  if (sub.sources.empty()) return;
  // Sources in turn, starting after the one served first last time.
  std::vector<Source*> order;
  for (auto& [name, s] : sub.sources) order.push_back(&s);
  size_t start = sub.round_robin++ % order.size();
  std::vector<std::string> names;
  for (auto& [name, s] : sub.sources) names.push_back(name);
  for (size_t k = 0; k < order.size() && out.size() < max; ++k) {
    size_t idx = (start + k) % order.size();
    Source& s = *order[idx];
    if (Status st = Fill(sub, s); !st.ok()) {
      spdlog::error("mq subscription {}: {}", sub.spec.name, st.message());
      continue;
    }
    Expire(sub, s, now);
    // A key with an earlier message in flight or waiting holds back its later ones.
    std::unordered_set<std::string_view> held;
    for (auto& [off, p] : s.pending) {
      if (out.size() >= max) break;
      const std::string& key = p.msg.key;
      if (p.in_flight || p.visible_at > now) {
        if (!key.empty()) held.insert(key);
        continue;
      }
      if (!key.empty() && !held.insert(key).second) continue;
      ++p.deliveries;
      p.in_flight = true;
      p.deadline = now + sub.spec.ack_timeout_ms;
      out.push_back(Delivery{names[idx] + ":" + std::to_string(off), p.deliveries, p.msg});
      sub.dirty = true;
    }
  }
}

Result<std::vector<Delivery>> EmbeddedBroker::Fetch(const std::string& subscription, size_t max, std::chrono::milliseconds wait) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<Delivery> out;
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(wake_mu_);
      seen = generation_;
    }
    {
      std::lock_guard lock(sub->mu);
      Collect(*sub, max, opt_.now_ms(), out);
    }
    if (!out.empty() || std::chrono::steady_clock::now() >= deadline) return out;
    // Woken by a publish or a nack; delayed messages and redeliveries become visible by the
    // clock, so waits are sliced.
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)),
                        [&] { return generation_ != seen || stopping_; });
    if (stopping_) return out;
  }
}

Source* EmbeddedBroker::FindSource(Subscription& sub, const std::string& id, uint64_t& offset) {
  size_t colon = id.rfind(':');
  if (colon == std::string::npos) return nullptr;
  std::string_view num = std::string_view(id).substr(colon + 1);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), offset);
  if (ec != std::errc() || p != num.data() + num.size()) return nullptr;
  auto it = sub.sources.find(id.substr(0, colon));
  return it == sub.sources.end() ? nullptr : &it->second;
}

Result<AckResult> EmbeddedBroker::Ack(const std::string& subscription, const std::vector<std::string>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  AckResult r;
  std::lock_guard lock(sub->mu);
  for (const auto& id : ids) {
    uint64_t off = 0;
    Source* s = FindSource(*sub, id, off);
    auto it = s ? s->pending.find(off) : decltype(s->pending.end()){};
    if (!s || it == s->pending.end() || it->second.deliveries == 0) {
      r.unknown.push_back(id);
      continue;
    }
    // Acked late, after its timeout, it still counts: the work was done.
    s->pending.erase(it);
    s->done.insert(off);
    s->AdvanceFloor();
    ++r.done;
  }
  if (r.done) sub->dirty = true;
  // Acks are saved with the subscription's state, at most state_interval later: a crash before
  // then redelivers them (at least once).
  (void)AIMASS_FAILPOINT("mq.after_ack");
  return r;
}

Result<AckResult> EmbeddedBroker::Nack(const std::string& subscription, const std::vector<std::string>& ids,
                                       std::chrono::milliseconds delay) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  AckResult r;
  {
    std::lock_guard lock(sub->mu);
    int64_t now = opt_.now_ms();
    for (const auto& id : ids) {
      uint64_t off = 0;
      Source* s = FindSource(*sub, id, off);
      auto it = s ? s->pending.find(off) : decltype(s->pending.end()){};
      if (!s || it == s->pending.end() || !it->second.in_flight) {
        r.unknown.push_back(id);
        continue;
      }
      it->second.in_flight = false;
      ++r.done;
      if (it->second.deliveries >= sub->spec.max_deliveries) {
        AIMASS_RETURN_IF_ERROR(Dead(*sub, *s, it, "max_deliveries"));
        s->AdvanceFloor();
        continue;
      }
      it->second.visible_at = now + delay.count();
    }
    sub->dirty = true;
  }
  Wake();
  return r;
}

Status EmbeddedBroker::Seek(const std::string& subscription, const SeekTarget& target) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  AIMASS_RETURN_IF_ERROR(ValidateSeekTarget(target));
  std::lock_guard lock(sub->mu);
  bool matched = false;
  for (auto& [name, s] : sub->sources) {
    if (!s.topic) continue;
    if (target.topic && s.topic->spec.name != *target.topic) continue;
    if (target.partition && s.partition != *target.partition) continue;
    matched = true;
    uint64_t to = target.offset     ? std::clamp(*target.offset, s.log->first_offset(), s.log->next_offset())
                  : target.time_ms  ? s.log->OffsetForTime(*target.time_ms)
                  : *target.earliest ? s.log->first_offset()
                                     : s.log->next_offset();
    s.pending.clear();
    s.done.clear();
    s.restored_deliveries.clear();
    s.floor = s.next = to;
  }
  if (!matched) return Status::NotFound("the subscription reads no such topic partition");
  sub->dirty = true;
  Wake();
  return Status::Ok();
}

Result<std::vector<DeadLetter>> EmbeddedBroker::DeadLetters(const std::string& subscription, uint64_t from, size_t max) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  std::vector<DeadLetter> out;
  std::lock_guard lock(sub->mu);
  while (out.size() < max) {
    AIMASS_ASSIGN_OR_RETURN(auto batch, sub->dlq->Read(from, std::min<size_t>(max, 256)));
    if (batch.empty()) break;
    for (auto& m : batch) {
      from = m.offset + 1;
      if (sub->dlq_removed.count(m.offset) || out.size() >= max) continue;
      DeadLetter d;
      d.id = m.offset;
      for (const auto& [n, v] : m.headers) {
        if (n == "x-dead-letter-reason") d.reason = v;
        if (n == "x-original-topic") m.topic = v;
      }
      d.message = std::move(m);
      out.push_back(std::move(d));
    }
  }
  return out;
}

Result<size_t> EmbeddedBroker::ReplayDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  std::set<uint64_t> wanted(ids.begin(), ids.end());
  size_t n = 0;
  {
    std::lock_guard lock(sub->mu);
    uint64_t from = sub->dlq->first_offset();
    while (true) {
      AIMASS_ASSIGN_OR_RETURN(auto batch, sub->dlq->Read(from, 256));
      if (batch.empty()) break;
      std::vector<Message> again;
      std::vector<uint64_t> offsets;
      for (auto& m : batch) {
        from = m.offset + 1;
        if (sub->dlq_removed.count(m.offset) || (!wanted.empty() && !wanted.count(m.offset))) continue;
        offsets.push_back(m.offset);
        again.push_back(std::move(m));
      }
      if (again.empty()) continue;
      AIMASS_RETURN_IF_ERROR(sub->replay->Append(again, opt_.now_ms()).status());
      sub->dlq_removed.insert(offsets.begin(), offsets.end());
      n += again.size();
    }
    if (sub->dlq_removed.size() == sub->dlq->next_offset() - sub->dlq->first_offset()) {
      AIMASS_RETURN_IF_ERROR(sub->dlq->Clear());
      sub->dlq_removed.clear();
    }
    sub->dirty = true;
  }
  Wake();
  return n;
}

Result<size_t> EmbeddedBroker::PurgeDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSubscription(subscription));
  std::lock_guard lock(sub->mu);
  uint64_t first = sub->dlq->first_offset(), next = sub->dlq->next_offset();
  size_t before = next - first - sub->dlq_removed.size();
  if (ids.empty()) {
    AIMASS_RETURN_IF_ERROR(sub->dlq->Clear());
    sub->dlq_removed.clear();
  } else {
    for (uint64_t id : ids) {
      if (id >= first && id < next) sub->dlq_removed.insert(id);
    }
    if (sub->dlq_removed.size() == next - first) {
      AIMASS_RETURN_IF_ERROR(sub->dlq->Clear());
      sub->dlq_removed.clear();
    }
  }
  sub->dirty = true;
  size_t after = sub->dlq->next_offset() - sub->dlq->first_offset() - sub->dlq_removed.size();
  return before - after;
}

void EmbeddedBroker::Background() {
  auto tick = std::chrono::milliseconds(20);
  auto last_sync = std::chrono::steady_clock::now(), last_state = last_sync, last_retention = last_sync;
  while (true) {
    {
      std::unique_lock lock(wake_mu_);
      if (wake_cv_.wait_for(lock, tick, [&] { return stopping_; })) return;
    }
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Topic>> topics;
    std::vector<std::shared_ptr<Subscription>> subs;
    {
      std::shared_lock lock(mu_);
      for (auto& [n, t] : topics_) topics.push_back(t);
      for (auto& [n, s] : subs_) subs.push_back(s);
    }
    if (now - last_sync >= opt_.fsync_interval) {
      last_sync = now;
      for (auto& t : topics) {
        if (t->fsync != FsyncPolicy::kInterval) continue;
        for (auto& p : t->parts) {
          if (Status st = p->Sync(); !st.ok()) spdlog::error("mq topic {}: {}", t->spec.name, st.message());
        }
      }
    }
    // Timeouts and TTLs act without a consumer asking: dead letters appear on time.
    int64_t wall = opt_.now_ms();
    for (auto& s : subs) {
      std::lock_guard lock(s->mu);
      for (auto& [name, src] : s->sources) {
        if (Status st = Fill(*s, src); !st.ok()) continue;
        Expire(*s, src, wall);
      }
    }
    if (now - last_state >= opt_.state_interval) {
      last_state = now;
      for (auto& s : subs) SaveState(*s);
    }
    if (now - last_retention >= std::chrono::seconds(1)) {
      last_retention = now;
      for (auto& t : topics) {
        for (auto& p : t->parts) p->ApplyRetention(wall);
      }
    }
  }
}

}  // namespace

Result<std::unique_ptr<Broker>> OpenEmbeddedBroker(const EmbeddedBrokerOptions& options) {
  auto b = std::make_unique<EmbeddedBroker>(options);
  AIMASS_RETURN_IF_ERROR(b->Load());
  b->StartBackground();
  return std::unique_ptr<Broker>(std::move(b));
}

}  // namespace aimass::mq
