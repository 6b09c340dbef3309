#include "console/static_assets.hpp"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/sha256.hpp"

namespace aimass::console {

namespace {

namespace fs = std::filesystem;

std::string ContentType(const fs::path& p) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".json", "application/json"},         {".png", "image/png"},
      {".ico", "image/x-icon"},              {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"},
  };
  auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

bool IsText(const std::string& type) {
  return type.starts_with("text/") || type == "image/svg+xml" || type == "application/json";
}

Result<std::string> Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return Status::Internal("deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Status::Internal("gzip of a console file failed");
  return out;
}

}  // namespace

Result<StaticAssets> StaticAssets::Load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(dir) / "index.html", ec)) {
    return Status::NotFound("no console build in " + dir + " (index.html missing)");
  }
  StaticAssets out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path rel = fs::relative(it->path(), dir, ec);
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    Asset a;
    a.body = buf.str();
    a.content_type = ContentType(it->path());
    const std::string url = "/" + rel.generic_string();
    // Vite names what it builds after its content (assets/index-<hash>.js): safe to keep.
    a.cache_control = url.starts_with("/assets/") ? "public, max-age=31536000, immutable" : "no-store";
    a.etag = "\"" + Sha256Hex(a.body).substr(0, 32) + "\"";
    if (IsText(a.content_type) && a.body.size() > 1024) {
      AIMASS_ASSIGN_OR_RETURN(a.gzip, Gzip(a.body));
    }
    out.files_.emplace(url, std::move(a));
  }
  if (ec) return Status::Internal("cannot read the console build in " + dir + ": " + ec.message());
  return out;
}

const Asset* StaticAssets::Find(std::string_view path) const {
  if (path == "/") path = "/index.html";
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace aimass::console
