// libFuzzer target for what the cluster module reads: job documents as POST /api/v1/jobs
// receives them, and the text it takes from nvidia-smi, cluster.gpus and Slurm's commands. A
// job that parses must parse again, unchanged, from what is stored for it.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/job.hpp"
#include "cluster/node.hpp"
#include "cluster/slurm_executor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimass::cluster;
  std::string input(reinterpret_cast<const char*>(data), size);
  (void)ParseNvidiaSmi(input);
  (void)ParseDeclaredGpus(input);
  (void)ParseSqueue(input);
  auto s = ParseScontrolJob(input);
  (void)SlurmOutcome(s);
  nlohmann::json body = nlohmann::json::parse(input, nullptr, false);
  if (body.is_discarded()) return 0;
  auto spec = ParseJobSpec(body);
  if (!spec.ok()) return 0;
  nlohmann::json stored = SpecJson(*spec, true);
  auto again = SpecFromJson(stored);
  if (!again.ok() || SpecJson(*again, true) != stored) std::abort();
  return 0;
}
