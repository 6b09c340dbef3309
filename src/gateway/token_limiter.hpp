// TokenLimiter: budgets of language-model tokens per minute, per key (a route's consumer,
// the route, or a client IP). A budget refills continuously (tokens_per_minute / 60 a second)
// up to one minute's worth; a call is let through while some budget is left and its answer's
// tokens are taken afterwards, so one large answer may overdraw it and hold the next calls
// back until it has refilled (as OpenAI's TPM limits behave). Local to this process.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/spec.hpp"

namespace aimass::gateway {

struct TokenDecision {
  bool allowed = true;
  int64_t limit = 0;        // x-ratelimit-limit-tokens
  int64_t remaining = 0;    // x-ratelimit-remaining-tokens (0 when overdrawn)
  double retry_after_s = 0; // when refused: until the budget is positive again
};

class TokenLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  TokenDecision Check(const std::string& key, const TokenLimitSpec& spec, Clock::time_point now = Clock::now());
  // Takes `tokens` from the key's budget (it may go below zero).
  void Charge(const std::string& key, const TokenLimitSpec& spec, int64_t tokens, Clock::time_point now = Clock::now());
  void Clear();

 private:
  struct Budget {
    double tokens = 0;
    Clock::time_point last{};
  };
  Budget& Refilled(const std::string& key, const TokenLimitSpec& spec, Clock::time_point now);
  std::mutex mu_;
  std::unordered_map<std::string, Budget> budgets_;
};

// The tokens an answer reports: the last `"total_tokens": N` in its body (a JSON answer, or
// the usage of a stream's final events); -1 when there is none, or when the number runs to the
// end of `body` (it may go on in bytes not seen yet).
int64_t UsageTokens(std::string_view body);

// The same over a body that arrives in pieces (a forwarded event stream), split anywhere: keeps
// the last few bytes of each piece so that a field cut in two is read whole with the next one.
class UsageScanner {
 public:
  void Feed(std::string_view piece);
  int64_t tokens() const { return tokens_; }  // the last seen, -1 until one is

 private:
  std::string window_;
  int64_t tokens_ = -1;
};

}  // namespace aimass::gateway
