// The assist module: customer-service bots that understand messages (intents, out of scope,
// entities), answer from responses, forms and the FAQ, carry conversations and hand them to
// people (/api/v1/assist).
#pragma once

#include <memory>

#include "assist/assist.hpp"
#include "module/module.hpp"

namespace aimass::assist {

class AssistModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "assist";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/assist"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "serving", "pipeline", "search", "mq"}; }
  std::vector<storage::Migration> Migrations() const override { return AssistService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override;

  AssistService& service() { return *service_; }

 private:
  std::unique_ptr<AssistService> service_;
};

}  // namespace aimass::assist
