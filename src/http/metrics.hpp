// HTTP metrics: aimass_http_requests_total{method,route,status} and
// aimass_http_request_duration_seconds{method,route} (histogram), recorded by a middleware
// into the process-wide Prometheus registry, and the /metrics text rendering.
#pragma once

#include <memory>
#include <string>

#include "http/pipeline.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::http {

class MetricsMiddleware : public Middleware {
 public:
  explicit MetricsMiddleware(std::shared_ptr<prometheus::Registry> registry);
  ~MetricsMiddleware() override;
  Response Handle(Request& req, const Next& next) override;

 private:
  // Counts `r` under the request's series, timed from req.received.
  void Record(const Request& req, const Response& r);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The registry in Prometheus text exposition format.
std::string RenderMetrics(prometheus::Registry& registry);

}  // namespace aimass::http
