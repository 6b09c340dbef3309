// Server: HTTP/1.1 on Boost.Beast with C++20 coroutines. Keep-alive, header/body limits,
// read and idle timeouts, bodies of streaming routes spooled to disk, file responses sent in
// chunks, and a graceful shutdown that stops accepting, closes idle connections and lets
// in-flight requests finish (up to a deadline). Handlers run on a worker pool so that slow
// ones (argon2, SQLite) never block the I/O threads; routes marked run_inline skip it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.hpp"
#include "http/pipeline.hpp"

namespace aimass::http {

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;
  int io_threads = 2;
  int worker_threads = 8;
  uint64_t max_body_bytes = 1 << 20;
  uint64_t max_upload_bytes = 1ull << 30;
  uint32_t max_header_bytes = 16 * 1024;
  int read_timeout_s = 30;
  int idle_timeout_s = 60;
  int shutdown_timeout_s = 30;
  size_t max_connections = 10000;  // beyond it new connections are closed at once
  std::string spool_dir;  // where streaming bodies are written; must exist
};

class Server {
 public:
  Server(ServerOptions options, const Pipeline& pipeline);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads.
  Status Start();
  // The bound port (useful with port 0).
  uint16_t port() const;
  // Graceful stop; thread-safe, returns at once. Wait() returns once drained or timed out.
  void Shutdown();
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (also ":port" and "[v6]:port").
Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view s);

}  // namespace aimass::http
