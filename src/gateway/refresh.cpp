#include "gateway/gateway_impl.hpp"

namespace aimass::gateway {

// Every minute (and after any change), each route with an openapi_path has its upstream's
// document read from the first target and its paths mapped to the ones the route exposes.
void Gateway::Impl::FetchServiceDocs(const Live& live) {
  {
    std::lock_guard lock(docs_mu);
    if (Clock::now() < next_docs) return;
    next_docs = Clock::now() + std::chrono::seconds(60);
  }
  std::map<std::string, Json> fresh;
  for (const auto& route : live.table->routes()) {
    if (route.openapi_path.empty() || !route.rewrite.empty()) continue;
    auto pool = live.pools.find(route.upstream.empty() ? "service:" + route.service : route.upstream);
    if (pool == live.pools.end() || pool->second->spec().targets.empty()) continue;
    http::ClientRequest get;
    get.url = pool->second->spec().targets[0].url + route.openapi_path;
    get.timeout = std::chrono::seconds(5);
    auto got = client.Send(get);
    if (!got.ok() || got->status != 200) {
      spdlog::warn("gateway route {}: OpenAPI document {} not read", route.name, get.url);
      continue;
    }
    Json doc = Json::parse(got->body, nullptr, false);
    if (!doc.is_object() || !doc.contains("paths") || !doc["paths"].is_object()) continue;
    std::string prefix = route.paths.empty() ? "" : route.paths[0];
    if (prefix.starts_with("=")) prefix.erase(0, 1);
    Json paths = Json::object();
    for (const auto& [path, item] : doc["paths"].items()) {
      if (!item.is_object()) continue;
      // What a caller of the gateway writes: the prefix in front when the route strips it;
      // otherwise the upstream's own path, if the route reaches it.
      std::string exposed = route.strip_path ? (path == "/" ? prefix : prefix + path) : path;
      if (!route.strip_path && !(exposed == prefix || exposed.starts_with(prefix + "/"))) continue;
      Json ops = item;
      for (auto& [method, op] : ops.items()) {
        if (op.is_object()) op["tags"] = Json::array({"gateway route " + route.name});
      }
      paths[exposed] = std::move(ops);
    }
    fresh[route.name] = std::move(paths);
  }
  std::lock_guard lock(docs_mu);
  service_paths = std::move(fresh);
}

void Gateway::Impl::RefreshLoop() {
  auto next_roles = Clock::now() + std::chrono::seconds(10);
  std::unique_lock lock(refresh_mu);
  while (!stop) {
    refresh_cv.wait_for(lock, std::chrono::seconds(1), [this] { return stop || refresh_now; });
    if (stop) break;
    refresh_now = false;
    lock.unlock();
    auto current = Current();
    for (const auto& url : current->verifier->JwksDue(Clock::now())) {
      http::ClientRequest get;
      get.url = url;
      get.timeout = std::chrono::seconds(5);
      auto got = client.Send(get);
      Result<std::string> doc = !got.ok() ? Result<std::string>(got.status())
                                : got->status != 200 ? Result<std::string>(Status::Unavailable("JWKS answered " + std::to_string(got->status)))
                                                     : Result<std::string>(std::move(got->body));
      if (!doc.ok()) spdlog::warn("gateway: JWKS {} not fetched: {}", url, doc.status().message());
      current->verifier->SetJwks(url, doc, Clock::now());
    }
    // Instances come and go through other processes too (their announcements, etcd's
    // expired leases): rebuild whenever the live set differs from the one routed to.
    (void)discovery->Expire(UnixNowMs());
    if (auto live = discovery->Instances(std::nullopt); live.ok()) {
      std::lock_guard write(write_mu);
      if (InstanceSetKey(*live) != routed_instances) {
        if (Status st = Rebuild(false); !st.ok()) spdlog::warn("gateway: rebuild after discovery changed failed: {}", st.ToString());
        current = Current();
      }
    }
    for (const auto& [name, pool] : current->pools) {
      circuit_gauge->Add({{"upstream", name}}).Set(static_cast<double>(pool->circuit()));
      if (!pool->HealthCheckDue(Clock::now())) continue;
      const HealthCheckSpec& hc = *pool->spec().health_check;
      for (size_t i = 0; i < pool->spec().targets.size(); ++i) {
        http::ClientRequest get;
        get.url = pool->spec().targets[i].url + hc.path;
        get.timeout = std::chrono::milliseconds(hc.timeout_ms);
        get.headers.emplace_back("User-Agent", "aimass-gateway-health");
        auto got = client.Send(get);
        pool->SetCheckResult(i, got.ok() && got->status >= hc.min_status && got->status <= hc.max_status);
      }
    }
    FetchServiceDocs(*current);
    if (Clock::now() >= next_roles) {
      // Roles may have been given or taken permissions since: re-read them.
      next_roles = Clock::now() + std::chrono::seconds(10);
      std::lock_guard write(write_mu);
      if (Status st = Rebuild(false); !st.ok()) spdlog::warn("gateway: refresh failed: {}", st.ToString());
    }
    lock.lock();
  }
}

}  // namespace aimass::gateway
