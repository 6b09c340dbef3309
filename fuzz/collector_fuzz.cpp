// libFuzzer target for what collectors read from users: collector documents (POST
// /api/v1/collectors) and the lines of tailed files and directories as JSON, CSV and regex
// rows, and the MQTT packets a broker sends. The first byte picks the reader. A document that
// parses must render and parse again to the same document.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "collector/line_parser.hpp"
#include "collector/mqtt_client.hpp"
#include "collector/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimass::collector;
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 5;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 4) {
    std::string_view rest(input);
    while (!rest.empty()) {
      uint8_t type = 0;
      std::string_view body;
      auto taken = MqttFrame(rest, &type, &body);
      if (!taken.ok() || *taken == 0) break;
      if (*taken > rest.size() || body.size() > *taken) std::abort();
      if ((type & 0xf0) == 0x30) (void)MqttDecodePublish(type, body);
      rest.remove_prefix(*taken);
    }
    return 0;
  }
  if (mode == 0) {
    nlohmann::json body = nlohmann::json::parse(input, nullptr, false);
    if (body.is_discarded()) return 0;
    auto spec = ParseCollectorSpec(body);
    if (!spec.ok()) return 0;
    auto again = ParseCollectorSpec(SpecJson(*spec, true));
    if (!again.ok() || SpecJson(*again, true) != SpecJson(*spec, true)) std::abort();
    return 0;
  }
  nlohmann::json source = {{"format", mode == 1 ? "json" : mode == 2 ? "csv" : "regex"}};
  if (mode == 3) source["pattern"] = "^(?P<a>\\w+)[ ,;](?P<b>\\d*)";
  LineParser parser(source);
  size_t start = 0;
  while (start <= input.size()) {
    size_t nl = input.find('\n', start);
    std::string line = input.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? input.size() + 1 : nl + 1;
    if (parser.wants_header()) {
      (void)parser.SetHeader(line);
      continue;
    }
    auto row = parser.Parse(line);
    if (row.ok() && !row->is_object()) std::abort();
  }
  return 0;
}
