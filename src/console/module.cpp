#include "console/module.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "common/text.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace aimass::console {

// Whether an Accept-Encoding value takes gzip: listed (or `*`) without `q=0`.
bool AcceptsGzip(std::optional<std::string_view> accept) {
  if (!accept) return false;
  for (const std::string& item : SplitCommaList(*accept)) {
    std::string_view v = item;
    std::string_view coding = TrimSpaces(v.substr(0, v.find(';')));
    if (coding != "gzip" && coding != "*") continue;
    size_t q = v.find("q=");
    if (q == std::string_view::npos) return true;
    double weight = std::strtod(std::string(v.substr(q + 2)).c_str(), nullptr);
    return weight > 0;
  }
  return false;
}

std::string DefaultConsoleDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "console";
  return (exe.parent_path() / "console").string();
}

Status ConsoleModule::Open(module::Context& ctx) {
  dir_ = ctx.config().console.dir.empty() ? DefaultConsoleDir() : ctx.config().console.dir;
  auto loaded = StaticAssets::Load(dir_);
  if (loaded.ok()) {
    assets_ = std::move(*loaded);
    spdlog::info("console: {} files from {}", assets_->size(), dir_);
  } else {
    // A build without the console (the fuzz and sanitizer builds) still serves the API.
    spdlog::warn("console: {}; / answers 404", loaded.status().message());
  }
  return Status::Ok();
}

Status ConsoleModule::RegisterRoutes(http::Router& router) {
  auto serve = [this](http::Request& req) -> http::Response {
    const Asset* a = assets_ ? assets_->Find(req.path) : nullptr;
    http::Response r;
    if (a == nullptr) {
      r.status = 404;
      r.headers.Set("Content-Type", "text/plain; charset=utf-8");
      r.body = assets_ ? "not found\n" : "The console is not built here (" + dir_ + "); the API is at /api and /docs.\n";
      return r;
    }
    // The gzip copy is another representation: its own ETag, and Vary on every answer.
    const bool gzip = !a->gzip.empty() && AcceptsGzip(req.headers.Get("Accept-Encoding"));
    const std::string etag = gzip ? a->etag.substr(0, a->etag.size() - 1) + "-gz\"" : a->etag;
    r.headers.Set("Content-Type", a->content_type);
    r.headers.Set("Cache-Control", a->cache_control);
    r.headers.Set("ETag", etag);
    if (!a->gzip.empty()) r.headers.Set("Vary", "Accept-Encoding");
    r.headers.Set("X-Content-Type-Options", "nosniff");
    if (a->content_type.starts_with("text/html")) {
      r.headers.Set("Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
      r.headers.Set("Referrer-Policy", "same-origin");
    }
    if (auto inm = req.headers.Get("If-None-Match"); inm && *inm == etag) {
      r.status = 304;
      return r;
    }
    r.status = 200;
    if (gzip) r.headers.Set("Content-Encoding", "gzip");
    r.body = gzip ? a->gzip : a->body;
    return r;
  };
  for (const char* pattern : {"/", "/index.html", "/favicon.svg", "/assets/{path...}"}) {
    http::Route r = http::MakeRoute(http::Method::kGet, pattern, "", "console", "The web console's files", serve);
    r.anonymous = true;
    r.run_inline = true;  // from memory: never blocks
    r.audited = false;
    AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  }
  return Status::Ok();
}

}  // namespace aimass::console
