#include "gateway/token_limiter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace aimass::gateway {

TokenLimiter::Budget& TokenLimiter::Refilled(const std::string& key, const TokenLimitSpec& spec, Clock::time_point now) {
  const double full = static_cast<double>(spec.tokens_per_minute);
  auto [it, fresh] = budgets_.try_emplace(key);
  Budget& b = it->second;
  if (fresh) {
    b.tokens = full;
  } else {
    const double seconds = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(full, b.tokens + seconds * full / 60.0);
  }
  b.last = now;
  return b;
}

TokenDecision TokenLimiter::Check(const std::string& key, const TokenLimitSpec& spec, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (budgets_.size() > 100000) budgets_.clear();  // keys of long-gone callers; a fresh budget is full anyway
  Budget& b = Refilled(key, spec, now);
  TokenDecision d;
  d.limit = spec.tokens_per_minute;
  d.remaining = std::max<int64_t>(0, static_cast<int64_t>(std::floor(b.tokens)));
  d.allowed = b.tokens > 0;
  if (!d.allowed) d.retry_after_s = (1 - b.tokens) * 60.0 / static_cast<double>(spec.tokens_per_minute);
  return d;
}

void TokenLimiter::Charge(const std::string& key, const TokenLimitSpec& spec, int64_t tokens, Clock::time_point now) {
  if (tokens <= 0) return;
  std::lock_guard lock(mu_);
  Refilled(key, spec, now).tokens -= static_cast<double>(tokens);
}

void TokenLimiter::Clear() {
  std::lock_guard lock(mu_);
  budgets_.clear();
}

int64_t UsageTokens(std::string_view body) {
  constexpr std::string_view kKey = "\"total_tokens\"";
  const size_t at = body.rfind(kKey);
  if (at == std::string_view::npos) return -1;
  size_t i = at + kKey.size();
  while (i < body.size() && (body[i] == ' ' || body[i] == ':' || body[i] == '\t' || body[i] == '\n')) ++i;
  int64_t n = -1;
  auto [p, ec] = std::from_chars(body.data() + i, body.data() + body.size(), n);
  return ec == std::errc() && n >= 0 && p != body.data() + body.size() ? n : -1;
}

void UsageScanner::Feed(std::string_view piece) {
  // The field's name and a number fit in the 64 bytes kept; a piece is searched with them in
  // front, so a value read again from the kept bytes is the same value, not a second one.
  constexpr size_t kKeep = 64;
  window_.append(piece);
  if (int64_t n = UsageTokens(window_); n >= 0) tokens_ = n;
  if (window_.size() > kKeep) window_.erase(0, window_.size() - kKeep);
}

}  // namespace aimass::gateway
