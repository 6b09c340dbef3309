// The mq module: the message queue (embedded log or NATS JetStream), its HTTP API with long
// polls, its gRPC streams, and the bridge that publishes platform events onto its topics.
#pragma once

#include <memory>

#include "module/module.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

class EventBridge;
class GrpcService;
class LongPoller;

class MqModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "mq";
  MqModule();
  ~MqModule() override;
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/mq"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events"}; }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  std::vector<grpc::Service*> GrpcServices() override;
  void Drain() override;
  void Stop() override;

  // The queue; null in a process that does not serve mq when the queue is the embedded log
  // (it lives in the mq process's data_dir: reached through that process's API instead).
  Broker* broker() { return broker_.get(); }

 private:
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<EventBridge> event_bridge_;  // after the broker: unsubscribes before it goes
  std::shared_ptr<LongPoller> poller_;         // also held by the routes
  std::unique_ptr<GrpcService> grpc_;
};

}  // namespace aimass::mq
