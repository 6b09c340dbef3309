#include "llm/engine.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "common/file.hpp"
#include "common/thread_name.hpp"
#include "llm/kv_cache.hpp"
#include "llm/safetensors.hpp"
#include "llm/transformer.hpp"
#include "llm/weights.hpp"
#include "llm/worker_pool.hpp"

namespace aimass::llm {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The tokenizer a directory has: tokenizer.model (SentencePiece), else tokenizer.json; its ids
// must lie within the model's vocabulary.
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::map<std::string, std::string>& files,
                                                 const ModelConfig& config) {
  Result<std::unique_ptr<Tokenizer>> tokenizer = Status::Unprocessable("the model directory has no tokenizer.model or tokenizer.json");
  if (auto it = files.find("tokenizer.model"); it != files.end()) {
    tokenizer = LoadSentencePiece(it->second);
  } else if (auto json = files.find("tokenizer.json"); json != files.end()) {
    tokenizer = LoadByteLevelBpe(json->second);
  }
  if (tokenizer.ok() && (*tokenizer)->vocab_size() > config.vocab_size) {
    return Status::Unprocessable("the tokenizer has " + std::to_string((*tokenizer)->vocab_size()) +
                                 " tokens, more than the config's vocab_size " + std::to_string(config.vocab_size));
  }
  return tokenizer;
}

Result<ModelConfig> LoadConfig(const std::map<std::string, std::string>& files) {
  auto it = files.find("config.json");
  if (it == files.end()) return Status::Unprocessable("the model directory has no config.json");
  auto text = ReadFile(it->second);
  if (!text.ok()) return Status::Unprocessable("config.json cannot be read");
  return ModelConfig::Parse(*text);
}

// Whether `text` ends inside a UTF-8 character or with the replacement character a partial
// byte sequence decodes to: more tokens will change its end.
bool EndsUnfinished(const std::string& text) {
  if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return true;
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back;
  }
  return false;
}

}  // namespace

struct Sequence {
  uint64_t id = 0;
  GenerateRequest req;
  UpdateFn on_update;
  std::vector<int> tokens;  // prompt, then generated
  int64_t prompt_len = 0;
  int64_t computed = 0;     // positions whose keys and values are in the cache
  std::vector<int64_t> blocks;
  std::unique_ptr<Sampler> sampler;
  std::unordered_map<int, int> seen, generated;
  std::vector<int> output;  // generated ids that count as text (not EOS)
  size_t sent = 0;          // bytes of the output text already given out
  std::vector<Sampled> pending_tokens;
  Clock::time_point submitted, last_token;
  bool started = false;
  bool cancelled = false;
  int64_t completion() const { return static_cast<int64_t>(tokens.size()) - prompt_len; }
};

struct Engine::Impl {
  EngineOptions options;
  std::shared_ptr<EngineObserver> observer;
  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  ChatTemplate chat;
  std::unique_ptr<Weights> weights;
  std::unique_ptr<KvCache> cache;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<Transformer> model;
  int64_t max_len = 0;
  std::unordered_set<int> eos;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Sequence>> incoming;
  std::vector<uint64_t> cancels;
  bool stopping = false;
  uint64_t next_id = 1;
  std::atomic<int> running_count{0}, waiting_count{0};
  std::atomic<int64_t> blocks_used{0};
  std::atomic<uint64_t> prompt_tokens{0}, generated_tokens{0}, preemptions{0}, steps{0};

  // The engine thread's own.
  std::vector<std::unique_ptr<Sequence>> running;  // in admission order
  std::deque<std::unique_ptr<Sequence>> waiting;
  std::vector<float> logits;
  std::vector<float> scratch;  // one row of logits for the sampler
  std::thread thread;

  void Loop();
  void Step();
  void Release(Sequence& s) {
    for (int64_t b : s.blocks) cache->Free(b);
    s.blocks.clear();
    s.computed = 0;
    blocks_used.store(cache->used_blocks());
  }
  bool Reserve(Sequence& s, int64_t positions) {
    const int64_t need = (positions + cache->block_tokens() - 1) / cache->block_tokens();
    while (static_cast<int64_t>(s.blocks.size()) < need) {
      const int64_t b = cache->Allocate();
      if (b < 0) return false;
      s.blocks.push_back(b);
    }
    return true;
  }
  // The sequence's last update: `rest` is the text not given out yet (none for an error).
  void Finish(Sequence& s, const std::string& reason, std::string rest, const std::string& error = "");
  // The text of the output not given out yet.
  std::string Unsent(const Sequence& s) const {
    std::string text = tokenizer->Decode(s.output);
    return text.size() > s.sent ? text.substr(s.sent) : std::string();
  }
  void Emit(Sequence& s);
  void OnLogits(Sequence& s, const float* row);
  void Report();
};

Result<std::unique_ptr<Engine>> Engine::Load(const std::map<std::string, std::string>& files, const EngineOptions& options,
                                             std::shared_ptr<EngineObserver> observer) {
  AIMASS_ASSIGN_OR_RETURN(ModelConfig config, LoadConfig(files));
  AIMASS_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(files, config));
  std::string tokenizer_config;
  if (auto it = files.find("tokenizer_config.json"); it != files.end()) {
    auto text = ReadFile(it->second);
    if (text.ok()) tokenizer_config = std::move(*text);
  }
  ChatTemplate chat;
  if (options.chat_template.empty()) {
    chat = ChatTemplate::Detect(tokenizer_config, *tokenizer);
  } else {
    AIMASS_ASSIGN_OR_RETURN(chat, ChatTemplate::Named(options.chat_template, *tokenizer));
  }
  AIMASS_ASSIGN_OR_RETURN(auto wf, WeightFiles::Open(files));
  AIMASS_ASSIGN_OR_RETURN(auto weights, Weights::Load(config, std::move(wf), options.int8));
  return Create(std::move(config), std::move(weights), std::move(tokenizer), std::move(chat), options, std::move(observer));
}

std::unique_ptr<Engine> Engine::Create(ModelConfig config, std::unique_ptr<Weights> weights,
                                       std::unique_ptr<Tokenizer> tokenizer, ChatTemplate chat,
                                       const EngineOptions& options, std::shared_ptr<EngineObserver> observer) {
  std::unique_ptr<Engine> e(new Engine());
  e->impl_ = std::make_shared<Impl>();
  Impl& m = *e->impl_;
  m.options = options;
  m.observer = std::move(observer);
  m.config = std::move(config);
  m.tokenizer = std::move(tokenizer);
  m.chat = std::move(chat);
  m.weights = std::move(weights);
  m.max_len = options.max_model_len > 0 ? std::min(options.max_model_len, m.config.max_position_embeddings)
                                        : m.config.max_position_embeddings;
  m.cache = std::make_unique<KvCache>(m.config.num_hidden_layers, m.config.num_key_value_heads, m.config.head_dim,
                                      options.block_tokens, options.kv_cache_bytes);
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  m.pool = std::make_unique<WorkerPool>(std::max(1, threads));
  m.model = std::make_unique<Transformer>(m.config, *m.weights, *m.cache, *m.pool);
  for (int64_t id : m.config.eos_token_ids) m.eos.insert(static_cast<int>(id));
  if (m.tokenizer->eos() >= 0) m.eos.insert(m.tokenizer->eos());
  for (int id : m.chat.stop_tokens()) m.eos.insert(id);
  // The thread keeps the engine's state alive: it may outlive the Engine (see ~Engine).
  m.thread = NamedThread("llm-engine", [impl = e->impl_] { impl->Loop(); });
  return e;
}

Status Engine::Validate(const std::map<std::string, std::string>& files) {
  AIMASS_ASSIGN_OR_RETURN(ModelConfig config, LoadConfig(files));
  AIMASS_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(files, config));
  AIMASS_ASSIGN_OR_RETURN(auto headers, WeightFiles::Headers(files));
  return Weights::Check(config, headers);
}

Engine::~Engine() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (!impl_->thread.joinable()) return;
  if (impl_->thread.get_id() == std::this_thread::get_id()) {
    impl_->thread.detach();  // called from a callback on the engine's thread: it ends after its step
  } else {
    impl_->thread.join();
  }
}

Result<uint64_t> Engine::Submit(GenerateRequest request, UpdateFn on_update) {
  Impl& m = *impl_;
  AIMASS_RETURN_IF_ERROR(request.sampling.Validate());
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  if (prompt == 0) return Status::BadRequest("the prompt is empty");
  for (int t : request.prompt) {
    if (t < 0 || t >= m.config.vocab_size) return Status::BadRequest("prompt token " + std::to_string(t) + " is not in the vocabulary");
  }
  if (request.max_tokens < 0) return Status::BadRequest("max_tokens must be positive");
  const int64_t wanted = prompt + std::max<int64_t>(1, request.max_tokens);
  if (prompt >= m.max_len || (request.max_tokens > 0 && wanted > m.max_len)) {
    return Status::BadRequest("This model's maximum context length is " + std::to_string(m.max_len) +
                              " tokens. However, you requested " + std::to_string(wanted) + " tokens (" +
                              std::to_string(prompt) + " in the prompt, " +
                              std::to_string(wanted - prompt) + " for the completion).");
  }
  const int64_t capacity = m.cache->blocks() * m.cache->block_tokens();
  if (prompt + 1 > capacity) {
    return Status::BadRequest("the prompt needs more KV cache than the deployment has (" + std::to_string(capacity) +
                              " tokens): raise llm.kv_cache_mb");
  }
  auto s = std::make_unique<Sequence>();
  s->req = std::move(request);
  s->on_update = std::move(on_update);
  s->tokens = s->req.prompt;
  s->prompt_len = prompt;
  s->sampler = std::make_unique<Sampler>(s->req.sampling);
  for (int t : s->tokens) ++s->seen[t];
  s->submitted = Clock::now();
  uint64_t id;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) return Status::Unavailable("the model is being unloaded");
    id = s->id = m.next_id++;
    m.incoming.push_back(std::move(s));
    m.waiting_count.fetch_add(1);
  }
  m.cv.notify_one();
  return id;
}

void Engine::Cancel(uint64_t id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->cancels.push_back(id);
  }
  impl_->cv.notify_one();
}

const ModelConfig& Engine::config() const { return impl_->config; }
const Tokenizer& Engine::tokenizer() const { return *impl_->tokenizer; }
const ChatTemplate& Engine::chat_template() const { return impl_->chat; }
int64_t Engine::max_model_len() const { return impl_->max_len; }
size_t Engine::weight_bytes_per_token() const { return impl_->weights->bytes_per_token(); }

EngineStats Engine::stats() const {
  const Impl& m = *impl_;
  EngineStats s;
  s.running = m.running_count.load();
  s.waiting = m.waiting_count.load();
  s.kv_blocks_used = m.blocks_used.load();
  s.kv_blocks_total = m.cache->blocks();
  s.prompt_tokens = m.prompt_tokens.load();
  s.generated_tokens = m.generated_tokens.load();
  s.preemptions = m.preemptions.load();
  s.steps = m.steps.load();
  return s;
}

void Engine::Impl::Loop() {
  for (;;) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopping || !incoming.empty() || !cancels.empty() || !running.empty() || !waiting.empty(); });
      if (stopping) break;
    }
    Step();
  }
  {
    std::lock_guard lock(mu);
    for (auto& s : incoming) waiting.push_back(std::move(s));
    incoming.clear();
  }
  // Outside the lock: a callback may call back into the engine (Submit answers unavailable).
  for (auto& s : running) Finish(*s, "error", {}, "the model was unloaded");
  for (auto& s : waiting) Finish(*s, "error", {}, "the model was unloaded");
  running.clear();
  waiting.clear();
}

void Engine::Impl::Finish(Sequence& s, const std::string& reason, std::string rest, const std::string& error) {
  Release(s);
  if (s.cancelled) return;
  GenerateUpdate u;
  u.finish_reason = reason;
  u.error = error;
  u.text = std::move(rest);
  u.tokens = std::move(s.pending_tokens);
  u.prompt_tokens = s.prompt_len;
  u.completion_tokens = s.completion();
  if (observer) observer->Finished(s.prompt_len, s.completion());
  s.cancelled = true;  // nothing after the last update
  if (s.on_update) s.on_update(std::move(u));
}

// Gives out what the output text has gained, holding back a possible stop sequence's start
// and an unfinished character; finishes the sequence at a stop sequence.
void Engine::Impl::Emit(Sequence& s) {
  std::string text = tokenizer->Decode(s.output);
  size_t safe = text.size();
  for (const auto& stop : s.req.stop) {
    if (stop.empty()) continue;
    const size_t from = s.sent > stop.size() ? s.sent - stop.size() : 0;
    const size_t at = text.find(stop, from);
    if (at != std::string::npos) {
      Finish(s, "stop", at > s.sent ? text.substr(s.sent, at - s.sent) : std::string());
      return;
    }
    // The longest end of the text that begins the stop sequence.
    for (size_t k = std::min(stop.size() - 1, text.size()); k > 0; --k) {
      if (text.compare(text.size() - k, k, stop, 0, k) == 0) {
        safe = std::min(safe, text.size() - k);
        break;
      }
    }
  }
  if (EndsUnfinished(text)) return;
  if (safe <= s.sent && s.pending_tokens.empty()) return;
  GenerateUpdate u;
  if (safe > s.sent) {
    u.text = text.substr(s.sent, safe - s.sent);
    s.sent = safe;
  }
  u.tokens = std::move(s.pending_tokens);
  s.pending_tokens.clear();
  u.prompt_tokens = s.prompt_len;
  u.completion_tokens = s.completion();
  s.on_update(std::move(u));
}

void Engine::Impl::OnLogits(Sequence& s, const float* row) {
  scratch.assign(row, row + config.vocab_size);  // the sampler changes what it is given
  const llm::Sampled next = s.sampler->Next(scratch.data(), config.vocab_size, s.seen, s.generated);
  const auto now = Clock::now();
  if (observer) {
    if (!s.started) observer->FirstToken(Seconds(now - s.submitted));
    else observer->InterToken(Seconds(now - s.last_token));
  }
  s.started = true;
  s.last_token = now;
  s.tokens.push_back(next.token);
  ++s.seen[next.token];
  ++s.generated[next.token];
  generated_tokens.fetch_add(1, std::memory_order_relaxed);
  s.pending_tokens.push_back(next);
  const bool is_eos = eos.count(next.token) && !s.req.ignore_eos;
  const bool extra_stop =
      std::find(s.req.stop_tokens.begin(), s.req.stop_tokens.end(), next.token) != s.req.stop_tokens.end();
  if (is_eos || extra_stop) {
    Finish(s, "stop", Unsent(s));
    return;
  }
  s.output.push_back(next.token);
  Emit(s);
  if (s.cancelled) return;  // a stop sequence ended it
  if ((s.req.max_tokens > 0 && s.completion() >= s.req.max_tokens) ||
      static_cast<int64_t>(s.tokens.size()) >= max_len) {
    Finish(s, "length", Unsent(s));
  }
}

void Engine::Impl::Step() {
  {
    std::lock_guard lock(mu);
    for (auto& s : incoming) waiting.push_back(std::move(s));
    incoming.clear();
    if (!cancels.empty()) {
      std::unordered_set<uint64_t> gone(cancels.begin(), cancels.end());
      cancels.clear();
      for (auto& s : running) {
        if (gone.count(s->id)) s->cancelled = true;
      }
      for (auto& s : waiting) {
        if (gone.count(s->id)) s->cancelled = true;
      }
    }
  }
  auto drop_cancelled = [&] {
    for (auto& s : running) {
      if (s->cancelled) Release(*s);
    }
    std::erase_if(running, [](const auto& s) { return s->cancelled; });
    std::erase_if(waiting, [](const auto& s) { return s->cancelled; });
  };
  drop_cancelled();

  // Plan the running sequences: one token each while decoding, a chunk of the prompt while
  // filling; blocks for them, preempting the newest when the cache is full.
  int64_t budget = options.max_batch_tokens;
  std::vector<std::pair<Sequence*, int64_t>> plan;
  for (size_t i = 0; i < running.size(); ++i) {
    Sequence& s = *running[i];
    const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.computed;
    int64_t count = std::min<int64_t>(pending, std::max<int64_t>(budget, 1));
    while (!Reserve(s, s.computed + count)) {
      // Preempt the newest other sequence; if this is the newest, it waits itself.
      Sequence* victim = running.back().get();
      preemptions.fetch_add(1, std::memory_order_relaxed);
      Release(*victim);
      waiting.push_front(std::move(running.back()));
      running.pop_back();
      if (victim == &s) {
        count = 0;
        break;
      }
    }
    if (i >= running.size()) break;  // this one was preempted
    if (count > 0) {
      plan.emplace_back(&s, count);
      budget -= count;
    }
  }
  // Admit waiting sequences while the batch, the token budget and the cache allow, keeping a
  // block in hand for each running sequence's next token.
  while (!waiting.empty() && static_cast<int>(running.size()) < options.max_seqs && budget > 0) {
    Sequence& s = *waiting.front();
    const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.computed;
    const int64_t count = std::min(pending, budget);
    const int64_t need = (count + cache->block_tokens() - 1) / cache->block_tokens();
    if (cache->free_blocks() < need + static_cast<int64_t>(running.size())) {
      if (running.empty() && cache->free_blocks() < need) {
        // Alone and still too big: it can never run.
        auto gone = std::move(waiting.front());
        waiting.pop_front();
        Finish(*gone, "error", {}, "the sequence needs more KV cache than the deployment has");
        continue;
      }
      break;
    }
    Reserve(s, s.computed + count);
    running.push_back(std::move(waiting.front()));
    waiting.pop_front();
    plan.emplace_back(running.back().get(), count);
    budget -= count;
  }
  running_count.store(static_cast<int>(running.size()));
  waiting_count.store(static_cast<int>(waiting.size()) + [&] {
    std::lock_guard lock(mu);
    return static_cast<int>(incoming.size());
  }());
  blocks_used.store(cache->used_blocks());
  if (plan.empty()) {
    Report();
    return;
  }

  std::vector<BatchSegment> batch;
  batch.reserve(plan.size());
  for (auto& [s, count] : plan) {
    BatchSegment seg;
    seg.blocks = &s->blocks;
    seg.start = s->computed;
    seg.tokens = s->tokens.data() + s->computed;
    seg.count = count;
    seg.logits = s->computed + count == static_cast<int64_t>(s->tokens.size());
    batch.push_back(seg);
    if (s->computed < s->prompt_len) prompt_tokens.fetch_add(static_cast<uint64_t>(std::min(count, s->prompt_len - s->computed)));
  }
  model->Forward(batch, logits);
  steps.fetch_add(1, std::memory_order_relaxed);
  int64_t row = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& s = *plan[i].first;
    s.computed += plan[i].second;
    if (!batch[i].logits) continue;
    OnLogits(s, logits.data() + row * config.vocab_size);
    ++row;
  }
  std::erase_if(running, [](const auto& s) { return s->cancelled; });
  running_count.store(static_cast<int>(running.size()));
  blocks_used.store(cache->used_blocks());
  Report();
}

void Engine::Impl::Report() {
  if (!observer) return;
  EngineStats s;
  s.running = running_count.load();
  s.waiting = waiting_count.load();
  s.kv_blocks_used = blocks_used.load();
  s.kv_blocks_total = cache->blocks();
  observer->State(s);
}

}  // namespace aimass::llm
