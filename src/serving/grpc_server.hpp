// The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService, proto/grpc_service.proto)
// on serving's address (grpc_listen). Calls carry the same credentials as HTTP, in the
// `authorization` metadata ("Bearer <token or API key>"), and reach the same Serving, so REST
// and gRPC clients get the same answers. gRPC's headers stay inside grpc_server.cpp.
#pragma once

#include <memory>
#include <string>

#include "auth/auth.hpp"
#include "common/status.hpp"
#include "serving/serving.hpp"

namespace grpc {
class Service;
}

namespace aimass::serving {

class GrpcServer {
 public:
  GrpcServer(Serving& serving, auth::AuthService& auth);
  ~GrpcServer();
  // Binds `address` ("host:port"; port 0 picks one) and starts serving.
  Status Start(const std::string& address, int max_message_bytes);
  // A further service on the same port (the message queue's streams); before Start. It must
  // outlive the server.
  void AddService(grpc::Service* service);
  int port() const;
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::serving
