#include "cli/commands.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/client_config.hpp"
#include "cli/deploy_commands.hpp"
#include "cli/cron_commands.hpp"
#include "cli/collector_commands.hpp"
#include "cli/search_commands.hpp"
#include "cli/assist_commands.hpp"
#include "cli/recommend_commands.hpp"
#include "cli/behavior_commands.hpp"
#include "cli/analysis_commands.hpp"
#include "cli/crowd_commands.hpp"
#include "cli/label_commands.hpp"
#include "cli/usage_commands.hpp"
#include "cli/llm_commands.hpp"
#include "cli/cube_commands.hpp"
#include "cli/dataset_commands.hpp"
#include "cli/job_commands.hpp"
#include "cli/run_commands.hpp"
#include "cli/pipeline_commands.hpp"
#include "steps/steps.hpp"
#include "cli/failpoint_commands.hpp"
#include "cli/gw_commands.hpp"
#include "cli/model_commands.hpp"
#include "cli/mq_commands.hpp"
#include "cli/output.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "http/client.hpp"
#include "server/app.hpp"

namespace aimass::cli {

namespace {

using nlohmann::json;


struct Globals {
  std::string server;
  std::string token;
  bool json = false;
};

// ---- aimass server ---------------------------------------------------------------------------

struct ServerFlags {
  std::optional<std::string> config_file;
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> sets;
  bool print_config = false;
};

int RunServer(const ServerFlags& f) {
  config::Sources src;
  src.file = f.config_file;
  src.env = config::ProcessEnv();
  if (!src.file) {
    if (auto it = src.env.find("AIMASS_CONFIG"); it != src.env.end()) src.file = it->second;
  }
  src.flags = f.flags;
  for (const auto& s : f.sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos) {
      std::cerr << "error: --set expects KEY=VALUE, got '" << s << "'\n";
      return kUsage;
    }
    src.flags.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  auto cfg = config::Load(src);
  if (!cfg.ok()) {
    std::cerr << "error: " << cfg.status().message() << "\n";
    return kUsage;
  }
  if (f.print_config) {
    std::cout << config::Render(*cfg);
    return kOk;
  }
  if (Status st = log::Init(cfg->log.level, cfg->log.format); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return kUsage;
  }

  // Signals are taken by one thread with sigwait, so no handler runs inside library code.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::App app(*cfg);
  if (Status st = app.Start(); !st.ok()) {
    spdlog::error("cannot start: {}", st.message());
    return kError;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("received {}, draining in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    app.Shutdown();
  });
  app.Wait();
  // Wait only returns after Shutdown, which only the waiter calls.
  waiter.join();
  spdlog::info("stopped");
  return kOk;
}

// ---- client commands ---------------------------------------------------------------------------

std::string ReadPassword() {
  if (const char* p = std::getenv("AIMASS_PASSWORD")) return p;
  std::cerr << "Password: " << std::flush;
  termios old{};
  bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string pw;
  std::getline(std::cin, pw);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return pw;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"AI Mass: a self-hosted AI platform in one program"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  app.add_option("--server", g.server, "Server URL (default: saved login, AIMASS_SERVER, http://127.0.0.1:8080)");
  app.add_option("--token", g.token, "Bearer token or API key (default: saved login, AIMASS_TOKEN)");
  app.add_flag("--json", g.json, "Print JSON instead of tables");

  // server
  ServerFlags sf;
  std::string listen, grpc_listen, data_dir, log_format, log_level, target, config_file;
  auto* server = app.add_subcommand("server", "Run the platform");
  server->add_option("--config", config_file, "YAML config file (also AIMASS_CONFIG)");
  server->add_option("--listen", listen, "HTTP address HOST:PORT (default 0.0.0.0:8080)");
  server->add_option("--grpc-listen", grpc_listen, "gRPC address HOST:PORT (default :8081)");
  server->add_option("--data-dir", data_dir, "Data directory (default ./aimass-data)");
  server->add_option("--log-format", log_format, "text or json");
  server->add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
  server->add_option("--target", target, "Modules to run (default all)");
  server->add_option("--set", sf.sets, "Any config key: --set http.max_body_bytes=2097152");
  server->add_flag("--print-config", sf.print_config, "Print the effective config (secrets masked) and exit");
  bool failpoints_api = false;
  server->add_flag("--failpoints-api", failpoints_api, "Serve /api/v1/admin/failpoints (crash tests only)");

  // login / whoami
  std::string username, password;
  auto* login = app.add_subcommand("login", "Log in and save the token in ~/.config/aimass/config.yaml");
  login->add_option("--username,-u", username, "User name")->required();
  login->add_option("--password,-p", password, "Password (default: AIMASS_PASSWORD or a prompt)");
  auto* whoami = app.add_subcommand("whoami", "Show who the saved token belongs to");

  // user
  auto* user = app.add_subcommand("user", "Manage users");
  user->require_subcommand(1);
  std::string user_name, user_password;
  std::vector<std::string> user_roles;
  auto* user_add = user->add_subcommand("add", "Create a user");
  user_add->add_option("name", user_name, "User name")->required();
  user_add->add_option("--password,-p", user_password,
                       "Password (default: AIMASS_PASSWORD or a prompt; a flag shows in ps)");
  user_add->add_option("--role,-r", user_roles, "Role (repeatable; default viewer)");
  auto* user_list = user->add_subcommand("list", "List users");
  auto* user_delete = user->add_subcommand("delete", "Delete a user");
  user_delete->add_option("name", user_name, "User name")->required();

  // apikey
  auto* apikey = app.add_subcommand("apikey", "Manage API keys");
  apikey->require_subcommand(1);
  std::string key_name, key_id;
  int64_t key_days = 0;
  auto* key_create = apikey->add_subcommand("create", "Create an API key (shown once)");
  key_create->add_option("--name,-n", key_name, "What the key is for")->required();
  key_create->add_option("--expires-in-days", key_days, "Lifetime in days (default: no expiry)");
  auto* key_list = apikey->add_subcommand("list", "List API keys: yours, or everyone's with users:read");
  auto* key_revoke = apikey->add_subcommand("revoke", "Revoke an API key");
  key_revoke->add_option("id", key_id, "Key id")->required();

  auto model = AddModelCommands(app);
  auto deploy = AddDeployCommands(app);
  auto gw = AddGwCommands(app);
  auto mq = AddMqCommands(app);
  auto cron = AddCronCommands(app);
  auto jobs = AddJobCommands(app);
  auto datasets = AddDatasetCommands(app);
  auto collectors = AddCollectorCommands(app);
  auto runs = AddRunCommands(app);
  auto pipelines = AddPipelineCommands(app);
  auto search = AddSearchCommands(app);
  auto assist = AddAssistCommands(app);
  auto recommend = AddRecommendCommands(app);
  auto cube = AddCubeCommands(app);
  auto behavior = AddBehaviorCommands(app);
  auto crowd = AddCrowdCommands(app);
  auto analysis = AddAnalysisCommands(app);
  auto label = AddLabelCommands(app);
  auto usage = AddUsageCommands(app);
  auto llm = AddLlmCommands(app);
  auto failpoints = AddFailpointCommands(app);

  auto* step = app.add_subcommand("step", "Run a built-in pipeline step (what a pipeline's job runs; its inputs "
                                          "come from the job's environment)");
  std::string step_uses;
  step->add_option("uses", step_uses, "The step: dataset.split, …")->required();

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  if (version->parsed()) {
    std::cout << "aimass 0.1.0\n";
    return kOk;
  }

  if (server->parsed()) {
    if (!config_file.empty()) sf.config_file = config_file;
    auto flag = [&](const char* key, const std::string& v) {
      if (!v.empty()) sf.flags.emplace_back(key, v);
    };
    flag("listen", listen);
    flag("grpc_listen", grpc_listen);
    flag("data_dir", data_dir);
    flag("log.format", log_format);
    flag("log.level", log_level);
    flag("target", target);
    if (failpoints_api) flag("failpoints_api", "true");
    return RunServer(sf);
  }

  if (step->parsed()) return steps::RunStep(step_uses);
  if (auto code = RunCrowdWorker(*crowd)) return *code;

  ApiClient api(g.server, g.token);
  if (login->parsed()) {
    if (Status st = api.Resolve(false); !st.ok()) return Fail(st);
    if (password.empty()) password = ReadPassword();
    json body = {{"username", username}, {"password", password}};
    auto res = api.Call(http::Method::kPost, "/api/v1/auth/login", &body);
    if (!res.ok()) return Fail(res.status());
    ClientConfig saved{api.server(), (*res)["access_token"].get<std::string>()};
    if (Status st = SaveClientConfig(saved); !st.ok()) return Fail(st);
    if (g.json) std::cout << json{{"server", api.server()}, {"username", username}}.dump() << "\n";
    else std::cout << "Logged in to " << api.server() << " as " << username << "\n";
    return kOk;
  }

  if (Status st = api.Resolve(true); !st.ok()) return Fail(st);

  if (auto code = RunModelCommands(*model, api, g.json)) return *code;
  if (auto code = RunDeployCommands(*deploy, api, g.json)) return *code;
  if (auto code = RunGwCommands(*gw, api, g.json)) return *code;
  if (auto code = RunMqCommands(*mq, api, g.json)) return *code;
  if (auto code = RunCronCommands(*cron, api, g.json)) return *code;
  if (auto code = RunJobCommands(*jobs, api, g.json)) return *code;
  if (auto code = RunDatasetCommands(*datasets, api, g.json)) return *code;
  if (auto code = RunCollectorCommands(*collectors, api, g.json)) return *code;
  if (auto code = RunRunCommands(*runs, api, g.json)) return *code;
  if (auto code = RunPipelineCommands(*pipelines, api, g.json)) return *code;
  if (auto code = RunSearchCommands(*search, api, g.json)) return *code;
  if (auto code = RunAssistCommands(*assist, api, g.json)) return *code;
  if (auto code = RunRecommendCommands(*recommend, api, g.json)) return *code;
  if (auto code = RunCubeCommands(*cube, api, g.json)) return *code;
  if (auto code = RunBehaviorCommands(*behavior, api, g.json)) return *code;
  if (auto code = RunCrowdCommands(*crowd, api, g.json)) return *code;
  if (auto code = RunAnalysisCommands(*analysis, api, g.json)) return *code;
  if (auto code = RunLabelCommands(*label, api, g.json)) return *code;
  if (auto code = RunUsageCommands(*usage, api, g.json)) return *code;
  if (auto code = RunLlmCommands(*llm, api, g.json)) return *code;
  if (auto code = RunFailpointCommands(*failpoints, api, g.json)) return *code;

  if (whoami->parsed()) {
    auto res = api.Call(http::Method::kGet, "/api/v1/auth/whoami");
    if (!res.ok()) return Fail(res.status());
    if (g.json) std::cout << res->dump() << "\n";
    else std::cout << (*res)["username"].get<std::string>() << " (" << Join((*res)["roles"]) << ") via "
                   << api.server() << "\n";
    return kOk;
  }

  if (user_add->parsed()) {
    if (user_roles.empty()) user_roles.push_back("viewer");
    if (user_password.empty()) user_password = ReadPassword();
    json body = {{"username", user_name}, {"password", user_password}, {"roles", user_roles}};
    auto res = api.Call(http::Method::kPost, "/api/v1/users", &body);
    if (!res.ok()) return Fail(res.status());
    if (g.json) std::cout << res->dump() << "\n";
    else std::cout << "Created user " << user_name << " (" << Join((*res)["roles"]) << ")\n";
    return kOk;
  }
  if (user_list->parsed()) {
    json all = json::array();
    std::string token;
    do {
      auto res = api.Call(http::Method::kGet, "/api/v1/users?page_size=1000&page_token=" + UrlEncode(token));
      if (!res.ok()) return Fail(res.status());
      for (auto& u : (*res)["users"]) all.push_back(u);
      token = (*res).value("next_page_token", "");
    } while (!token.empty());
    if (g.json) {
      std::cout << all.dump() << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& u : all) rows.push_back({u["username"], Join(u["roles"]), u["created_at"]});
      PrintTable({"USERNAME", "ROLES", "CREATED"}, rows);
    }
    return kOk;
  }
  if (user_delete->parsed()) {
    auto res = api.Call(http::Method::kDelete, "/api/v1/users/" + UrlEncode(user_name));
    if (!res.ok()) return Fail(res.status());
    if (g.json) std::cout << json{{"deleted", user_name}}.dump() << "\n";
    else std::cout << "Deleted user " << user_name << "\n";
    return kOk;
  }

  if (key_create->parsed()) {
    json body = {{"name", key_name}};
    if (key_days > 0) body["expires_in_days"] = key_days;
    auto res = api.Call(http::Method::kPost, "/api/v1/apikeys", &body);
    if (!res.ok()) return Fail(res.status());
    if (g.json) {
      std::cout << res->dump() << "\n";
    } else {
      std::cout << "API key " << (*res)["id"].get<std::string>() << " created. It is shown only once:\n"
                << (*res)["key"].get<std::string>() << "\n";
    }
    return kOk;
  }
  if (key_list->parsed()) {
    auto res = api.Call(http::Method::kGet, "/api/v1/apikeys");
    if (!res.ok()) return Fail(res.status());
    if (g.json) {
      std::cout << (*res)["apikeys"].dump() << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& k : (*res)["apikeys"]) {
        rows.push_back({k["id"], k["name"], k["owner"], k["created_at"], k["last_used_at"],
                        k["revoked"].get<bool>() ? "revoked" : "live"});
      }
      PrintTable({"ID", "NAME", "OWNER", "CREATED", "LAST USED", "STATE"}, rows);
    }
    return kOk;
  }
  if (key_revoke->parsed()) {
    auto res = api.Call(http::Method::kDelete, "/api/v1/apikeys/" + UrlEncode(key_id));
    if (!res.ok()) return Fail(res.status());
    if (g.json) std::cout << json{{"revoked", key_id}}.dump() << "\n";
    else std::cout << "Revoked API key " << key_id << "\n";
    return kOk;
  }
  return kUsage;
}

}  // namespace aimass::cli
