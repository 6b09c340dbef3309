// The events module: the in-process event bus modules announce changes on
// (`registry.version.created`, …) and its server-sent-events API.
#pragma once

#include "events/bus.hpp"
#include "module/module.hpp"

namespace aimass::events {

class EventsModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "events";
  std::string_view name() const override { return kName; }
  bool core() const override { return true; }
  std::vector<std::string_view> needs() const override { return {"auth"}; }
  Status Open(module::Context& ctx) override { return Status::Ok(); }
  Status RegisterRoutes(http::Router& router) override;

  EventBus& bus() { return bus_; }

 private:
  EventBus bus_;
};

}  // namespace aimass::events
