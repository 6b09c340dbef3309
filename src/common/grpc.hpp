// What every gRPC service of the platform shares: the error mapping from Status, and the
// caller from the "authorization: Bearer <token or API key>" metadata. Only the .cpp files that
// implement gRPC services include this (it pulls in gRPC's headers).
#pragma once

#include <grpcpp/grpcpp.h>

#include <string_view>

#include "common/status.hpp"

namespace aimass {

grpc::Status ToGrpc(const Status& st);

// The bearer credential of a call (a token or an API key, for auth::AuthService::Authenticate);
// unauthenticated without one. It points into the call's metadata.
Result<std::string_view> GrpcBearer(const grpc::ServerContextBase* ctx);

// The authenticated caller of a call: `auth` is an auth::AuthService (a template so that
// common does not depend on auth); unauthenticated without (valid) credentials.
template <class Authenticator>
auto GrpcCaller(const grpc::ServerContextBase* ctx, Authenticator& auth) -> decltype(auth.Authenticate(std::string_view())) {
  auto bearer = GrpcBearer(ctx);
  if (!bearer.ok()) return bearer.status();
  return auth.Authenticate(*bearer);
}

}  // namespace aimass
