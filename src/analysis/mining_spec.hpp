// What a mining job is asked to do: its kind, the dataset version it reads and its parameters,
// checked whole when the job is created (a job that starts has nothing left to refuse but its
// data), with every default filled in so that the stored spec says exactly what ran.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::analysis {

// association_rules | kmeans | dbscan | sequences | outliers
bool KnownMiningKind(const std::string& kind);

struct MiningSpec {
  std::string kind;
  std::string dataset;
  std::string version = "latest";  // a number, an alias or latest, as the body gave it
  nlohmann::json params = nlohmann::json::object();  // every parameter of the kind, defaults filled in
};

// {"kind","source":{"dataset","version"},"params":{…}}; an unknown parameter, a wrong type or a
// value out of range is a 400 that names it.
Result<MiningSpec> ParseMiningSpec(const nlohmann::json& body);

nlohmann::json MiningSpecJson(const MiningSpec& s);

}  // namespace aimass::analysis
