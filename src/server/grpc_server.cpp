#include "server/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

namespace aimass::server {

GrpcServer::GrpcServer() = default;

GrpcServer::~GrpcServer() { Shutdown(); }

Status GrpcServer::Start(const std::string& address, const std::vector<grpc::Service*>& services,
                         int max_message_bytes) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) return Status::Internal("cannot listen for gRPC on " + address);
  return Status::Ok();
}

void GrpcServer::Shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    server_.reset();
  }
}

}  // namespace aimass::server
