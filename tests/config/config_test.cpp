#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace aimass::config {
namespace {

namespace fs = std::filesystem;

// A YAML file in a private temp directory, removed with the object.
class TempYaml {
 public:
  explicit TempYaml(const std::string& content) {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("aimass-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = (dir_ / "aimass.yaml").string();
    std::ofstream(path_) << content;
  }
  ~TempYaml() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  fs::path dir_;
  std::string path_;
};

Result<Config> LoadYaml(const std::string& yaml) {
  TempYaml f(yaml);
  Sources s;
  s.file = f.path();
  return Load(s);
}

TEST(ConfigTest, Defaults) {
  auto c = Load({});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "0.0.0.0:8080");
  EXPECT_EQ(c->grpc_listen, ":8081");
  EXPECT_EQ(c->data_dir, "./aimass-data");
  EXPECT_EQ(c->target, "all");
  EXPECT_EQ(c->log.level, "info");
  EXPECT_EQ(c->log.format, "text");
  EXPECT_TRUE(c->log.access);
  EXPECT_EQ(c->http.max_body_bytes, 1u << 20);
  EXPECT_EQ(c->http.max_upload_bytes, 1ull << 30);
  EXPECT_EQ(c->http.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c->http.read_timeout_s, 30);
  EXPECT_EQ(c->http.idle_timeout_s, 60);
  EXPECT_EQ(c->http.shutdown_timeout_s, 30);
  EXPECT_EQ(c->storage.driver, "sqlite");
  EXPECT_EQ(c->storage.blob_gc_grace_s, 3600);
  EXPECT_EQ(c->auth.jwt_algorithm, "HS256");
  EXPECT_EQ(c->auth.jwt_issuer, "aimass");
  EXPECT_EQ(c->auth.token_ttl_s, 3600);
  EXPECT_TRUE(c->auth.jwt_secret.empty());
  EXPECT_TRUE(c->auth.admin_password.empty());
}

TEST(ConfigTest, EmptyYamlFileKeepsDefaults) {
  auto c = LoadYaml("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "0.0.0.0:8080");
}

TEST(ConfigTest, PrecedenceFileThenEnvThenFlags) {
  TempYaml f(
      "listen: 127.0.0.1:7000\n"
      "data_dir: /var/lib/from-file\n"
      "http:\n"
      "  max_body_bytes: 1000\n"
      "  read_timeout_s: 11\n");
  Sources s;
  s.file = f.path();

  // File over defaults.
  auto file_only = Load(s);
  ASSERT_TRUE(file_only.ok()) << file_only.status().ToString();
  EXPECT_EQ(file_only->listen, "127.0.0.1:7000");
  EXPECT_EQ(file_only->http.max_body_bytes, 1000u);
  EXPECT_EQ(file_only->http.read_timeout_s, 11);
  EXPECT_EQ(file_only->data_dir, "/var/lib/from-file");

  // Env over file.
  s.env = {{"AIMASS_LISTEN", "127.0.0.1:7001"}, {"AIMASS_HTTP_MAX_BODY_BYTES", "2000"}};
  auto with_env = Load(s);
  ASSERT_TRUE(with_env.ok()) << with_env.status().ToString();
  EXPECT_EQ(with_env->listen, "127.0.0.1:7001");
  EXPECT_EQ(with_env->http.max_body_bytes, 2000u);
  EXPECT_EQ(with_env->http.read_timeout_s, 11) << "keys the env does not set keep the file's value";

  // Flags over env; a later flag wins over an earlier one.
  s.flags = {{"listen", "127.0.0.1:7002"},
             {"http.max_body_bytes", "3000"},
             {"http.max_body_bytes", "4000"}};
  auto with_flags = Load(s);
  ASSERT_TRUE(with_flags.ok()) << with_flags.status().ToString();
  EXPECT_EQ(with_flags->listen, "127.0.0.1:7002");
  EXPECT_EQ(with_flags->http.max_body_bytes, 4000u);
  EXPECT_EQ(with_flags->http.read_timeout_s, 11);
  EXPECT_EQ(with_flags->data_dir, "/var/lib/from-file");

  // Env over defaults without a file.
  Sources env_only;
  env_only.env = {{"AIMASS_HTTP_MAX_BODY_BYTES", "5000"}};
  auto e = Load(env_only);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->http.max_body_bytes, 5000u);
  EXPECT_EQ(e->listen, "0.0.0.0:8080");
}

TEST(ConfigTest, YamlDottedAndNestedKeysAreTheSame) {
  auto c = LoadYaml("log: {level: debug, access: false}\nauth:\n  token_ttl_s: 7200\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_FALSE(c->log.access);
  EXPECT_EQ(c->auth.token_ttl_s, 7200);
}

TEST(ConfigTest, AdminPasswordEnvAlias) {
  Sources s;
  s.env = {{"AIMASS_ADMIN_PASSWORD", "from-alias-pw"}};
  auto c = Load(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->auth.admin_password, "from-alias-pw");

  // The canonical name wins when both are set.
  s.env["AIMASS_AUTH_ADMIN_PASSWORD"] = "from-canonical";
  auto both = Load(s);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->auth.admin_password, "from-canonical");

  // A flag still beats either.
  s.flags = {{"auth.admin_password", "from-flag"}};
  auto flag = Load(s);
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->auth.admin_password, "from-flag");
}

TEST(ConfigTest, UnknownKeysAreErrors) {
  auto yaml = LoadYaml("http:\n  max_bdy_bytes: 5\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().code(), Code::kBadRequest);
  EXPECT_NE(yaml.status().message().find("http.max_bdy_bytes"), std::string::npos)
      << yaml.status().message();

  auto top = LoadYaml("lisen: 1.2.3.4:5\n");
  ASSERT_FALSE(top.ok());
  EXPECT_NE(top.status().message().find("lisen"), std::string::npos);

  Sources flags;
  flags.flags = {{"no.such.key", "1"}};
  auto f = Load(flags);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("no.such.key"), std::string::npos);

  // The environment is shared with other software: only known AIMASS_ names are read, so an
  // unrelated variable is ignored rather than fatal.
  Sources env;
  env.env = {{"AIMASS_NO_SUCH_KEY", "1"}, {"AIMASS_CONFIG", "/x.yaml"}, {"HOME", "/root"}};
  auto e = Load(env);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->listen, "0.0.0.0:8080");
}

TEST(ConfigTest, BadValuesAreErrorsNamingKeyAndOrigin) {
  auto yaml = LoadYaml("http:\n  max_body_bytes: lots\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().code(), Code::kBadRequest);
  EXPECT_NE(yaml.status().message().find("http.max_body_bytes"), std::string::npos);
  EXPECT_NE(yaml.status().message().find("aimass.yaml"), std::string::npos)
      << "the error names the file: " << yaml.status().message();

  Sources env;
  env.env = {{"AIMASS_HTTP_MAX_BODY_BYTES", "12x"}};
  auto e = Load(env);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("AIMASS_HTTP_MAX_BODY_BYTES"), std::string::npos)
      << e.status().message();

  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"http.max_body_bytes", ""},
           {"http.max_body_bytes", "0"},          // below the minimum of 1
           {"http.max_body_bytes", "-5"},
           {"http.max_body_bytes", "1e6"},
           {"http.max_body_bytes", " 10"},
           {"http.max_header_bytes", "100"},      // below 1024
           {"http.read_timeout_s", "0"},
           {"auth.token_ttl_s", "99999999999999999999999"},
           {"log.access", "maybe"},
           {"log.level", "loud"},
           {"auth.jwt_algorithm", "none"},
           {"auth.jwt_algorithm", "hs256"},
       }) {
    Sources s;
    s.flags = {{key, value}};
    auto r = Load(s);
    EXPECT_FALSE(r.ok()) << key << "=" << value << " accepted";
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
    }
  }

  Sources ok;
  ok.flags = {{"http.shutdown_timeout_s", "0"}, {"log.access", "off"}, {"log.level", "warn"},
              {"auth.jwt_algorithm", "RS256"}};
  auto r = Load(ok);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->http.shutdown_timeout_s, 0);
  EXPECT_FALSE(r->log.access);
  EXPECT_EQ(r->log.level, "warn");
  EXPECT_EQ(r->auth.jwt_algorithm, "RS256");
}

TEST(ConfigTest, MalformedYamlIsAnErrorNotAnException) {
  auto broken = LoadYaml("http: {max_body_bytes: [1, 2\n");
  EXPECT_FALSE(broken.ok());
  auto list = LoadYaml("- a\n- b\n");
  EXPECT_FALSE(list.ok()) << "top level must be a mapping";
  auto seq_value = LoadYaml("http:\n  max_body_bytes: [1, 2]\n");
  EXPECT_FALSE(seq_value.ok());

  Sources missing;
  missing.file = (fs::temp_directory_path() / "aimass-no-such-config-file.yaml").string();
  EXPECT_FALSE(Load(missing).ok());
}

TEST(ConfigTest, RenderMasksSecrets) {
  Sources s;
  s.flags = {{"auth.jwt_secret", "super-secret-value"},
             {"auth.admin_password", "hunter2-password"},
             {"listen", "127.0.0.1:9999"}};
  auto c = Load(s);
  ASSERT_TRUE(c.ok());
  std::string out = Render(*c);
  EXPECT_EQ(out.find("super-secret-value"), std::string::npos) << out;
  EXPECT_EQ(out.find("hunter2-password"), std::string::npos) << out;
  EXPECT_NE(out.find("jwt_secret: \"***\""), std::string::npos) << out;
  EXPECT_NE(out.find("admin_password: \"***\""), std::string::npos) << out;
  EXPECT_NE(out.find("listen: \"127.0.0.1:9999\""), std::string::npos) << out;

  // Unset secrets print as empty, not as "***".
  auto d = Load({});
  ASSERT_TRUE(d.ok());
  std::string def = Render(*d);
  EXPECT_NE(def.find("jwt_secret: \"\""), std::string::npos) << def;
  EXPECT_EQ(def.find("***"), std::string::npos) << def;
}

TEST(ConfigTest, RenderedYamlLoadsBackToTheSameConfig) {
  Sources s;
  s.flags = {{"listen", "[::1]:9000"},
             {"data_dir", "/tmp/with space/and: colon"},
             {"log.access", "false"},
             {"http.max_body_bytes", "12345"},
             {"auth.jwt_issuer", "issuer \"quoted\""}};
  auto c = Load(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  TempYaml f(Render(*c));
  Sources back;
  back.file = f.path();
  auto r = Load(back);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << Render(*c);
  for (const auto& k : Keys()) {
    if (k.secret) continue;
    EXPECT_EQ(k.get(*r), k.get(*c)) << k.name;
  }
}

TEST(ConfigTest, EnvNameMapping) {
  EXPECT_EQ(EnvName("listen"), "AIMASS_LISTEN");
  EXPECT_EQ(EnvName("grpc_listen"), "AIMASS_GRPC_LISTEN");
  EXPECT_EQ(EnvName("http.max_body_bytes"), "AIMASS_HTTP_MAX_BODY_BYTES");
  EXPECT_EQ(EnvName("auth.jwt_secret"), "AIMASS_AUTH_JWT_SECRET");
  EXPECT_EQ(EnvName("storage.blob_gc_grace_s"), "AIMASS_STORAGE_BLOB_GC_GRACE_S");

  // Every key is reachable through its env name.
  for (const auto& k : Keys()) {
    Sources s;
    s.env = {{EnvName(k.name), k.get(Config{})}};
    auto r = Load(s);
    EXPECT_TRUE(r.ok()) << k.name << ": " << r.status().ToString();
  }
}

TEST(ConfigTest, KeysAreUniqueAndConsistent) {
  std::set<std::string> names, envs;
  Config defaults;
  for (const auto& k : Keys()) {
    EXPECT_TRUE(names.insert(k.name).second) << "duplicate key " << k.name;
    EXPECT_TRUE(envs.insert(EnvName(k.name)).second) << "env name clash for " << k.name;
    EXPECT_TRUE(k.type == "string" || k.type == "integer" || k.type == "bool") << k.name;
    EXPECT_FALSE(k.doc.empty()) << k.name;
    ASSERT_TRUE(k.get && k.set) << k.name;
    // Setting a key to its default value is accepted and changes nothing.
    Config c;
    Status st = k.set(c, k.get(defaults));
    EXPECT_TRUE(st.ok()) << k.name << ": " << st.ToString();
    EXPECT_EQ(k.get(c), k.get(defaults)) << k.name;
  }
  EXPECT_TRUE(names.count("listen"));
  EXPECT_TRUE(names.count("http.max_body_bytes"));
  EXPECT_TRUE(names.count("auth.admin_password"));
}

TEST(ConfigDocsTest, EveryKeyIsDocumented) {
  const std::string path = std::string(AIMASS_SOURCE_DIR) + "/docs/configuration.md";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();
  for (const auto& k : Keys()) {
    EXPECT_NE(doc.find("`" + k.name + "`"), std::string::npos)
        << "config key `" << k.name << "` is not documented in docs/configuration.md";
  }
}

}  // namespace
}  // namespace aimass::config

namespace aimass::config {
namespace {

// Values end up in narrower types; beyond the documented range is an error, not a wrap-around
// (4294967296 header bytes would have become a limit of 0).
TEST(ConfigTest, IntegersOutsideTheirRangeAreErrors) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"http.max_header_bytes", "4294967296"},
           {"http.read_timeout_s", "9223372036854775807"},
           {"http.io_threads", "100000"},
           {"storage.busy_timeout_ms", "3000000000"}}) {
    Sources s;
    s.flags.emplace_back(key, value);
    auto c = Load(s);
    ASSERT_FALSE(c.ok()) << key << "=" << value << " was accepted";
    EXPECT_NE(c.status().message().find("at most"), std::string::npos) << c.status().message();
  }
  Sources ok;
  ok.flags.emplace_back("http.max_header_bytes", "1048576");
  EXPECT_TRUE(Load(ok).ok());
}

}  // namespace
}  // namespace aimass::config
