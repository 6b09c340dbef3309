// The auth module: users, roles, tokens and API keys (AuthService), their API, and the two
// places every request passes: the audit log and access control (authentication + RBAC).
#pragma once

#include <memory>

#include "auth/auth.hpp"
#include "module/module.hpp"

namespace aimass::auth {

class AuthModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "auth";
  std::string_view name() const override { return kName; }
  bool core() const override { return true; }
  std::vector<storage::Migration> Migrations() const override { return AuthService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  std::vector<module::StagedMiddleware> Middleware() override;

  AuthService& service() { return *auth_; }

 private:
  std::unique_ptr<AuthService> auth_;
};

}  // namespace aimass::auth
