// The console module: the web console's built files (console/, a React app built by Vite) at
// `/`, `/index.html`, `/favicon.svg` and `/assets/…`, from `console.dir` (default: `console`
// beside the aimass binary). The console's pages live in the URL's fragment (/#/models), so it
// takes no other paths from the gateway's. Runs in every process, like the core modules: it
// holds no state, and any process a browser reaches can hand out the page.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "console/static_assets.hpp"
#include "module/module.hpp"

namespace aimass::console {

class ConsoleModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "console";
  std::string_view name() const override { return kName; }
  bool core() const override { return true; }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;

 private:
  std::optional<StaticAssets> assets_;  // none: not built; `/` says so
  std::string dir_;
};

// Where the console's files are by default: `console` in the directory of the running binary.
std::string DefaultConsoleDir();

// Whether an Accept-Encoding header takes gzip (listed, or `*`, without `q=0`).
bool AcceptsGzip(std::optional<std::string_view> accept);

}  // namespace aimass::console
