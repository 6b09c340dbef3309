#include "llm/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace aimass::llm {

Status SamplingParams::Validate() const {
  if (!(temperature >= 0 && temperature <= 2)) return Status::BadRequest("temperature must be between 0 and 2");
  if (!(top_p > 0 && top_p <= 1)) return Status::BadRequest("top_p must be greater than 0 and at most 1");
  if (top_k < 0) return Status::BadRequest("top_k must be 0 (or -1) for all tokens, or positive");
  if (!(repetition_penalty > 0 && repetition_penalty <= 10)) {
    return Status::BadRequest("repetition_penalty must be greater than 0 and at most 10");
  }
  if (!(presence_penalty >= -2 && presence_penalty <= 2)) return Status::BadRequest("presence_penalty must be between -2 and 2");
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    return Status::BadRequest("frequency_penalty must be between -2 and 2");
  }
  if (top_logprobs > 20) return Status::BadRequest("top_logprobs must be between 0 and 20");
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params) : p_(params) {
  rng_.seed(params.seed ? *params.seed : std::random_device{}());
}

Sampled Sampler::Next(float* logits, int64_t vocab, const std::unordered_map<int, int>& seen,
                      const std::unordered_map<int, int>& generated) {
  Sampled out;
  // Log-probabilities of the model itself, for `logprobs` (vLLM's default: before penalties).
  const bool want_logprobs = p_.top_logprobs >= 0;
  float lse = 0;
  if (want_logprobs) {
    float max = *std::max_element(logits, logits + vocab);
    double sum = 0;
    for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
    lse = max + static_cast<float>(std::log(sum));
    if (p_.top_logprobs > 0) {
      order_.resize(static_cast<size_t>(vocab));
      std::iota(order_.begin(), order_.end(), 0);
      const int k = std::min<int>(p_.top_logprobs, static_cast<int>(vocab));
      std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int a, int b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
      for (int i = 0; i < k; ++i) out.top.push_back({order_[i], logits[order_[i]] - lse});
    }
  }
  std::vector<float> raw;
  if (want_logprobs) raw.assign(logits, logits + vocab);

  if (p_.repetition_penalty != 1.0) {
    const float r = static_cast<float>(p_.repetition_penalty);
    for (const auto& [tok, _] : seen) {
      if (tok < 0 || tok >= vocab) continue;
      logits[tok] = logits[tok] > 0 ? logits[tok] / r : logits[tok] * r;
    }
  }
  if (p_.presence_penalty != 0 || p_.frequency_penalty != 0) {
    for (const auto& [tok, count] : generated) {
      if (tok < 0 || tok >= vocab) continue;
      logits[tok] -= static_cast<float>(p_.presence_penalty + p_.frequency_penalty * count);
    }
  }

  int chosen = 0;
  if (p_.temperature == 0 || p_.top_k == 1) {
    chosen = static_cast<int>(std::max_element(logits, logits + vocab) - logits);  // first of equals
  } else {
    // Candidates by probability: top-k first, then the smallest set reaching top_p.
    const int64_t k = p_.top_k > 0 ? std::min<int64_t>(p_.top_k, vocab) : vocab;
    order_.resize(static_cast<size_t>(vocab));
    std::iota(order_.begin(), order_.end(), 0);
    auto desc = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    if (k < vocab) std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), desc);
    else std::sort(order_.begin(), order_.end(), desc);
    const float t = static_cast<float>(p_.temperature);
    const float max = logits[order_[0]];
    probs_.resize(static_cast<size_t>(k));
    double sum = 0;
    for (int64_t i = 0; i < k; ++i) {
      probs_[i] = std::exp((logits[order_[i]] - max) / t);
      sum += probs_[i];
    }
    int64_t n = k;
    if (p_.top_p < 1.0) {
      double cum = 0;
      for (int64_t i = 0; i < k; ++i) {
        cum += probs_[i] / sum;
        if (cum >= p_.top_p) {
          n = i + 1;
          break;
        }
      }
      sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += probs_[i];
    }
    std::uniform_real_distribution<double> u(0.0, sum);
    double r = u(rng_), acc = 0;
    chosen = order_[n - 1];
    for (int64_t i = 0; i < n; ++i) {
      acc += probs_[i];
      if (r < acc) {
        chosen = order_[i];
        break;
      }
    }
  }
  out.token = chosen;
  if (want_logprobs) out.logprob = raw[chosen] - lse;
  return out;
}

}  // namespace aimass::llm
