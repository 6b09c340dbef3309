#include "datasets/module.hpp"

#include "blobs/module.hpp"
#include "common/cpus.hpp"
#include "datasets/api.hpp"
#include "events/module.hpp"

namespace aimass::datasets {

Status DatasetsModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(blobs::BlobsModule * blobs, ctx.Need<blobs::BlobsModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  const config::Config& cfg = ctx.config();
  DatasetsOptions o;
  o.segment_rows = static_cast<size_t>(cfg.datasets.segment_rows);
  o.max_input_bytes = cfg.datasets.max_input_bytes;
  o.max_files = static_cast<uint64_t>(cfg.datasets.max_files);
  o.threads = UsableCpus();
  o.bus = &events->bus();
  // Only a process that serves the module profiles versions; a library reads.
  o.run_worker = ctx.hooks().serves(kName);
  datasets_ = std::make_unique<Datasets>(ctx.db(), blobs->store(), std::move(o));
  Datasets* ds = datasets_.get();
  blobs->AddReferrer([ds](const std::string& digest) { return ds->BlobReferenced(digest); });
  return datasets_->Open();
}

Status DatasetsModule::RegisterRoutes(http::Router& router) { return datasets::RegisterRoutes(router, *datasets_); }

Status DatasetsModule::Start() {
  datasets_->Start();
  return Status::Ok();
}

}  // namespace aimass::datasets
