#include "cli/client_config.hpp"

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
  std::string data = std::string(out.c_str()) + "\n";
  std::string tmp = path + ".tmp";
  // The token is a credential: owner-only from the first byte.
  int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot write " + tmp);
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

}  // namespace aimass::cli
