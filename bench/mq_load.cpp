// The load generator of bench/mq.sh: P producers and C consumers on one topic of one system,
// the same way for each system:
//   aimass  the gRPC publish / consume streams (aimass::mq::Publisher / Consumer)
//   redis   Streams: pipelined XADD; XREADGROUP ... COUNT b BLOCK, then XACK
//   nats    JetStream: js_PublishAsync; a durable pull consumer, Fetch b, Ack each
// Each producer sends its share of N messages in batches of B with up to W batches
// unanswered; a publish counts when the system acknowledged it. Each body starts with the send
// time (CLOCK_MONOTONIC, ns) and a message number, so consumers measure end-to-end latency and
// count each message once. Prints one line:
//   MQLOAD publish_rps=… e2e_rps=… p50_us=… p99_us=… duplicates=…
#include <hiredis/hiredis.h>
#include <nats/nats.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mq/stream_client.hpp"

namespace {

struct Options {
  std::string system, target, token, topic, subscription = "bench";
  int producers = 4, consumers = 4, batch = 64, window = 8, size = 100;
  long messages = 200000;
};

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

std::string Body(const Options& o, uint64_t number) {
  std::string b(static_cast<size_t>(std::max(o.size, 16)), 'x');
  int64_t t = NowNs();
  std::memcpy(b.data(), &t, 8);
  std::memcpy(b.data() + 8, &number, 8);
  return b;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "mq_load: %s\n", why.c_str());
  std::exit(1);
}

// What consumers share: each message counted once, latencies per consumer.
struct Tally {
  explicit Tally(long n) : seen(static_cast<size_t>(n)) {}
  std::vector<std::atomic<uint8_t>> seen;
  std::atomic<long> distinct{0};
  std::atomic<long> duplicates{0};
  std::atomic<int64_t> last_ns{0};

  // Records one received body; returns its latency in ns.
  void Got(std::string_view body, std::vector<int64_t>& lat) {
    if (body.size() < 16) Die("a message without the load generator's header");
    int64_t sent;
    uint64_t number;
    std::memcpy(&sent, body.data(), 8);
    std::memcpy(&number, body.data() + 8, 8);
    int64_t now = NowNs();
    lat.push_back(now - sent);
    if (number >= seen.size()) Die("a message number out of range");
    if (seen[number].exchange(1)) {
      ++duplicates;
      return;
    }
    if (++distinct == static_cast<long>(seen.size())) last_ns = now;
  }
  bool Done() const { return distinct.load() >= static_cast<long>(seen.size()); }
};

// ---------------------------------------------------------------------------------- producers

void ProduceAimass(const Options& o, int p, long first, long count) {
  auto pub = aimass::mq::Publisher::Connect(o.target, o.token);
  if (!pub.ok()) Die(pub.status().message());
  long sent = 0, answered = 0;
  uint64_t seq = 0;
  while (answered < count) {
    while (sent < count && (sent - answered) < static_cast<long>(o.window) * o.batch) {
      std::vector<aimass::mq::OutgoingMessage> batch;
      for (int i = 0; i < o.batch && sent < count; ++i, ++sent) {
        aimass::mq::OutgoingMessage m;
        m.body = Body(o, static_cast<uint64_t>(first + sent));
        batch.push_back(std::move(m));
      }
      if (auto st = (*pub)->Send(++seq, o.topic, batch); !st.ok()) Die(st.message());
    }
    auto got = (*pub)->Receive();
    if (!got.ok()) Die("producer " + std::to_string(p) + ": " + got.status().message());
    answered += static_cast<long>(got->second.size());
  }
  (void)(*pub)->Close();
}

redisContext* RedisConnect(const Options& o) {
  auto colon = o.target.rfind(':');
  redisContext* c = redisConnect(o.target.substr(0, colon).c_str(), std::stoi(o.target.substr(colon + 1)));
  if (!c || c->err) Die("cannot connect to redis at " + o.target);
  return c;
}

void RedisReply(redisContext* c, int want_type = -1) {
  void* r = nullptr;
  if (redisGetReply(c, &r) != REDIS_OK || !r) Die(std::string("redis: ") + c->errstr);
  auto* reply = static_cast<redisReply*>(r);
  if (reply->type == REDIS_REPLY_ERROR) Die(std::string("redis: ") + reply->str);
  if (want_type >= 0 && reply->type != want_type) Die("redis: unexpected reply type");
  freeReplyObject(reply);
}

void ProduceRedis(const Options& o, int, long first, long count) {
  redisContext* c = RedisConnect(o);
  long sent = 0, answered = 0;
  while (answered < count) {
    while (sent < count && (sent - answered) < static_cast<long>(o.window) * o.batch) {
      for (int i = 0; i < o.batch && sent < count; ++i, ++sent) {
        std::string b = Body(o, static_cast<uint64_t>(first + sent));
        redisAppendCommand(c, "XADD %s * d %b", o.topic.c_str(), b.data(), b.size());
      }
    }
    // Replies come in order: take one batch's worth.
    for (int i = 0; i < o.batch && answered < sent; ++i, ++answered) RedisReply(c);
  }
  redisFree(c);
}

void Nats(natsStatus s, const char* what) {
  if (s != NATS_OK) Die(std::string(what) + ": " + natsStatus_GetText(s));
}

void ProduceNats(const Options& o, int, long first, long count) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  Nats(natsConnection_ConnectTo(&nc, o.target.c_str()), "nats connect");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = static_cast<int64_t>(o.window) * o.batch;
  Nats(natsConnection_JetStream(&js, nc, &jo), "jetstream");
  for (long i = 0; i < count; ++i) {
    std::string b = Body(o, static_cast<uint64_t>(first + i));
    Nats(js_PublishAsync(js, o.topic.c_str(), b.data(), static_cast<int>(b.size()), nullptr), "publish");
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  Nats(js_PublishAsyncComplete(js, &po), "publish complete");
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

// ---------------------------------------------------------------------------------- consumers

std::mutex g_consumers_mu;
std::vector<aimass::mq::Consumer*> g_consumers;  // cancelled once every message arrived

void ConsumeAimass(const Options& o, int, Tally& t, std::vector<int64_t>& lat) {
  auto con = aimass::mq::Consumer::Connect(o.target, o.token, o.subscription, static_cast<uint32_t>(o.batch * o.window));
  if (!con.ok()) Die(con.status().message());
  {
    std::lock_guard lock(g_consumers_mu);
    g_consumers.push_back(con->get());
  }
  while (!t.Done()) {
    auto got = (*con)->Next();
    if (!got.ok()) break;  // the stream ends when another consumer closes the run
    std::vector<std::string> ids;
    for (auto& d : *got) {
      t.Got(d.message.body, lat);
      ids.push_back(std::move(d.id));
    }
    if (!ids.empty() && !(*con)->Ack(ids).ok()) break;
  }
  // Out of the list before the consumer goes: the main thread cancels what is in it.
  std::lock_guard lock(g_consumers_mu);
  std::erase(g_consumers, con->get());
}

void ConsumeRedis(const Options& o, int i, Tally& t, std::vector<int64_t>& lat) {
  redisContext* c = RedisConnect(o);
  std::string name = "c" + std::to_string(i);
  while (!t.Done()) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "XREADGROUP GROUP %s %s COUNT %d BLOCK 100 STREAMS %s >",
                                                    o.subscription.c_str(), name.c_str(), o.batch, o.topic.c_str()));
    if (!r) Die(std::string("redis: ") + c->errstr);
    if (r->type == REDIS_REPLY_ERROR) Die(std::string("redis: ") + r->str);
    std::vector<std::string> ids;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
      redisReply* entries = r->element[0]->element[1];
      for (size_t k = 0; k < entries->elements; ++k) {
        redisReply* e = entries->element[k];
        ids.emplace_back(e->element[0]->str, e->element[0]->len);
        redisReply* fields = e->element[1];
        t.Got(std::string_view(fields->element[1]->str, fields->element[1]->len), lat);
      }
    }
    freeReplyObject(r);
    if (ids.empty()) continue;
    std::vector<const char*> argv{"XACK", o.topic.c_str(), o.subscription.c_str()};
    std::vector<size_t> lens{4, o.topic.size(), o.subscription.size()};
    for (const auto& id : ids) {
      argv.push_back(id.data());
      lens.push_back(id.size());
    }
    auto* ack = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!ack) Die("redis XACK failed");
    freeReplyObject(ack);
  }
  redisFree(c);
}

void ConsumeNats(const Options& o, int, Tally& t, std::vector<int64_t>& lat) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  Nats(natsConnection_ConnectTo(&nc, o.target.c_str()), "nats connect");
  Nats(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
  Nats(js_PullSubscribe(&sub, js, o.topic.c_str(), o.subscription.c_str(), nullptr, nullptr, nullptr), "pull subscribe");
  while (!t.Done()) {
    natsMsgList list{};
    natsStatus s = natsSubscription_Fetch(&list, sub, o.batch, 100, nullptr);
    if (s == NATS_TIMEOUT) continue;
    Nats(s, "fetch");
    for (int k = 0; k < list.Count; ++k) {
      t.Got(std::string_view(natsMsg_GetData(list.Msgs[k]), static_cast<size_t>(natsMsg_GetDataLength(list.Msgs[k]))), lat);
      Nats(natsMsg_Ack(list.Msgs[k], nullptr), "ack");
    }
    natsMsgList_Destroy(&list);
  }
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

void Setup(const Options& o) {
  if (o.system == "redis") {
    redisContext* c = RedisConnect(o);
    freeReplyObject(redisCommand(c, "DEL %s", o.topic.c_str()));
    auto* r = static_cast<redisReply*>(redisCommand(c, "XGROUP CREATE %s %s $ MKSTREAM", o.topic.c_str(), o.subscription.c_str()));
    if (!r || r->type == REDIS_REPLY_ERROR) Die("redis XGROUP CREATE failed");
    freeReplyObject(r);
    redisFree(c);
  } else if (o.system == "nats") {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    Nats(natsConnection_ConnectTo(&nc, o.target.c_str()), "nats connect");
    Nats(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
    js_DeleteStream(js, o.topic.c_str(), nullptr, nullptr);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = o.topic.c_str();
    const char* subjects[] = {o.topic.c_str()};
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    jsStreamInfo* si = nullptr;
    Nats(js_AddStream(&si, js, &sc, nullptr, nullptr), "add stream");
    jsStreamInfo_Destroy(si);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = o.subscription.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.MaxAckPending = 100000;
    jsConsumerInfo* ci = nullptr;
    Nats(js_AddConsumer(&ci, js, o.topic.c_str(), &cc, nullptr, nullptr), "add consumer");
    jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--system") o.system = v;
    else if (k == "--target") o.target = v;
    else if (k == "--token") o.token = v;
    else if (k == "--topic") o.topic = v;
    else if (k == "--subscription") o.subscription = v;
    else if (k == "--producers") o.producers = std::stoi(v);
    else if (k == "--consumers") o.consumers = std::stoi(v);
    else if (k == "--batch") o.batch = std::stoi(v);
    else if (k == "--window") o.window = std::stoi(v);
    else if (k == "--size") o.size = std::stoi(v);
    else if (k == "--messages") o.messages = std::stol(v);
    else Die("unknown option " + k);
  }
  if (o.system != "aimass" && o.system != "redis" && o.system != "nats") Die("--system aimass|redis|nats");
  Setup(o);
  Tally tally(o.messages);
  std::vector<std::vector<int64_t>> lat(static_cast<size_t>(o.consumers));
  std::vector<std::thread> threads;
  int64_t start = NowNs();
  std::atomic<int64_t> published_ns{0};
  std::atomic<int> producing{o.producers};
  for (int c = 0; c < o.consumers; ++c) {
    threads.emplace_back([&, c] {
      lat[static_cast<size_t>(c)].reserve(static_cast<size_t>(o.messages / o.consumers * 2));
      if (o.system == "aimass") ConsumeAimass(o, c, tally, lat[static_cast<size_t>(c)]);
      else if (o.system == "redis") ConsumeRedis(o, c, tally, lat[static_cast<size_t>(c)]);
      else ConsumeNats(o, c, tally, lat[static_cast<size_t>(c)]);
    });
  }
  for (int p = 0; p < o.producers; ++p) {
    long share = o.messages / o.producers + (p < o.messages % o.producers ? 1 : 0);
    long first = p * (o.messages / o.producers) + std::min<long>(p, o.messages % o.producers);
    threads.emplace_back([&, p, share, first] {
      if (o.system == "aimass") ProduceAimass(o, p, first, share);
      else if (o.system == "redis") ProduceRedis(o, p, first, share);
      else ProduceNats(o, p, first, share);
      if (--producing == 0) published_ns = NowNs();
    });
  }
  // Consumers blocked in a stream's read are cancelled once everything arrived.
  int64_t give_up = NowNs() + 600ll * 1000000000;
  while (!tally.Done()) {
    if (NowNs() > give_up) Die("not every message arrived within 600 s (" + std::to_string(tally.distinct.load()) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard lock(g_consumers_mu);
    for (auto* c : g_consumers) c->Cancel();
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[static_cast<size_t>(q * static_cast<double>(all.size() - 1))] / 1000.0; };
  double pub_s = static_cast<double>(published_ns - start) / 1e9;
  double e2e_s = static_cast<double>(tally.last_ns - start) / 1e9;
  std::printf("MQLOAD publish_rps=%.0f e2e_rps=%.0f p50_us=%.0f p99_us=%.0f duplicates=%ld\n",
              static_cast<double>(o.messages) / pub_s, static_cast<double>(o.messages) / e2e_s, pct(0.5), pct(0.99),
              tally.duplicates.load());
  return 0;
}
