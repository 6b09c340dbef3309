// YAML documents read as JSON values, for documents users may write either way (pipeline
// specs). Scalars take YAML 1.2's core types: a plain `true`/`false`, `null`/`~`, integers and
// floats become JSON's; anything quoted stays text.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::config {

// bad_request naming the line of a YAML syntax error.
Result<nlohmann::json> ParseYaml(std::string_view text);

}  // namespace aimass::config
