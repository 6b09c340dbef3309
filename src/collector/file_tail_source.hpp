// file_tail: follows a log file as it grows, across rotation (the file renamed and a new one
// created at the path: the old one is read to its end first, found again by its inode after a
// restart) and truncation (copytruncate: read again from the start). Only complete lines are
// taken. Offset: {"inode", "position"}.
#pragma once

#include <sys/types.h>

#include <string>

#include "collector/line_parser.hpp"
#include "collector/source.hpp"

namespace aimass::collector {

class FileTailSource final : public Source {
 public:
  explicit FileTailSource(const nlohmann::json& source);
  ~FileTailSource() override;
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  nlohmann::json Lag() override;

 private:
  // Opens the file at path_ (or nothing yet); false when it does not exist.
  bool OpenPath();
  void CloseFile();
  Status ReadHeader();
  // Takes complete lines from the current file; how many rows and rejections it added.
  Status ReadLines(size_t max_rows, Pulled& out, size_t* taken);
  nlohmann::json OffsetJson() const;

  std::string path_;
  std::string from_;
  LineParser parser_;
  bool header_from_file_ = false;
  int fd_ = -1;
  ino_t inode_ = 0;
  uint64_t position_ = 0;
  bool skipping_ = false;  // inside a line longer than a chunk, already rejected
};

}  // namespace aimass::collector
