// libFuzzer target for the failpoint spec language (`failpoints`, the admin API's actions):
// Configure either refuses a spec and arms nothing, or arms exactly the points it names with
// actions that parse again. No point is ever hit here, so `crash` is harmless. Run: `make fuzz`.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/failpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimass;
  std::string_view spec(reinterpret_cast<const char*>(data), size);
  failpoint::ClearAll();
  Status st = failpoint::Configure(spec);
  size_t armed = 0;
  for (const auto& s : failpoint::List()) {
    if (s.action == "off") continue;
    ++armed;
    if (!failpoint::Set(s.name, s.action).ok()) std::abort();  // what was taken reads back
    if (spec.find(s.name) == std::string_view::npos) std::abort();
  }
  if (!st.ok() && armed != 0) std::abort();  // a refused spec arms nothing
  if (failpoint::internal::g_armed.load() != (armed != 0)) std::abort();
  failpoint::ClearAll();
  return 0;
}
