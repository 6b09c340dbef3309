#include "serving/llm_runner.hpp"

#include <chrono>

namespace aimass::serving {

namespace {
using Clock = std::chrono::steady_clock;
uint64_t Ns(Clock::duration d) { return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()); }
}  // namespace

class LlmRunner::Observer : public llm::EngineObserver {
 public:
  explicit Observer(LlmRunner& r) : r_(r) {}
  void FirstToken(double s) override { r_.stats_->RecordFirstToken(s); }
  void InterToken(double s) override { r_.stats_->RecordInterToken(s); }
  void Finished(int64_t prompt, int64_t completion) override { r_.stats_->RecordTokens(prompt, completion); }
  void State(const llm::EngineStats&) override { r_.PublishState(); }

 private:
  LlmRunner& r_;
};

Result<std::unique_ptr<LlmRunner>> LlmRunner::Start(const LoadSpec& spec, const RunnerOptions& options, InferenceStats& stats) {
  std::unique_ptr<LlmRunner> r(new LlmRunner());
  r->spec_ = spec;
  r->options_ = options;
  r->stats_ = &stats;
  r->observer_ = std::make_unique<Observer>(*r);
  stats.EnableLlm();
  AIMASS_RETURN_IF_ERROR(r->Resize(std::max(1, options.instances)));
  return r;
}

LlmRunner::~LlmRunner() {
  std::vector<std::shared_ptr<llm::Engine>> engines;
  {
    std::lock_guard lock(mu_);
    engines.swap(engines_);
  }
  engines.clear();  // requests still holding an engine keep it until they end
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
  AIMASS_ASSIGN_OR_RETURN(auto engine, llm::Engine::Load(spec_.files, e, observer_.get()));
  return std::shared_ptr<llm::Engine>(std::move(engine));
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
        // Leaving engines finish the sequences they hold (their requests keep them alive).
        engines_.resize(static_cast<size_t>(n));
        break;
      }
    }
    if (static_cast<int>(have) == n) break;
    AIMASS_ASSIGN_OR_RETURN(auto engine, LoadOne());
    std::lock_guard lock(mu_);
    engines_.push_back(std::move(engine));
  }
  PublishState();
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

void LlmRunner::PublishState() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a resize is swapping engines: the next step reports
  int running = 0, waiting = 0;
  int64_t used = 0, total = 0;
  for (const auto& e : engines_) {
    const llm::EngineStats s = e->stats();
    running += s.running;
    waiting += s.waiting;
    used += s.kv_blocks_used;
    total += s.kv_blocks_total;
  }
  stats_->SetLlmState(running, waiting, used, total);
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
  stats_->AddPending(1);
  auto settled = h.settled;
  InferenceStats* stats = stats_;
  auto first = std::make_shared<Clock::time_point>();
  auto id = h.engine->Submit(std::move(request), [settled, stats, start, first, on_update = std::move(on_update)](
                                                     llm::GenerateUpdate&& u) {
    if (first->time_since_epoch().count() == 0) *first = Clock::now();
    const bool last = u.finish_reason.has_value();
    const bool failed = last && *u.finish_reason == "error";
    on_update(std::move(u));
    if (last && !settled->exchange(true)) {
      stats->AddPending(-1);
      if (failed) {
        stats->RecordFailure("model_error", Ns(Clock::now() - start));
      } else {
        stats->RecordSuccesses({{Ns(Clock::now() - start), Ns(*first - start)}});
      }
    }
  });
  if (!id.ok()) {
    stats_->AddPending(-1);
    stats_->RecordFailure("bad_request", Ns(Clock::now() - start));
    return id.status();
  }
  h.id = *id;
  return h;
}

void LlmRunner::Cancel(const Handle& h) {
  if (!h.engine) return;
  h.engine->Cancel(h.id);
  if (!h.settled->exchange(true)) {
    stats_->AddPending(-1);
    stats_->RecordFailure("cancelled", 0);
  }
}

}  // namespace aimass::serving
