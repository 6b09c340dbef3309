#include "cli/client_config.hpp"

#include "common/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

namespace aimass::cli {

std::string ClientConfigPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  std::string base = xdg && *xdg ? xdg : std::string(home ? home : ".") + "/.config";
  return base + "/aimass/config.yaml";
}

Result<ClientConfig> LoadClientConfig() {
  ClientConfig c;
  std::string path = ClientConfigPath();
  if (!std::filesystem::exists(path)) return c;
  try {
    YAML::Node n = YAML::LoadFile(path);
    if (n["server"]) c.server = n["server"].as<std::string>();
    if (n["token"]) c.token = n["token"].as<std::string>();
  } catch (const YAML::Exception& e) {
    return Status::BadRequest(path + ": " + e.what());
  }
  return c;
}

Status SaveClientConfig(const ClientConfig& c) {
  std::string path = ClientConfigPath();
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "server" << YAML::Value << c.server << YAML::Key << "token"
      << YAML::Value << c.token << YAML::EndMap;
  // The token is a credential: owner-only from the first byte.
  return WriteFileAtomically(path, std::string(out.c_str()) + "\n", 0600);
}

}  // namespace aimass::cli
