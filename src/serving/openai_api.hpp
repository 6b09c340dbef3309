// The OpenAI-compatible routes of language-model deployments: POST /v1/chat/completions and
// /v1/completions (whole answers, or server-sent events with `stream: true` ending in
// `data: [DONE]`), GET /v1/models. `model` names a deployment; errors come in OpenAI's shape
// ({"error":{"message","type","param","code"}}).
#pragma once

#include "http/router.hpp"
#include "serving/serving.hpp"

namespace aimass::serving {

Status RegisterOpenAiRoutes(http::Router& router, Serving& serving);

// An error as OpenAI's API writes it.
http::Response OpenAiErrorResponse(const Status& status, std::string_view request_id);

}  // namespace aimass::serving
