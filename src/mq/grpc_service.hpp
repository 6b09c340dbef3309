// The message queue's streams over gRPC (aimass.mq.v1.MessageQueue, proto/mq.proto): a
// publish stream answering each batch once durable, and a consume stream pushing deliveries
// within the credits the client grants and taking its acks. Registered on the inference
// gRPC port. gRPC's headers stay in grpc_service.cpp.
#pragma once

#include <memory>

#include "auth/auth.hpp"
#include "mq/broker.hpp"

namespace grpc {
class Service;
}

namespace aimass::mq {

class GrpcService {
 public:
  GrpcService(Broker& broker, auth::AuthService& auth);
  ~GrpcService();
  grpc::Service* service();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::mq
