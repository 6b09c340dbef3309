#include "serving/llm_runner.hpp"

#include <chrono>
#include <map>

namespace aimass::serving {

namespace {
using Clock = std::chrono::steady_clock;
uint64_t Ns(Clock::duration d) { return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()); }
}  // namespace

struct LlmRunner::Sink {
  std::mutex mu;
  InferenceStats* stats = nullptr;  // null once the runner is gone
  std::map<const void*, llm::EngineStats> engines;  // each serving engine's last state, by observer

  template <typename F>
  void With(F f) {
    std::lock_guard lock(mu);
    if (stats) f(*stats);
  }
};

// One engine's reports, into the sink; its State joins the other engines' into the gauges.
class LlmRunner::Observer : public llm::EngineObserver {
 public:
  explicit Observer(std::shared_ptr<Sink> sink) : sink_(std::move(sink)) {}
  void FirstToken(double s) override {
    sink_->With([&](InferenceStats& st) { st.RecordFirstToken(s); });
  }
  void InterToken(double s) override {
    sink_->With([&](InferenceStats& st) { st.RecordInterToken(s); });
  }
  void Finished(int64_t prompt, int64_t completion) override {
    sink_->With([&](InferenceStats& st) { st.RecordTokens(prompt, completion); });
  }
  void State(const llm::EngineStats& s) override {
    std::lock_guard lock(sink_->mu);
    auto it = sink_->engines.find(this);
    if (!sink_->stats || it == sink_->engines.end()) return;  // the runner, or this engine, left
    it->second = s;
    Publish(*sink_);
  }
  // The gauges: every serving engine's sequences and blocks together. Sink's mu held.
  static void Publish(Sink& sink) {
    int running = 0, waiting = 0;
    int64_t used = 0, total = 0;
    for (const auto& [_, e] : sink.engines) {
      running += e.running;
      waiting += e.waiting;
      used += e.kv_blocks_used;
      total += e.kv_blocks_total;
    }
    if (sink.stats) sink.stats->SetLlmState(running, waiting, used, total);
  }

 private:
  std::shared_ptr<Sink> sink_;
};

Result<std::unique_ptr<LlmRunner>> LlmRunner::Start(const LoadSpec& spec, const RunnerOptions& options, InferenceStats& stats) {
  std::unique_ptr<LlmRunner> r(new LlmRunner());
  r->spec_ = spec;
  r->options_ = options;
  r->sink_ = std::make_shared<Sink>();
  r->sink_->stats = &stats;
  stats.EnableLlm();
  AIMASS_RETURN_IF_ERROR(r->Resize(std::max(1, options.instances)));
  return r;
}

LlmRunner::~LlmRunner() {
  {
    std::lock_guard lock(sink_->mu);
    sink_->stats = nullptr;  // requests still holding an engine report nowhere from now on
    sink_->engines.clear();
  }
  std::vector<std::shared_ptr<llm::Engine>> engines;
  {
    std::lock_guard lock(mu_);
    engines.swap(engines_);
  }
  engines.clear();  // each engine goes with its last request (outside the lock: this may join its thread)
}

Result<std::shared_ptr<llm::Engine>> LlmRunner::LoadOne() {
  const LlmOptions& o = options_.llm;
  llm::EngineOptions e;
  e.threads = o.threads;
  e.kv_cache_bytes = o.kv_cache_mb << 20;
  e.max_seqs = o.max_seqs;
  e.max_batch_tokens = o.max_batch_tokens;
  e.max_model_len = o.max_model_len;
  e.int8 = o.int8;
  e.chat_template = o.chat_template;
  auto observer = std::make_shared<Observer>(sink_);
  AIMASS_ASSIGN_OR_RETURN(auto engine, llm::Engine::Load(spec_.files, e, observer));
  {
    std::lock_guard lock(sink_->mu);
    sink_->engines[observer.get()] = engine->stats();
    Observer::Publish(*sink_);
  }
  std::lock_guard lock(mu_);
  engines_.push_back(std::move(engine));
  observers_.push_back(std::move(observer));
  return engines_.back();
}

Status LlmRunner::Resize(int n) {
  n = std::max(1, n);
  std::lock_guard resizing(resize_mu_);
  for (;;) {
    size_t have;
    {
      std::lock_guard lock(mu_);
      have = engines_.size();
      if (static_cast<int>(have) > n) {
        // Leaving engines finish the sequences they hold (their requests keep them alive);
        // their numbers leave the gauges.
        std::lock_guard sink(sink_->mu);
        for (size_t i = static_cast<size_t>(n); i < have; ++i) sink_->engines.erase(observers_[i].get());
        Observer::Publish(*sink_);
        engines_.resize(static_cast<size_t>(n));
        observers_.resize(static_cast<size_t>(n));
        break;
      }
    }
    if (static_cast<int>(have) == n) break;
    AIMASS_RETURN_IF_ERROR(LoadOne().status());
  }
  return Status::Ok();
}

int LlmRunner::instances() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(engines_.size());
}

const llm::Engine& LlmRunner::model() const {
  std::lock_guard lock(mu_);
  return *engines_.front();
}

Result<LlmRunner::Handle> LlmRunner::Submit(llm::GenerateRequest request, llm::UpdateFn on_update) {
  Handle h;
  {
    std::lock_guard lock(mu_);
    int best = INT32_MAX;
    for (const auto& e : engines_) {
      const llm::EngineStats s = e->stats();
      if (s.running + s.waiting < best) {
        best = s.running + s.waiting;
        h.engine = e;
      }
    }
  }
  if (!h.engine) return Status::Unavailable("the model is not loaded");
  h.settled = std::make_shared<std::atomic<bool>>(false);
  const auto start = Clock::now();
  sink_->With([](InferenceStats& stats) { stats.AddPending(1); });
  auto settled = h.settled;
  auto first = std::make_shared<Clock::time_point>();
  auto id = h.engine->Submit(std::move(request), [settled, sink = sink_, start, first, on_update = std::move(on_update)](
                                                     llm::GenerateUpdate&& u) {
    if (first->time_since_epoch().count() == 0) *first = Clock::now();
    const bool last = u.finish_reason.has_value();
    const bool failed = last && *u.finish_reason == "error";
    on_update(std::move(u));
    if (last && !settled->exchange(true)) {
      sink->With([&](InferenceStats& stats) {
        stats.AddPending(-1);
        if (failed) {
          stats.RecordFailure("model_error", Ns(Clock::now() - start));
        } else {
          stats.RecordSuccesses({{Ns(Clock::now() - start), Ns(*first - start)}});
        }
      });
    }
  });
  if (!id.ok()) {
    sink_->With([&](InferenceStats& stats) {
      stats.AddPending(-1);
      stats.RecordFailure("bad_request", Ns(Clock::now() - start));
    });
    return id.status();
  }
  h.id = *id;
  return h;
}

void LlmRunner::Cancel(const Handle& h) {
  if (!h.engine) return;
  h.engine->Cancel(h.id);
  if (!h.settled->exchange(true)) {
    sink_->With([](InferenceStats& stats) {
      stats.AddPending(-1);
      stats.RecordFailure("cancelled", 0);
    });
  }
}

}  // namespace aimass::serving
