#include "server/app.hpp"

#include <fcntl.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "auth/api.hpp"
#include "auth/auth.hpp"
#include "auth/middleware.hpp"
#include "auth/password.hpp"
#include "common/cpus.hpp"
#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "events/api.hpp"
#include "events/bus.hpp"
#include "gateway/api.hpp"
#include "gateway/gateway.hpp"
#include "mq/api.hpp"
#include "mq/broker.hpp"
#include "mq/event_bridge.hpp"
#include "mq/metered_broker.hpp"
#include "mq/grpc_service.hpp"
#include "mq/long_poll.hpp"
#include "registry/api.hpp"
#include "scheduler/api.hpp"
#include "scheduler/scheduler.hpp"
#include "registry/registry.hpp"
#include "serving/api.hpp"
#include "serving/grpc_server.hpp"
#include "serving/serving.hpp"
#include "server/core_api.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"

namespace fs = std::filesystem;

namespace aimass::server {

namespace {

// A random secret made once and kept in the data directory (mode 0600).
Result<std::string> KeptSecret(const std::string& path) {
  if (fs::exists(path)) return ReadFile(path);
  std::string secret = auth::RandomToken(64);
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(path, secret, 0600));
  return secret;
}

// The HS256 secret: configured, or made once and kept in the data directory.
Result<std::string> JwtSecret(const config::Config& c) {
  if (!c.auth.jwt_secret.empty()) return c.auth.jwt_secret;
  return KeptSecret(c.data_dir + "/jwt-secret");
}

}  // namespace

struct App::Impl {
  config::Config cfg;
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<storage::BlobStore> blobs;
  std::unique_ptr<auth::AuthService> auth;
  events::EventBus events;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<serving::Serving> serving;  // after registry: destroyed before it
  std::unique_ptr<mq::Broker> broker;
  std::unique_ptr<mq::EventBridge> event_bridge;  // after the broker: unsubscribes before it goes
  std::shared_ptr<mq::LongPoller> mq_poller;      // also held by the mq routes
  std::unique_ptr<mq::GrpcService> mq_grpc;
  std::unique_ptr<serving::GrpcServer> grpc;   // after serving and the mq: stopped before them
  std::unique_ptr<gateway::Gateway> gateway;
  scheduler::SystemClock clock;
  std::unique_ptr<scheduler::Scheduler> cron;  // stopped first: its runs use the rest
  std::shared_ptr<prometheus::Registry> metrics = std::make_shared<prometheus::Registry>();
  http::Router router;
  std::unique_ptr<http::Pipeline> pipeline;
  std::unique_ptr<http::Server> server;
  std::atomic<bool> ready{false};

  Status OpenStorage();
  Status OpenAuth();
  Status BuildRoutes();

  ~Impl() {
    if (cron) cron->Stop();
    // The gateway pools upstream connections on the server's event loops: it goes once the
    // server's threads have stopped and before the loops themselves are destroyed.
    if (server) {
      server->Shutdown();
      server->Wait();
    }
    gateway.reset();
  }
};

App::App(config::Config config) : impl_(std::make_unique<Impl>()) { impl_->cfg = std::move(config); }
App::~App() = default;

Status App::Impl::OpenStorage() {
  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);
  if (ec) return Status::Internal("cannot create data dir " + cfg.data_dir + ": " + ec.message());
  ::chmod(cfg.data_dir.c_str(), 0700);
  storage::SqliteOptions so;
  so.path = cfg.storage.sqlite_path.empty() ? cfg.data_dir + "/metadata.db" : cfg.storage.sqlite_path;
  so.busy_timeout_ms = static_cast<int>(cfg.storage.busy_timeout_ms);
  auto opened = storage::OpenSqlite(so);
  if (!opened.ok()) return opened.status();
  db = std::move(*opened);

  std::vector<storage::Migration> migrations = auth::AuthService::Migrations();
  for (auto& m : BlobMigrations()) migrations.push_back(std::move(m));
  for (auto& m : registry::Registry::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : serving::Serving::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : gateway::Gateway::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : scheduler::Scheduler::Migrations()) migrations.push_back(std::move(m));
  AIMASS_RETURN_IF_ERROR(db->Migrate(migrations));

  auto store = storage::OpenLocalBlobStore(cfg.data_dir + "/blobs");
  if (!store.ok()) return store.status();
  blobs = std::move(*store);
  // The broker first, so that the events of loading deployments reach their topics too.
  std::unique_ptr<mq::Broker> inner;
  if (cfg.mq.driver == "jetstream") {
    mq::JetStreamBrokerOptions jo;
    jo.url = cfg.mq.nats_url;
    jo.prefix = cfg.mq.jetstream_prefix;
    AIMASS_ASSIGN_OR_RETURN(inner, mq::OpenJetStreamBroker(jo));
  } else {
    mq::EmbeddedBrokerOptions mo;
    mo.dir = cfg.data_dir + "/mq";
    AIMASS_ASSIGN_OR_RETURN(mo.fsync, mq::ParseFsyncPolicy(cfg.mq.fsync));
    mo.fsync_interval = std::chrono::milliseconds(cfg.mq.fsync_interval_ms);
    mo.segment_bytes = cfg.mq.segment_bytes;
    AIMASS_ASSIGN_OR_RETURN(inner, mq::OpenEmbeddedBroker(mo));
  }
  broker = mq::WithMetrics(std::move(inner), metrics);
  event_bridge = std::make_unique<mq::EventBridge>(events, *broker);
  registry = std::make_unique<registry::Registry>(*db, *blobs, &events);
  // Writes a crash cut short are decided before anything reads them (docs/guide/reliability.md).
  AIMASS_ASSIGN_OR_RETURN(registry::RecoveryStats recovered, registry->ResolvePending());
  if (recovered.ready + recovered.failed > 0) {
    spdlog::warn("registry: {} version(s) left pending by a crash: {} completed, {} failed", recovered.ready + recovered.failed,
                 recovered.ready, recovered.failed);
  }
  AIMASS_ASSIGN_OR_RETURN(int64_t dangling, DropDanglingUploads(*db, *blobs));
  if (dangling > 0) spdlog::warn("blobs: {} upload(s) cut short by a crash dropped", dangling);
  serving = std::make_unique<serving::Serving>(*db, *registry, &events, metrics);
  serving->Start();

  return Status::Ok();
}

Status App::Impl::OpenAuth() {
  auth::JwtKeys keys;
  keys.algorithm = cfg.auth.jwt_algorithm;
  if (keys.algorithm == "HS256") {
    AIMASS_ASSIGN_OR_RETURN(keys.secret, JwtSecret(cfg));
  } else {
    // The public key verifies; a node without the private key cannot issue tokens (login
    // answers 503 there), which suits nodes that only check tokens issued elsewhere.
    if (cfg.auth.jwt_public_key_file.empty()) {
      return Status::BadRequest("RS256 needs auth.jwt_public_key_file (and auth.jwt_private_key_file to issue tokens)");
    }
    if (!cfg.auth.jwt_private_key_file.empty()) {
      AIMASS_ASSIGN_OR_RETURN(keys.private_key_pem, ReadFile(cfg.auth.jwt_private_key_file));
    }
    AIMASS_ASSIGN_OR_RETURN(keys.public_key_pem, ReadFile(cfg.auth.jwt_public_key_file));
  }
  auto jwt = auth::Jwt::Create(keys, cfg.auth.jwt_issuer);
  if (!jwt.ok()) return jwt.status();
  auth::AuthOptions ao;
  ao.keys = keys;
  ao.issuer = cfg.auth.jwt_issuer;
  ao.token_ttl_s = cfg.auth.token_ttl_s;
  ao.admin_password = cfg.auth.admin_password;
  auth = std::make_unique<auth::AuthService>(*db, std::move(*jwt), ao);
  auto generated = auth->Bootstrap();
  if (!generated.ok()) return generated.status();
  if (generated->has_value()) {
    // Printed once, on stdout, never through the logger: logs are shipped and kept.
    std::cout << "Created user 'admin' with password: " << **generated << "\n"
              << "It is shown only this once; set AIMASS_ADMIN_PASSWORD to choose it instead."
              << std::endl;
  }
  return Status::Ok();
}

Status App::Impl::BuildRoutes() {
  scheduler::TargetRunnerOptions to;
  to.auth = auth.get();
  to.broker = broker.get();
  to.work_dir = cfg.data_dir + "/cron";
  to.platform_url = [this] {
    if (!server) return std::string();
    auto hp = http::ParseHostPort(cfg.listen);
    std::string host = hp.ok() ? hp->first : "";
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(server->port());
  };
  std::error_code ec;
  fs::create_directories(to.work_dir, ec);
  scheduler::SchedulerOptions sopt;
  sopt.node = cfg.scheduler.node;
  sopt.lease_ttl_ms = cfg.scheduler.lease_ttl_s * 1000;
  sopt.metrics = metrics;
  cron = std::make_unique<scheduler::Scheduler>(*db, scheduler::MakeTargetRunner(std::move(to)), clock, sopt, &events);
  gateway::GatewayOptions go;
  go.access_log = cfg.log.access;
  go.redis_url = cfg.gateway.redis_url;
  go.cache_max_bytes = cfg.gateway.cache_max_bytes;
  AIMASS_ASSIGN_OR_RETURN(go.oauth_secret, KeptSecret(cfg.data_dir + "/gateway-oauth-secret"));
  gateway = std::make_unique<gateway::Gateway>(*db, *auth, metrics, go);
  AIMASS_RETURN_IF_ERROR(gateway->Load());

  CoreDeps deps{db.get(), blobs.get(), metrics, &ready, cfg.storage.blob_gc_grace_s, {}, {}};
  registry::Registry* reg = registry.get();
  deps.blob_referrers.push_back([reg](const std::string& d) { return reg->BlobReferenced(d); });
  gateway::Gateway* gw = gateway.get();
  deps.service_paths = [gw] { return gw->ServicePaths(); };
  mq::Broker* mqb = broker.get();
  deps.before_scrape.push_back([mqb] { mq::RefreshGauges(*mqb); });
  AIMASS_RETURN_IF_ERROR(RegisterCoreRoutes(router, deps));
  AIMASS_RETURN_IF_ERROR(RegisterBlobRoutes(router, deps));
  AIMASS_RETURN_IF_ERROR(auth::RegisterRoutes(router, *auth));
  AIMASS_RETURN_IF_ERROR(registry::RegisterRoutes(
      router, *registry,
      registry::TarLimits{static_cast<uint64_t>(cfg.registry.max_archive_files),
                          cfg.registry.max_unpacked_bytes}));
  AIMASS_RETURN_IF_ERROR(events::RegisterRoutes(router, events));
  AIMASS_RETURN_IF_ERROR(serving::RegisterRoutes(router, *serving, {cfg.serving.max_request_bytes}));
  AIMASS_RETURN_IF_ERROR(gateway::RegisterRoutes(router, *gateway));
  mq_poller = std::make_shared<mq::LongPoller>(*broker);
  AIMASS_RETURN_IF_ERROR(mq::RegisterRoutes(router, *broker, mq_poller));
  AIMASS_RETURN_IF_ERROR(scheduler::RegisterRoutes(router, *cron));
  if (cfg.failpoints_api) {
    AIMASS_RETURN_IF_ERROR(RegisterFailpointRoutes(router));
    spdlog::warn("failpoints_api is on: admins can make this process crash or fail its writes");
  }

  pipeline = std::make_unique<http::Pipeline>(router);
  pipeline->Use(std::make_shared<http::RequestIdMiddleware>());
  if (cfg.log.access) pipeline->Use(std::make_shared<http::AccessLogMiddleware>());
  pipeline->Use(std::make_shared<http::MetricsMiddleware>(metrics));
  pipeline->Use(std::make_shared<auth::AuditLog>(*auth));
  // Requests no platform route knows go to the gateway's routes, which say who may call them.
  pipeline->SetFallback(&gateway->fallback_route());
  pipeline->Use(gateway->resolver());
  pipeline->Use(std::make_shared<auth::AccessControl>(*auth));
  return Status::Ok();
}

Status App::Start() {
  Impl& s = *impl_;
  auto hp = http::ParseHostPort(s.cfg.listen);
  if (!hp.ok()) return hp.status();
  if (!s.cfg.failpoints.empty()) {
    AIMASS_RETURN_IF_ERROR(failpoint::Configure(s.cfg.failpoints));
    spdlog::warn("failpoints armed: {}", s.cfg.failpoints);
  }
  AIMASS_RETURN_IF_ERROR(s.OpenStorage());
  AIMASS_RETURN_IF_ERROR(s.OpenAuth());
  AIMASS_RETURN_IF_ERROR(s.BuildRoutes());

  http::ServerOptions so;
  so.host = hp->first;
  so.port = hp->second;
  const int cpus = UsableCpus();
  so.io_threads = s.cfg.http.io_threads > 0 ? static_cast<int>(s.cfg.http.io_threads) : cpus;
  so.worker_threads = s.cfg.http.worker_threads > 0 ? static_cast<int>(s.cfg.http.worker_threads)
                                                    : std::max(64, 8 * cpus);
  so.max_body_bytes = s.cfg.http.max_body_bytes;
  so.max_upload_bytes = s.cfg.http.max_upload_bytes;
  so.max_header_bytes = static_cast<uint32_t>(s.cfg.http.max_header_bytes);
  so.read_timeout_s = static_cast<int>(s.cfg.http.read_timeout_s);
  so.idle_timeout_s = static_cast<int>(s.cfg.http.idle_timeout_s);
  so.shutdown_timeout_s = static_cast<int>(s.cfg.http.shutdown_timeout_s);
  so.max_connections = static_cast<size_t>(s.cfg.http.max_connections);
  so.spool_dir = s.blobs->temp_dir();
  s.server = std::make_unique<http::Server>(so, *s.pipeline);
  AIMASS_RETURN_IF_ERROR(s.server->Start());
  if (!s.cfg.grpc_listen.empty()) {
    std::string address = s.cfg.grpc_listen;
    if (address.starts_with(":")) address = "0.0.0.0" + address;
    s.grpc = std::make_unique<serving::GrpcServer>(*s.serving, *s.auth);
    s.mq_grpc = std::make_unique<mq::GrpcService>(*s.broker, *s.auth);
    s.grpc->AddService(s.mq_grpc->service());
    AIMASS_RETURN_IF_ERROR(s.grpc->Start(address, static_cast<int>(std::min<uint64_t>(s.cfg.serving.max_request_bytes, INT32_MAX))));
    spdlog::info("aimass gRPC (inference) listening on {}", address.substr(0, address.rfind(':')) + ":" +
                                                               std::to_string(s.grpc->port()));
  }
  if (s.cfg.scheduler.enabled) s.cron->Start();
  s.ready = true;
  spdlog::info("aimass listening on {}:{} (data dir {})", so.host, s.server->port(), s.cfg.data_dir);
  return Status::Ok();
}

uint16_t App::port() const { return impl_->server ? impl_->server->port() : 0; }

void App::Shutdown() {
  impl_->ready = false;
  // Consumers' long polls are answered now, or the graceful stop would wait them out.
  if (impl_->mq_poller) impl_->mq_poller->Drain();
  if (impl_->cron) impl_->cron->Stop();
  if (impl_->server) impl_->server->Shutdown();
  if (impl_->grpc) impl_->grpc->Shutdown();
}

void App::Wait() {
  if (impl_->server) impl_->server->Wait();
}

}  // namespace aimass::server
