// A real HTTP server on a free loopback port with the routes a test gives it: the other end
// of the platform's HTTP clients in unit tests (the scheduler's targets, serving's downloads).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.hpp"
#include "http/pipeline.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace aimass::testing {

class TestHttpServer {
 public:
  ~TestHttpServer() { Stop(); }

  // Before Start.
  Status Add(http::Method method, std::string pattern, http::Handler handler) {
    http::Route r;
    r.method = method;
    r.pattern = std::move(pattern);
    r.handler = std::move(handler);
    return router_.Add(std::move(r));
  }

  Status Start(const std::string& spool_dir) {
    pipeline_ = std::make_unique<http::Pipeline>(router_);
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 1;
    o.worker_threads = 2;
    o.shutdown_timeout_s = 5;
    o.spool_dir = spool_dir;
    std::filesystem::create_directories(spool_dir);
    server_ = std::make_unique<http::Server>(o, *pipeline_);
    AIMASS_RETURN_IF_ERROR(server_->Start());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    return Status::Ok();
  }

  void Stop() {
    if (!server_) return;
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }

  // http://127.0.0.1:<port>
  const std::string& url() const { return url_; }

  static http::Response Text(int status, std::string body) {
    http::Response r;
    r.status = status;
    r.headers.Set("Content-Type", "text/plain");
    r.body = std::move(body);
    return r;
  }

 private:
  http::Router router_;
  std::unique_ptr<http::Pipeline> pipeline_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
};

}  // namespace aimass::testing
