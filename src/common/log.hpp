// Logging set-up: spdlog to stderr, as text or one JSON object per line (--log-format=json).
// Every line written while a request is being handled carries that request's id.
#pragma once

#include <string>
#include <string_view>

#include "common/status.hpp"

namespace aimass::log {

// level: trace|debug|info|warn|error; format: text|json.
Status Init(std::string_view level, std::string_view format);

// Marks the current thread as working for a request until the scope ends.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(const std::string& id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  const std::string* saved_;
};

const std::string* CurrentRequestId();

}  // namespace aimass::log
