#include "storage/tree.hpp"

#include "common/sha256.hpp"

namespace aimass::storage {

Result<std::string> NormalizeTreePath(std::string_view path) {
  if (path.size() > 1024) return Status::BadRequest("a path in the archive is longer than 1024 bytes");
  if (path.starts_with("/")) return Status::BadRequest("absolute path in the archive");
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") return Status::BadRequest("'..' in a path in the archive");
    for (unsigned char c : seg) {
      if (c < 0x20 || c == 0x7f || c == '\\') {
        return Status::BadRequest("control character or backslash in a path in the archive");
      }
    }
    if (!seg.empty() && seg != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(seg);
    } else if (end == path.size() && !out.empty()) {
      return Status::BadRequest("'" + std::string(path.substr(0, 200)) + "' names a directory");
    }
    start = end + 1;
  }
  if (out.empty()) return Status::BadRequest("empty path in the archive");
  return out;
}

std::string TreeDigest(const std::vector<TreeFile>& files) {
  Sha256 h;
  for (const auto& f : files) {
    h.Update(f.sha256_hex);
    h.Update("  ");
    h.Update(f.path);
    h.Update("\n");
  }
  return "sha256:" + h.FinishHex();
}

}  // namespace aimass::storage
