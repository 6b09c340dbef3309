#include "server/app.hpp"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>

#include "assist/module.hpp"
#include "recommend/module.hpp"
#include "behavior/module.hpp"
#include "analysis/module.hpp"
#include "crowd/module.hpp"
#include "cube/module.hpp"
#include "auth/module.hpp"
#include "blobs/module.hpp"
#include "cluster/module.hpp"
#include "datasets/module.hpp"
#include "search/module.hpp"
#include "tracking/module.hpp"
#include "pipeline/module.hpp"
#include "collector/module.hpp"
#include "common/cpus.hpp"
#include "common/failpoint.hpp"
#include "common/text.hpp"
#include "console/module.hpp"
#include "http/traffic_history.hpp"
#include "discovery/module.hpp"
#include "events/module.hpp"
#include "gateway/module.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "module/manager.hpp"
#include "mq/module.hpp"
#include "registry/module.hpp"
#include "scheduler/module.hpp"
#include "server/core_api.hpp"
#include "server/grpc_server.hpp"
#include "serving/module.hpp"
#include "storage/db.hpp"

namespace fs = std::filesystem;

namespace aimass::server {

namespace {

template <class M>
std::unique_ptr<module::Module> Make() {
  return std::make_unique<M>();
}

// Every module of the platform. The manager orders them by what each needs; among modules
// that do not depend on each other it keeps this order (mq before serving, so that the events
// of loading deployments reach the queue's topics too).
constexpr module::ModuleFactory kModules[] = {
    Make<blobs::BlobsModule>,       Make<auth::AuthModule>,         Make<events::EventsModule>,
    Make<discovery::DiscoveryModule>, Make<console::ConsoleModule>,
    Make<mq::MqModule>,             Make<registry::RegistryModule>, Make<serving::ServingModule>,
    Make<gateway::GatewayModule>,   Make<scheduler::SchedulerModule>, Make<cluster::ClusterModule>, Make<datasets::DatasetsModule>,
    Make<collector::CollectorModule>, Make<tracking::TrackingModule>, Make<pipeline::PipelineModule>,
    Make<search::SearchModule>,     Make<assist::AssistModule>,     Make<recommend::RecommendModule>, Make<cube::CubeModule>, Make<behavior::BehaviorModule>,
    Make<crowd::CrowdModule>,       Make<analysis::AnalysisModule>,
};

Result<std::unique_ptr<storage::Db>> OpenMetadataStore(const config::Config& cfg) {
  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);
  if (ec) return Status::Internal("cannot create data dir " + cfg.data_dir + ": " + ec.message());
  ::chmod(cfg.data_dir.c_str(), 0700);
  if (cfg.storage.driver == "postgres") {
    storage::PostgresOptions po;
    po.dsn = cfg.storage.dsn;
    po.pool_size = static_cast<int>(cfg.storage.pool_size);
    return storage::OpenPostgres(po);
  }
  storage::SqliteOptions so;
  so.path = cfg.storage.sqlite_path.empty() ? cfg.data_dir + "/metadata.db" : cfg.storage.sqlite_path;
  so.busy_timeout_ms = static_cast<int>(cfg.storage.busy_timeout_ms);
  return storage::OpenSqlite(so);
}

}  // namespace

// The process-wide parts, and the modules. Destroyed in App::~App's order (see there).
struct App::Impl {
  config::Config cfg;
  std::unique_ptr<storage::Db> db;
  std::shared_ptr<prometheus::Registry> metrics = std::make_shared<prometheus::Registry>();
  std::shared_ptr<http::TrafficHistory> traffic = std::make_shared<http::TrafficHistory>(metrics);
  module::Hooks hooks;
  http::Router router;
  std::unique_ptr<http::Pipeline> pipeline;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<GrpcServer> grpc;
  std::unique_ptr<module::ModuleManager> modules;
  std::atomic<bool> ready{false};

  Status OpenModules();
  Status BuildRoutes();
  Status StartServers();

  ~Impl() {
    // The servers stop before the modules whose routes and services they call, and are
    // destroyed after them: the gateway pools upstream connections on the HTTP server's event
    // loops, which must outlive those connections.
    if (server) {
      server->Shutdown();
      server->Wait();
    }
    if (grpc) grpc->Shutdown();
    traffic->Stop();
    modules.reset();
  }
};

App::App(config::Config config) : impl_(std::make_unique<Impl>()) { impl_->cfg = std::move(config); }
App::~App() = default;

Status App::Impl::OpenModules() {
  std::vector<std::unique_ptr<module::Module>> list;
  for (module::ModuleFactory make : kModules) list.push_back(make());
  std::vector<std::string> target = SplitCommaList(cfg.target);
  if (target.size() == 1 && target[0] == "all") target.clear();
  AIMASS_ASSIGN_OR_RETURN(modules, module::ModuleManager::Create(std::move(list), target));
  hooks.remote_paths = modules->RemotePaths();
  hooks.absent_blob_keepers = modules->AbsentBlobKeepers();
  for (module::Module* m : modules->modules()) {
    if (!m->core()) hooks.served_modules.emplace_back(m->name());
  }
  if (!hooks.remote_paths.empty()) {
    std::string served, libs;
    for (const auto& m : hooks.served_modules) served += (served.empty() ? "" : ",") + m;
    for (const auto& m : modules->libraries()) libs += (libs.empty() ? "" : ",") + m;
    spdlog::info("target: serving {} (with the core modules){}", served.empty() ? "nothing but the core" : served,
                 libs.empty() ? "" : "; opened as libraries: " + libs);
  }
  AIMASS_ASSIGN_OR_RETURN(db, OpenMetadataStore(cfg));
  AIMASS_RETURN_IF_ERROR(db->Migrate(modules->Migrations()));
  return modules->Open(cfg, *db, metrics, hooks);
}

Status App::Impl::BuildRoutes() {
  CoreDeps deps;
  deps.db = db.get();
  deps.metrics = metrics;
  deps.traffic = traffic;
  deps.ready = &ready;
  module::ModuleManager* mgr = modules.get();
  deps.modules = [mgr](bool* all_ready) { return mgr->Readiness(all_ready); };
  deps.hooks = &hooks;
  for (module::Module* m : modules->modules()) deps.served.emplace_back(m->name());
  deps.libraries = modules->libraries();
  for (const auto& [prefix, module] : hooks.remote_paths) deps.remote[module].push_back(prefix);
  AIMASS_RETURN_IF_ERROR(RegisterCoreRoutes(router, deps));
  AIMASS_RETURN_IF_ERROR(modules->RegisterRoutes(router));
  if (cfg.failpoints_api) {
    AIMASS_RETURN_IF_ERROR(RegisterFailpointRoutes(router));
    spdlog::warn("failpoints_api is on: admins can make this process crash or fail its writes");
  }

  pipeline = std::make_unique<http::Pipeline>(router);
  pipeline->Use(std::make_shared<http::RequestIdMiddleware>());
  if (cfg.log.access) pipeline->Use(std::make_shared<http::AccessLogMiddleware>());
  pipeline->Use(std::make_shared<http::MetricsMiddleware>(metrics));
  std::vector<module::StagedMiddleware> staged;
  const http::Route* fallback = nullptr;
  for (module::Module* m : modules->modules()) {
    for (auto& s : m->Middleware()) staged.push_back(std::move(s));
    if (const http::Route* r = m->FallbackRoute()) {
      if (fallback) return Status::Internal("two modules offer a fallback route");
      fallback = r;
    }
  }
  // Requests no platform route knows go to the fallback (the gateway's routes), which says who
  // may call them.
  if (fallback) pipeline->SetFallback(fallback);
  for (module::Stage stage : {module::Stage::kObserve, module::Stage::kResolve, module::Stage::kAuthorize}) {
    for (const auto& s : staged) {
      if (s.stage == stage) pipeline->Use(s.middleware);
    }
  }
  return Status::Ok();
}

Status App::Impl::StartServers() {
  AIMASS_ASSIGN_OR_RETURN(auto hp, http::ParseHostPort(cfg.listen));
  http::ServerOptions so;
  so.host = hp.first;
  so.port = hp.second;
  const int cpus = UsableCpus();
  so.io_threads = cfg.http.io_threads > 0 ? static_cast<int>(cfg.http.io_threads) : cpus;
  so.worker_threads = cfg.http.worker_threads > 0 ? static_cast<int>(cfg.http.worker_threads) : std::max(64, 8 * cpus);
  so.max_body_bytes = cfg.http.max_body_bytes;
  so.max_upload_bytes = cfg.http.max_upload_bytes;
  so.max_header_bytes = static_cast<uint32_t>(cfg.http.max_header_bytes);
  so.read_timeout_s = static_cast<int>(cfg.http.read_timeout_s);
  so.idle_timeout_s = static_cast<int>(cfg.http.idle_timeout_s);
  so.shutdown_timeout_s = static_cast<int>(cfg.http.shutdown_timeout_s);
  so.max_connections = static_cast<size_t>(cfg.http.max_connections);
  so.spool_dir = hooks.upload_spool_dir;
  server = std::make_unique<http::Server>(so, *pipeline);
  AIMASS_RETURN_IF_ERROR(server->Start());
  // Where this process's own HTTP targets go (the scheduler's): fixed once the port is bound.
  std::string host = so.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  hooks.platform_url = [url = "http://" + host + ":" + std::to_string(server->port())] { return url; };

  std::vector<grpc::Service*> services;
  for (module::Module* m : modules->modules()) {
    for (grpc::Service* s : m->GrpcServices()) services.push_back(s);
  }
  if (!cfg.grpc_listen.empty() && !services.empty()) {
    std::string address = cfg.grpc_listen;
    if (address.starts_with(":")) address = "0.0.0.0" + address;
    grpc = std::make_unique<GrpcServer>();
    AIMASS_RETURN_IF_ERROR(
        grpc->Start(address, services, static_cast<int>(std::min<uint64_t>(cfg.serving.max_request_bytes, INT32_MAX))));
    spdlog::info("aimass gRPC (inference) listening on {}",
                 address.substr(0, address.rfind(':')) + ":" + std::to_string(grpc->port()));
  }
  spdlog::info("aimass listening on {}:{} (data dir {})", so.host, server->port(), cfg.data_dir);
  return Status::Ok();
}

Status App::Start() {
  Impl& s = *impl_;
  AIMASS_RETURN_IF_ERROR(http::ParseHostPort(s.cfg.listen).status());
  if (!s.cfg.failpoints.empty()) {
    AIMASS_RETURN_IF_ERROR(failpoint::Configure(s.cfg.failpoints));
    spdlog::warn("failpoints armed: {}", s.cfg.failpoints);
  }
  AIMASS_RETURN_IF_ERROR(s.OpenModules());
  AIMASS_RETURN_IF_ERROR(s.BuildRoutes());
  AIMASS_RETURN_IF_ERROR(s.StartServers());
  AIMASS_RETURN_IF_ERROR(s.modules->Start());
  s.traffic->Start();
  s.ready = true;
  return Status::Ok();
}

uint16_t App::port() const { return impl_->server ? impl_->server->port() : 0; }

void App::Shutdown() {
  impl_->ready = false;
  if (impl_->modules) impl_->modules->Drain();
  if (impl_->server) impl_->server->Shutdown();
  if (impl_->grpc) impl_->grpc->Shutdown();
}

void App::Wait() {
  if (impl_->server) impl_->server->Wait();
}

}  // namespace aimass::server
