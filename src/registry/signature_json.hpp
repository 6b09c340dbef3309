// Signatures as JSON ({"inputs":[{"name","datatype","shape"}],"outputs":[…]}): how they are
// stored and how the API shows them. Datatype and shape are left out when unknown.
#pragma once

#include <nlohmann/json.hpp>

#include "registry/model.hpp"

namespace aimass::registry {

nlohmann::json SignatureToJson(const Signature& s);
// Lenient: members that are missing or malformed are left empty (stored data only; request
// bodies are checked by the API before they become a Signature).
Signature SignatureFromJson(const nlohmann::json& j);

}  // namespace aimass::registry
