#include "mq/metered_broker.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <set>

namespace aimass::mq {

namespace {

using Clock = std::chrono::steady_clock;

// One series per label value of a family, made on first use and dropped when the thing it
// counts is deleted (so a deleted topic does not linger in /metrics).
template <typename Metric>
class Series {
 public:
  Series(prometheus::Family<Metric>& family, std::string label) : family_(family), label_(std::move(label)) {}

  template <typename... Args>
  Metric& Get(const std::string& value, Args&&... args) {
    std::lock_guard lock(mu_);
    auto it = by_value_.find(value);
    if (it != by_value_.end()) return *it->second;
    Metric& m = family_.Add({{label_, value}}, std::forward<Args>(args)...);
    by_value_[value] = &m;
    return m;
  }
  void Drop(const std::string& value) {
    std::lock_guard lock(mu_);
    auto it = by_value_.find(value);
    if (it == by_value_.end()) return;
    family_.Remove(it->second);
    by_value_.erase(it);
  }
  // Drops every series whose value is not in `keep`.
  void Keep(const std::set<std::string>& keep) {
    std::lock_guard lock(mu_);
    for (auto it = by_value_.begin(); it != by_value_.end();) {
      if (keep.count(it->first)) {
        ++it;
      } else {
        family_.Remove(it->second);
        it = by_value_.erase(it);
      }
    }
  }

 private:
  prometheus::Family<Metric>& family_;
  std::string label_;
  std::mutex mu_;
  std::map<std::string, Metric*> by_value_;
};

prometheus::Histogram::BucketBoundaries PublishBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
}

class Metered : public Broker {
 public:
  Metered(std::unique_ptr<Broker> inner, std::shared_ptr<prometheus::Registry> r)
      : inner_(std::move(inner)),
        registry_(std::move(r)),
        published_(Counter("aimass_mq_published_messages_total", "Messages accepted by publishes"), "topic"),
        duplicates_(Counter("aimass_mq_duplicate_messages_total", "Publishes dropped by the dedup window"), "topic"),
        publish_seconds_(prometheus::BuildHistogram()
                             .Name("aimass_mq_publish_duration_seconds")
                             .Help("Publish calls until the topic's fsync policy was met")
                             .Register(*registry_),
                         "topic"),
        delivered_(Counter("aimass_mq_delivered_messages_total", "Messages handed to consumers, redeliveries included"),
                   "subscription"),
        redelivered_(Counter("aimass_mq_redelivered_messages_total", "Deliveries after the first of a message"),
                     "subscription"),
        acked_(Counter("aimass_mq_acked_messages_total", "Messages acknowledged"), "subscription"),
        nacked_(Counter("aimass_mq_nacked_messages_total", "Messages given back by consumers"), "subscription"),
        topic_messages_(Gauge("aimass_mq_topic_messages", "Messages kept in a topic's log"), "topic"),
        topic_bytes_(Gauge("aimass_mq_topic_bytes", "Bytes of a topic's log"), "topic"),
        backlog_(Gauge("aimass_mq_subscription_backlog", "Messages published and not yet acknowledged or dead"),
                 "subscription"),
        in_flight_(Gauge("aimass_mq_subscription_in_flight", "Messages delivered and awaiting an ack"), "subscription"),
        dead_(Gauge("aimass_mq_subscription_dead_letters", "Messages in a subscription's dead-letter queue"),
              "subscription") {}

  Result<TopicInfo> CreateTopic(const TopicSpec& spec) override { return inner_->CreateTopic(spec); }
  Result<std::vector<TopicInfo>> ListTopics() override { return inner_->ListTopics(); }
  Result<TopicInfo> GetTopic(const std::string& name) override { return inner_->GetTopic(name); }
  Status DeleteTopic(const std::string& name) override {
    Status st = inner_->DeleteTopic(name);
    if (st.ok()) {
      published_.Drop(name);
      duplicates_.Drop(name);
      publish_seconds_.Drop(name);
      topic_messages_.Drop(name);
      topic_bytes_.Drop(name);
    }
    return st;
  }

  Result<PendingPublish> StartPublish(const std::string& topic, std::vector<OutgoingMessage> messages) override {
    auto start = Clock::now();
    AIMASS_ASSIGN_OR_RETURN(PendingPublish p, inner_->StartPublish(topic, std::move(messages)));
    // Counted once durable: a publish whose fsync failed was not accepted.
    p.wait = [this, topic, start, inner_wait = std::move(p.wait)]() -> Result<std::vector<PublishResult>> {
      AIMASS_ASSIGN_OR_RETURN(auto results, inner_wait());
      double dups = 0;
      for (const auto& r : results) dups += r.duplicate;
      published_.Get(topic).Increment(static_cast<double>(results.size()) - dups);
      if (dups > 0) duplicates_.Get(topic).Increment(dups);
      publish_seconds_.Get(topic, PublishBuckets()).Observe(std::chrono::duration<double>(Clock::now() - start).count());
      return results;
    };
    return p;
  }

  Result<SubscriptionInfo> CreateSubscription(const SubscriptionSpec& spec) override {
    return inner_->CreateSubscription(spec);
  }
  Result<std::vector<SubscriptionInfo>> ListSubscriptions() override { return inner_->ListSubscriptions(); }
  Result<SubscriptionInfo> GetSubscription(const std::string& name) override { return inner_->GetSubscription(name); }
  Status DeleteSubscription(const std::string& name) override {
    Status st = inner_->DeleteSubscription(name);
    if (st.ok()) {
      delivered_.Drop(name);
      redelivered_.Drop(name);
      acked_.Drop(name);
      nacked_.Drop(name);
      backlog_.Drop(name);
      in_flight_.Drop(name);
      dead_.Drop(name);
    }
    return st;
  }

  Result<std::vector<Delivery>> Fetch(const std::string& subscription, size_t max, std::chrono::milliseconds wait) override {
    auto res = inner_->Fetch(subscription, max, wait);
    if (res.ok() && !res->empty()) {
      double again = 0;
      for (const auto& d : *res) again += d.deliveries > 1;
      delivered_.Get(subscription).Increment(static_cast<double>(res->size()));
      if (again > 0) redelivered_.Get(subscription).Increment(again);
    }
    return res;
  }
  Result<AckResult> Ack(const std::string& subscription, const std::vector<std::string>& ids) override {
    auto res = inner_->Ack(subscription, ids);
    if (res.ok() && res->done > 0) acked_.Get(subscription).Increment(static_cast<double>(res->done));
    return res;
  }
  Result<AckResult> Nack(const std::string& subscription, const std::vector<std::string>& ids,
                         std::chrono::milliseconds delay) override {
    auto res = inner_->Nack(subscription, ids, delay);
    if (res.ok() && res->done > 0) nacked_.Get(subscription).Increment(static_cast<double>(res->done));
    return res;
  }
  Status Seek(const std::string& subscription, const SeekTarget& target) override { return inner_->Seek(subscription, target); }
  Result<std::vector<DeadLetter>> DeadLetters(const std::string& subscription, uint64_t from, size_t max) override {
    return inner_->DeadLetters(subscription, from, max);
  }
  Result<size_t> ReplayDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) override {
    return inner_->ReplayDeadLetters(subscription, ids);
  }
  Result<size_t> PurgeDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) override {
    return inner_->PurgeDeadLetters(subscription, ids);
  }

  uint64_t ChangeCount() override { return inner_->ChangeCount(); }
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point until) override {
    inner_->WaitForChange(seen, until);
  }

  void Refresh() {
    if (auto topics = inner_->ListTopics(); topics.ok()) {
      std::set<std::string> names;
      for (const auto& t : *topics) {
        names.insert(t.spec.name);
        topic_messages_.Get(t.spec.name).Set(static_cast<double>(t.messages));
        topic_bytes_.Get(t.spec.name).Set(static_cast<double>(t.bytes));
      }
      topic_messages_.Keep(names);
      topic_bytes_.Keep(names);
    }
    if (auto subs = inner_->ListSubscriptions(); subs.ok()) {
      std::set<std::string> names;
      for (const auto& s : *subs) {
        names.insert(s.spec.name);
        backlog_.Get(s.spec.name).Set(static_cast<double>(s.backlog));
        in_flight_.Get(s.spec.name).Set(static_cast<double>(s.in_flight));
        dead_.Get(s.spec.name).Set(static_cast<double>(s.dead_letters));
      }
      backlog_.Keep(names);
      in_flight_.Keep(names);
      dead_.Keep(names);
    }
  }

 private:
  prometheus::Family<prometheus::Counter>& Counter(const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  }
  prometheus::Family<prometheus::Gauge>& Gauge(const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  }

  std::unique_ptr<Broker> inner_;
  std::shared_ptr<prometheus::Registry> registry_;
  Series<prometheus::Counter> published_, duplicates_;
  Series<prometheus::Histogram> publish_seconds_;
  Series<prometheus::Counter> delivered_, redelivered_, acked_, nacked_;
  Series<prometheus::Gauge> topic_messages_, topic_bytes_, backlog_, in_flight_, dead_;
};

}  // namespace

std::unique_ptr<Broker> WithMetrics(std::unique_ptr<Broker> inner, std::shared_ptr<prometheus::Registry> registry) {
  return std::make_unique<Metered>(std::move(inner), std::move(registry));
}

void RefreshGauges(Broker& metered) {
  if (auto* m = dynamic_cast<Metered*>(&metered)) m->Refresh();
}

}  // namespace aimass::mq
