// StaticAssets: the console's built files (index.html, favicon, assets/*), read into memory
// once with a gzip copy of each text file, so that a page load never touches the disk and a
// browser that accepts gzip gets a third of the bytes. Hashed assets are cached by browsers for
// a year; index.html never is, so that a new build shows at the next load. Immutable after Load.
#pragma once

#include <map>
#include <string>

#include "common/status.hpp"

namespace aimass::console {

struct Asset {
  std::string body;
  std::string gzip;  // empty: not worth compressing (or not text)
  std::string content_type;
  std::string cache_control;
  std::string etag;  // "<sha256 prefix>"
};

class StaticAssets {
 public:
  // Reads `dir` (Vite's output). not_found when it has no index.html.
  static Result<StaticAssets> Load(const std::string& dir);

  // The file a URL path names ("/" is index.html), or null.
  const Asset* Find(std::string_view path) const;
  size_t size() const { return files_.size(); }

 private:
  std::map<std::string, Asset, std::less<>> files_;  // by URL path
};

}  // namespace aimass::console
