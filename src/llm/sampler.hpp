// Sampler: the next token from a step's logits, as OpenAI's and vLLM's parameters define it:
// repetition penalty (CTRL's: positive logits divided, negative multiplied, for every token
// seen), presence and frequency penalties, temperature (0: the most likely token), top-k,
// top-p, and a seed that makes a sequence's draws repeatable.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"

namespace aimass::llm {

struct SamplingParams {
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0: all
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<uint64_t> seed;
  int top_logprobs = -1;  // -1: none; 0..20: the chosen token's logprob and that many alternatives
  // Checks the ranges OpenAI documents (temperature 0..2, top_p (0, 1], penalties -2..2,
  // repetition_penalty > 0, top_k >= 0 or -1).
  Status Validate() const;
};

struct TokenLogprob {
  int token = 0;
  float logprob = 0;
};

struct Sampled {
  int token = 0;
  float logprob = 0;                // of the chosen token under the model (before the sampling changes)
  std::vector<TokenLogprob> top;    // the top_logprobs most likely
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // `logits` is scratch (changed); `seen` counts the prompt's and output's tokens for the
  // repetition penalty, `generated` the output's for presence and frequency.
  Sampled Next(float* logits, int64_t vocab, const std::unordered_map<int, int>& seen,
               const std::unordered_map<int, int>& generated);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<int> order_;
  std::vector<float> probs_;
};

}  // namespace aimass::llm
