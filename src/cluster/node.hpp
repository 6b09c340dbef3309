// Node: a machine the cluster may run jobs on: its CPUs, memory and GPUs, labels, whether it
// takes work (ready, draining) or stopped answering (down), and what its jobs hold. The local
// machine's inventory is read here (/proc, nvidia-smi); ClusterStore keeps the registrations.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::cluster {

struct Gpu {
  int index = 0;
  std::string model;
  int64_t memory_mb = 0;
  std::string uuid;
};

struct Node {
  std::string name;
  int64_t cpus = 0;
  int64_t memory_mb = 0;
  std::vector<Gpu> gpus;
  std::map<std::string, std::string> labels;
  std::string state = "ready";     // ready | draining (what an admin set); `down` is derived from heartbeat_ms
  std::string limits;              // how the node limits jobs: cgroup-v2, cgroup-v1, rlimit
  bool sandbox = false;            // bubblewrap works there
  std::string instance;            // the process that holds the node (its heartbeat)
  std::string url;                 // that process's URL
  int64_t registered_ms = 0, heartbeat_ms = 0;
  // Filled from the running jobs when listed.
  int64_t used_cpus = 0, used_memory_mb = 0, running_jobs = 0;
  std::map<int, double> gpu_used;  // index -> share held (1 = whole)
};

// [a-z0-9][a-z0-9._-]{0,62}: a host name's first label, lower-cased.
bool ValidNodeName(const std::string& name);

// This machine: CPUs the process may use, MemTotal, GPUs from nvidia-smi (none is normal).
// `gpus_override` is cluster.gpus: "auto" (nvidia-smi), "none", or declared devices
// "MODEL:MEMORY_MB,…" for machines whose GPUs nvidia-smi cannot see (a container without it).
Result<Node> DetectLocalNode(const std::string& name, const std::string& gpus_override);

// Parses `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`.
Result<std::vector<Gpu>> ParseNvidiaSmi(const std::string& csv);
Result<std::vector<Gpu>> ParseDeclaredGpus(const std::string& spec);

nlohmann::json ToJson(const Node& n, int64_t now_ms, int64_t down_after_ms);
// "down" when the heartbeat is older than down_after_ms, else the stored state.
std::string EffectiveState(const Node& n, int64_t now_ms, int64_t down_after_ms);

}  // namespace aimass::cluster
