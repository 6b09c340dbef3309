// directory: every file matching a glob in a directory, read once, in order of the time it
// arrived (its inode's change time, which a move sets) then name; a file is taken once it has
// not changed for a second (move finished files into the directory; a file changed after it
// was read, even chmod, is read again). CSV files each start with their header. Offset:
// {"mtime_ns" (the change time), "file", "position"} of the file being read.
#pragma once

#include <cstdint>
#include <string>

#include "collector/line_parser.hpp"
#include "collector/source.hpp"

namespace aimass::collector {

class DirectorySource final : public Source {
 public:
  explicit DirectorySource(const nlohmann::json& source);
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  nlohmann::json Lag() override;

 private:
  struct Entry {
    int64_t mtime_ns = 0;
    std::string name;
    uint64_t size = 0;
  };
  // Settled files after the current one, in order.
  std::vector<Entry> Pending() const;

  std::string dir_, glob_;
  nlohmann::json source_;
  int64_t mtime_ns_ = -1;  // the current (or last) file
  std::string file_;
  uint64_t position_ = 0;
};

}  // namespace aimass::collector
