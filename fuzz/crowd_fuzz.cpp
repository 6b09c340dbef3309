// libFuzzer target for what the crowd module reads from the network: stream definitions, lines
// and zones (users), and workers' reports (the worker's body, also anything posing as one), each
// parsed and, when accepted, written back and parsed again (the stored form must read back the
// same). The first byte picks the parser. Parsers must return a status, never crash.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crowd/report.hpp"
#include "crowd/stream_spec.hpp"

using nlohmann::json;
using namespace aimass;
using namespace aimass::crowd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0] % 4;
  const json j = json::parse(std::string(reinterpret_cast<const char*>(data + 1), size - 1), nullptr, false);
  if (j.is_discarded()) return 0;
  switch (which) {
    case 0: {
      auto s = ParseStreamSpec(j);
      if (s.ok()) {
        auto again = ParseStreamSpec(ToJson(*s));
        if (!again.ok() || ToJson(*again) != ToJson(*s)) __builtin_trap();  // the stored form reads back the same
        (void)s->local_file();
        (void)s->path();
      }
      break;
    }
    case 1: {
      auto l = ParseLine(j);
      if (l.ok() && !ParseLine(ToJson(*l)).ok()) __builtin_trap();
      break;
    }
    case 2: {
      auto z = ParseZone(j);
      if (z.ok() && !ParseZone(ToJson(*z)).ok()) __builtin_trap();
      break;
    }
    default: {
      auto r = ParseReport(j);
      if (r.ok()) {
        for (const auto& t : r->tracks) (void)json::parse(t.body);
      }
      break;
    }
  }
  return 0;
}
