#include "gateway/gateway_impl.hpp"

namespace aimass::gateway {

namespace {

class Resolver : public http::Middleware {
 public:
  explicit Resolver(Gateway::Impl* impl) : impl_(impl) {}
  Status Admit(http::Request& req) override { return impl_->Resolve(req); }
  http::Response Handle(http::Request& req, const http::Next& next) override {
    if (req.early_error.ok() && !req.route_state) {
      if (Status st = impl_->Resolve(req); !st.ok()) {
        http::Response r = http::ErrorFor(req, st);
        if (st.code() == Code::kUnauthenticated) r.headers.Set("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    return next(req);
  }

 private:
  Gateway::Impl* impl_;
};

}  // namespace

Status Gateway::Impl::Rebuild(bool clear_limits) {
  AIMASS_ASSIGN_OR_RETURN(auto ups, store.Upstreams());
  AIMASS_ASSIGN_OR_RETURN(auto routes, store.Routes());
  AIMASS_ASSIGN_OR_RETURN(auto consumers, store.Consumers());
  AIMASS_ASSIGN_OR_RETURN(auto secrets, store.Secrets());
  auto old = Current();
  auto next = std::make_shared<Live>();
  // An unchanged upstream keeps its pool, and with it its ejections and latency averages.
  auto place = [&](UpstreamSpec u) {
    auto it = old->pools.find(u.name);
    if (it != old->pools.end()) {
      Json have = ToJson(it->second->spec()), want = ToJson(u);
      have.erase("updated_at");
      want.erase("updated_at");
      if (have == want) {
        next->pools[u.name] = it->second;
        return;
      }
    }
    std::string name = u.name;  // (the right side of `=` runs first and moves u)
    next->pools[name] = std::make_shared<UpstreamPool>(std::move(u));
  };
  for (auto& u : ups) place(std::move(u));
  // Each discovered service is an upstream of its live instances, named "service:<name>".
  AIMASS_ASSIGN_OR_RETURN(auto instances, discovery->Instances(std::nullopt));
  routed_instances = InstanceSetKey(instances);
  std::map<std::string, UpstreamSpec> services;
  for (const auto& in : instances) {
    UpstreamSpec& u = services[in.service];
    u.name = "service:" + in.service;
    u.targets.push_back({in.url, in.weight});
  }
  for (auto& [_, u] : services) place(std::move(u));
  std::vector<RouteSpec> specs;
  for (auto& [spec, state] : routes) {
    next->states[spec.name] = state;
    specs.push_back(std::move(spec));
  }
  // The platform's own paths that other processes serve: anonymous here (no gateway plugin,
  // the credentials go through), the process that serves them authenticates the caller.
  for (const auto& [prefix, module] : options.platform_routes) {
    RouteSpec r;
    r.name = "platform:" + module + ":" + prefix;
    r.paths = {prefix};
    r.service = std::string(discovery::kPlatformServicePrefix) + module;
    r.anonymous = true;
    specs.push_back(std::move(r));
  }
  next->table = std::make_shared<RouteTable>(std::move(specs));

  Json doc = Json::array();
  for (const auto& c : consumers) doc.push_back(ToJson(c, true));
  next->consumers_doc = doc.dump();
  // Unchanged consumers keep their verifier, and with it the JWKS keys fetched so far.
  next->verifier = next->consumers_doc == old->consumers_doc ? old->verifier : std::make_shared<ConsumerVerifier>(consumers);
  for (const auto& c : consumers) {
    Principal p;
    p.username = c.name;
    p.roles = c.roles;
    for (const auto& role : c.roles) {
      auto r = auth.GetRole(role);
      if (!r.ok()) continue;  // a deleted role grants nothing
      p.permissions.insert(p.permissions.end(), r->permissions.begin(), r->permissions.end());
    }
    auto with = [&p](const char* method) {
      auto shared = std::make_shared<Principal>(p);
      shared->method = method;
      return std::shared_ptr<const Principal>(std::move(shared));
    };
    next->consumers[c.name] = {with(kConsumerJwt), with(kConsumerKey), with(kConsumerOAuth)};
  }
  for (const auto& s : secrets) {
    if (s.kind == "apikey") next->api_keys[s.hash] = s.consumer;
    if (s.kind == "oauth") next->oauth_clients[s.id] = {s.consumer, s.hash};
  }
  {
    std::lock_guard lock(live_mu);
    live = std::move(next);
  }
  if (clear_limits) {
    limiter.Clear();
    tokens.Clear();
  }
  {
    std::lock_guard lock(docs_mu);
    next_docs = {};  // routes may have changed: read the services' documents again
  }
  return Status::Ok();
}

Gateway::Gateway(storage::Db& db, auth::AuthService& auth, std::shared_ptr<prometheus::Registry> metrics,
                 GatewayOptions options)
    : impl_(std::make_unique<Impl>(db, auth, std::move(metrics), options)) {}
Gateway::~Gateway() = default;

void Gateway::SetUsageSink(UsageSink* sink) { impl_->usage.store(sink, std::memory_order_release); }

Status Gateway::Load() {
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  if (!impl_->refresher.joinable()) impl_->refresher = NamedThread("gw-refresh", [this] { impl_->RefreshLoop(); });
  return Status::Ok();
}

std::vector<storage::Migration> Gateway::Migrations() { return GatewayStore::Migrations(); }

namespace {
// Services named aimass-<module> are the platform's own processes, announced by the discovery
// module: the built-in platform routes send every caller's credentials to them, so nobody may
// add, renew or remove one through the API.
Status CheckNotPlatformService(const std::string& service) {
  if (service.rfind(discovery::kPlatformServicePrefix, 0) == 0) {
    return Status::Forbidden("services named '" + std::string(discovery::kPlatformServicePrefix) +
                             "…' are the platform's own processes; they announce themselves");
  }
  return Status::Ok();
}
}  // namespace

Result<Instance> Gateway::RegisterInstance(Instance instance) {
  AIMASS_RETURN_IF_ERROR(CheckNotPlatformService(instance.service));
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(Instance in, impl_->discovery->Register(std::move(instance)));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild(false));
  return in;
}

Result<Instance> Gateway::Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s) {
  AIMASS_RETURN_IF_ERROR(CheckNotPlatformService(service));
  return impl_->discovery->Heartbeat(service, id, ttl_s);  // the instance set is unchanged
}

Status Gateway::Deregister(const std::string& service, const std::string& id) {
  AIMASS_RETURN_IF_ERROR(CheckNotPlatformService(service));
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->discovery->Deregister(service, id));
  return impl_->Rebuild(false);
}

Result<std::vector<Instance>> Gateway::Instances(const std::optional<std::string>& service) const {
  return impl_->discovery->Instances(service);
}

std::string Gateway::ServicePaths() const {
  std::lock_guard lock(impl_->docs_mu);
  Json all = Json::object();
  for (const auto& [_, paths] : impl_->service_paths) {
    for (const auto& [path, item] : paths.items()) {
      if (!all.contains(path)) all[path] = item;
    }
  }
  return all.dump();
}

Result<Json> Gateway::PurgeCache(const std::optional<std::string>& route) {
  if (route) {
    AIMASS_RETURN_IF_ERROR(Route(*route).status());
    return Json{{"purged", impl_->cache.Purge(*route)}};
  }
  return Json{{"purged", impl_->cache.PurgeAll()}};
}

Json Gateway::CacheStats() const {
  auto s = impl_->cache.stats();
  return {{"entries", s.entries}, {"bytes", s.bytes}, {"hits", s.hits}, {"misses", s.misses}, {"evictions", s.evictions}};
}

Result<std::vector<ConsumerSpec>> Gateway::Consumers() const { return impl_->store.Consumers(); }

Result<ConsumerSpec> Gateway::Consumer(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Consumers());
  for (auto& c : all) {
    if (c.name == name) return c;
  }
  return Status::NotFound("consumer '" + name + "' not found");
}

Result<ConsumerSpec> Gateway::PutConsumer(ConsumerSpec spec, bool must_create) {
  for (const auto& role : spec.roles) {
    if (!impl_->auth.GetRole(role).ok()) return Status::BadRequest("role '" + role + "' does not exist");
  }
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutConsumer(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild(false));
  {
    std::lock_guard wake(impl_->refresh_mu);  // fetch a new JWKS now rather than within a second
    impl_->refresh_now = true;
  }
  impl_->refresh_cv.notify_all();
  return stored;
}

Status Gateway::DeleteConsumer(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteConsumer(name));
  return impl_->Rebuild(false);
}

namespace {
Result<Gateway::NewSecret> AddSecret(Gateway::Impl& impl, const std::string& consumer, const std::string& kind,
                                     std::string id, std::string secret) {
  GatewayStore::SecretRecord r{id, consumer, kind, Sha256Hex(secret), UnixNowMs()};
  std::lock_guard lock(impl.write_mu);
  AIMASS_RETURN_IF_ERROR(impl.store.AddSecret(r));
  AIMASS_RETURN_IF_ERROR(impl.Rebuild(false));
  return Gateway::NewSecret{std::move(id), std::move(secret), r.created_at};
}
}  // namespace

Result<Gateway::NewSecret> Gateway::CreateApiKey(const std::string& consumer) {
  return AddSecret(*impl_, consumer, "apikey", "gkey_" + RandomHex(8), "gwk_" + RandomToken(40));
}

Result<Gateway::NewSecret> Gateway::CreateOAuthClient(const std::string& consumer) {
  return AddSecret(*impl_, consumer, "oauth", "gcl_" + RandomHex(12), RandomToken(48));
}

Result<Json> Gateway::Secrets(const std::string& consumer) const {
  AIMASS_RETURN_IF_ERROR(Consumer(consumer).status());
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Secrets());
  Json keys = Json::array(), clients = Json::array();
  for (const auto& s : all) {
    if (s.consumer != consumer) continue;
    (s.kind == "oauth" ? clients : keys).push_back({{"id", s.id}, {"created_at", s.created_at}});
  }
  return Json{{"api_keys", keys}, {"oauth_clients", clients}};
}

Status Gateway::DeleteSecret(const std::string& consumer, const std::string& id) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteSecret(consumer, id));
  return impl_->Rebuild(false);
}

Result<Gateway::OAuthToken> Gateway::IssueOAuthToken(const std::string& client_id, const std::string& client_secret) {
  if (!impl_->oauth_jwt) return Status::Unavailable("OAuth tokens are not configured");
  auto live = impl_->Current();
  auto it = live->oauth_clients.find(client_id);
  std::string given = Sha256Hex(client_secret);
  // The same work whether or not the client exists, and a constant-time comparison.
  const std::string& want = it != live->oauth_clients.end() ? it->second.second : given;
  bool same = want.size() == given.size() && CRYPTO_memcmp(want.data(), given.data(), want.size()) == 0;
  if (it == live->oauth_clients.end() || !same) return Status::Unauthenticated("invalid client");
  int64_t now = UnixNowMs() / 1000;
  Json claims = {{"sub", it->second.first}, {"client_id", client_id}, {"iat", now},
                 {"exp", now + impl_->options.oauth_token_ttl_s}, {"jti", RandomHex(16)}};
  AIMASS_ASSIGN_OR_RETURN(std::string token, impl_->oauth_jwt->Sign(claims));
  return OAuthToken{std::move(token), impl_->options.oauth_token_ttl_s};
}

const http::Route& Gateway::fallback_route() const { return impl_->fallback; }
std::shared_ptr<http::Middleware> Gateway::resolver() { return std::make_shared<Resolver>(impl_.get()); }

Result<std::vector<UpstreamSpec>> Gateway::Upstreams() const { return impl_->store.Upstreams(); }

Result<UpstreamSpec> Gateway::Upstream(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Upstreams());
  for (auto& u : all) {
    if (u.name == name) return u;
  }
  return Status::NotFound("upstream '" + name + "' not found");
}

Result<UpstreamSpec> Gateway::PutUpstream(UpstreamSpec spec, bool must_create) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutUpstream(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return stored;
}

Status Gateway::DeleteUpstream(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteUpstream(name));
  return impl_->Rebuild();
}

Result<Json> Gateway::UpstreamHealth(const std::string& name) const {
  auto live = impl_->Current();
  auto it = live->pools.find(name);
  if (it == live->pools.end()) return Status::NotFound("upstream '" + name + "' not found");
  return Json{{"targets", it->second->Health()}, {"circuit", it->second->CircuitJson()}};
}

Result<std::vector<std::pair<RouteSpec, RouteState>>> Gateway::Routes() const { return impl_->store.Routes(); }

Result<std::pair<RouteSpec, RouteState>> Gateway::Route(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Routes());
  for (auto& r : all) {
    if (r.first.name == name) return r;
  }
  return Status::NotFound("route '" + name + "' not found");
}

Result<RouteSpec> Gateway::PutRoute(RouteSpec spec, bool must_create) {
  if (spec.rate_limit && spec.rate_limit->policy == RatePolicy::kRedis && !impl_->redis) {
    return Status::BadRequest("a shared (redis) rate limit needs gateway.redis_url");
  }
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutRoute(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return stored;
}

Status Gateway::DeleteRoute(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteRoute(name));
  return impl_->Rebuild();
}

Result<RouteState> Gateway::SetRouteState(const std::string& name, RouteState state) {
  std::lock_guard lock(impl_->write_mu);
  state.changed_at = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(impl_->store.SetRouteState(name, state));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return state;
}

}  // namespace aimass::gateway
