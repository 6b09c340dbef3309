// The CLI's saved login: server URL and token in ~/.config/aimass/config.yaml (mode 0600).
#pragma once

#include <string>

#include "common/status.hpp"

namespace aimass::cli {

struct ClientConfig {
  std::string server;
  std::string token;
};

std::string ClientConfigPath();  // $XDG_CONFIG_HOME or $HOME/.config, + /aimass/config.yaml
Result<ClientConfig> LoadClientConfig();  // empty fields when the file does not exist
Status SaveClientConfig(const ClientConfig& config);

}  // namespace aimass::cli
