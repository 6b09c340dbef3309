#include "auth/module.hpp"

#include <iostream>

#include "auth/api.hpp"
#include "auth/middleware.hpp"
#include "common/file.hpp"

namespace aimass::auth {

namespace {

// The signing keys: HS256 with the configured secret (or one made once and kept in the data
// directory), or RS256 from key files.
Result<JwtKeys> Keys(const config::Config& cfg) {
  JwtKeys keys;
  keys.algorithm = cfg.auth.jwt_algorithm;
  if (keys.algorithm == "HS256") {
    if (!cfg.auth.jwt_secret.empty()) {
      keys.secret = cfg.auth.jwt_secret;
    } else {
      AIMASS_ASSIGN_OR_RETURN(keys.secret, KeptSecret(cfg.data_dir + "/jwt-secret"));
    }
    return keys;
  }
  // The public key verifies; a node without the private key cannot issue tokens (login
  // answers 503 there), which suits nodes that only check tokens issued elsewhere.
  if (cfg.auth.jwt_public_key_file.empty()) {
    return Status::BadRequest("RS256 needs auth.jwt_public_key_file (and auth.jwt_private_key_file to issue tokens)");
  }
  if (!cfg.auth.jwt_private_key_file.empty()) {
    AIMASS_ASSIGN_OR_RETURN(keys.private_key_pem, ReadFile(cfg.auth.jwt_private_key_file));
  }
  AIMASS_ASSIGN_OR_RETURN(keys.public_key_pem, ReadFile(cfg.auth.jwt_public_key_file));
  return keys;
}

}  // namespace

Status AuthModule::Open(module::Context& ctx) {
  const config::Config& cfg = ctx.config();
  AIMASS_ASSIGN_OR_RETURN(JwtKeys keys, Keys(cfg));
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<Jwt> jwt, Jwt::Create(keys, cfg.auth.jwt_issuer));
  AuthOptions ao;
  ao.keys = keys;
  ao.issuer = cfg.auth.jwt_issuer;
  ao.token_ttl_s = cfg.auth.token_ttl_s;
  ao.admin_password = cfg.auth.admin_password;
  auth_ = std::make_unique<AuthService>(ctx.db(), std::move(jwt), ao);
  AIMASS_ASSIGN_OR_RETURN(std::optional<std::string> generated, auth_->Bootstrap());
  if (generated.has_value()) {
    // Printed once, on stdout, never through the logger: logs are shipped and kept.
    std::cout << "Created user 'admin' with password: " << *generated << "\n"
              << "It is shown only this once; set AIMASS_ADMIN_PASSWORD to choose it instead." << std::endl;
  }
  return Status::Ok();
}

Status AuthModule::RegisterRoutes(http::Router& router) { return auth::RegisterRoutes(router, *auth_); }

std::vector<module::StagedMiddleware> AuthModule::Middleware() {
  return {{module::Stage::kObserve, std::make_shared<AuditLog>(*auth_)},
          {module::Stage::kAuthorize, std::make_shared<AccessControl>(*auth_)}};
}

}  // namespace aimass::auth
