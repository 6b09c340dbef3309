// Writes a stored directory version back out as a tar, a piece at a time, so a download of any
// size streams in bounded memory. The bytes are the same for every download of a version
// (paths in order, owner root, mode 0644/0755, the version's creation time), so a client can
// resume or compare them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::storage {

struct TarMember {
  std::string path;    // inside the archive
  uint64_t size = 0;
  bool executable = false;
  std::string source;  // the file holding the bytes
};

class TarWriter {
 public:
  TarWriter(std::vector<TarMember> members, int64_t mtime);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Appends about `want` more bytes of the archive to `out`. Returns false once the archive is
  // complete; an error (a source file gone or shorter than recorded) ends it unfinished.
  Result<bool> Next(std::string& out, size_t want);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace aimass::storage
