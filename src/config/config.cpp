#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

extern char** environ;

namespace aimass::config {

namespace {

// Bounded, because the values end up in narrower types (a header limit in 32 bits, timeouts in
// int seconds): an out-of-range value is an error, never a silent wrap-around.
Status SetInt(int64_t& out, const std::string& v, int64_t min, int64_t max) {
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size()) return Status::BadRequest("not an integer: '" + v + "'");
  if (x < min) return Status::BadRequest("must be at least " + std::to_string(min));
  if (x > max) return Status::BadRequest("must be at most " + std::to_string(max));
  out = x;
  return Status::Ok();
}

Status SetU64(uint64_t& out, const std::string& v, uint64_t min, uint64_t max) {
  int64_t x = 0;
  AIMASS_RETURN_IF_ERROR(SetInt(x, v, static_cast<int64_t>(min), static_cast<int64_t>(max)));
  out = static_cast<uint64_t>(x);
  return Status::Ok();
}

Status SetBool(bool& out, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") out = true;
  else if (v == "false" || v == "0" || v == "no" || v == "off") out = false;
  else return Status::BadRequest("not a boolean: '" + v + "'");
  return Status::Ok();
}

Status OneOf(std::string& out, const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) {
      out = v;
      return Status::Ok();
    }
  }
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return Status::BadRequest("'" + v + "' is not one of " + list);
}

#define STR_KEY(key, field, doc_)                                                  \
  KeyInfo { key, "string", false, "", doc_, [](const Config& c) { return c.field; }, \
            [](Config& c, const std::string& v) { c.field = v; return Status::Ok(); } }
#define SECRET_KEY(key, field, alias, doc_)                                       \
  KeyInfo { key, "string", true, alias, doc_, [](const Config& c) { return c.field; }, \
            [](Config& c, const std::string& v) { c.field = v; return Status::Ok(); } }
#define INT_KEY(key, field, min, max, doc_)                                                     \
  KeyInfo { key, "integer", false, "", doc_,                                                    \
            [](const Config& c) { return std::to_string(c.field); },                            \
            [](Config& c, const std::string& v) { return SetInt(c.field, v, min, max); } }
#define U64_KEY(key, field, min, max, doc_)                                                     \
  KeyInfo { key, "integer", false, "", doc_,                                                    \
            [](const Config& c) { return std::to_string(c.field); },                            \
            [](Config& c, const std::string& v) { return SetU64(c.field, v, min, max); } }
#define ENUM_KEY(key, field, doc_, ...)                                                  \
  KeyInfo { key, "string", false, "", doc_, [](const Config& c) { return c.field; },     \
            [](Config& c, const std::string& v) { return OneOf(c.field, v, {__VA_ARGS__}); } }

}  // namespace

const std::vector<KeyInfo>& Keys() {
  static const std::vector<KeyInfo> keys = {
      STR_KEY("listen", listen, "HTTP listen address HOST:PORT (REST API, console, inference REST)."),
      STR_KEY("grpc_listen", grpc_listen, "gRPC listen address HOST:PORT (inference gRPC)."),
      STR_KEY("data_dir", data_dir, "Directory for the SQLite metadata, blobs and the MQ log."),
      STR_KEY("target", target,
              "Modules this process serves: `all`, or a comma-separated list of registry, serving, gateway, "
              "mq, scheduler (auth, events, blobs and discovery run in every process). A module a served "
              "one needs is opened as a library over the shared stores; the gateway routes the paths of "
              "the modules it does not serve to the processes that announce them."),
      STR_KEY("console.dir", console.dir,
              "The web console's built files (Vite's output: index.html, assets/); empty: the `console` "
              "directory beside the aimass binary (build/console after `make build`)."),
      ENUM_KEY("cluster.discovery", cluster.discovery,
               "Where processes announce the modules they serve and the gateway finds them: `store` (the "
               "metadata store) or `etcd` (cluster.etcd_endpoints, leases).",
               "store", "etcd"),
      STR_KEY("cluster.etcd_endpoints", cluster.etcd_endpoints,
              "etcd v3 endpoints for cluster.discovery=etcd, comma-separated: http://host:2379."),
      STR_KEY("cluster.advertise_url", cluster.advertise_url,
              "The URL other processes reach this one at (http://host:port); empty: the listen address "
              "(127.0.0.1 when it listens on all interfaces)."),
      INT_KEY("cluster.lease_ttl_s", cluster.lease_ttl_s, 2, 3600,
              "Seconds an announced process stays listed without a heartbeat (it renews every third of it)."),
      STR_KEY("cluster.node_name", cluster.node_name,
              "This process's node in the compute cluster ([a-z0-9][a-z0-9._-]*); empty: the host name (a second "
              "process on the same host gets <host>-2, …)."),
      STR_KEY("cluster.node_labels", cluster.node_labels, "Labels of this node, `key=value,key=value`."),
      STR_KEY("cluster.gpus", cluster.gpus,
              "GPUs of this node: `auto` (nvidia-smi, none when absent), `none`, or declared devices "
              "`MODEL:MEMORY_MB,…` where nvidia-smi cannot see them."),
      ENUM_KEY("cluster.limits", cluster.limits,
               "How jobs' memory and CPU are limited: `auto` (the first that works of cgroup-v2, cgroup-v1, "
               "rlimit), or one of those (an error when it does not work).",
               "auto", "cgroup-v2", "cgroup-v1", "rlimit"),
      STR_KEY("cluster.jobs_dir", cluster.jobs_dir, "Jobs' logs and work directories; empty: data_dir/jobs."),
      KeyInfo{"cluster.slurm", "bool", false, "", "Run jobs with \"executor\": \"slurm\" through Slurm's commands (sbatch, squeue, scontrol, scancel).",
              [](const Config& c) { return std::string(c.cluster.slurm ? "true" : "false"); },
              [](Config& c, const std::string& v) { return SetBool(c.cluster.slurm, v); }},
      STR_KEY("cluster.slurm_conf", cluster.slurm_conf, "SLURM_CONF for the Slurm commands; empty: Slurm's default."),
      STR_KEY("cluster.slurm_partition", cluster.slurm_partition, "The Slurm partition jobs go to; empty: the default."),
      STR_KEY("cluster.slurm_bin_dir", cluster.slurm_bin_dir, "Where sbatch, squeue, scontrol and scancel are."),
      STR_KEY("failpoints", failpoints,
              "Failpoints armed at start, `name=action;…` (docs/guide/reliability.md): for crash and "
              "fault tests only. Empty: none."),
      KeyInfo{"failpoints_api", "bool", false, "",
              "Serve /api/v1/admin/failpoints (admin only), which arms and disarms failpoints at run time; "
              "for tests only.",
              [](const Config& c) { return std::string(c.failpoints_api ? "true" : "false"); },
              [](Config& c, const std::string& v) { return SetBool(c.failpoints_api, v); }},
      ENUM_KEY("log.level", log.level, "trace, debug, info, warn, error or off.", "trace", "debug",
               "info", "warn", "error", "off"),
      ENUM_KEY("log.format", log.format, "`text` or `json` (one JSON object per line).", "text",
               "json"),
      KeyInfo{"log.access", "bool", false, "", "Write one access-log line per request.",
              [](const Config& c) { return std::string(c.log.access ? "true" : "false"); },
              [](Config& c, const std::string& v) { return SetBool(c.log.access, v); }},
      U64_KEY("http.max_body_bytes", http.max_body_bytes, 1, 1ll << 40,
              "Largest buffered request body (JSON APIs); larger ones get 413."),
      U64_KEY("http.max_upload_bytes", http.max_upload_bytes, 1, 1ll << 44,
              "Largest streamed upload (blobs, artifacts); larger ones get 413."),
      U64_KEY("http.max_header_bytes", http.max_header_bytes, 1024, 1 << 20,
              "Largest request line plus headers; larger ones get 431."),
      INT_KEY("http.read_timeout_s", http.read_timeout_s, 1, 86400,
              "Seconds allowed to receive one request and to send one response."),
      INT_KEY("http.idle_timeout_s", http.idle_timeout_s, 1, 86400,
              "Seconds a keep-alive connection may wait for its next request."),
      INT_KEY("http.shutdown_timeout_s", http.shutdown_timeout_s, 0, 3600,
              "Seconds in-flight requests get to finish after SIGTERM/SIGINT."),
      INT_KEY("http.io_threads", http.io_threads, 0, 256,
              "I/O threads; 0 = one per CPU the process may run on (its affinity mask)."),
      INT_KEY("http.max_connections", http.max_connections, 1, 1000000,
              "Open connections at most; further ones are closed at once."),
      INT_KEY("http.worker_threads", http.worker_threads, 0, 1024,
              "Handler threads; 0 = eight per usable CPU, at least 64."),
      ENUM_KEY("storage.driver", storage.driver,
               "Metadata store: `sqlite` (embedded, one host) or `postgres` (several processes and hosts "
               "share it; `storage.dsn`).",
               "sqlite", "postgres"),
      SECRET_KEY("storage.dsn", storage.dsn, "",
                 "PostgreSQL connection string for storage.driver=postgres (libpq's key=value or "
                 "postgresql:// URI); a password in it is never logged."),
      INT_KEY("storage.pool_size", storage.pool_size, 1, 1000,
              "PostgreSQL connections this process opens at most."),
      STR_KEY("storage.sqlite_path", storage.sqlite_path,
              "The SQLite metadata file; empty: data_dir/metadata.db. Processes on one host may share it."),
      INT_KEY("storage.busy_timeout_ms", storage.busy_timeout_ms, 0, 600000,
              "How long a SQLite statement waits for a lock."),
      ENUM_KEY("storage.blob_driver", storage.blob_driver,
               "Blob store: `local` (content-addressed files under data_dir/blobs).", "local"),
      STR_KEY("storage.blob_dir", storage.blob_dir,
              "Where the local blob store keeps its files; empty: data_dir/blobs. Processes may share "
              "one directory (a shared mount) with one PostgreSQL."),
      INT_KEY("storage.blob_gc_grace_s", storage.blob_gc_grace_s, 0, 315360000,
              "An unreferenced blob younger than this is kept by GC (uploads in progress)."),
      INT_KEY("registry.max_archive_files", registry.max_archive_files, 1, 10000000,
              "Most files a directory artifact (tar upload) may hold."),
      U64_KEY("registry.max_unpacked_bytes", registry.max_unpacked_bytes, 1, 1ll << 44,
              "Largest total size a directory artifact may unpack to (a gzip tar expands)."),
      U64_KEY("serving.max_request_bytes", serving.max_request_bytes, 1024, 1ll << 34,
              "Largest inference request body (v2 infer, v1 predict); larger ones get 413."),
      INT_KEY("datasets.segment_rows", datasets.segment_rows, 1, 16777216,
              "Rows per stored segment of a table version (the unit that appends share and readers decode)."),
      U64_KEY("datasets.max_input_bytes", datasets.max_input_bytes, 1024, 1ll << 44,
              "Largest table upload after decompression (a gzip body expands); larger ones get 413."),
      INT_KEY("datasets.max_files", datasets.max_files, 1, 100000000,
              "Most files one tar upload to a files dataset may hold; more is 400."),
      INT_KEY("tracking.max_metrics_per_call", tracking.max_metrics_per_call, 1, 1000000,
              "Most metric points one logging call (POST /api/v1/runs/{id}/log) may carry; more is 400 "
              "(the body is also bounded by http.max_body_bytes)."),
      STR_KEY("search.dir", search.dir, "Directory of the search indexes' databases (local disk); empty: data_dir/search."),
      STR_KEY("search.zh_dictionary", search.zh_dictionary,
              "Word-frequency dictionary for segmenting Chinese (jieba's dict.txt from Debian's python3-jieba); "
              "missing: Chinese text is indexed as character bigrams."),
      U64_KEY("search.max_batch_bytes", search.max_batch_bytes, 1024, 1ll << 34,
              "Largest body of one documents or evaluate request to a search index; more is 413."),
      STR_KEY("cube.dir", cube.dir, "Directory of the cubes' column files (local disk); empty: data_dir/cubes."),
      INT_KEY("cube.threads", cube.threads, 0, 1024, "Threads one cube query or build uses; 0: every usable core."),
      INT_KEY("cube.query_memory_mb", cube.query_memory_mb, 1, 1048576,
              "Memory one cube query may use for its groups; a query that needs more is refused with 413."),
      INT_KEY("cube.memory_mb", cube.memory_mb, 0, 1ll << 30,
              "Memory every cube's tables (and pre-aggregations) may hold together; a build past it fails with its reason on "
              "the cube. 0: half of the machine's memory."),
      STR_KEY("behavior.dir", behavior.dir, "Directory of the behaviour projects' event logs and checkpoints (local disk); empty: data_dir/behavior."),
      INT_KEY("behavior.threads", behavior.threads, 0, 1024, "Threads one behaviour insight uses; 0: every usable core."),
      ENUM_KEY("behavior.fsync", behavior.fsync,
               "When a capture is acknowledged: `always` (after an fdatasync of the project's log covering it; concurrent captures "
               "share one) or `never` (after the write: a machine crash may lose the last acknowledged events).",
               "always", "never"),
      INT_KEY("behavior.max_batch", behavior.max_batch, 1, 10000000, "Events one capture request may hold; more is refused with 413."),
      INT_KEY("behavior.checkpoint_s", behavior.checkpoint_s, 1, 86400,
              "How often a project's new events are checkpointed (their parts, dictionaries and persons written, the log before "
              "them dropped); a restart replays the log after the last checkpoint."),
      STR_KEY("crowd.dir", crowd.dir, "Directory of the crowd streams' snapshots (local disk); empty: data_dir/crowd."),
      STR_KEY("crowd.video_dirs", crowd.video_dirs,
              "Comma-separated directories whose video files a crowd stream may read by path (the worker fetches them through "
              "the API); empty: data_dir/videos. Other files are refused."),
      INT_KEY("crowd.job_cpus", crowd.job_cpus, 1, 4096, "CPUs each crowd stream's worker job asks the cluster for."),
      INT_KEY("crowd.job_memory_mb", crowd.job_memory_mb, 64, 1ll << 30, "Memory each crowd stream's worker job may use."),
      INT_KEY("crowd.export_s", crowd.export_s, 1, 86400,
              "How often a crowd stream's finished minutes are appended to its dataset (crowd-<stream>), which its cube follows."),
      INT_KEY("crowd.stall_s", crowd.stall_s, 2, 86400,
              "A crowd stream's running worker that has not reported for this long is cancelled and replaced (it may have lost "
              "the platform: another address after a restart, a network partition)."),
      INT_KEY("analysis.mining_workers", analysis.mining_workers, 1, 64,
              "Mining jobs (clustering, association rules, sequences, outliers) that run at once; more wait in a queue."),
      INT_KEY("analysis.mining_threads", analysis.mining_threads, 0, 4096, "Threads one mining job computes on; 0: every usable core."),
      INT_KEY("analysis.mining_max_rows", analysis.mining_max_rows, 1, 1ll << 40,
              "Rows a mining job may read from its dataset version; a larger version is refused when the job is created."),
      KeyInfo{"usage.enabled", "bool", false, "",
              "Count every call through the gateway and every inference for usage analysis (/api/v1/usage, the platform-usage "
              "dataset and cube).",
              [](const Config& c) { return std::string(c.usage.enabled ? "true" : "false"); },
              [](Config& c, const std::string& v) { return SetBool(c.usage.enabled, v); }},
      INT_KEY("usage.flush_s", usage.flush_s, 1, 3600,
              "How often counted calls are appended to the usage dataset (per second and route, application, consumer, "
              "deployment, version and status) and alert rules are evaluated."),
      STR_KEY("usage.dataset", usage.dataset, "The dataset (and cube) the usage is written to."),
      INT_KEY("usage.retention_h", usage.retention_h, 1, 24 * 31, "Hours of usage series kept in memory for /api/v1/usage (the dataset keeps all)."),
      SECRET_KEY("gateway.redis_url", gateway.redis_url, "",
                 "Redis for gateway rate limits shared between processes "
                 "(redis://[:password@]host[:port][/db]); empty: routes may only use local limits."),
      U64_KEY("gateway.cache_max_bytes", gateway.cache_max_bytes, 0, 1ll << 40,
              "Memory for the gateway's response cache, all routes together (least recently used go first)."),
      ENUM_KEY("mq.driver", mq.driver,
               "The message queue's backend: `embedded` (the log under data_dir/mq) or `jetstream` "
               "(a NATS JetStream server at mq.nats_url, shared by every process that names it).",
               "embedded", "jetstream"),
      SECRET_KEY("mq.nats_url", mq.nats_url, "",
                 "The NATS server(s) for mq.driver=jetstream (required there): nats://[user:password@]host:port, comma-separated."),
      STR_KEY("mq.jetstream_prefix", mq.jetstream_prefix,
              "Names the JetStream streams and subjects of this platform ([A-Za-z0-9-], several platforms may "
              "share one NATS under different prefixes)."),
      ENUM_KEY("mq.fsync", mq.fsync,
               "When a publish is acknowledged: `always` (after an fdatasync covering it; concurrent "
               "publishes share one), `interval` (after write; synced every mq.fsync_interval_ms) or "
               "`never` (the OS decides). A topic may set its own.",
               "interval", "always", "never"),
      INT_KEY("mq.fsync_interval_ms", mq.fsync_interval_ms, 1, 60000, "How often `interval` topics are synced."),
      U64_KEY("mq.segment_bytes", mq.segment_bytes, 4096, 1ll << 32,
              "Size at which a partition's log starts a new segment file (retention drops whole segments)."),
      KeyInfo{"scheduler.enabled", "bool", false, "", "Fire cron jobs from this process (when it holds the leader lease).",
              [](const Config& c) { return std::string(c.scheduler.enabled ? "true" : "false"); },
              [](Config& c, const std::string& v) { return SetBool(c.scheduler.enabled, v); }},
      INT_KEY("scheduler.lease_ttl_s", scheduler.lease_ttl_s, 1, 3600,
              "How long a leader that stopped renewing keeps the scheduler lease before another process takes over."),
      STR_KEY("scheduler.node", scheduler.node, "This process's name in the lease and in run history; empty: host-pid-random."),
      ENUM_KEY("auth.jwt_algorithm", auth.jwt_algorithm,
               "`HS256` (shared secret) or `RS256` (key pair). Tokens with any other alg are "
               "rejected.",
               "HS256", "RS256"),
      SECRET_KEY("auth.jwt_secret", auth.jwt_secret, "",
                 "HS256 secret; empty: generated once and kept in data_dir/jwt-secret (0600)."),
      STR_KEY("auth.jwt_private_key_file", auth.jwt_private_key_file, "RS256 private key (PEM)."),
      STR_KEY("auth.jwt_public_key_file", auth.jwt_public_key_file, "RS256 public key (PEM)."),
      STR_KEY("auth.jwt_issuer", auth.jwt_issuer, "The `iss` claim of issued tokens."),
      INT_KEY("auth.token_ttl_s", auth.token_ttl_s, 1, 31536000, "Lifetime of a login token in seconds."),
      SECRET_KEY("auth.admin_password", auth.admin_password, "AIMASS_ADMIN_PASSWORD",
                 "Password of the `admin` user created on first start; empty: generated and "
                 "printed once on stdout. Ignored once users exist."),
  };
  return keys;
}

std::string EnvName(const std::string& key) {
  std::string out = "AIMASS_";
  for (char c : key) out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return out;
}

std::map<std::string, std::string> ProcessEnv() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("AIMASS_")) continue;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

static const KeyInfo* FindKey(const std::string& name) {
  for (const auto& k : Keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

static Status Apply(Config& c, const std::string& key, const std::string& value,
                    const std::string& origin) {
  const KeyInfo* k = FindKey(key);
  if (!k) return Status::BadRequest(origin + ": unknown config key '" + key + "'");
  Status st = k->set(c, value);
  if (!st.ok()) return Status::BadRequest(origin + ": " + key + ": " + st.message());
  return Status::Ok();
}

static Status Flatten(const YAML::Node& node, const std::string& prefix,
                      std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      AIMASS_RETURN_IF_ERROR(Flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out));
    }
    return Status::Ok();
  }
  if (node.IsScalar()) {
    out.emplace_back(prefix, node.as<std::string>());
    return Status::Ok();
  }
  if (node.IsNull()) return Status::Ok();
  return Status::BadRequest("config key '" + prefix + "' must be a scalar");
}

Result<Config> Load(const Sources& sources) {
  Config c;
  if (sources.file) {
    std::vector<std::pair<std::string, std::string>> items;
    try {
      YAML::Node root = YAML::LoadFile(*sources.file);
      if (!root.IsNull() && !root.IsMap()) {
        return Status::BadRequest(*sources.file + ": top level must be a mapping");
      }
      AIMASS_RETURN_IF_ERROR(Flatten(root, "", items));
    } catch (const YAML::Exception& e) {
      return Status::BadRequest(*sources.file + ": " + e.what());
    }
    for (const auto& [k, v] : items) AIMASS_RETURN_IF_ERROR(Apply(c, k, v, *sources.file));
  }
  for (const auto& k : Keys()) {
    auto it = sources.env.find(EnvName(k.name));
    if (it == sources.env.end() && !k.env_alias.empty()) it = sources.env.find(k.env_alias);
    if (it != sources.env.end()) AIMASS_RETURN_IF_ERROR(Apply(c, k.name, it->second, it->first));
  }
  for (const auto& [k, v] : sources.flags) AIMASS_RETURN_IF_ERROR(Apply(c, k, v, "flag --" + k));
  return c;
}

static std::string YamlScalar(const std::string& v, const std::string& type) {
  if (type != "string") return v;
  YAML::Emitter e;
  e << YAML::DoubleQuoted << v;
  return e.c_str();
}

std::string Render(const Config& config) {
  std::ostringstream out;
  std::string section;
  for (const auto& k : Keys()) {
    size_t dot = k.name.find('.');
    std::string sec = dot == std::string::npos ? "" : k.name.substr(0, dot);
    std::string leaf = dot == std::string::npos ? k.name : k.name.substr(dot + 1);
    if (sec != section) {
      section = sec;
      if (!sec.empty()) out << sec << ":\n";
    }
    std::string value = k.get(config);
    if (k.secret && !value.empty()) value = "***";
    out << (sec.empty() ? "" : "  ") << leaf << ": " << YamlScalar(value, k.type) << "\n";
  }
  return out.str();
}

}  // namespace aimass::config
