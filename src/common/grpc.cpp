#include "common/grpc.hpp"

namespace aimass {

grpc::Status ToGrpc(const Status& st) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (st.code()) {
    case Code::kOk: return grpc::Status::OK;
    case Code::kBadRequest:
    case Code::kInvalidJson: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case Code::kUnauthenticated: code = grpc::StatusCode::UNAUTHENTICATED; break;
    case Code::kForbidden: code = grpc::StatusCode::PERMISSION_DENIED; break;
    case Code::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case Code::kConflict: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case Code::kPayloadTooLarge:
    case Code::kInsufficientStorage: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case Code::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case Code::kDeadlineExceeded:
    case Code::kTimeout: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case Code::kUnprocessable: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    default: break;
  }
  return grpc::Status(code, st.message());
}

Result<std::string_view> GrpcBearer(const grpc::ServerContextBase* ctx) {
  auto it = ctx->client_metadata().find("authorization");
  if (it == ctx->client_metadata().end()) return Status::Unauthenticated("authorization metadata is required");
  std::string_view value(it->second.data(), it->second.size());
  if (value.size() < 7 || value.substr(0, 7) != "Bearer ") {
    return Status::Unauthenticated("authorization must be 'Bearer <token>'");
  }
  return value.substr(7);
}

}  // namespace aimass
