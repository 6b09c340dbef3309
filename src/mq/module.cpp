#include "mq/module.hpp"

#include "auth/module.hpp"
#include "events/module.hpp"
#include "mq/api.hpp"
#include "mq/event_bridge.hpp"
#include "mq/grpc_service.hpp"
#include "mq/long_poll.hpp"
#include "mq/metered_broker.hpp"

namespace aimass::mq {

MqModule::MqModule() = default;
MqModule::~MqModule() {
  if (poller_) poller_->Stop();
}

Status MqModule::Open(module::Context& ctx) {
  const config::Config& cfg = ctx.config();
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  if (cfg.mq.driver != "jetstream" && !ctx.hooks().serves(kName)) {
    // Opened as a library: a second writer of the embedded log, in another data_dir, would keep
    // messages no consumer reads. The process that serves mq holds the only one.
    return Status::Ok();
  }
  std::unique_ptr<Broker> inner;
  if (cfg.mq.driver == "jetstream") {
    JetStreamBrokerOptions jo;
    jo.url = cfg.mq.nats_url;
    jo.prefix = cfg.mq.jetstream_prefix;
    AIMASS_ASSIGN_OR_RETURN(inner, OpenJetStreamBroker(jo));
  } else {
    EmbeddedBrokerOptions mo;
    mo.dir = cfg.data_dir + "/mq";
    AIMASS_ASSIGN_OR_RETURN(mo.fsync, ParseFsyncPolicy(cfg.mq.fsync));
    mo.fsync_interval = std::chrono::milliseconds(cfg.mq.fsync_interval_ms);
    mo.segment_bytes = cfg.mq.segment_bytes;
    AIMASS_ASSIGN_OR_RETURN(inner, OpenEmbeddedBroker(mo));
  }
  broker_ = WithMetrics(std::move(inner), ctx.metrics());
  Broker* metered = broker_.get();
  ctx.hooks().before_scrape.push_back([metered] { RefreshGauges(*metered); });
  event_bridge_ = std::make_unique<EventBridge>(events->bus(), *broker_);
  poller_ = std::make_shared<LongPoller>(*broker_);
  grpc_ = std::make_unique<GrpcService>(*broker_, auth->service());
  return Status::Ok();
}

Status MqModule::RegisterRoutes(http::Router& router) { return mq::RegisterRoutes(router, *broker_, poller_); }

std::vector<grpc::Service*> MqModule::GrpcServices() { return {grpc_->service()}; }

// Consumers' long polls are answered now, or the graceful stop would wait them out.
void MqModule::Drain() {
  if (poller_) poller_->Drain();
}

// The routes hold the poller beyond the module; its thread must not outlive the broker.
void MqModule::Stop() {
  if (poller_) poller_->Stop();
}

}  // namespace aimass::mq
