#include "gateway/gateway_impl.hpp"

namespace aimass::gateway {

namespace {



bool Idempotent(http::Method m) {
  return m == http::Method::kGet || m == http::Method::kHead || m == http::Method::kPut ||
         m == http::Method::kDelete || m == http::Method::kOptions;
}

std::string_view ClientIp(const http::Request& req) {
  std::string_view r = req.remote;
  if (size_t colon = r.rfind(':'); colon != std::string_view::npos) r = r.substr(0, colon);
  if (r.starts_with('[') && r.ends_with(']')) r = r.substr(1, r.size() - 2);
  return r;
}

std::string HashKey(const UpstreamSpec& u, const http::Request& req) {
  if (u.hash_on.starts_with("header:")) return std::string(req.headers.Get(u.hash_on.substr(7)).value_or(""));
  if (u.hash_on.starts_with("cookie:")) {
    std::string want = u.hash_on.substr(7);
    std::string_view cookies = req.headers.Get("Cookie").value_or("");
    while (!cookies.empty()) {
      size_t semi = cookies.find(';');
      std::string_view pair = cookies.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.starts_with(want) && pair.size() > want.size() && pair[want.size()] == '=') {
        return std::string(pair.substr(want.size() + 1));
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
    return "";
  }
  return std::string(ClientIp(req));
}




// Directive `name` of a Cache-Control value: present, and its number when it has one.
std::optional<int64_t> CacheDirective(std::string_view value, std::string_view name) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view d = value.substr(0, comma);
    while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
    while (!d.empty() && d.back() == ' ') d.remove_suffix(1);
    std::string_view key = d.substr(0, d.find('='));
    if (http::EqualsIgnoreCase(key, name)) {
      if (key.size() == d.size()) return -1;
      try {
        return std::stoll(std::string(d.substr(key.size() + 1)));
      } catch (...) {
        return -1;
      }
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

// Stores an upstream answer the route may cache: a listed status, and no Cache-Control of the
// answer's forbidding it; its max-age / s-maxage shortens the route's TTL.
void MaybeStore(Exchange& x, const http::Response& r) {
  if (!x.cache || x.cache_key.empty()) return;
  if (std::find(x.cache->statuses.begin(), x.cache->statuses.end(), r.status) == x.cache->statuses.end()) return;
  int64_t ttl = x.cache->ttl_s;
  if (auto cc = r.headers.Get("Cache-Control")) {
    if (CacheDirective(*cc, "no-store") || CacheDirective(*cc, "private") || CacheDirective(*cc, "no-cache")) return;
    auto age = CacheDirective(*cc, "s-maxage");
    if (!age) age = CacheDirective(*cc, "max-age");
    if (age && *age >= 0) ttl = std::min(ttl, *age);
  }
  if (r.headers.Get("Set-Cookie")) return;  // a per-client answer
  if (ttl <= 0) return;
  ResponseCache::Entry e;
  e.status = r.status;
  for (auto [name, value] : r.headers.all()) e.headers.emplace_back(name, value);
  e.body = r.body;
  e.route = x.route;
  e.stored = Clock::now();
  e.expires = e.stored + std::chrono::seconds(ttl);
  x.impl->cache.Put(x.cache_key, std::move(e));
}


// What an answer leaves behind once it is complete: the tokens it used, the upstream's
// outcome, the usage record and metrics, the log line.
void Account(const std::shared_ptr<Exchange>& x, int status, size_t body, int64_t used_tokens,
             std::optional<std::chrono::nanoseconds> upstream_latency, const std::string& target) {
  if (x->token_limit && status >= 200 && status < 300 && used_tokens > 0) {
    // The answer's tokens come out of the caller's budget; what is left goes in its header.
    x->impl->tokens.Charge(x->token_key, *x->token_limit, used_tokens);
    x->tokens->remaining = std::max<int64_t>(0, x->tokens->remaining - used_tokens);
  }
  x->pool->ReportOutcome(status >= 500, x->trial);
  x->impl->Record(x->route, x->pool->spec().name, status, x->start, upstream_latency, body, {x->consumer, x->application, x->bytes_in});
  if (x->log) {
    spdlog::info("gateway route={} upstream={} target={} consumer={} status={} total_ms={:.3f} upstream_ms={:.3f} "
                 "attempts={} request_id={}",
                 x->route, x->pool->spec().name, target.empty() ? "-" : target, x->consumer.empty() ? "-" : x->consumer,
                 status, std::chrono::duration<double, std::milli>(Clock::now() - x->start).count(),
                 upstream_latency ? std::chrono::duration<double, std::milli>(*upstream_latency).count() : 0.0,
                 x->tried.size(), x->request_id);
  }
}

void Finish(const std::shared_ptr<Exchange>& x, http::Response&& r, std::optional<std::chrono::nanoseconds> upstream_latency,
            const std::string& target) {
  Account(x, r.status, r.body.size(), x->token_limit ? UsageTokens(r.body) : -1, upstream_latency, target);
  x->answer.Complete(std::move(r));
}

// A forwarded event stream has ended (the upstream finished it, broke it off, or the caller
// went away and cancelled it). The target answered, so its health counts it a success whatever
// happened to the body; its latency is the time to the head.
void EndStream(const std::shared_ptr<Exchange>& x, const Status& outcome, const std::string& target) {
  x->pool->Finish(x->tried.back(), true, x->stream_head_latency);
  if (outcome.ok()) {
    x->stream->End();
  } else {
    x->stream->Fail();
    if (!x->stream->closed()) {
      spdlog::warn("gateway route {}: the event stream from {} broke off: {} (request {})", x->route, target,
                   outcome.message(), x->request_id);
    }
  }
  Account(x, x->stream_status, x->stream_bytes, x->stream_usage.tokens(), x->stream_head_latency, target);
}

// text/event-stream, with or without parameters.
bool IsEventStream(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return http::EqualsIgnoreCase(type, "text/event-stream");
}

// Why every attempt failed, by the last one: an upstream that ran out of time is a timeout
// (504) whichever path gave up on it, a retry with no target left to try included.
Status AttemptsFailed(const Exchange& x) {
  const std::string& name = x.pool->spec().name;
  if (x.last_timed_out) return Status::DeadlineExceeded("upstream '" + name + "' did not answer in time");
  return Status::BadGateway("upstream '" + name + "' could not be reached");
}


}  // namespace

// Server-sent events are forwarded as they come (a language model's tokens, a feed of events):
// the caller gets the head at once and each piece as the upstream sends it. Other answers are
// read whole (the cache, the token budget and retries need them so).
bool Exchange::OnHead(const http::ClientResponse& head, std::function<void()> cancel) {
  if (request.method == http::Method::kHead || head.status < 200 || head.status >= 300) return false;
  auto type = head.headers.Get("Content-Type");
  if (!type || !IsEventStream(*type)) return false;
  if (answer.done()) {  // the caller was answered (504) meanwhile: nobody is left to stream to
    cancel();
    return false;
  }
  stream = std::make_shared<http::PushStream>();
  stream->OnClose(std::move(cancel));  // the caller went away: so does the upstream exchange
  stream_status = head.status;
  stream_head_latency = Clock::now() - sent;
  http::Response r;
  r.status = head.status;
  for (auto [name, value] : head.headers.all()) {
    if (Forwardable(name) && !http::EqualsIgnoreCase(name, "server")) r.headers.Add(name, value);
  }
  if (cache) r.headers.Set("X-Cache", "BYPASS");  // a stream is not stored
  r.stream = stream;
  answer.Complete(std::move(r));
  return true;
}

void Exchange::OnData(std::string_view piece) {
  stream_bytes += piece.size();
  if (token_limit) stream_usage.Feed(piece);
  stream->Push(piece);
}

void Attempt(std::shared_ptr<Exchange> x) {
  auto picked = x->pool->Pick(x->hash_key, x->tried);
  if (!picked) {
    Finish(x,
           http::ErrorResponse(x->tried.empty() ? Status::Unavailable("upstream '" + x->pool->spec().name + "' has no target taking traffic")
                                                : AttemptsFailed(*x),
                               x->request_id),
           std::nullopt, "");
    return;
  }
  size_t i = *picked;
  x->tried.push_back(i);
  const std::string& target = x->pool->spec().targets[i].url;
  http::ClientRequest& req = x->request;
  const http::Url* base = x->pool->url(i);
  if (!base) req.url.assign(target).append(x->path_and_query);  // refused by the client, as it should be
  if (x->tried.size() > 1) {
    req.start_after = std::chrono::milliseconds(25 << std::min<size_t>(x->tried.size() - 2, 5));  // backoff
  }
  x->sent = Clock::now() + req.start_after;
  // The callback captures a plain pointer, so that std::function keeps it inline (a wider
  // capture cost an allocation per request). The exchange is alive when it runs: the client
  // holds the request, which shares the exchange's ownership, until the callback returns.
  auto on_answer = [ex = x.get()](Result<http::ClientResponse> got) {
    std::shared_ptr<Exchange> x = ex->shared_from_this();
    size_t i = x->tried.back();
    const std::string& target = x->pool->spec().targets[i].url;
    if (x->stream) return EndStream(x, got.status(), target);
    auto latency = Clock::now() - x->sent;
    x->pool->Finish(i, got.ok(), latency);
    if (!got.ok()) {
      const UpstreamSpec& u = x->pool->spec();
      x->last_timed_out = got.status().code() == Code::kDeadlineExceeded;
      // A request that never left (the target refused the connection: it is down) is retried
      // whatever its method; one that may have reached the target only when idempotent.
      bool may_retry = x->idempotent || http::NeverSent(got.status());
      if (may_retry && static_cast<int>(x->tried.size()) <= u.retries && !x->answer.done()) {
        Attempt(x);
        return;
      }
      spdlog::warn("gateway route {}: target {} failed: {} (request {})", x->route, target, got.status().message(),
                   x->request_id);
      Finish(x, http::ErrorResponse(AttemptsFailed(*x), x->request_id), std::nullopt, target);
      return;
    }
    http::Response r;
    r.status = got->status;
    std::optional<uint64_t> head_length;
    if (x->request.method == http::Method::kHead) {
      // A HEAD answer has no body but says how long the GET's would be.
      if (auto length = got->headers.Get("Content-Length")) {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
        if (ec == std::errc() && p == length->data() + length->size()) head_length = n;
      }
    }
    r.headers = std::move(got->headers);
    // The answer names this server, not the upstream's software (as nginx and Envoy do; two
    // Server fields would be malformed).
    r.headers.EraseIf([](std::string_view name) { return !Forwardable(name) || http::EqualsIgnoreCase(name, "server"); });
    r.content_length_override = head_length;
    r.body = std::move(got->body);
    MaybeStore(*x, r);
    if (x->cache) r.headers.Set("X-Cache", x->cache_key.empty() ? "BYPASS" : "MISS");
    Finish(x, std::move(r), latency, target);
  };
  std::shared_ptr<const http::ClientRequest> shared(x, &x->request);
  if (!base) return x->impl->client.SendAsync(std::move(shared), std::move(on_answer));
  x->impl->client.SendAsync(http::Url{base->host, base->port, base->target + x->path_and_query}, std::move(shared),
                            std::move(on_answer));
}

Status Gateway::Impl::Resolve(http::Request& req) {
  if (req.route != &fallback || req.route_state) return Status::Ok();
  auto r = std::make_shared<Exchange>();
  r->live = Current();
  r->dot_segment = HasDotSegment(req.path);
  if (!r->dot_segment) {
    r->hit = r->live->table->Match(req.headers.Get("Host").value_or(""), req.method, req.path, req.headers);
  }
  // No route (answered 404) and refused paths need no token; a route says what it needs.
  http::Request::Access access;
  access.anonymous = !r->hit || r->hit->route->anonymous;
  if (r->hit) access.permission = r->hit->route->permission;
  req.access = std::move(access);
  req.route_state = r;
  if (!r->hit || r->hit->route->anonymous) return Status::Ok();
  return AuthenticateConsumer(*r->live, *r->hit->route, req);
}

Gateway::Impl::Caller Gateway::Impl::CallerOf(const Pass& p) {
  const RouteSpec& r = p.route;
  return {p.consumer, !r.application.empty() ? std::string_view(r.application) : !r.upstream.empty() ? std::string_view(r.upstream) : std::string_view(r.service),
          p.req.body.size()};
}

void Gateway::Impl::Record(std::string_view route_name, std::string_view upstream_name, int status,
                           Clock::time_point start, std::optional<std::chrono::nanoseconds> upstream_latency,
                           size_t body_bytes, const Caller& caller) {
  if (UsageSink* sink = usage.load(std::memory_order_acquire)) {
    UsageRecord u;
    u.kind = "gateway";
    u.route = route_name;
    u.application = caller.application;
    u.consumer = caller.consumer;
    u.status = status;
    u.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    u.bytes_in = caller.bytes_in;
    u.bytes_out = body_bytes;
    u.time_ms = UnixNowMs();
    sink->Record(u);
  }
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                   0.1,    0.25,  0.5,    1,     2.5,  5,    10};
  // The series of a (route, upstream) are looked up once: a prometheus Add builds a label map
  // and hashes it under the family's lock, which is most of what recording would cost.
  // The series recorded last on this thread: a run of requests to one route finds it without
  // building a key, hashing it and taking the lock.
  thread_local struct {
    uint64_t generation = 0;
    std::string route, upstream;
    Series* series = nullptr;
  } last;
  Series* series = nullptr;
  if (last.generation == generation && last.route == route_name && last.upstream == upstream_name) {
    series = last.series;
  } else {
    // The key is built in a per-thread buffer: a lookup allocates nothing.
    thread_local std::string key;
    key.assign(route_name).append(1, '\n').append(upstream_name);
    std::lock_guard lock(series_mu);
    auto& slot = series_by_key[key];
    if (!slot) {
      std::string route(route_name), upstream(upstream_name);
      slot = std::make_unique<Series>();
      for (int c = 1; c <= 5; ++c) {
        slot->requests[c] = &requests->Add({{"route", route}, {"upstream", upstream}, {"status_class", std::to_string(c) + "xx"}});
      }
      slot->duration = &duration->Add({{"route", route}}, kBuckets);
      slot->upstream_duration = &upstream_duration->Add({{"route", route}, {"upstream", upstream}}, kBuckets);
      slot->bytes = &bytes->Add({{"route", route}});
    }
    series = slot.get();
    last.generation = generation;
    last.route = route_name;
    last.upstream = upstream_name;
    last.series = series;
  }
  series->requests[std::clamp(status / 100, 1, 5)]->Increment();
  series->duration->Observe(std::chrono::duration<double>(Clock::now() - start).count());
  if (upstream_latency) series->upstream_duration->Observe(std::chrono::duration<double>(*upstream_latency).count());
  series->bytes->Increment(static_cast<double>(body_bytes));
}

// A fallback's static answer, marked X-Degraded with why.
http::Response Gateway::Impl::StaticAnswer(const Fallback& f, const char* why, Pass& p) {
  const RouteSpec& route = p.route;
  const Clock::time_point start = p.start;
  http::Response r;
  r.status = f.status;
  r.headers.Set("Content-Type", f.content_type);
  r.headers.Set("X-Degraded", why);
  r.body = f.body;
  Record(route.name, "(fallback)", r.status, start, std::nullopt, r.body.size(), CallerOf(p));
  return r;
}

// A request's way through the gateway, stage by stage: each stage answers (and the request ends
// there) or lets the next one run; the last sends the request upstream.
http::Response Gateway::Impl::Handle(http::Request& req) {
  auto start = Clock::now();
  if (!req.route_state) {
    if (Status st = Resolve(req); !st.ok()) return http::ErrorResponse(st, req.request_id);
  }
  // The resolver made the exchange for this handler alone; it is filled in from here on.
  auto x = std::static_pointer_cast<Exchange>(std::const_pointer_cast<void>(req.route_state));
  if (x->dot_segment) return http::ErrorResponse(Status::BadRequest("the path has a '.' or '..' segment"), req.request_id);
  // The request keeps no name for a method outside the seven it knows, so it could not be
  // forwarded as sent.
  if (req.method == http::Method::kOther) {
    return http::ErrorResponse(Status(Code::kMethodNotAllowed, "the gateway forwards GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS only"), req.request_id);
  }
  if (!x->hit) return http::ErrorResponse(Status::NotFound("no route matches " + std::string(http::MethodName(req.method)) + " " + req.path.substr(0, 200)), req.request_id);

  Pass p(req, *x, *x->hit->route, *x->live, start);
  // A route to a service has the pool "service:<name>".
  if (p.route.upstream.empty()) p.service_pool = "service:" + p.route.service;
  p.upstream = p.route.upstream.empty() ? std::string_view(p.service_pool) : std::string_view(p.route.upstream);
  p.consumer = req.principal ? req.principal->username : "";
  if (auto answer = ApplyRouteState(p)) return std::move(*answer);
  if (auto answer = ApplyRateLimit(p)) return std::move(*answer);
  if (auto answer = ApplyTokenLimit(p)) return std::move(*answer);
  if (auto answer = ApplyCache(p)) return std::move(*answer);
  if (auto answer = PickUpstream(p)) return std::move(*answer);
  return Dispatch(std::move(x), p);
}

// A paused route answers 503; a degraded one answers its static fallback or goes to its
// fallback upstream.
std::optional<http::Response> Gateway::Impl::ApplyRouteState(Pass& p) {
  auto st = p.live.states.find(p.route.name);
  if (st == p.live.states.end()) return std::nullopt;
  const RouteState& s = st->second;
  if (s.mode == RouteMode::kPaused) {
    http::Response r = http::ErrorResponse(
        Status::Unavailable("route '" + p.route.name + "' is paused" + (s.reason.empty() ? "" : ": " + s.reason)),
        p.req.request_id);
    r.headers.Set("Retry-After", std::to_string(s.retry_after_s));
    Record(p.route.name, p.upstream, r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
    return r;
  }
  if (s.mode == RouteMode::kDegraded) {
    if (s.fallback.upstream.empty()) return StaticAnswer(s.fallback, "1", p);
    p.upstream = s.fallback.upstream;
  }
  return std::nullopt;
}

// Whose allowance a call takes: the route's, its caller's (a consumer or a platform user), or
// its client IP's.
std::string Gateway::Impl::LimitKey(const Pass& p, RateKey key) {
  const http::Request& req = p.req;
  // A platform user and a consumer may share a name; their allowances are separate.
  bool is_consumer = req.principal && req.principal->method != "jwt" && req.principal->method != "apikey";
  return key == RateKey::kRoute ? "r:" + p.route.name
         : key == RateKey::kConsumer && !p.consumer.empty()
             ? "c:" + p.route.name + ":" + (is_consumer ? "consumer/" : "user/") + p.consumer
             : "i:" + p.route.name + ":" + std::string(ClientIp(req));
}

// The route's token budget: refused (429) while the caller's is spent.
std::optional<http::Response> Gateway::Impl::ApplyTokenLimit(Pass& p) {
  if (!p.route.token_limit) return std::nullopt;
  p.token_key = LimitKey(p, p.route.token_limit->key);
  p.tokens = tokens.Check(p.token_key, *p.route.token_limit);
  if (p.tokens->allowed) return std::nullopt;
  http::Response r = http::ErrorResponse(
      Status(Code::kRateLimited, "token budget of route '" + p.route.name + "' spent (" +
                                     std::to_string(p.route.token_limit->tokens_per_minute) + " tokens per minute)"),
      p.req.request_id);
  r.headers.Set("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(p.tokens->retry_after_s))));
  r.headers.Set("x-ratelimit-limit-tokens", std::to_string(p.tokens->limit));
  r.headers.Set("x-ratelimit-remaining-tokens", "0");
  Record(p.route.name, p.upstream, r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
  return r;
}

// The route's rate limit: takes one request from the caller's allowance, or answers 429.
std::optional<http::Response> Gateway::Impl::ApplyRateLimit(Pass& p) {
  if (!p.route.rate_limit) return std::nullopt;
  const RateLimitSpec& rl = *p.route.rate_limit;
  const http::Request& req = p.req;
  const std::string key = LimitKey(p, rl.key);
  if (rl.policy == RatePolicy::kRedis && redis) {
    auto shared = redis->Take(key, rl);
    if (shared.ok()) {
      p.limit = *shared;
    } else {
      // Fail open, as Kong's fault-tolerant limits do: a Redis outage must not take every
      // limited route down with it. Said in the log at most once a minute.
      int64_t now = UnixNowMs(), last = redis_warned_at.load();
      if (now - last > 60000 && redis_warned_at.compare_exchange_strong(last, now)) {
        spdlog::warn("gateway: shared rate limit unavailable, allowing requests: {}", shared.status().message());
      }
    }
  } else {
    p.limit = limiter.Take(key, rl);
  }
  if (!p.limit || p.limit->allowed) return std::nullopt;
  http::Response r = http::ErrorResponse(Status(Code::kRateLimited, "rate limit of route '" + p.route.name + "' exceeded"), req.request_id);
  r.headers.Set("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(p.limit->retry_after_s))));
  r.headers.Set("RateLimit-Limit", std::to_string(p.limit->limit));
  r.headers.Set("RateLimit-Remaining", "0");
  r.headers.Set("RateLimit-Reset", std::to_string(static_cast<int64_t>(std::ceil(p.limit->reset_s))));
  Record(p.route.name, p.upstream, r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
  return r;
}

// The response cache: answers from it, or notes where the upstream's answer goes.
std::optional<http::Response> Gateway::Impl::ApplyCache(Pass& p) {
  const RouteSpec& route = p.route;
  const http::Request& req = p.req;
  if (!route.cache || std::find(route.cache->methods.begin(), route.cache->methods.end(), http::MethodName(req.method)) ==
                          route.cache->methods.end()) {
    return std::nullopt;
  }
  p.cache_spec = &*route.cache;
  std::string_view cc = req.headers.Get("Cache-Control").value_or("");
  if (CacheDirective(cc, "no-store")) return std::nullopt;
  std::string& key = p.cache_key;
  key = route.name + '\n' + std::string(http::MethodName(req.method)) + '\n' +
        std::string(req.headers.Get("Host").value_or("")) + '\n' + req.path + '?' + req.query + '\n';
  // Callers of a route with access control may be answered differently by the upstream.
  if (!route.anonymous && req.principal) key += req.principal->method + '/' + req.principal->username + '\n';
  for (const auto& h : route.cache->vary_headers) key += h + '=' + std::string(req.headers.Get(h).value_or("")) + '\n';
  if (req.method == http::Method::kPost) key += Sha256Hex(req.body);
  bool revalidate = CacheDirective(cc, "no-cache") || req.headers.Get("Pragma").value_or("") == "no-cache";
  auto hit = revalidate ? nullptr : cache.Get(key);
  if (!hit) return std::nullopt;
  http::Response r;
  r.status = hit->status;
  for (const auto& [name, value] : hit->headers) r.headers.Add(name, value);
  r.headers.Set("X-Cache", "HIT");
  r.headers.Set("Age", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - hit->stored).count()));
  r.body = hit->body;
  Record(route.name, "(cache)", r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
  return r;
}

// The upstream's pool, through its circuit breaker: an open circuit degrades the route to its
// fallback, or fails fast.
std::optional<http::Response> Gateway::Impl::PickUpstream(Pass& p) {
  const RouteSpec& route = p.route;
  auto pool_it = p.live.pools.find(p.upstream);
  if (pool_it == p.live.pools.end()) {
    Status st = route.upstream.empty() && p.upstream == p.service_pool
                    ? Status::Unavailable("service '" + route.service + "' has no live instances")
                    : Status::Unavailable("upstream '" + std::string(p.upstream) + "' is not configured");
    http::Response r = http::ErrorResponse(st, p.req.request_id);
    r.headers.Set("Retry-After", "1");
    Record(route.name, p.upstream, r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
    return r;
  }
  UpstreamPool::Admission admission = pool_it->second->AdmitRequest();
  if (!admission.allowed) {
    auto fallback_pool = route.fallback && !route.fallback->upstream.empty() ? p.live.pools.find(route.fallback->upstream)
                                                                            : p.live.pools.end();
    if (fallback_pool != p.live.pools.end()) {
      pool_it = fallback_pool;
      admission = pool_it->second->AdmitRequest();
    }
    if (!admission.allowed && route.fallback && route.fallback->upstream.empty()) {
      return StaticAnswer(*route.fallback, "circuit-open", p);
    }
    if (!admission.allowed) {
      http::Response r = http::ErrorResponse(
          Status::Unavailable("the circuit of upstream '" + pool_it->second->spec().name + "' is open"), p.req.request_id);
      r.headers.Set("Retry-After", std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(admission.retry_after_s)))));
      Record(route.name, pool_it->second->spec().name, r.status, p.start, std::nullopt, r.body.size(), CallerOf(p));
      return r;
    }
  }
  p.pool = &pool_it->second;
  p.trial = admission.trial;
  return std::nullopt;
}

// Fills in the exchange and its upstream request, and starts the first attempt; the answer
// comes later (deferred).
http::Response Gateway::Impl::Dispatch(std::shared_ptr<Exchange> x, Pass& p) {
  http::Request& req = p.req;
  const RouteSpec& route = p.route;
  x->impl = this;
  x->pool = *p.pool;
  x->route = route.name;
  x->start = p.start;
  x->request_id = req.request_id;
  x->consumer = p.consumer;
  const Caller caller = CallerOf(p);
  x->application = caller.application;
  x->bytes_in = caller.bytes_in;
  x->log = options.access_log;
  x->cache_key = std::move(p.cache_key);
  x->cache = p.cache_spec;
  x->trial = p.trial;
  x->idempotent = Idempotent(req.method);
  x->hash_key = x->pool->spec().balance == Balance::kConsistentHash ? HashKey(x->pool->spec(), req) : "";
  x->path_and_query.reserve(x->hit->upstream_path.size() + req.query.size() + 1);
  x->path_and_query.append(x->hit->upstream_path);
  if (!req.query.empty()) x->path_and_query.append(1, '?').append(req.query);
  http::ClientRequest& out = x->request;
  out.method = req.method;
  out.timeout = std::chrono::milliseconds(route.timeout_ms > 0 ? route.timeout_ms : x->pool->spec().timeout_ms);
  // The caller's fields are written straight into the upstream request's field block (the
  // request holds none with a line break).
  UpstreamFieldsInput fields;
  fields.headers = &req.headers;
  fields.client_ip = ClientIp(req);
  fields.request_id = req.request_id;
  fields.consumer = p.consumer;
  fields.strip_credentials = !route.anonymous;
  if (!route.request_headers.empty()) fields.extra = &route.request_headers;
  fields.random_hex = &AppendUniqueHex;
  out.fields_have_agent = AppendUpstreamFields(out.fields, fields);
  out.body = std::move(req.body);
  out.body_stream = x.get();  // the request lives in the exchange

  // The answer is due when every attempt has had its time.
  auto deadline = p.start + out.timeout * (x->pool->spec().retries + 1) + std::chrono::seconds(1);
  // The server runs this while it holds the answer, which keeps the exchange.
  x->answer.SetDeadline(deadline, [ex = x.get()] {
    ex->answer.Complete(http::ErrorResponse(Status::DeadlineExceeded("the upstream did not answer in time"), ex->request_id));
  });
  http::Response r;
  r.deferred = std::shared_ptr<http::DeferredResponse>(x, &x->answer);
  if (p.limit) {
    // The exchange outlives its answer's finishers: the answer is part of it.
    x->limit = p.limit;
    http::Finally(r, [ex = x.get()](http::Response& done) {
      done.headers.Set("RateLimit-Limit", std::to_string(ex->limit->limit));
      done.headers.Set("RateLimit-Remaining", std::to_string(ex->limit->remaining));
      done.headers.Set("RateLimit-Reset", std::to_string(static_cast<int64_t>(std::ceil(ex->limit->reset_s))));
    });
  }
  if (p.tokens) {
    x->token_limit = &*route.token_limit;
    x->token_key = std::move(p.token_key);
    x->tokens = p.tokens;
    http::Finally(r, [ex = x.get()](http::Response& done) {
      done.headers.Set("x-ratelimit-limit-tokens", std::to_string(ex->tokens->limit));
      done.headers.Set("x-ratelimit-remaining-tokens", std::to_string(ex->tokens->remaining));
    });
  }
  Attempt(std::move(x));
  return r;
}
}  // namespace aimass::gateway
