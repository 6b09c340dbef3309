#include "serving/inference_stats.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <vector>

#include "common/time.hpp"

namespace aimass::serving {

namespace {
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                            0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                            1,      2.5,     5,      10};
  return b;
}
const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  return b;
}
}  // namespace

// prometheus-cpp hands out one metric per label set: a runner replacing another of the same
// deployment and version (a PATCH that reloads it) gets the very same series. So series are
// counted here and removed only when their last user goes.
namespace {
std::mutex series_mu;
std::map<const void*, int> series_users;

// `add` runs under the lock too: a release between Add and the count would remove the series
// this caller is about to use.
template <typename Add>
auto* Acquire(Add add) {
  std::lock_guard lock(series_mu);
  auto* metric = &add();
  series_users[metric]++;
  return metric;
}

template <typename F, typename T>
void Release(F* family, T* metric) {
  std::lock_guard lock(series_mu);
  if (--series_users[metric] > 0) return;
  series_users.erase(metric);
  family->Remove(metric);
}
}  // namespace

// Families are process-wide (one per metric name); each InferenceStats adds its labelled
// series and releases them when the version is unloaded.
struct InferenceStats::Prom {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>* requests_family = nullptr;
  prometheus::Family<prometheus::Histogram>* queue_family = nullptr;
  prometheus::Family<prometheus::Histogram>* compute_family = nullptr;
  prometheus::Family<prometheus::Histogram>* batch_family = nullptr;
  prometheus::Family<prometheus::Gauge>* pending_family = nullptr;
  prometheus::Family<prometheus::Counter>* busy_family = nullptr;
  std::map<std::string, std::string> labels;
  std::map<std::string, prometheus::Counter*> requests;  // by outcome
  prometheus::Histogram* queue = nullptr;
  prometheus::Histogram* compute = nullptr;
  prometheus::Histogram* batch = nullptr;
  prometheus::Gauge* pending = nullptr;
  prometheus::Counter* busy = nullptr;
  // Language models only.
  prometheus::Family<prometheus::Histogram>* ttft_family = nullptr;
  prometheus::Family<prometheus::Histogram>* itl_family = nullptr;
  prometheus::Family<prometheus::Counter>* tokens_family = nullptr;
  prometheus::Family<prometheus::Gauge>* llm_gauge_family = nullptr;
  prometheus::Histogram* ttft = nullptr;
  prometheus::Histogram* itl = nullptr;
  prometheus::Counter* prompt_tokens = nullptr;
  prometheus::Counter* generated_tokens = nullptr;
  prometheus::Gauge* running = nullptr;
  prometheus::Gauge* waiting = nullptr;
  prometheus::Gauge* kv_used = nullptr;
  prometheus::Gauge* kv_total = nullptr;

  prometheus::Counter& Outcome(const std::string& outcome) {
    auto it = requests.find(outcome);
    if (it != requests.end()) return *it->second;
    auto l = labels;
    l["outcome"] = outcome;
    prometheus::Counter* c = Acquire([&]() -> auto& { return requests_family->Add(l); });
    requests[outcome] = c;
    return *c;
  }
};

namespace {
// Building the same family twice on one registry returns the existing one.
template <typename Builder>
auto& Family(Builder b, const char* name, const char* help, prometheus::Registry& r) {
  return b.Name(name).Help(help).Register(r);
}
}  // namespace

InferenceStats::InferenceStats(std::shared_ptr<prometheus::Registry> registry, const std::string& deployment,
                               const std::string& version)
    : prom_(std::make_unique<Prom>()) {
  if (!registry) return;
  Prom& p = *prom_;
  p.registry = registry;
  p.labels = {{"deployment", deployment}, {"version", version}};
  p.requests_family = &Family(prometheus::BuildCounter(), "aimass_inference_requests_total",
                              "Inference requests by outcome (success, bad_request, queue_full, timeout, model_error)",
                              *registry);
  p.queue_family = &Family(prometheus::BuildHistogram(), "aimass_inference_queue_seconds",
                           "Time requests waited in the deployment's queue", *registry);
  p.compute_family = &Family(prometheus::BuildHistogram(), "aimass_inference_compute_seconds",
                             "Model execution time per batch", *registry);
  p.batch_family = &Family(prometheus::BuildHistogram(), "aimass_inference_batch_size",
                           "Requests per model execution", *registry);
  p.pending_family = &Family(prometheus::BuildGauge(), "aimass_inference_pending_requests",
                             "Requests queued or running", *registry);
  p.busy_family = &Family(prometheus::BuildCounter(), "aimass_inference_instance_busy_seconds_total",
                          "Seconds instances spent executing (rate / instances = utilisation)", *registry);
  p.queue = Acquire([&]() -> auto& { return p.queue_family->Add(p.labels, LatencyBuckets()); });
  p.compute = Acquire([&]() -> auto& { return p.compute_family->Add(p.labels, LatencyBuckets()); });
  p.batch = Acquire([&]() -> auto& { return p.batch_family->Add(p.labels, BatchBuckets()); });
  p.pending = Acquire([&]() -> auto& { return p.pending_family->Add(p.labels); });
  p.busy = Acquire([&]() -> auto& { return p.busy_family->Add(p.labels); });
}

InferenceStats::~InferenceStats() {
  Prom& p = *prom_;
  if (!p.registry) return;
  for (auto& [_, c] : p.requests) Release(p.requests_family, c);
  Release(p.queue_family, p.queue);
  Release(p.compute_family, p.compute);
  Release(p.batch_family, p.batch);
  Release(p.pending_family, p.pending);
  Release(p.busy_family, p.busy);
  if (p.ttft) {
    Release(p.ttft_family, p.ttft);
    Release(p.itl_family, p.itl);
    Release(p.tokens_family, p.prompt_tokens);
    Release(p.tokens_family, p.generated_tokens);
    for (auto* g : {p.running, p.waiting, p.kv_used, p.kv_total}) Release(p.llm_gauge_family, g);
  }
}

void InferenceStats::EnableLlm() {
  Prom& p = *prom_;
  if (!p.registry || p.ttft) return;
  static const prometheus::Histogram::BucketBoundaries token_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  p.ttft_family = &Family(prometheus::BuildHistogram(), "aimass_llm_time_to_first_token_seconds",
                          "Time from a generation request to its first token", *p.registry);
  p.itl_family = &Family(prometheus::BuildHistogram(), "aimass_llm_inter_token_seconds",
                         "Time between a sequence's tokens", *p.registry);
  p.tokens_family = &Family(prometheus::BuildCounter(), "aimass_llm_tokens_total",
                            "Tokens processed, by kind (prompt, generated)", *p.registry);
  p.llm_gauge_family = &Family(prometheus::BuildGauge(), "aimass_llm_engine",
                               "Sequences running and waiting, KV cache blocks used and in all (by state)", *p.registry);
  auto with = [&](const char* key, const char* value) {
    auto l = p.labels;
    l[key] = value;
    return l;
  };
  p.ttft = Acquire([&]() -> auto& { return p.ttft_family->Add(p.labels, token_buckets); });
  p.itl = Acquire([&]() -> auto& { return p.itl_family->Add(p.labels, token_buckets); });
  p.prompt_tokens = Acquire([&]() -> auto& { return p.tokens_family->Add(with("kind", "prompt")); });
  p.generated_tokens = Acquire([&]() -> auto& { return p.tokens_family->Add(with("kind", "generated")); });
  p.running = Acquire([&]() -> auto& { return p.llm_gauge_family->Add(with("state", "running")); });
  p.waiting = Acquire([&]() -> auto& { return p.llm_gauge_family->Add(with("state", "waiting")); });
  p.kv_used = Acquire([&]() -> auto& { return p.llm_gauge_family->Add(with("state", "kv_blocks_used")); });
  p.kv_total = Acquire([&]() -> auto& { return p.llm_gauge_family->Add(with("state", "kv_blocks_total")); });
}

void InferenceStats::RecordFirstToken(double seconds) { RecordTiming(seconds, true); }

void InferenceStats::RecordInterToken(double seconds) { RecordTiming(seconds, false); }

void InferenceStats::RecordTiming(double seconds, bool first) {
  if (prometheus::Histogram* h = first ? prom_->ttft : prom_->itl) h->Observe(seconds);
  std::lock_guard lock(mu_);
  timings_.push_back({std::chrono::steady_clock::now(), static_cast<uint32_t>(std::min(seconds * 1e6, 4e9)), first});
  if (timings_.size() > 100000) timings_.pop_front();
}

void InferenceStats::RecordTokens(int64_t prompt, int64_t completion) {
  if (prom_->prompt_tokens) {
    prom_->prompt_tokens->Increment(static_cast<double>(prompt));
    prom_->generated_tokens->Increment(static_cast<double>(completion));
  }
  std::lock_guard lock(mu_);
  llm_.prompt_tokens += static_cast<uint64_t>(prompt);
  llm_.generated_tokens += static_cast<uint64_t>(completion);
}

void InferenceStats::SetLlmState(int running, int waiting, int64_t kv_used, int64_t kv_total) {
  if (prom_->running) {
    prom_->running->Set(running);
    prom_->waiting->Set(waiting);
    prom_->kv_used->Set(static_cast<double>(kv_used));
    prom_->kv_total->Set(static_cast<double>(kv_total));
  }
  std::lock_guard lock(mu_);
  llm_.running = running;
  llm_.waiting = waiting;
  llm_.kv_blocks_used = kv_used;
  llm_.kv_blocks_total = kv_total;
}

LlmSnapshot InferenceStats::Llm(std::chrono::seconds window) const {
  const auto since = std::chrono::steady_clock::now() - window;
  std::vector<uint32_t> first, between;
  LlmSnapshot out;
  {
    std::lock_guard lock(mu_);
    out = llm_;
    for (auto it = timings_.rbegin(); it != timings_.rend() && it->at >= since; ++it) {
      (it->first ? first : between).push_back(it->us);
    }
  }
  auto pct = [](std::vector<uint32_t>& v, double q) {
    if (v.empty()) return 0.0;
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k] / 1000.0;
  };
  out.ttft_p50_ms = pct(first, 0.5);
  out.ttft_p99_ms = pct(first, 0.99);
  out.itl_p50_ms = pct(between, 0.5);
  out.itl_p99_ms = pct(between, 0.99);
  out.tokens_per_s = static_cast<double>(first.size() + between.size()) / static_cast<double>(std::max<int64_t>(1, window.count()));
  return out;
}

void InferenceStats::RecordSuccesses(const std::vector<Served>& served) {
  auto now = std::chrono::steady_clock::now();
  int64_t now_ms = UnixNowMs();
  std::lock_guard lock(mu_);
  for (const Served& one : served) {
    s_.success.count++;
    s_.success.ns += one.total_ns;
    s_.queue.count++;
    s_.queue.ns += one.queue_ns;
    recent_.push_back({now, static_cast<uint32_t>(std::min<uint64_t>(one.total_ns / 1000, UINT32_MAX)), true,
                       static_cast<uint32_t>(std::min<uint64_t>(one.queue_ns / 1000, UINT32_MAX))});
    if (recent_.size() > 100000) recent_.pop_front();
    if (prom_->registry) prom_->queue->Observe(one.queue_ns / 1e9);
  }
  s_.last_inference_ms = now_ms;
  if (prom_->registry) prom_->Outcome("success").Increment(static_cast<double>(served.size()));
}

void InferenceStats::RecordFailure(const std::string& reason, uint64_t total_ns) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  s_.fail.count++;
  s_.fail.ns += total_ns;
  s_.failures[reason]++;
  // A client's bad input, or a client leaving, says nothing about the version's health;
  // everything else counts against it in the canary window.
  if (reason != "bad_request" && reason != "cancelled") {
    recent_.push_back({now, static_cast<uint32_t>(std::min<uint64_t>(total_ns / 1000, UINT32_MAX)), false});
    if (recent_.size() > 100000) recent_.pop_front();
  }
  if (prom_->registry) prom_->Outcome(reason).Increment();
}

void InferenceStats::RecordExecution(int64_t requests, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns) {
  std::lock_guard lock(mu_);
  s_.execution_count++;
  s_.inference_count += static_cast<uint64_t>(requests);
  for (auto [d, ns] : {std::pair{&s_.compute_input, input_ns}, std::pair{&s_.compute_infer, infer_ns},
                       std::pair{&s_.compute_output, output_ns}}) {
    d->count += static_cast<uint64_t>(requests);
    d->ns += ns * static_cast<uint64_t>(requests);
  }
  Duration& b = s_.batches[requests];
  b.count++;
  b.ns += infer_ns;
  if (prom_->registry) {
    prom_->compute->Observe((input_ns + infer_ns + output_ns) / 1e9);
    prom_->batch->Observe(static_cast<double>(requests));
  }
}

void InferenceStats::AddPending(int delta) {
  pending_.fetch_add(delta, std::memory_order_relaxed);
  if (!prom_->registry) return;
  if (delta >= 0) {
    prom_->pending->Increment(delta);
  } else {
    prom_->pending->Decrement(-delta);
  }
}

void InferenceStats::AddBusy(uint64_t ns) {
  std::lock_guard lock(mu_);
  s_.busy_seconds += ns / 1e9;
  if (prom_->registry) prom_->busy->Increment(ns / 1e9);
}

StatsSnapshot InferenceStats::Snapshot() const {
  std::lock_guard lock(mu_);
  StatsSnapshot s = s_;
  s.pending = static_cast<uint64_t>(std::max<int64_t>(0, pending_.load(std::memory_order_relaxed)));
  return s;
}

WindowStats InferenceStats::Window(std::chrono::seconds window) const {
  auto since = std::chrono::steady_clock::now() - window;
  std::vector<uint32_t> lat, queued;
  WindowStats w;
  std::lock_guard lock(mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend() && it->at >= since; ++it) {
    w.requests++;
    if (!it->ok) w.errors++;
    lat.push_back(it->us);
    if (it->ok) queued.push_back(it->queue_us);
  }
  if (!queued.empty()) {
    auto mid = queued.begin() + static_cast<long>(queued.size() / 2);
    std::nth_element(queued.begin(), mid, queued.end());
    w.queue_p50_ms = *mid / 1000.0;
  }
  if (!lat.empty()) {
    auto at = [&lat](double q) {
      size_t k = std::min(lat.size() - 1, static_cast<size_t>(lat.size() * q));
      std::nth_element(lat.begin(), lat.begin() + static_cast<long>(k), lat.end());
      return lat[k] / 1000.0;
    };
    w.p99_ms = at(0.99);
    w.p50_ms = at(0.50);  // after p99: nth_element keeps what is below the 99th in front
  }
  return w;
}

void InferenceStats::ResetWindow() {
  std::lock_guard lock(mu_);
  recent_.clear();
}

}  // namespace aimass::serving
