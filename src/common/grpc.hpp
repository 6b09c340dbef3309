// What every gRPC service of the platform shares: the error mapping from Status, and the
// caller from the "authorization: Bearer <token or API key>" metadata. Only the .cpp files
// that implement gRPC services include this (it pulls in gRPC's headers).
#pragma once

#include <grpcpp/grpcpp.h>

#include "auth/auth.hpp"
#include "common/status.hpp"

namespace aimass {

grpc::Status ToGrpc(const Status& st);

// The authenticated caller of a call; unauthenticated without (valid) credentials.
Result<std::shared_ptr<const auth::Principal>> GrpcCaller(const grpc::ServerContextBase* ctx, auth::AuthService& auth);

}  // namespace aimass
