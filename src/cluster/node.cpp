#include "cluster/node.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "common/cpus.hpp"
#include "common/file.hpp"
#include "common/text.hpp"
#include "common/time.hpp"

namespace aimass::cluster {

namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> SplitOn(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(Trim(cur));
  return out;
}

int64_t MemTotalMb() {
  auto text = ReadFile("/proc/meminfo");
  if (!text.ok()) return 0;
  size_t at = text->find("MemTotal:");
  if (at == std::string::npos) return 0;
  return std::strtoll(text->c_str() + at + 9, nullptr, 10) / 1024;
}

// nvidia-smi's answer, or empty when it is not installed or fails (no driver): no GPUs.
std::string RunNvidiaSmi() {
  for (const char* p : {"/usr/bin/nvidia-smi", "/usr/local/bin/nvidia-smi"}) {
    if (::access(p, X_OK) != 0) continue;
    std::string cmd = std::string(p) + " --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits 2>/dev/null";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return "";
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    int rc = ::pclose(f);
    return (WIFEXITED(rc) && WEXITSTATUS(rc) == 0) ? out : "";
  }
  return "";
}

}  // namespace

bool ValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '_' || c == '.')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(name[0]));
}

Result<std::vector<Gpu>> ParseNvidiaSmi(const std::string& csv) {
  std::vector<Gpu> out;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    if (Trim(line).empty()) continue;
    auto f = SplitOn(line, ',');
    if (f.size() < 3) return Status::BadRequest("nvidia-smi line with fewer than 3 fields: " + line.substr(0, 80));
    Gpu g;
    char* end = nullptr;
    g.index = static_cast<int>(std::strtol(f[0].c_str(), &end, 10));
    if (end == f[0].c_str() || *end != '\0' || g.index < 0) return Status::BadRequest("bad GPU index '" + f[0] + "'");
    g.model = f[1];
    g.memory_mb = std::strtoll(f[2].c_str(), &end, 10);  // "[N/A]" reads as 0
    if (f.size() > 3) g.uuid = f[3];
    out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<Gpu>> ParseDeclaredGpus(const std::string& spec) {
  std::vector<Gpu> out;
  for (const auto& item : SplitOn(spec, ',')) {
    if (item.empty()) continue;
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::BadRequest("cluster.gpus: '" + item.substr(0, 64) + "' is not MODEL:MEMORY_MB");
    }
    char* end = nullptr;
    std::string mem = item.substr(colon + 1);
    int64_t mb = std::strtoll(mem.c_str(), &end, 10);
    if (end == mem.c_str() || *end != '\0' || mb <= 0) {
      return Status::BadRequest("cluster.gpus: '" + item.substr(0, 64) + "' has no memory in MiB after ':'");
    }
    out.push_back({static_cast<int>(out.size()), item.substr(0, colon), mb, ""});
  }
  return out;
}

Result<Node> DetectLocalNode(const std::string& name, const std::string& gpus_override) {
  Node n;
  n.name = name;
  n.cpus = UsableCpus();
  n.memory_mb = MemTotalMb();
  if (gpus_override == "none") {
  } else if (gpus_override.empty() || gpus_override == "auto") {
    auto gpus = ParseNvidiaSmi(RunNvidiaSmi());
    if (gpus.ok()) n.gpus = std::move(*gpus);
  } else {
    AIMASS_ASSIGN_OR_RETURN(n.gpus, ParseDeclaredGpus(gpus_override));
  }
  return n;
}

std::string EffectiveState(const Node& n, int64_t now_ms, int64_t down_after_ms) {
  if (now_ms - n.heartbeat_ms > down_after_ms) return "down";
  return n.state;
}

nlohmann::json ToJson(const Node& n, int64_t now_ms, int64_t down_after_ms) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : n.gpus) {
    auto used = n.gpu_used.find(g.index);
    gpus.push_back({{"index", g.index},
                    {"model", g.model},
                    {"memory_mb", g.memory_mb},
                    {"uuid", g.uuid},
                    {"allocated", used == n.gpu_used.end() ? 0.0 : used->second}});
  }
  return {{"name", n.name},
          {"state", EffectiveState(n, now_ms, down_after_ms)},
          {"cpus", n.cpus},
          {"memory_mb", n.memory_mb},
          {"gpus", gpus},
          {"labels", n.labels},
          {"limits", n.limits},
          {"sandbox", n.sandbox},
          {"url", n.url},
          {"allocated", {{"cpus", n.used_cpus}, {"memory_mb", n.used_memory_mb}, {"jobs", n.running_jobs}}},
          {"registered_at", Rfc3339Ms(n.registered_ms)},
          {"heartbeat_at", Rfc3339Ms(n.heartbeat_ms)}};
}

}  // namespace aimass::cluster
