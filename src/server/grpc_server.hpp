// GrpcServer: the process's gRPC port (grpc_listen), hosting the services its modules give
// (the Open Inference Protocol, the message queue's streams). gRPC's headers stay in the .cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace aimass::server {

class GrpcServer {
 public:
  GrpcServer();
  ~GrpcServer();
  // Binds `address` ("host:port"; port 0 picks one) and serves `services`, which must outlive
  // the server (or its Shutdown).
  Status Start(const std::string& address, const std::vector<grpc::Service*>& services, int max_message_bytes);
  int port() const { return port_; }
  // Lets calls in flight finish for up to 5 s, then cancels them.
  void Shutdown();

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace aimass::server
