// libFuzzer target for cron jobs as the API receives them: the schedule language with its time
// zone, and the job document. A schedule that parses must answer NextAfter with a time
// strictly later (or none), and a job that parses must have a schedule that parses.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "scheduler/job.hpp"
#include "scheduler/schedule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // "expression\nzone" or a JSON job document.
  size_t nl = input.find('\n');
  std::string expr = input.substr(0, nl);
  std::string zone = nl == std::string::npos ? "" : input.substr(nl + 1, 80);
  auto s = aimass::scheduler::Schedule::Parse(expr, zone);
  if (s.ok()) {
    for (int64_t after : {int64_t{0}, int64_t{1792888200000}, int64_t{-86400000}}) {
      auto next = s->NextAfter(after);
      if (next && *next <= after) std::abort();
    }
  }
  nlohmann::json body = nlohmann::json::parse(input, nullptr, false);
  if (body.is_discarded()) return 0;
  auto job = aimass::scheduler::ParseJobSpec(body);
  if (job.ok() && !aimass::scheduler::Schedule::Parse(job->schedule, job->time_zone).ok()) std::abort();
  return 0;
}
