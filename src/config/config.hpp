// Config: every option of `aimass server`, from defaults, a YAML file, AIMASS_* environment
// variables and command-line flags, in that order of precedence (flags win). Each option is a
// dotted key (`http.max_body_bytes`) that reads the same in all four places:
//   YAML  http: {max_body_bytes: 1048576}
//   env   AIMASS_HTTP_MAX_BODY_BYTES=1048576
//   flag  --set http.max_body_bytes=1048576   (common ones also have a flag of their own)
// docs/configuration.md documents every key; a unit test keeps the two in step.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::config {

struct Config {
  std::string listen = "0.0.0.0:8080";
  std::string grpc_listen = ":8081";
  std::string data_dir = "./aimass-data";
  std::string target = "all";
  // Fault injection for crash tests (common/failpoint.hpp): points armed at start, and whether
  // /api/v1/admin/failpoints may change them at run time.
  std::string failpoints;
  bool failpoints_api = false;

  struct Log {
    std::string level = "info";
    std::string format = "text";
    bool access = true;
  } log;

  struct Http {
    uint64_t max_body_bytes = 1 << 20;
    uint64_t max_upload_bytes = 1ull << 30;
    uint64_t max_header_bytes = 16 * 1024;
    int64_t read_timeout_s = 30;
    int64_t idle_timeout_s = 60;
    int64_t shutdown_timeout_s = 30;
    int64_t io_threads = 0;      // 0: one per usable CPU (affinity mask)
    int64_t worker_threads = 0;  // 0: eight per usable CPU, at least 64
    int64_t max_connections = 10000;
  } http;

  struct Storage {
    std::string driver = "sqlite";
    std::string sqlite_path;  // empty: data_dir/metadata.db
    std::string dsn;          // storage.driver=postgres
    int64_t pool_size = 8;
    int64_t busy_timeout_ms = 5000;
    std::string blob_driver = "local";
    std::string blob_dir;  // empty: data_dir/blobs
    int64_t blob_gc_grace_s = 3600;
  } storage;

  struct Registry {
    int64_t max_archive_files = 10000;
    uint64_t max_unpacked_bytes = 4ull << 30;
  } registry;

  struct Serving {
    uint64_t max_request_bytes = 64ull << 20;
  } serving;

  struct Datasets {
    int64_t segment_rows = 65536;
    uint64_t max_input_bytes = 64ull << 30;  // an upload after decompression
    int64_t max_files = 1000000;             // in one tar of a files dataset
  } datasets;

  struct Tracking {
    int64_t max_metrics_per_call = 10000;  // points in one POST /runs/{id}/log
  } tracking;

  struct Search {
    std::string dir;  // the indexes' databases; empty: data_dir/search
    std::string zh_dictionary = "/usr/lib/python3/dist-packages/jieba/dict.txt";
    uint64_t max_batch_bytes = 64ull << 20;  // one documents (or evaluate) request's body
  } search;

  struct Cube {
    std::string dir;              // the cubes' column files; empty: data_dir/cubes
    int64_t threads = 0;          // per query and build; 0: every usable core
    int64_t query_memory_mb = 1024;  // group state one query may hold
    int64_t memory_mb = 0;        // every cube's tables together; 0: half the machine's memory
  } cube;

  struct Behavior {
    std::string dir;          // projects' event files; empty: data_dir/behavior
    int64_t threads = 0;      // per insight; 0: every usable core
    std::string fsync = "always";  // always | never (capture acknowledged after fdatasync, or after write)
    int64_t max_batch = 100000;    // events in one capture
    int64_t checkpoint_s = 30;     // how often new events are checkpointed
  } behavior;

  struct Crowd {
    std::string dir;         // snapshots; empty: data_dir/crowd
    std::string video_dirs;  // comma-separated directories local video files may be read from; empty: data_dir/videos
    int64_t job_cpus = 2;    // each stream's worker job
    int64_t job_memory_mb = 1024;
    int64_t export_s = 60;   // how often finished minutes are appended to a stream's dataset
    int64_t stall_s = 60;    // a running worker silent this long is replaced
  } crowd;

  struct Analysis {
    int64_t mining_workers = 1;  // mining jobs run at once
    int64_t mining_threads = 0;  // threads of one mining job; 0: every usable core
    int64_t mining_max_rows = 50'000'000;  // rows one mining job may read
  } analysis;

  struct Usage {
    bool enabled = true;          // the gateway's calls and inferences counted
    int64_t flush_s = 60;         // how often they are written to the dataset and alerts evaluated
    std::string dataset = "platform-usage";
    int64_t retention_h = 24;     // of the in-memory series behind /api/v1/usage
  } usage;

  struct Console {
    std::string dir;  // the console's built files; empty: `console` beside the binary
  } console;

  struct Cluster {
    std::string discovery = "store";  // store (the metadata store) | etcd
    std::string etcd_endpoints;       // comma-separated http://host:2379
    std::string advertise_url;        // how other processes reach this one; empty: the listen address
    int64_t lease_ttl_s = 10;
    std::string node_name;            // empty: the host name
    std::string node_labels;          // k=v,k=v
    std::string gpus = "auto";        // auto (nvidia-smi) | none | MODEL:MEMORY_MB,…
    std::string limits = "auto";      // auto | cgroup-v2 | cgroup-v1 | rlimit
    std::string jobs_dir;             // empty: data_dir/jobs
    bool slurm = false;
    std::string slurm_conf;
    std::string slurm_partition;
    std::string slurm_bin_dir = "/usr/bin";
  } cluster;

  struct Gateway {
    std::string redis_url;  // empty: rate limits are local to each process
    uint64_t cache_max_bytes = 64ull << 20;
  } gateway;

  struct Mq {
    std::string driver = "embedded";  // embedded | jetstream
    std::string nats_url;  // required by the jetstream driver
    std::string jetstream_prefix = "AIMASS";  // streams AIMASS_T_*, AIMASS_S_*; subjects AIMASS.*
    std::string fsync = "interval";  // always | interval | never; a topic may choose its own
    int64_t fsync_interval_ms = 100;
    uint64_t segment_bytes = 64ull << 20;
  } mq;

  struct Scheduler {
    bool enabled = true;
    int64_t lease_ttl_s = 10;
    std::string node;  // empty: host-pid-random
  } scheduler;

  struct Auth {
    std::string jwt_algorithm = "HS256";
    std::string jwt_secret;            // empty: generated once and kept in the data dir
    std::string jwt_private_key_file;  // RS256
    std::string jwt_public_key_file;   // RS256
    std::string jwt_issuer = "aimass";
    int64_t token_ttl_s = 3600;
    std::string admin_password;        // first start only; empty: generated and printed once
  } auth;
};

// What an option is, for loading, printing and documentation.
struct KeyInfo {
  std::string name;        // dotted key
  std::string type;        // string | integer | bool
  bool secret = false;     // masked by --print-config
  std::string env_alias;   // an extra environment name (AIMASS_ADMIN_PASSWORD)
  std::string doc;
  std::function<std::string(const Config&)> get;
  std::function<Status(Config&, const std::string&)> set;
};

const std::vector<KeyInfo>& Keys();
std::string EnvName(const std::string& key);  // http.max_body_bytes -> AIMASS_HTTP_MAX_BODY_BYTES

struct Sources {
  std::optional<std::string> file;                          // YAML path
  std::map<std::string, std::string> env;                   // name -> value
  std::vector<std::pair<std::string, std::string>> flags;   // key -> value, in order
};

// Collects AIMASS_* variables from the process environment.
std::map<std::string, std::string> ProcessEnv();

// Builds the effective config. Unknown keys and bad values are errors that name the key and
// where it came from.
Result<Config> Load(const Sources& sources);

// The effective config as YAML; secrets print as "***" when set.
std::string Render(const Config& config);

}  // namespace aimass::config
