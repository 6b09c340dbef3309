// The Broker on a NATS JetStream server (mq.driver=jetstream): the distributed mode's queue,
// shared by every aimass process that names the same server and prefix.
//
// Layout (P = mq.jetstream_prefix, E(x) = x with `.` as _2E and `_` as _5F):
//   topic t         stream P_T_E(t), subjects P.t.E(t).<partition>; its spec in the description
//   subscription s  stream P_S_E(s) holding its dead letters (P.d.E(s)) and replays (P.r.E(s));
//                   a durable pull consumer S_E(s) on each topic stream it matches, and R on its
//                   own stream for the replays
// A message travels as its Record frame (key, headers, delay, TTL, dedup id, body) so that none
// of it is bound by NATS header rules; the dedup id also goes in Nats-Msg-Id, which JetStream's
// duplicate window acts on. A delivery's id is its JetStream ack subject, so any process can
// ack or nack it.
//
// What JetStream 2.9 has no notion of is emulated where the messages pass a consumer: a message
// not yet due is given back with a delay (`-NAK {"delay"}`), an expired one or one delivered
// more than max_deliveries times is copied to the dead-letter subject (with a Nats-Msg-Id, so
// two processes doing it at once leave one copy) and acknowledged.
#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <charconv>
#include <thread>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "common/text.hpp"
#include "common/time.hpp"
#include "common/topic_pattern.hpp"
#include "mq/broker.hpp"
#include "mq/record.hpp"
#include "mq/spec.hpp"

namespace aimass::mq {
namespace {

using json = nlohmann::json;

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};
using MsgPtr = std::unique_ptr<natsMsg, Deleter<natsMsg, natsMsg_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Deleter<jsStreamInfo, jsStreamInfo_Destroy>>;
using ConsumerInfoPtr = std::unique_ptr<jsConsumerInfo, Deleter<jsConsumerInfo, jsConsumerInfo_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Deleter<jsMsgMetaData, jsMsgMetaData_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Deleter<jsPubAck, jsPubAck_Destroy>>;
using NamesPtr = std::unique_ptr<jsStreamNamesList, Deleter<jsStreamNamesList, jsStreamNamesList_Destroy>>;

constexpr int64_t kNsPerMs = 1000000;
constexpr auto kPublishTimeout = std::chrono::seconds(10);
constexpr int64_t kReconcileEveryMs = 1000;  // how often a subscription looks for new topics
constexpr int64_t kMaxAckPending = 20000;
constexpr auto kPullAnswerWait = std::chrono::seconds(2);

Status NatsError(std::string_view what, natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(s);
  // The thread's last error has the server's words ("duplicates window can not be larger…").
  if (const char* last = nats_GetLastError(nullptr); last && *last) text += std::string(": ") + last;
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_NO_SERVER:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
      return Status::Unavailable(text);
    case NATS_MAX_PAYLOAD:
      return Status::TooLarge(text);
    default:
      return Status::Internal(text);
  }
}

// Names in stream, consumer and subject tokens: only [A-Za-z0-9_-], and reversible.
std::string EncodeName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '.') out += "_2E";
    else if (c == '_') out += "_5F";
    else out += c;
  }
  return out;
}

std::optional<std::string> DecodeName(std::string_view enc) {
  std::string out;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] != '_') {
      out += enc[i];
      continue;
    }
    std::string_view code = enc.substr(i + 1, 2);
    if (code == "2E") out += '.';
    else if (code == "5F") out += '_';
    else return std::nullopt;
    i += 2;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

template <typename T>
std::optional<T> ParseNumber(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string WithoutPassword(const std::string& urls) {
  std::string out;
  for (const std::string& url : SplitCommaList(urls)) {
    std::string u = url;
    auto scheme = u.find("://");
    auto at = u.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) u.erase(scheme + 3, at - scheme - 2);
    out += (out.empty() ? "" : ",") + u;
  }
  return out;
}

// A time as JetStream's JSON wants it: 2026-11-29T08:50:00.086000000Z.
std::string Rfc3339(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  int64_t frac = unix_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

// A delivery's ack subject is this plus the tokens AckTokensOf reads; ids are those tokens.
constexpr std::string_view kAckPrefix = "$JS.ACK.";

struct AckTokens {
  std::string_view stream, consumer;
  uint64_t delivered = 0, seq = 0;
};

// <stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>, or the newer form with the
// domain and account hash in front (and a token after).
std::optional<AckTokens> AckTokensOf(std::string_view id) {
  auto t = Split(id, '.');
  size_t at = t.size() == 7 ? 0 : t.size() >= 9 ? 2 : SIZE_MAX;
  if (at == SIZE_MAX) return std::nullopt;
  auto delivered = ParseNumber<uint64_t>(t[at + 2]);
  auto seq = ParseNumber<uint64_t>(t[at + 3]);
  if (!delivered || !seq) return std::nullopt;
  return AckTokens{t[at], t[at + 1], *delivered, *seq};
}

// A message read from topic `topic`'s stream at `seq`: its partition is its subject's last token.
void PlaceInTopic(Message& m, std::string topic, std::string_view subject, uint64_t seq) {
  m.topic = std::move(topic);
  m.partition = ParseNumber<uint32_t>(subject.substr(subject.rfind('.') + 1)).value_or(0);
  m.offset = seq - 1;
}

// A spec in a stream's description. libnats 3.4 puts the description into its JSON request
// unescaped, so the spec's JSON goes with ' for " (names, patterns and numbers hold neither).
std::string ToDescription(const json& spec) {
  std::string out = spec.dump();
  std::replace(out.begin(), out.end(), '"', '\'');
  return out;
}

json FromDescription(const char* desc) {
  std::string text = desc ? desc : "";
  std::replace(text.begin(), text.end(), '\'', '"');
  return json::parse(text, nullptr, false);
}

// One message waiting for its publish acknowledgement, all of one StartPublish.
struct PublishBatch {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = 0;
  std::vector<PublishResult> results;
  Status error;
};

// A pull consumer of a subscription: its topic's, or the subscription's replays. This process
// has one pull at a time on it, so that what the consumer sends belongs to that pull.
struct Source {
  Source(std::string t, std::string s, std::string c) : topic(std::move(t)), stream(std::move(s)), consumer(std::move(c)) {}
  const std::string topic;  // empty: the subscription's replays
  const std::string stream;
  const std::string consumer;
  std::mutex pulling;
};

// The answer to one pull request, gathered by the pull inbox's callback.
struct PullAnswer {
  std::mutex mu;
  std::condition_variable cv;
  size_t want = 0;
  std::vector<MsgPtr> msgs;
  bool done = false;
  bool gone = false;    // no consumer answered: it was deleted
  bool closed = false;  // its fetch has returned: what comes now is late
};

struct SubState {
  SubscriptionSpec spec;
  int64_t created_ms = 0;
  std::mutex mu;  // sources, reconciled_ms, round_robin
  std::map<std::string, std::shared_ptr<Source>> sources;  // by topic; "" is the replay source
  int64_t reconciled_ms = 0;
  uint64_t topics_seen = 0;  // the broker's topics_created_ at the last reconcile
  size_t round_robin = 0;
};

class JetStreamBroker final : public Broker {
 public:
  explicit JetStreamBroker(JetStreamBrokerOptions o) : opt_(std::move(o)), p_(opt_.prefix) {
    if (!opt_.now_ms) opt_.now_ms = [] { return UnixNowMs(); };
  }
  ~JetStreamBroker() override;

  Status Connect();

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
  std::string TopicStream(const std::string& t) const { return p_ + "_T_" + EncodeName(t); }
  std::string SubStream(const std::string& s) const { return p_ + "_S_" + EncodeName(s); }
  std::string TopicSubject(const std::string& t, uint32_t partition) const {
    return p_ + ".t." + EncodeName(t) + "." + std::to_string(partition);
  }
  std::string TopicFilter(const std::string& t) const { return p_ + ".t." + EncodeName(t) + ".*"; }
  std::string DeadSubject(const std::string& s) const { return p_ + ".d." + EncodeName(s); }
  std::string ReplaySubject(const std::string& s) const { return p_ + ".r." + EncodeName(s); }
  static std::string TopicConsumer(const std::string& s) { return "S_" + EncodeName(s); }

  static void OnPublishAck(natsConnection*, natsSubscription*, natsMsg* msg, void* self);
  void PublishAcked(MsgPtr msg);
  static void OnPullAnswer(natsConnection*, natsSubscription*, natsMsg* msg, void* self);
  void PullAnswered(MsgPtr msg);
  // Asks the consumer for up to `batch` messages with no_wait: JetStream answers at once with
  // what it has, then a 404 (none) or 408 (no more). libnats's own fetch cannot wait for that
  // answer without also telling the server to hold the request until an expiry.
  Result<std::vector<MsgPtr>> Pull(Source& src, size_t batch);

  Result<StreamInfoPtr> StreamInfo(const std::string& stream, const char* subjects_filter = nullptr);
  Result<TopicInfo> TopicInfoOf(const jsStreamInfo& si);
  Result<std::vector<std::string>> StreamNames(const std::string& kind_prefix);
  Result<uint32_t> Partitions(const std::string& topic);

  Result<std::shared_ptr<SubState>> FindSub(const std::string& name);
  void ForgetSub(const std::string& name);
  Result<SubscriptionInfo> InfoOf(SubState& sub);
  // Binds every topic the subscription matches now (creating its consumer where missing).
  Status Reconcile(SubState& sub, bool force);
  // Makes the subscription's consumer on the topic unless it exists; with `replace`, remakes it
  // with that config.
  Status EnsureConsumer(const SubState& sub, const std::string& topic, const nlohmann::json* replace);
  // The JSON config of a subscription's consumer on a topic stream. Consumers are made by the
  // JetStream API request itself: libnats 3.4 writes opt_start_time's fraction without its
  // leading zeros (86 ms as ".86"), which would start a consumer up to a second late.
  nlohmann::json TopicConsumerConfig(const SubState& sub) const;
  Status AddConsumer(const std::string& stream, const std::string& durable, nlohmann::json config);

  // A delivery turned into the subscription's Delivery, or handled here (not due, expired,
  // delivered too often): nullopt.
  std::optional<Delivery> Take(SubState& sub, const Source& src, MsgPtr msg);
  Status Dead(const SubState& sub, Message m, const char* reason, int deliveries, const std::string& stream, uint64_t seq,
              bool from_topic);
  Status PublishTo(const std::string& subject, const Message& m, const std::string& msg_id);
  Result<Message> Decode(natsMsg* msg, std::string_view what);
  // The parts of an ack id: stream, consumer, delivered, stream sequence.
  struct AckId {
    std::string stream, consumer;
    uint64_t delivered = 0, seq = 0;
  };
  std::optional<AckId> ParseAckId(const SubState& sub, const std::string& id) const;
  Status SendAck(const std::string& id, std::string_view payload);

  JetStreamBrokerOptions opt_;
  const std::string p_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;

  natsSubscription* ack_sub_ = nullptr;
  std::string ack_inbox_;  // "_INBOX.<nuid>.a."; a publish's reply is this plus its number
  std::mutex pub_mu_;
  uint64_t next_pub_ = 0;
  std::unordered_map<uint64_t, std::pair<std::shared_ptr<PublishBatch>, size_t>> pub_waiting_;

  natsSubscription* pull_sub_ = nullptr;
  std::string pull_inbox_;  // "_INBOX.<nuid>.p."; a pull's reply is this plus its number
  std::mutex pull_mu_;
  uint64_t next_pull_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<PullAnswer>> pulls_;        // by number: statuses
  std::unordered_map<std::string, std::shared_ptr<PullAnswer>> pulling_;  // by "stream.consumer": messages

  std::mutex mu_;  // the caches
  std::map<std::string, uint32_t> partitions_;
  std::map<std::string, std::shared_ptr<SubState>> subs_;
  std::atomic<uint64_t> round_robin_{0};  // partitions of messages without a key
  std::atomic<uint64_t> topics_created_{0};  // here: subscriptions look at once, not within a second
};

JetStreamBroker::~JetStreamBroker() {
  // Unsubscribed first: no acknowledgement or pull answer reaches a broker on its way out.
  if (ack_sub_) natsSubscription_Unsubscribe(ack_sub_);
  if (pull_sub_) natsSubscription_Unsubscribe(pull_sub_);
  if (nc_) natsConnection_FlushTimeout(nc_, 1000);
  if (ack_sub_) natsSubscription_Destroy(ack_sub_);
  if (pull_sub_) natsSubscription_Destroy(pull_sub_);
  if (js_) jsCtx_Destroy(js_);
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

Status JetStreamBroker::Connect() {
  if (p_.empty() || p_.size() > 32 ||
      !std::all_of(p_.begin(), p_.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; })) {
    return Status::BadRequest("mq.jetstream_prefix must be 1 to 32 of [A-Za-z0-9-]");
  }
  natsOptions* o = nullptr;
  if (natsOptions_Create(&o) != NATS_OK) return Status::Internal("cannot create NATS options");
  std::unique_ptr<natsOptions, Deleter<natsOptions, natsOptions_Destroy>> opts(o);
  std::vector<std::string> urls = SplitCommaList(opt_.url);
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());
  const std::string shown = WithoutPassword(opt_.url);
  if (servers.empty()) return Status::BadRequest("mq.driver=jetstream needs mq.nats_url (nats://host:port)");
  if (natsStatus s = natsOptions_SetServers(o, servers.data(), static_cast<int>(servers.size())); s != NATS_OK) {
    return Status::BadRequest("mq.nats_url '" + shown + "': " + natsStatus_GetText(s));
  }
  natsOptions_SetName(o, "aimass");
  natsOptions_SetTimeout(o, 3000);
  natsOptions_SetMaxReconnect(o, -1);  // keep trying: the server may restart under us
  natsOptions_SetReconnectWait(o, 250);
  if (natsStatus s = natsConnection_Connect(&nc_, o); s != NATS_OK) {
    nc_ = nullptr;
    return Status::Unavailable("cannot connect to NATS at " + shown + ": " + natsStatus_GetText(s));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  if (natsStatus s = natsConnection_JetStream(&js_, nc_, &jo); s != NATS_OK) return NatsError("JetStream context", s);
  jsAccountInfo* ai = nullptr;
  jsErrCode code{};
  if (natsStatus s = js_GetAccountInfo(&ai, js_, nullptr, &code); s != NATS_OK) {
    return Status::Unavailable("NATS at " + shown + " does not answer JetStream requests (is it started with -js?): " +
                               natsStatus_GetText(s));
  }
  jsAccountInfo_Destroy(ai);

  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return Status::Internal("cannot create a NATS inbox");
  ack_inbox_ = std::string(inbox) + ".a.";
  pull_inbox_ = std::string(inbox) + ".p.";
  natsInbox_Destroy(inbox);
  if (natsStatus s = natsConnection_Subscribe(&ack_sub_, nc_, (ack_inbox_ + "*").c_str(), &OnPublishAck, this); s != NATS_OK) {
    return NatsError("subscribing to publish acknowledgements", s);
  }
  natsSubscription_SetPendingLimits(ack_sub_, -1, -1);
  if (natsStatus s = natsConnection_Subscribe(&pull_sub_, nc_, (pull_inbox_ + "*").c_str(), &OnPullAnswer, this); s != NATS_OK) {
    return NatsError("subscribing to pull answers", s);
  }
  natsSubscription_SetPendingLimits(pull_sub_, -1, -1);
  spdlog::info("mq: JetStream at {} (prefix {})", shown, p_);
  return Status::Ok();
}

// ---- topics -------------------------------------------------------------------------------

Result<StreamInfoPtr> JetStreamBroker::StreamInfo(const std::string& stream, const char* subjects_filter) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = subjects_filter;
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), &o, &code);
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return Status::NotFound("not found");
  if (s != NATS_OK) return NatsError("stream info " + stream, s, code);
  return StreamInfoPtr(si);
}

Result<TopicInfo> JetStreamBroker::TopicInfoOf(const jsStreamInfo& si) {
  TopicInfo info;
  json j = FromDescription(si.Config ? si.Config->Description : nullptr);
  if (!j.is_object()) return Status::Internal("stream " + std::string(si.Config ? si.Config->Name : "?") + " has no topic spec");
  info.spec = TopicSpecFromJson(j);
  info.fsync = FsyncPolicy::kNever;  // the NATS server's own sync schedule
  info.created_ms = si.Created / kNsPerMs;
  info.messages = si.State.Msgs;
  info.bytes = si.State.Bytes;
  // Offsets run across the topic's partitions: each partition's next one is the topic's.
  info.next_offsets.assign(info.spec.partitions, si.State.LastSeq);
  return info;
}

Result<std::vector<std::string>> JetStreamBroker::StreamNames(const std::string& kind_prefix) {
  jsStreamNamesList* list = nullptr;
  jsErrCode code{};
  natsStatus s = js_StreamNames(&list, js_, nullptr, &code);
  std::vector<std::string> out;
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return NatsError("listing streams", s, code);
  NamesPtr names(list);
  const std::string prefix = p_ + kind_prefix;
  for (int i = 0; i < list->Count; ++i) {
    std::string_view n = list->List[i];
    if (!n.starts_with(prefix)) continue;
    if (auto name = DecodeName(n.substr(prefix.size()))) out.push_back(*name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<TopicInfo> JetStreamBroker::CreateTopic(const TopicSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateTopicSpec(spec));
  if (spec.fsync) {
    return Status::BadRequest("fsync is the NATS server's setting with mq.driver=jetstream; leave it out");
  }
  const std::string stream = TopicStream(spec.name);
  if (StreamInfo(stream).ok()) return Status::Conflict("topic '" + spec.name + "' exists");
  std::string desc = ToDescription(SpecJson(spec));
  std::string subject = TopicFilter(spec.name);
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Description = desc.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.MaxAge = spec.retention.max_age_ms * kNsPerMs;
  cfg.MaxBytes = spec.retention.max_bytes ? static_cast<int64_t>(spec.retention.max_bytes) : -1;
  cfg.MaxMsgs = spec.retention.max_messages ? static_cast<int64_t>(spec.retention.max_messages) : -1;
  // JetStream wants a window of at least 1 ms, and none longer than the messages are kept.
  int64_t window = std::max<int64_t>(spec.dedup_window_ms, 1);
  if (spec.retention.max_age_ms > 0) window = std::min(window, spec.retention.max_age_ms);
  cfg.Duplicates = window * kNsPerMs;
  cfg.AllowDirect = true;
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, &code);
  if (code == JSStreamNameExistErr) return Status::Conflict("topic '" + spec.name + "' exists");
  if (s != NATS_OK) return NatsError("creating topic " + spec.name, s, code);
  StreamInfoPtr info(si);
  {
    std::lock_guard lock(mu_);
    partitions_[spec.name] = spec.partitions;
  }
  ++topics_created_;
  return TopicInfoOf(*info);
}

Result<std::vector<TopicInfo>> JetStreamBroker::ListTopics() {
  AIMASS_ASSIGN_OR_RETURN(auto names, StreamNames("_T_"));
  std::vector<TopicInfo> out;
  for (const auto& n : names) {
    auto si = StreamInfo(TopicStream(n));
    if (!si.ok()) continue;  // deleted meanwhile
    AIMASS_ASSIGN_OR_RETURN(auto info, TopicInfoOf(**si));
    out.push_back(std::move(info));
  }
  return out;
}

Result<TopicInfo> JetStreamBroker::GetTopic(const std::string& name) {
  auto si = StreamInfo(TopicStream(name));
  if (si.status().code() == Code::kNotFound) return Status::NotFound("no topic '" + name.substr(0, 128) + "'");
  if (!si.ok()) return si.status();
  return TopicInfoOf(**si);
}

Status JetStreamBroker::DeleteTopic(const std::string& name) {
  jsErrCode code{};
  natsStatus s = js_DeleteStream(js_, TopicStream(name).c_str(), nullptr, &code);
  {
    std::lock_guard lock(mu_);
    partitions_.erase(name);
  }
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return Status::NotFound("no topic '" + name.substr(0, 128) + "'");
  if (s != NATS_OK) return NatsError("deleting topic " + name, s, code);
  return Status::Ok();
}

Result<uint32_t> JetStreamBroker::Partitions(const std::string& topic) {
  {
    std::lock_guard lock(mu_);
    if (auto it = partitions_.find(topic); it != partitions_.end()) return it->second;
  }
  AIMASS_ASSIGN_OR_RETURN(auto info, GetTopic(topic));
  std::lock_guard lock(mu_);
  partitions_[topic] = info.spec.partitions;
  return info.spec.partitions;
}

// ---- publish ------------------------------------------------------------------------------

void JetStreamBroker::OnPublishAck(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  static_cast<JetStreamBroker*>(self)->PublishAcked(MsgPtr(msg));
}

void JetStreamBroker::PublishAcked(MsgPtr msg) {
  std::string_view subject = natsMsg_GetSubject(msg.get());
  auto n = ParseNumber<uint64_t>(subject.substr(ack_inbox_.size()));
  if (!n) return;
  std::shared_ptr<PublishBatch> batch;
  size_t index = 0;
  {
    std::lock_guard lock(pub_mu_);
    auto it = pub_waiting_.find(*n);
    if (it == pub_waiting_.end()) return;  // timed out already
    batch = std::move(it->second.first);
    index = it->second.second;
    pub_waiting_.erase(it);
  }
  Status error;
  PublishResult r;
  if (natsMsg_IsNoResponders(msg.get())) {
    error = Status::NotFound("the topic's stream is gone");
  } else {
    json j = json::parse(std::string_view(natsMsg_GetData(msg.get()), natsMsg_GetDataLength(msg.get())), nullptr, false);
    if (!j.is_object()) {
      error = Status::Internal("unreadable publish acknowledgement");
    } else if (j.contains("error")) {
      error = Status::Unavailable("JetStream refused the publish: " + j["error"].value("description", std::string("?")));
    } else {
      r.offset = j.value("seq", uint64_t{1}) - 1;
      r.duplicate = j.value("duplicate", false);
    }
  }
  std::lock_guard lock(batch->mu);
  if (error.ok()) {
    r.partition = batch->results[index].partition;
    batch->results[index] = r;
  } else if (batch->error.ok()) {
    batch->error = error;
  }
  if (--batch->left == 0) batch->cv.notify_all();
}

Result<PendingPublish> JetStreamBroker::StartPublish(const std::string& topic, std::vector<OutgoingMessage> messages) {
  AIMASS_RETURN_IF_ERROR(ValidateOutgoing(messages));
  auto partitions = Partitions(topic);
  if (partitions.status().code() == Code::kNotFound) return Status::NotFound("no topic '" + topic.substr(0, 128) + "'");
  if (!partitions.ok()) return partitions.status();
  auto batch = std::make_shared<PublishBatch>();
  batch->results.resize(messages.size());
  batch->left = messages.size();
  int64_t now = opt_.now_ms();
  uint64_t first;
  {
    std::lock_guard lock(pub_mu_);
    first = next_pub_;
    next_pub_ += messages.size();
    for (size_t i = 0; i < messages.size(); ++i) pub_waiting_[first + i] = {batch, i};
  }
  auto forget = [this, first, n = messages.size()] {
    std::lock_guard lock(pub_mu_);
    for (size_t i = 0; i < n; ++i) pub_waiting_.erase(first + i);
  };
  std::string frame;
  for (size_t i = 0; i < messages.size(); ++i) {
    OutgoingMessage& in = messages[i];
    // A dedup id picks the partition when there is no key, so that a duplicate reports the
    // original's partition (JetStream's ack names only the sequence).
    uint32_t p = !in.key.empty()      ? PartitionForKey(in.key, *partitions)
                 : !in.dedup_id.empty() ? PartitionForKey(in.dedup_id, *partitions)
                                        : static_cast<uint32_t>(round_robin_.fetch_add(1) % *partitions);
    batch->results[i].partition = p;
    Message m;
    m.timestamp_ms = now;
    m.key = std::move(in.key);
    m.headers = std::move(in.headers);
    m.body = std::move(in.body);
    m.dedup_id = std::move(in.dedup_id);
    m.deliver_at_ms = in.delay_ms > 0 ? now + in.delay_ms : 0;
    m.expire_at_ms = in.ttl_ms > 0 ? now + in.ttl_ms : 0;
    frame.clear();
    EncodeRecord(m, frame);
    std::string reply = ack_inbox_ + std::to_string(first + i);
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, TopicSubject(topic, p).c_str(), reply.c_str(), frame.data(), static_cast<int>(frame.size()));
    MsgPtr msg(raw);
    if (s == NATS_OK && !m.dedup_id.empty()) s = natsMsgHeader_Set(raw, "Nats-Msg-Id", m.dedup_id.c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc_, raw);
    if (s != NATS_OK) {
      // Earlier messages of the batch may be stored: like a failed fsync, the publish as a
      // whole is not acknowledged and the publisher retries (dedup ids make that safe).
      forget();
      return NatsError("publishing to " + topic, s);
    }
  }
  PendingPublish pending;
  pending.wait = [this, batch, forget, topic]() -> Result<std::vector<PublishResult>> {
    std::unique_lock lock(batch->mu);
    if (!batch->cv.wait_for(lock, kPublishTimeout, [&] { return batch->left == 0; })) {
      lock.unlock();
      forget();
      return Status::Unavailable("JetStream did not acknowledge the publish within 10 s");
    }
    if (!batch->error.ok()) {
      if (batch->error.code() == Code::kNotFound) {
        std::lock_guard cache(mu_);
        partitions_.erase(topic);
        return Status::NotFound("no topic '" + topic.substr(0, 128) + "'");
      }
      return batch->error;
    }
    return std::move(batch->results);
  };
  return pending;
}

// ---- subscriptions ------------------------------------------------------------------------

json JetStreamBroker::TopicConsumerConfig(const SubState& sub) const {
  json cc = {{"ack_policy", "explicit"},
             {"ack_wait", sub.spec.ack_timeout_ms * kNsPerMs},
             {"max_deliver", -1},  // max_deliveries is ours: past it the message goes to the dead letters
             {"max_ack_pending", kMaxAckPending}};
  // Everything published since the subscription exists, whenever this consumer is made (a
  // topic created later, a consumer lost): the same start as the embedded log's.
  if (sub.spec.from_earliest) {
    cc["deliver_policy"] = "all";
  } else {
    cc["deliver_policy"] = "by_start_time";
    cc["opt_start_time"] = Rfc3339(sub.created_ms * kNsPerMs);
  }
  if (sub.spec.backoff_ms > 0) {
    json backoff = json::array();
    for (int d = 1; d <= std::min(sub.spec.max_deliveries, 16); ++d) {
      backoff.push_back((sub.spec.ack_timeout_ms + RedeliveryBackoffMs(sub.spec, d)) * kNsPerMs);
    }
    cc["backoff"] = std::move(backoff);
    cc["max_deliver"] = 1000000;  // JetStream wants a bound above the backoff list's length
  }
  return cc;
}

Status JetStreamBroker::AddConsumer(const std::string& stream, const std::string& durable, json config) {
  config["durable_name"] = durable;
  std::string body = json{{"stream_name", stream}, {"config", std::move(config)}}.dump();
  std::string subject = "$JS.API.CONSUMER.DURABLE.CREATE." + stream + "." + durable;
  natsMsg* raw = nullptr;
  natsStatus s = natsConnection_Request(&raw, nc_, subject.c_str(), body.data(), static_cast<int>(body.size()), 5000);
  MsgPtr reply(raw);
  if (s != NATS_OK) return NatsError("creating consumer " + durable + " on " + stream, s);
  json j = json::parse(std::string_view(natsMsg_GetData(raw), static_cast<size_t>(natsMsg_GetDataLength(raw))), nullptr, false);
  if (!j.is_object()) return Status::Internal("creating consumer " + durable + ": unreadable answer");
  if (!j.contains("error")) return Status::Ok();
  int code = j["error"].value("err_code", 0);
  // Another process made it first: theirs is as good.
  if (code == JSConsumerNameExistErr || code == JSConsumerExistingActiveErr) return Status::Ok();
  if (code == JSStreamNotFoundErr) return Status::NotFound("no stream " + stream);
  return Status::Internal("creating consumer " + durable + " on " + stream + ": " +
                          j["error"].value("description", std::string("?")) + " (JetStream error " + std::to_string(code) + ")");
}

void JetStreamBroker::OnPullAnswer(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  static_cast<JetStreamBroker*>(self)->PullAnswered(MsgPtr(msg));
}

void JetStreamBroker::PullAnswered(MsgPtr msg) {
  // A message comes with its stream subject and an ack reply naming stream and consumer; a
  // status with the pull's own reply subject.
  const char* reply = natsMsg_GetReply(msg.get());
  bool delivery = reply && std::string_view(reply).starts_with(kAckPrefix);
  std::shared_ptr<PullAnswer> answer;
  if (delivery) {
    if (auto a = AckTokensOf(std::string_view(reply).substr(kAckPrefix.size()))) {
      std::string key = std::string(a->stream) + "." + std::string(a->consumer);
      std::lock_guard lock(pull_mu_);
      if (auto it = pulling_.find(key); it != pulling_.end()) answer = it->second;
    }
  } else {
    std::string_view subject = natsMsg_GetSubject(msg.get());
    if (subject.starts_with(pull_inbox_)) {
      if (auto n = ParseNumber<uint64_t>(subject.substr(pull_inbox_.size()))) {
        std::lock_guard lock(pull_mu_);
        if (auto it = pulls_.find(*n); it != pulls_.end()) answer = it->second;
      }
    }
  }
  std::unique_lock<std::mutex> lock;
  if (answer) lock = std::unique_lock(answer->mu);
  if (!answer || answer->closed) {
    // Too late for its fetch: given back at once rather than after its ack timeout.
    if (delivery) natsConnection_PublishString(nc_, reply, "-NAK");
    return;
  }
  if (delivery) {
    answer->msgs.push_back(std::move(msg));
    if (answer->msgs.size() >= answer->want) answer->done = true;
  } else {
    // A status: 404 no messages, 408 no more, 409 a limit; no responders: no consumer.
    answer->gone = natsMsg_IsNoResponders(msg.get());
    answer->done = true;
  }
  if (answer->done) answer->cv.notify_all();
}

Result<std::vector<MsgPtr>> JetStreamBroker::Pull(Source& src, size_t batch) {
  std::lock_guard one_at_a_time(src.pulling);
  auto answer = std::make_shared<PullAnswer>();
  answer->want = batch;
  const std::string key = src.stream + "." + src.consumer;
  uint64_t n;
  {
    std::lock_guard lock(pull_mu_);
    n = next_pull_++;
    pulls_.emplace(n, answer);
    pulling_[key] = answer;
  }
  std::string reply = pull_inbox_ + std::to_string(n);
  std::string subject = "$JS.API.CONSUMER.MSG.NEXT." + src.stream + "." + src.consumer;
  std::string body = "{\"batch\":" + std::to_string(batch) + ",\"no_wait\":true}";
  natsStatus s = natsConnection_PublishRequest(nc_, subject.c_str(), reply.c_str(), body.data(), static_cast<int>(body.size()));
  std::unique_lock lock(answer->mu);
  if (s == NATS_OK) answer->cv.wait_for(lock, kPullAnswerWait, [&] { return answer->done; });
  answer->closed = true;
  {
    std::lock_guard forget(pull_mu_);
    pulls_.erase(n);
    pulling_.erase(key);
  }
  if (s != NATS_OK) return NatsError("fetching from " + src.stream, s);
  if (answer->gone) return Status::NotFound("no consumer " + src.consumer + " on " + src.stream);
  // Not done in time: what came is kept, what comes later is given back by PullAnswered.
  return std::move(answer->msgs);
}

Status JetStreamBroker::EnsureConsumer(const SubState& sub, const std::string& topic, const json* replace) {
  const std::string stream = TopicStream(topic), durable = TopicConsumer(sub.spec.name), filter = TopicFilter(topic);
  jsErrCode code{};
  if (!replace) {
    jsConsumerInfo* ci = nullptr;
    natsStatus s = js_GetConsumerInfo(&ci, js_, stream.c_str(), durable.c_str(), nullptr, &code);
    ConsumerInfoPtr held(ci);
    if (s == NATS_OK) return Status::Ok();
    if (s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) return NatsError("consumer info " + durable, s, code);
  } else {
    natsStatus s = js_DeleteConsumer(js_, stream.c_str(), durable.c_str(), nullptr, &code);
    if (s != NATS_OK && s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) {
      return NatsError("deleting consumer " + durable, s, code);
    }
  }
  json cc = replace ? *replace : TopicConsumerConfig(sub);
  cc["filter_subject"] = filter;
  Status st = AddConsumer(stream, durable, std::move(cc));
  if (st.code() == Code::kNotFound) return Status::NotFound("no topic '" + topic + "'");
  return st;
}

Status JetStreamBroker::Reconcile(SubState& sub, bool force) {
  int64_t now = opt_.now_ms();
  {
    std::lock_guard lock(sub.mu);
    uint64_t created = topics_created_.load();
    if (!force && now - sub.reconciled_ms < kReconcileEveryMs && created == sub.topics_seen) return Status::Ok();
    sub.reconciled_ms = now;
    sub.topics_seen = created;
  }
  AIMASS_ASSIGN_OR_RETURN(auto topics, StreamNames("_T_"));
  std::set<std::string> matched;
  for (const auto& t : topics) {
    if (TopicMatches(sub.spec.topic, t)) matched.insert(t);
  }
  std::vector<std::string> missing;
  {
    std::lock_guard lock(sub.mu);
    std::erase_if(sub.sources, [&](const auto& kv) { return !kv.first.empty() && !matched.count(kv.first); });
    for (const auto& t : matched) {
      if (!sub.sources.count(t)) missing.push_back(t);
    }
  }
  for (const auto& t : missing) {
    Status st = EnsureConsumer(sub, t, nullptr);
    if (st.code() == Code::kNotFound) continue;  // the topic went meanwhile
    AIMASS_RETURN_IF_ERROR(st);
    auto src = std::make_shared<Source>(t, TopicStream(t), TopicConsumer(sub.spec.name));
    std::lock_guard lock(sub.mu);
    sub.sources.emplace(t, std::move(src));
  }
  return Status::Ok();
}

Result<std::shared_ptr<SubState>> JetStreamBroker::FindSub(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (auto it = subs_.find(name); it != subs_.end()) return it->second;
  }
  auto si = StreamInfo(SubStream(name));
  if (si.status().code() == Code::kNotFound) return Status::NotFound("no subscription '" + name.substr(0, 128) + "'");
  if (!si.ok()) return si.status();
  json j = FromDescription((*si)->Config ? (*si)->Config->Description : nullptr);
  if (!j.is_object()) return Status::Internal("stream " + SubStream(name) + " has no subscription spec");
  auto sub = std::make_shared<SubState>();
  sub->spec = SubscriptionSpecFromJson(j);
  sub->created_ms = j.value("created_ms", int64_t{0});
  sub->sources.emplace("", std::make_shared<Source>("", SubStream(name), "R"));
  std::lock_guard lock(mu_);
  auto [it, fresh] = subs_.emplace(name, sub);
  return it->second;
}

void JetStreamBroker::ForgetSub(const std::string& name) {
  std::lock_guard lock(mu_);
  subs_.erase(name);
}

Result<SubscriptionInfo> JetStreamBroker::CreateSubscription(const SubscriptionSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateSubscriptionSpec(spec));
  const std::string stream = SubStream(spec.name);
  if (StreamInfo(stream).ok()) return Status::Conflict("subscription '" + spec.name + "' exists");
  int64_t now = opt_.now_ms();
  json j = SpecJson(spec);
  j["created_ms"] = now;
  std::string desc = ToDescription(j);
  std::string dead = DeadSubject(spec.name), replay = ReplaySubject(spec.name);
  const char* subjects[] = {dead.c_str(), replay.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Description = desc.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 2;
  cfg.Storage = js_FileStorage;
  cfg.AllowDirect = true;  // the dead-letter listing reads by subject
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, &code);
  StreamInfoPtr held(si);
  if (code == JSStreamNameExistErr) return Status::Conflict("subscription '" + spec.name + "' exists");
  if (s != NATS_OK) return NatsError("creating subscription " + spec.name, s, code);
  json rc = {{"ack_policy", "explicit"},
             {"ack_wait", spec.ack_timeout_ms * kNsPerMs},
             {"max_deliver", -1},
             {"filter_subject", replay},
             {"deliver_policy", "all"}};
  if (Status st = AddConsumer(stream, "R", std::move(rc)); !st.ok()) {
    (void)DeleteSubscription(spec.name);
    return st;
  }
  auto sub = FindSub(spec.name);
  Status st = sub.ok() ? Reconcile(**sub, true) : sub.status();
  if (!st.ok()) {
    (void)DeleteSubscription(spec.name);  // not half made: the name stays free to try again
    return st;
  }
  return InfoOf(**sub);
}

Result<SubscriptionInfo> JetStreamBroker::InfoOf(SubState& sub) {
  AIMASS_RETURN_IF_ERROR(Reconcile(sub, false));
  SubscriptionInfo info;
  info.spec = sub.spec;
  info.created_ms = sub.created_ms;
  std::vector<std::shared_ptr<Source>> sources;
  {
    std::lock_guard lock(sub.mu);
    for (const auto& [t, s] : sub.sources) {
      sources.push_back(s);
      if (!t.empty()) info.topics.push_back(t);
    }
  }
  for (const auto& src : sources) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode code{};
    natsStatus s = js_GetConsumerInfo(&ci, js_, src->stream.c_str(), src->consumer.c_str(), nullptr, &code);
    ConsumerInfoPtr held(ci);
    if (s != NATS_OK) continue;  // gone meanwhile
    info.backlog += ci->NumPending + static_cast<uint64_t>(ci->NumAckPending);
    info.in_flight += static_cast<uint64_t>(ci->NumAckPending);
  }
  const std::string dead = DeadSubject(sub.spec.name);
  AIMASS_ASSIGN_OR_RETURN(auto si, StreamInfo(SubStream(sub.spec.name), dead.c_str()));
  if (si->State.Subjects) {
    for (int i = 0; i < si->State.Subjects->Count; ++i) info.dead_letters += si->State.Subjects->List[i].Msgs;
  }
  return info;
}

Result<std::vector<SubscriptionInfo>> JetStreamBroker::ListSubscriptions() {
  AIMASS_ASSIGN_OR_RETURN(auto names, StreamNames("_S_"));
  std::vector<SubscriptionInfo> out;
  for (const auto& n : names) {
    auto info = GetSubscription(n);
    if (info.status().code() == Code::kNotFound) continue;  // deleted meanwhile
    if (!info.ok()) return info.status();
    out.push_back(std::move(*info));
  }
  return out;
}

Result<SubscriptionInfo> JetStreamBroker::GetSubscription(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(name));
  auto info = InfoOf(*sub);
  if (info.status().code() == Code::kNotFound) {  // deleted by another process
    ForgetSub(name);
    return Status::NotFound("no subscription '" + name.substr(0, 128) + "'");
  }
  return info;
}

Status JetStreamBroker::DeleteSubscription(const std::string& name) {
  ForgetSub(name);
  if (StreamInfo(SubStream(name)).status().code() == Code::kNotFound) {
    return Status::NotFound("no subscription '" + name.substr(0, 128) + "'");
  }
  AIMASS_ASSIGN_OR_RETURN(auto topics, StreamNames("_T_"));
  const std::string durable = TopicConsumer(name);
  for (const auto& t : topics) {
    jsErrCode code{};
    js_DeleteConsumer(js_, TopicStream(t).c_str(), durable.c_str(), nullptr, &code);  // most have none
  }
  jsErrCode code{};
  natsStatus s = js_DeleteStream(js_, SubStream(name).c_str(), nullptr, &code);
  if (s != NATS_OK && s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) return NatsError("deleting subscription " + name, s, code);
  return Status::Ok();
}

// ---- delivery -----------------------------------------------------------------------------

Result<Message> JetStreamBroker::Decode(natsMsg* msg, std::string_view what) {
  std::string_view data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  auto size = ValidFrame(data);
  Message m;
  if (!size || *size != data.size() || !DecodeRecord(data.substr(kRecordHeaderBytes), m)) {
    return Status::Internal(std::string(what) + " is not an aimass message");
  }
  return m;
}

std::optional<Delivery> JetStreamBroker::Take(SubState& sub, const Source& src, MsgPtr msg) {
  jsMsgMetaData* raw = nullptr;
  if (natsMsg_GetMetaData(&raw, msg.get()) != NATS_OK) return std::nullopt;
  MetaPtr meta(raw);
  const char* reply = natsMsg_GetReply(msg.get());
  std::string id = reply ? std::string(reply) : "";
  if (!id.starts_with(kAckPrefix)) return std::nullopt;
  id.erase(0, kAckPrefix.size());
  uint64_t seq = meta->Sequence.Stream;
  auto decoded = Decode(msg.get(), "stream " + src.stream + " sequence " + std::to_string(seq));
  if (!decoded.ok()) {
    spdlog::warn("mq subscription {}: {}; dropped", sub.spec.name, decoded.status().message());
    natsMsg_Term(msg.get(), nullptr);
    return std::nullopt;
  }
  Message m = std::move(*decoded);
  bool from_topic = !src.topic.empty();
  if (from_topic) {
    PlaceInTopic(m, src.topic, natsMsg_GetSubject(msg.get()), seq);
  } else {
    // A replayed dead letter shows where it came from.
    m.topic = HeaderValue(m, "x-original-topic");
    m.partition = ParseNumber<uint32_t>(HeaderValue(m, "x-original-partition")).value_or(0);
    m.offset = ParseNumber<uint64_t>(HeaderValue(m, "x-original-offset")).value_or(0);
  }
  int deliveries = static_cast<int>(meta->NumDelivered);
  // A delayed message met early was given back once with its delay: that was no delivery.
  if (m.deliver_at_ms > m.timestamp_ms && deliveries > 1) --deliveries;
  int64_t now = opt_.now_ms();
  Status st;
  if (m.expire_at_ms && now >= m.expire_at_ms) {
    st = Dead(sub, std::move(m), "expired", deliveries - 1, src.stream, seq, from_topic);
    if (st.ok()) st = SendAck(id, "+ACK");
  } else if (m.deliver_at_ms > now) {
    st = SendAck(id, "-NAK {\"delay\":" + std::to_string((m.deliver_at_ms - now + 1) * kNsPerMs) + "}");
  } else if (deliveries > sub.spec.max_deliveries) {
    st = Dead(sub, std::move(m), "max_deliveries", deliveries - 1, src.stream, seq, from_topic);
    if (st.ok()) st = SendAck(id, "+ACK");
  } else {
    return Delivery{std::move(id), deliveries, std::move(m)};
  }
  if (!st.ok()) spdlog::warn("mq subscription {}: {}", sub.spec.name, st.message());
  return std::nullopt;
}

Status JetStreamBroker::PublishTo(const std::string& subject, const Message& m, const std::string& msg_id) {
  std::string frame;
  EncodeRecord(m, frame);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  if (!msg_id.empty()) po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode code{};
  natsStatus s = js_Publish(&ack, js_, subject.c_str(), frame.data(), static_cast<int>(frame.size()), &po, &code);
  PubAckPtr held(ack);
  if (s != NATS_OK) return NatsError("publishing to " + subject, s, code);
  return Status::Ok();
}

Status JetStreamBroker::Dead(const SubState& sub, Message m, const char* reason, int deliveries, const std::string& stream,
                             uint64_t seq, bool from_topic) {
  std::string topic = m.topic;
  MarkDeadLetter(m, reason, std::max(deliveries, 0), from_topic ? &topic : nullptr, m.partition, m.offset);
  return PublishTo(DeadSubject(sub.spec.name), m, stream + ":" + std::to_string(seq) + ":" + std::to_string(deliveries));
}

Status JetStreamBroker::SendAck(const std::string& id, std::string_view payload) {
  std::string subject = std::string(kAckPrefix) + id;
  natsStatus s = natsConnection_Publish(nc_, subject.c_str(), payload.data(), static_cast<int>(payload.size()));
  if (s != NATS_OK) return NatsError("acknowledging", s);
  return Status::Ok();
}

std::optional<JetStreamBroker::AckId> JetStreamBroker::ParseAckId(const SubState& sub, const std::string& id) const {
  if (id.empty() || id.size() > 512 ||
      !std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; })) {
    return std::nullopt;
  }
  auto tokens = AckTokensOf(id);
  if (!tokens) return std::nullopt;
  AckId a{std::string(tokens->stream), std::string(tokens->consumer), tokens->delivered, tokens->seq};
  bool topic_consumer = a.stream.starts_with(p_ + "_T_") && a.consumer == TopicConsumer(sub.spec.name);
  bool replay_consumer = a.stream == SubStream(sub.spec.name) && a.consumer == "R";
  if (!topic_consumer && !replay_consumer) return std::nullopt;
  return a;
}

Result<std::vector<Delivery>> JetStreamBroker::Fetch(const std::string& subscription, size_t max, std::chrono::milliseconds wait) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(subscription));
  std::vector<Delivery> out;
  if (max == 0) return out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    AIMASS_RETURN_IF_ERROR(Reconcile(*sub, false));  // topics created meanwhile
    std::vector<std::shared_ptr<Source>> sources;
    {
      std::lock_guard lock(sub->mu);
      for (const auto& [t, s] : sub->sources) sources.push_back(s);
      if (!sources.empty()) std::rotate(sources.begin(), sources.begin() + (sub->round_robin++ % sources.size()), sources.end());
    }
    bool lost = false;
    for (const auto& src : sources) {
      if (out.size() >= max) break;
      auto got = Pull(*src, std::min<size_t>(max - out.size(), 1000));
      if (got.status().code() == Code::kNotFound) {
        // Its consumer is gone (the topic deleted, a seek elsewhere): made again on the next pass.
        if (src->topic.empty()) {
          ForgetSub(subscription);
          return Status::NotFound("no subscription '" + subscription.substr(0, 128) + "'");
        }
        std::lock_guard sl(sub->mu);
        sub->sources.erase(src->topic);
        lost = true;
        continue;
      }
      if (!got.ok()) return got.status();
      for (auto& msg : *got) {
        if (auto d = Take(*sub, *src, std::move(msg))) out.push_back(std::move(*d));
      }
    }
    if (lost) AIMASS_RETURN_IF_ERROR(Reconcile(*sub, true));
    if (!out.empty() || std::chrono::steady_clock::now() >= deadline) return out;
    std::this_thread::sleep_until(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)));
  }
}

Result<AckResult> JetStreamBroker::Ack(const std::string& subscription, const std::vector<std::string>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(subscription));
  AckResult r;
  for (const auto& id : ids) {
    if (!ParseAckId(*sub, id)) {
      r.unknown.push_back(id);
      continue;
    }
    AIMASS_RETURN_IF_ERROR(SendAck(id, "+ACK"));
    ++r.done;
  }
  // Answered once the server has them: a flush round-trips behind them on the connection.
  if (natsStatus s = natsConnection_FlushTimeout(nc_, 5000); s != NATS_OK) return NatsError("acknowledging", s);
  return r;
}

Result<AckResult> JetStreamBroker::Nack(const std::string& subscription, const std::vector<std::string>& ids,
                                        std::chrono::milliseconds delay) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(subscription));
  AckResult r;
  // An explicit delay, never 0: with BackOff set, JetStream would apply the backoff to a bare NAK.
  const std::string nak = "-NAK {\"delay\":" + std::to_string(std::max<int64_t>(delay.count() * kNsPerMs, 1)) + "}";
  for (const auto& id : ids) {
    auto a = ParseAckId(*sub, id);
    if (!a) {
      r.unknown.push_back(id);
      continue;
    }
    if (a->delivered >= static_cast<uint64_t>(sub->spec.max_deliveries)) {
      // Its last delivery failed: to the dead letters now, as the embedded log does.
      natsMsg* raw = nullptr;
      jsErrCode code{};
      natsStatus s = js_GetMsg(&raw, js_, a->stream.c_str(), a->seq, nullptr, &code);
      MsgPtr stored(raw);
      if (s == NATS_OK) {
        auto m = Decode(stored.get(), "stream " + a->stream + " sequence " + std::to_string(a->seq));
        if (m.ok()) {
          bool from_topic = a->stream != SubStream(subscription);
          if (from_topic) {
            PlaceInTopic(*m, DecodeName(std::string_view(a->stream).substr(p_.size() + 3)).value_or(""),
                         natsMsg_GetSubject(stored.get()), a->seq);
          }
          AIMASS_RETURN_IF_ERROR(Dead(*sub, std::move(*m), "max_deliveries", static_cast<int>(a->delivered), a->stream, a->seq, from_topic));
        }
        AIMASS_RETURN_IF_ERROR(SendAck(id, "+ACK"));
        ++r.done;
        continue;
      }
      // Gone from the stream (retention): a plain nack lets JetStream sort it out.
    }
    AIMASS_RETURN_IF_ERROR(SendAck(id, nak));
    ++r.done;
  }
  if (natsStatus s = natsConnection_FlushTimeout(nc_, 5000); s != NATS_OK) return NatsError("nacking", s);
  return r;
}

Status JetStreamBroker::Seek(const std::string& subscription, const SeekTarget& target) {
  AIMASS_RETURN_IF_ERROR(ValidateSeekTarget(target));
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(subscription));
  AIMASS_RETURN_IF_ERROR(Reconcile(*sub, true));
  std::vector<std::string> topics;
  {
    std::lock_guard lock(sub->mu);
    for (const auto& [t, s] : sub->sources) {
      if (!t.empty() && (!target.topic || *target.topic == t)) topics.push_back(t);
    }
  }
  if (topics.empty() && target.topic) {
    return Status::NotFound("subscription '" + subscription + "' does not read topic '" + target.topic->substr(0, 128) + "'");
  }
  for (const auto& t : topics) {
    json cc = TopicConsumerConfig(*sub);
    cc.erase("opt_start_time");
    if (target.offset) {
      // Offsets are the topic's sequence: the whole topic moves, not one partition.
      cc["deliver_policy"] = "by_start_sequence";
      cc["opt_start_seq"] = *target.offset + 1;
    } else if (target.time_ms) {
      cc["deliver_policy"] = "by_start_time";
      cc["opt_start_time"] = Rfc3339(*target.time_ms * kNsPerMs);
    } else {
      cc["deliver_policy"] = *target.earliest ? "all" : "new";
    }
    {
      std::lock_guard lock(sub->mu);
      sub->sources.erase(t);  // unbound before its consumer goes
    }
    AIMASS_RETURN_IF_ERROR(EnsureConsumer(*sub, t, &cc));
  }
  return Reconcile(*sub, true);
}

// ---- dead letters -------------------------------------------------------------------------

Result<std::vector<DeadLetter>> JetStreamBroker::DeadLetters(const std::string& subscription, uint64_t from, size_t max) {
  AIMASS_ASSIGN_OR_RETURN(auto sub, FindSub(subscription));
  const std::string stream = SubStream(subscription), subject = DeadSubject(subscription);
  std::vector<DeadLetter> out;
  uint64_t seq = std::max<uint64_t>(from, 1);
  while (out.size() < max) {
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = seq;
    o.NextBySubject = subject.c_str();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, js_, stream.c_str(), nullptr, &o);
    MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND) break;
    if (s != NATS_OK) return NatsError("reading the dead letters of " + subscription, s);
    const char* at = nullptr;
    natsMsgHeader_Get(raw, "Nats-Sequence", &at);
    auto got = ParseNumber<uint64_t>(at ? at : "");
    if (!got) return Status::Internal("a dead letter without its sequence");
    seq = *got + 1;
    auto m = Decode(raw, "dead letter " + std::to_string(*got));
    if (!m.ok()) continue;
    DeadLetter d;
    d.id = *got;
    d.reason = HeaderValue(*m, "x-dead-letter-reason");
    m->topic = HeaderValue(*m, "x-original-topic");
    m->offset = *got;
    d.message = std::move(*m);
    out.push_back(std::move(d));
  }
  return out;
}

Result<size_t> JetStreamBroker::ReplayDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto all, DeadLetters(subscription, 0, SIZE_MAX));
  std::set<uint64_t> wanted(ids.begin(), ids.end());
  size_t n = 0;
  for (auto& d : all) {
    if (!wanted.empty() && !wanted.count(d.id)) continue;
    // Published to the replay subject first: a crash between the two leaves a copy in both,
    // never in neither.
    AIMASS_RETURN_IF_ERROR(PublishTo(ReplaySubject(subscription), d.message, "replay:" + std::to_string(d.id)));
    jsErrCode code{};
    natsStatus s = js_DeleteMsg(js_, SubStream(subscription).c_str(), d.id, nullptr, &code);
    if (s != NATS_OK && s != NATS_NOT_FOUND) return NatsError("removing a replayed dead letter", s, code);
    ++n;
  }
  return n;
}

Result<size_t> JetStreamBroker::PurgeDeadLetters(const std::string& subscription, const std::vector<uint64_t>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto all, DeadLetters(subscription, 0, SIZE_MAX));
  std::set<uint64_t> wanted(ids.begin(), ids.end());
  size_t n = 0;
  for (const auto& d : all) {
    if (!wanted.empty() && !wanted.count(d.id)) continue;
    jsErrCode code{};
    natsStatus s = js_DeleteMsg(js_, SubStream(subscription).c_str(), d.id, nullptr, &code);
    if (s == NATS_OK) ++n;
    else if (s != NATS_NOT_FOUND) return NatsError("purging a dead letter", s, code);
  }
  return n;
}

}  // namespace

Result<std::unique_ptr<Broker>> OpenJetStreamBroker(const JetStreamBrokerOptions& options) {
  auto broker = std::make_unique<JetStreamBroker>(options);
  AIMASS_RETURN_IF_ERROR(broker->Connect());
  return std::unique_ptr<Broker>(std::move(broker));
}

}  // namespace aimass::mq
