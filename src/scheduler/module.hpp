// The scheduler module: cron jobs whose targets are commands, platform HTTP calls or message
// queue publishes, run once per firing across processes (a lease in the metadata store).
#pragma once

#include <memory>

#include "module/module.hpp"
#include "scheduler/clock.hpp"
#include "scheduler/scheduler.hpp"

namespace aimass::scheduler {

class SchedulerModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "scheduler";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/cron"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "discovery", "events", "mq"}; }
  std::vector<storage::Migration> Migrations() const override { return Scheduler::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  // The timers start once the servers listen (HTTP targets call this process).
  Status Start() override;
  // Stopped first: its runs use the other modules.
  void Drain() override { cron_->Stop(); }
  void Stop() override { cron_->Stop(); }

  Scheduler& scheduler() { return *cron_; }

 private:
  SystemClock clock_;
  std::unique_ptr<Scheduler> cron_;
  bool enabled_ = true;
};

}  // namespace aimass::scheduler
