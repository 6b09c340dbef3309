#include "gateway/redis_rate_limiter.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <vector>

namespace aimass::gateway {

namespace {

// KEYS[1] bucket; ARGV rate per second, burst. Returns {allowed, tokens left (string)}.
constexpr const char* kTokenBucket = R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
)lua";

// KEYS[1] prefix; ARGV window seconds, limit. Returns {allowed, used (string), into (string)}.
constexpr const char* kSlidingWindow = R"lua(
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local idx = math.floor(now / window)
local cur_key = KEYS[1] .. ':' .. idx
local cur = tonumber(redis.call('GET', cur_key) or '0')
local prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. (idx - 1)) or '0')
local into = now / window - idx
local used = prev * (1 - into) + cur
if used + 1 > limit then return {0, tostring(used), tostring(into), tostring(prev)} end
redis.call('INCR', cur_key)
redis.call('PEXPIRE', cur_key, math.ceil(window * 2000))
return {1, tostring(used + 1), tostring(into), tostring(prev)}
)lua";

struct RedisServer {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};

Result<RedisServer> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return Status::BadRequest("gateway.redis_url must be redis://[:password@]host[:port][/db]");
  url.remove_prefix(kScheme.size());
  RedisServer t;
  if (size_t at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = url.substr(0, at);
    if (size_t colon = auth.find(':'); colon != std::string_view::npos) auth.remove_prefix(colon + 1);
    t.password = std::string(auth);
    url.remove_prefix(at + 1);
  }
  std::string_view hostport = url.substr(0, url.find('/'));
  if (size_t slash = url.find('/'); slash != std::string_view::npos && slash + 1 < url.size()) {
    try {
      t.db = std::stoi(std::string(url.substr(slash + 1)));
    } catch (...) {
      return Status::BadRequest("gateway.redis_url has a bad database number");
    }
  }
  size_t colon = hostport.rfind(':');
  t.host = std::string(hostport.substr(0, colon));
  if (colon != std::string_view::npos) {
    try {
      t.port = std::stoi(std::string(hostport.substr(colon + 1)));
    } catch (...) {
      return Status::BadRequest("gateway.redis_url has a bad port");
    }
  }
  if (t.host.empty() || t.port < 1 || t.port > 65535) return Status::BadRequest("gateway.redis_url has no host or a bad port");
  return t;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

double Number(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<double>(r->integer);
  if (r->type == REDIS_REPLY_STRING) return std::strtod(r->str, nullptr);
  return 0;
}

}  // namespace

struct RedisRateLimiter::Impl {
  RedisServer target;
  timeval timeout{};
  std::mutex mu;
  std::vector<redisContext*> idle;
  // After a failure Redis is not asked again for a second: while it is down every decision
  // would otherwise wait out the timeout on an I/O thread.
  std::atomic<int64_t> down_until_ms{0};
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  Status Down(std::string why) {
    down_until_ms = NowMs() + 1000;
    return Status::Unavailable("redis: " + why);
  }

  ~Impl() {
    for (auto* c : idle) redisFree(c);
  }

  Result<redisContext*> Take() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        redisContext* c = idle.back();
        idle.pop_back();
        return c;
      }
    }
    redisContext* c = redisConnectWithTimeout(target.host.c_str(), target.port, timeout);
    if (!c || c->err) {
      std::string why = c ? c->errstr : "out of memory";
      if (c) redisFree(c);
      return Status::Unavailable("redis " + target.host + ":" + std::to_string(target.port) + ": " + why);
    }
    redisSetTimeout(c, timeout);
    auto setup = [&](const char* fmt, auto... args) -> Status {
      Reply r(static_cast<redisReply*>(redisCommand(c, fmt, args...)));
      if (!r || r->type == REDIS_REPLY_ERROR) return Status::Unavailable(std::string("redis: ") + (r ? r->str : c->errstr));
      return Status::Ok();
    };
    Status st = target.password.empty() ? Status::Ok() : setup("AUTH %s", target.password.c_str());
    if (st.ok() && target.db != 0) st = setup("SELECT %d", target.db);
    if (!st.ok()) {
      redisFree(c);
      return st;
    }
    return c;
  }
  void Give(redisContext* c) {
    std::lock_guard lock(mu);
    if (idle.size() < 16) {
      idle.push_back(c);
    } else {
      redisFree(c);
    }
  }
};

Result<std::unique_ptr<RedisRateLimiter>> RedisRateLimiter::Create(const std::string& url, std::chrono::milliseconds timeout) {
  AIMASS_ASSIGN_OR_RETURN(RedisServer t, ParseRedisUrl(url));
  std::unique_ptr<RedisRateLimiter> r(new RedisRateLimiter());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->target = std::move(t);
  r->impl_->timeout.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  r->impl_->timeout.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return r;
}

RedisRateLimiter::~RedisRateLimiter() = default;

Result<RateDecision> RedisRateLimiter::Take(const std::string& key, const RateLimitSpec& spec) {
  if (Impl::NowMs() < impl_->down_until_ms.load()) return Status::Unavailable("redis: down (retried within a second)");
  auto taken = impl_->Take();
  if (!taken.ok()) return impl_->Down(taken.status().message());
  redisContext* c = *taken;
  const bool sliding = spec.algorithm == RateAlgorithm::kSlidingWindow;
  std::string full_key = "aimass:rl:" + key;
  std::string a1 = std::to_string(sliding ? spec.per_seconds() : spec.rate / spec.per_seconds());
  std::string a2 = std::to_string(sliding ? std::floor(spec.rate) : BucketSize(spec));
  Reply r(static_cast<redisReply*>(redisCommand(c, "EVAL %s 1 %s %s %s", sliding ? kSlidingWindow : kTokenBucket,
                                                full_key.c_str(), a1.c_str(), a2.c_str())));
  if (!r || c->err) {
    std::string why = c->err ? c->errstr : "no reply";
    redisFree(c);  // a broken or timed-out connection is not reused
    return impl_->Down(why);
  }
  impl_->Give(c);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < (sliding ? 4u : 2u)) {
    return Status::Unavailable(std::string("redis: ") + (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
  }
  const bool allowed = Number(r->element[0]) == 1;
  if (sliding) {
    // The script answers the count after this request when it was allowed, before it otherwise.
    const double counted = Number(r->element[1]);
    return WindowDecision(spec, allowed, allowed ? counted - 1 : counted, Number(r->element[2]), Number(r->element[3]));
  }
  return BucketDecision(spec, allowed, Number(r->element[1]));
}

}  // namespace aimass::gateway
