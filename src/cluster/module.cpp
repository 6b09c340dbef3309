#include "cluster/module.hpp"

#include <unistd.h>

#include "auth/module.hpp"
#include "cluster/api.hpp"
#include "common/random.hpp"
#include "events/module.hpp"

namespace aimass::cluster {

namespace {

Result<std::map<std::string, std::string>> ParseLabels(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() : comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return Status::BadRequest("cluster.node_labels: '" + item + "' is not key=value");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

}  // namespace

Status ClusterModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  const config::Config& cfg = ctx.config();
  ClusterOptions o;
  o.node_name = cfg.cluster.node_name;
  if (!o.node_name.empty() && !ValidNodeName(o.node_name)) {
    return Status::BadRequest("cluster.node_name '" + o.node_name + "' is not [a-z0-9][a-z0-9._-]{0,62}");
  }
  o.instance = std::to_string(::getpid()) + "-" + RandomHex(8);
  module::Hooks* hooks = &ctx.hooks();
  o.url = [hooks] { return hooks->platform_url ? hooks->platform_url() : std::string(); };
  o.jobs_dir = cfg.cluster.jobs_dir.empty() ? cfg.data_dir + "/jobs" : cfg.cluster.jobs_dir;
  o.gpus = cfg.cluster.gpus;
  o.limits = cfg.cluster.limits;
  AIMASS_ASSIGN_OR_RETURN(o.labels, ParseLabels(cfg.cluster.node_labels));
  o.down_after_ms = cfg.cluster.lease_ttl_s * 1000;
  o.heartbeat_ms = std::max<int64_t>(o.down_after_ms / 3, 500);
  // Only a process that serves the module runs jobs; a library submits and reads.
  o.run_jobs = ctx.hooks().serves(kName);
  o.slurm.enabled = cfg.cluster.slurm;
  o.slurm.conf = cfg.cluster.slurm_conf;
  o.slurm.partition = cfg.cluster.slurm_partition;
  o.slurm.bin_dir = cfg.cluster.slurm_bin_dir;
  o.bus = &events->bus();
  cluster_ = std::make_unique<Cluster>(ctx.db(), std::move(o));
  return cluster_->Open();
}

Status ClusterModule::RegisterRoutes(http::Router& router) { return cluster::RegisterRoutes(router, *cluster_); }

Status ClusterModule::Start() {
  cluster_->Start();
  return Status::Ok();
}

}  // namespace aimass::cluster
