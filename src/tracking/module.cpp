#include "tracking/module.hpp"

#include "blobs/module.hpp"
#include "events/module.hpp"
#include "tracking/api.hpp"

namespace aimass::tracking {

Status TrackingModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(blobs::BlobsModule * blobs, ctx.Need<blobs::BlobsModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  TrackingOptions o;
  o.bus = &events->bus();
  o.max_metrics_per_call = ctx.config().tracking.max_metrics_per_call;
  tracking_ = std::make_unique<Tracking>(ctx.db(), blobs->store(), o);
  Tracking* t = tracking_.get();
  blobs->AddReferrer([t](const std::string& digest) { return t->BlobReferenced(digest); });
  return tracking_->Open();
}

Status TrackingModule::RegisterRoutes(http::Router& router) { return tracking::RegisterRoutes(router, *tracking_); }

}  // namespace aimass::tracking
