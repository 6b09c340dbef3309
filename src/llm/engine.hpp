// Engine: one loaded language model generating for many requests at once. A single thread
// runs steps; at every step sequences join (their prompt filled in chunks within a token
// budget) and leave (finished, stopped, cancelled), and one forward pass serves them all
// (continuous batching). KV blocks come from the paged cache; when it runs dry the newest
// sequence is preempted and recomputed later, so no request is refused for lack of memory
// that others will give back. Results stream to each request's callback from the engine's
// thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.hpp"
#include "llm/chat_template.hpp"
#include "llm/model_config.hpp"
#include "llm/sampler.hpp"
#include "llm/tokenizer.hpp"
#include "llm/weights.hpp"

namespace aimass::llm {

struct EngineOptions {
  int threads = 0;                      // 0: every core
  int64_t kv_cache_bytes = 512ll << 20;
  int64_t block_tokens = 16;
  int max_seqs = 64;                    // sequences in the running batch
  int64_t max_batch_tokens = 1024;      // tokens in one forward pass (prompt chunks + decodes)
  int64_t max_model_len = 0;            // 0: the config's max_position_embeddings
  bool int8 = false;
  std::string chat_template;            // empty: detected (ChatTemplate::Detect)
};

struct GenerateRequest {
  std::vector<int> prompt;  // token ids, BOS included where the model wants it
  SamplingParams sampling;
  int64_t max_tokens = 0;   // 0: until the context is full
  std::vector<std::string> stop;
  std::vector<int> stop_tokens;  // besides the model's EOS (a chat template's end of turn)
  bool ignore_eos = false;
};

// What a sequence produced since its last update. Text is held back while it may be the start
// of a stop sequence or ends inside a character.
struct GenerateUpdate {
  std::string text;
  std::vector<Sampled> tokens;  // each new token (logprobs filled when asked)
  std::optional<std::string> finish_reason;  // stop | length | error, on the last update
  std::string error;                         // with finish_reason "error"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};
using UpdateFn = std::function<void(GenerateUpdate&&)>;

struct EngineStats {
  int running = 0;
  int waiting = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  uint64_t prompt_tokens = 0;      // filled, since the start
  uint64_t generated_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t steps = 0;
};

// Timings the engine reports as they happen (serving turns them into metrics).
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void FirstToken(double seconds) = 0;    // from submission
  virtual void InterToken(double seconds) = 0;    // between a sequence's tokens
  virtual void Finished(int64_t prompt_tokens, int64_t completion_tokens) = 0;
  // After every step: sequences and blocks as they stand.
  virtual void State(const EngineStats&) {}
};

class Engine {
 public:
  // Loads a model directory: `files` maps each name in it (config.json, model.safetensors or
  // shards with their index, tokenizer.model, tokenizer_config.json) to a local path.
  static Result<std::unique_ptr<Engine>> Load(const std::map<std::string, std::string>& files,
                                              const EngineOptions& options, std::shared_ptr<EngineObserver> observer = nullptr);
  // An engine from parts already loaded (tests build their own tokenizer).
  static std::unique_ptr<Engine> Create(ModelConfig config, std::unique_ptr<Weights> weights,
                                        std::unique_ptr<Tokenizer> tokenizer, ChatTemplate chat,
                                        const EngineOptions& options, std::shared_ptr<EngineObserver> observer = nullptr);
  // Checks a directory as Load would, reading only headers (the registry's validation).
  static Status Validate(const std::map<std::string, std::string>& files);
  // Sequences still running finish with "error". Safe from the engine's own thread (a request
  // whose answer drops the last reference to its runner): the thread then finishes its step
  // and exits on its own.
  ~Engine();

  // Queues a request. Too long for the context (or the whole cache) is bad_request, naming
  // the limit. `on_update` runs on the engine's thread, the last time with a finish_reason.
  Result<uint64_t> Submit(GenerateRequest request, UpdateFn on_update);
  // The sequence stops and gives back its blocks at the next step; no update follows.
  void Cancel(uint64_t id);

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  const ChatTemplate& chat_template() const;
  int64_t max_model_len() const;
  size_t weight_bytes_per_token() const;
  EngineStats stats() const;

  struct Impl;

 private:
  Engine() = default;
  std::shared_ptr<Impl> impl_;  // shared with the engine's thread
};

}  // namespace aimass::llm
