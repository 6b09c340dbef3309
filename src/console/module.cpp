#include "console/module.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>

#include "http/message.hpp"
#include "http/router.hpp"

namespace aimass::console {

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
    r.headers.Set("Content-Type", a->content_type);
    r.headers.Set("Cache-Control", a->cache_control);
    r.headers.Set("ETag", a->etag);
    r.headers.Set("X-Content-Type-Options", "nosniff");
    if (a->content_type.starts_with("text/html")) {
      r.headers.Set("Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
      r.headers.Set("Referrer-Policy", "same-origin");
    }
    if (auto inm = req.headers.Get("If-None-Match"); inm && *inm == a->etag) {
      r.status = 304;
      return r;
    }
    r.status = 200;
    auto accept = req.headers.Get("Accept-Encoding");
    if (!a->gzip.empty()) r.headers.Set("Vary", "Accept-Encoding");
    if (!a->gzip.empty() && accept && accept->find("gzip") != std::string_view::npos) {
      r.headers.Set("Content-Encoding", "gzip");
      r.body = a->gzip;
    } else {
      r.body = a->body;
    }
    return r;
  };
  for (const char* pattern : {"/", "/index.html", "/favicon.svg", "/assets/{path...}"}) {
    http::Route r;
    r.method = http::Method::kGet;
    r.pattern = pattern;
    r.anonymous = true;
    r.run_inline = true;  // from memory: never blocks
    r.audited = false;
    r.tag = "console";
    r.summary = "The web console's files";
    r.handler = serve;
    AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  }
  return Status::Ok();
}

}  // namespace aimass::console
