// libFuzzer target for directory-artifact uploads: the input is the uploaded tar (or gzip tar).
// Whatever is accepted must be a sorted, duplicate-free list of safe relative paths whose
// unpacked bytes match their recorded size and sha256.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/file.hpp"
#include "common/sha256.hpp"
#include "storage/tar_unpack.hpp"

static std::string TempDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/fuzz-tar-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    return std::string(tmpl);
  }();
  return dir;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimass::storage;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  TarLimits limits{64, 1 << 20};
  auto tree = UnpackTarMemory(input, TempDir(), limits);
  if (!tree.ok()) return 0;
  const auto& files = tree->files;
  if (files.empty() || files.size() > limits.max_files) std::abort();
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    auto normal = NormalizeTreePath(f.path);
    if (!normal.ok() || *normal != f.path) std::abort();
    if (i > 0 && !(files[i - 1].path < f.path)) std::abort();
    auto bytes = aimass::ReadFile(f.temp_path);
    if (!bytes.ok() || bytes->size() != f.size) std::abort();
    aimass::Sha256 h;
    h.Update(*bytes);
    if (h.FinishHex() != f.sha256_hex) std::abort();
  }
  return 0;
}
