// Topic patterns, NATS style, shared by the in-process event bus and the message queue: topics
// are dot-separated; a pattern may use `*` for one segment and a final `>` for one or more.
#pragma once

#include <string_view>

namespace aimass {

// `registry.*` matches `registry.alias` but not `registry.alias.moved`; `registry.>` matches
// both; `>` alone matches everything.
bool TopicMatches(std::string_view pattern, std::string_view topic);
// Checks a subscription pattern: segments of [a-z0-9_-] or `*`, `>` only last.
bool ValidPattern(std::string_view pattern);

}  // namespace aimass
