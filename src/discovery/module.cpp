#include "discovery/module.hpp"

#include <spdlog/spdlog.h>

#include "common/text.hpp"
#include "common/thread_name.hpp"

namespace aimass::discovery {

Status DiscoveryModule::Open(module::Context& ctx) {
  const config::Config& cfg = ctx.config();
  hooks_ = &ctx.hooks();
  ttl_s_ = cfg.cluster.lease_ttl_s;
  advertise_url_ = cfg.cluster.advertise_url;
  if (cfg.cluster.discovery == "etcd") {
    EtcdOptions o;
    o.endpoints = SplitCommaList(cfg.cluster.etcd_endpoints);
    AIMASS_ASSIGN_OR_RETURN(discovery_, MakeEtcdDiscovery(std::move(o)));
  } else {
    discovery_ = MakeStoreDiscovery(ctx.db());
  }
  locator_ = std::make_unique<Locator>(*discovery_, hooks_->remote_paths);
  return Status::Ok();
}

Status DiscoveryModule::Start() {
  if (hooks_->remote_paths.empty()) return Status::Ok();  // a monolith: nobody to tell
  url_ = advertise_url_.empty() ? hooks_->platform_url() : advertise_url_;
  renewer_ = NamedThread("discovery", [this] { Renew(); });
  return Status::Ok();
}

bool DiscoveryModule::Announce() {
  for (const auto& ready : hooks_->announce_when) {
    if (!ready()) return false;  // e.g. deployments still loading: not yet
  }
  std::vector<Instance> made;
  for (const std::string& module : hooks_->served_modules) {
    Instance in;
    in.service = std::string(kPlatformServicePrefix) + module;
    in.url = url_;
    in.ttl_s = ttl_s_;
    auto got = discovery_->Register(in);
    if (!got.ok()) {
      spdlog::warn("cannot announce {} on {}: {}", in.service, discovery_->name(), got.status().message());
      std::lock_guard lock(mu_);
      last_renewal_ = got.status();
      made.clear();
      return false;
    }
    made.push_back(std::move(*got));
  }
  spdlog::info("announced {} module(s) at {} on {} (ttl {} s)", made.size(), url_, discovery_->name(), ttl_s_);
  std::lock_guard lock(mu_);
  announced_ = std::move(made);
  last_renewal_ = Status::Ok();
  return true;
}

void DiscoveryModule::Renew() {
  // First the announcement, once this process can answer (checked every 100 ms)…
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
    }
    if (Announce()) break;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) return;
  }
  // …then its renewal, every third of the TTL.
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(ttl_s_ * 1000 / 3), [this] { return stopping_; });
    if (stopping_) return;
    std::vector<Instance> mine = announced_;
    lock.unlock();
    Status worst;
    for (Instance& in : mine) {
      auto kept = discovery_->Heartbeat(in.service, in.id, std::nullopt);
      // Gone (a long pause outlived the TTL, or the store lost it): announce again.
      if (!kept.ok() && kept.status().code() == Code::kNotFound) kept = discovery_->Register(in);
      if (kept.ok()) {
        in = *kept;
      } else {
        worst = kept.status();
        spdlog::warn("cannot renew {} on {}: {}", in.service, discovery_->name(), worst.message());
      }
    }
    lock.lock();
    announced_ = std::move(mine);
    last_renewal_ = worst;
  }
}

void DiscoveryModule::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  // Leave at once rather than when the TTL runs out: the gateway stops routing here now.
  std::vector<Instance> mine;
  {
    std::lock_guard lock(mu_);
    mine.swap(announced_);
  }
  for (const Instance& in : mine) (void)discovery_->Deregister(in.service, in.id);
}

Status DiscoveryModule::Health() const {
  std::lock_guard lock(mu_);
  if (!last_renewal_.ok()) return Status::Unavailable("announcements not renewed: " + last_renewal_.message());
  return Status::Ok();
}

}  // namespace aimass::discovery
