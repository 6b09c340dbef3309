// libFuzzer target for what the behavior module reads from the network and from its files:
// capture bodies (and the log records they become), log records and part files as a damaged
// disk may leave them, and insight requests and cohort definitions, run over a small project so
// that every option the parsers let through is executed. The first byte picks the parser.
// Parsers must return a status, never crash.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "behavior/event.hpp"
#include "behavior/event_table.hpp"
#include "behavior/insights.hpp"
#include "behavior/project.hpp"

namespace {

using nlohmann::json;
using namespace aimass;
using namespace aimass::behavior;

Project& Fixture() {
  static std::unique_ptr<Project> p = [] {
    const std::string dir = std::filesystem::temp_directory_path() / ("aimass-behavior-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    ProjectOptions o;
    o.dir = dir;
    o.fsync = false;
    auto project = Project::Open("fuzz", o);
    std::vector<Event> events;
    const char* names[] = {"$pageview", "signup", "purchase"};
    for (int i = 0; i < 300; ++i) {
      Event e;
      e.event = names[i % 3];
      e.distinct_id = "u" + std::to_string(i % 17);
      e.time_ms = 1704067200000LL + i * 3'600'000LL;
      e.properties = {{"$pathname", "/p" + std::to_string(i % 5)}, {"amount", i % 7}, {"plan", i % 2 ? "pro" : "free"}};
      if (i % 11 == 0) e.properties["$set"] = {{"tier", i % 3}};
      events.push_back(std::move(e));
    }
    (void)(*project)->Capture(std::move(events));
    (void)(*project)->Alias("u1", "u2");
    return std::move(*project);
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t pick = data[0], kind = data[1];
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (pick % 4) {
    case 0: {
      json body = json::parse(text, nullptr, false);
      if (body.is_discarded()) return 0;
      auto events = ParseCapture(body, 0);
      if (!events.ok()) return 0;
      auto back = DecodeEvents(EncodeEvents(*events));
      if (!back.ok() || back->size() != events->size()) __builtin_trap();  // the log must read back what it wrote
      break;
    }
    case 1: (void)DecodeEvents(text); break;
    case 2: (void)DecodePart(text); break;
    case 3: {
      json req = json::parse(text, nullptr, false);
      if (req.is_discarded()) return 0;
      Project& p = Fixture();
      InsightContext ctx{p, p.Take(), {}, 1, 1706745600000LL};
      switch (kind % 9) {
        case 0: (void)Trends(ctx, req); break;
        case 1: (void)Funnel(ctx, req); break;
        case 2: (void)Retention(ctx, req); break;
        case 3: (void)Lifecycle(ctx, req); break;
        case 4: (void)Stickiness(ctx, req); break;
        case 5: (void)Paths(ctx, req); break;
        case 6: {
          std::vector<std::pair<std::string, json>> written;
          (void)Rfm(ctx, req, &written);
          break;
        }
        case 7: {
          std::vector<std::pair<std::string, json>> written;
          (void)Lifetime(ctx, req, &written);
          break;
        }
        case 8: (void)CohortMembers(ctx, req); break;
      }
      break;
    }
  }
  return 0;
}
