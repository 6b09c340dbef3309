#include "serving/module.hpp"

#include "auth/module.hpp"
#include "blobs/module.hpp"
#include "discovery/module.hpp"
#include "events/module.hpp"
#include "registry/module.hpp"
#include "serving/api.hpp"
#include "serving/grpc_service.hpp"
#include "serving/openai_api.hpp"

namespace aimass::serving {

ServingModule::ServingModule() = default;
ServingModule::~ServingModule() = default;

Status ServingModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(registry::RegistryModule * registry, ctx.Need<registry::RegistryModule>());
  max_request_bytes_ = ctx.config().serving.max_request_bytes;
  serving_ = std::make_unique<Serving>(ctx.db(), registry->registry(), &events->bus(), ctx.metrics());
  if (!ctx.hooks().serves(registry::RegistryModule::kName)) {
    // The registry runs elsewhere, maybe on a blob directory this process does not share: what
    // the local store lacks is downloaded from it.
    AIMASS_ASSIGN_OR_RETURN(blobs::BlobsModule * blobs, ctx.Need<blobs::BlobsModule>());
    AIMASS_ASSIGN_OR_RETURN(discovery::DiscoveryModule * discovery, ctx.Need<discovery::DiscoveryModule>());
    fetcher_ = std::make_unique<ArtifactFetcher>(discovery->locator(), auth->service(), blobs->store());
    serving_->FetchMissingWith([f = fetcher_.get()](const MissingArtifact& a) { return f->Fetch(a); });
  }
  serving_->Start();
  Serving* s = serving_.get();
  ctx.hooks().announce_when.push_back([s] { return !s->AnyLoading(); });
  grpc_ = std::make_unique<GrpcService>(*serving_, auth->service());
  return Status::Ok();
}

Status ServingModule::RegisterRoutes(http::Router& router) {
  AIMASS_RETURN_IF_ERROR(serving::RegisterRoutes(router, *serving_, {max_request_bytes_}));
  return RegisterOpenAiRoutes(router, *serving_);
}

std::vector<grpc::Service*> ServingModule::GrpcServices() { return {grpc_->service()}; }

void ServingModule::Stop() { serving_->Stop(); }

}  // namespace aimass::serving
