// The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService,
// proto/grpc_service.proto), hosted by the process's gRPC server (grpc_listen). Calls carry the
// same credentials as HTTP, in the `authorization` metadata ("Bearer <token or API key>"), and
// reach the same Serving, so REST and gRPC clients get the same answers. gRPC's headers stay
// inside grpc_service.cpp.
#pragma once

#include <memory>

#include "auth/auth.hpp"
#include "serving/serving.hpp"

namespace grpc {
class Service;
}

namespace aimass::serving {

class InferenceService;

class GrpcService {
 public:
  GrpcService(Serving& serving, auth::AuthService& auth);
  ~GrpcService();
  grpc::Service* service();

 private:
  std::unique_ptr<InferenceService> service_;
};

}  // namespace aimass::serving
