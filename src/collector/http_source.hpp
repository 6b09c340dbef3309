// http: applications push JSON lines to POST /api/v1/collect/{collector}. A push is appended
// to the collector's spool (files under its directory, fdatasynced before the push is
// answered), so an acknowledged row survives a crash before it reaches a version; the
// collector reads the spool like a file and deletes the spool files it has stored.
// Offset: {"position"} in the spool's byte stream.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "collector/source.hpp"

namespace aimass::collector {

class HttpSource final : public Source {
 public:
  explicit HttpSource(std::string spool_dir);
  ~HttpSource() override;
  // Scans the spool (a torn line a crash left at its end is cut: it was never acknowledged).
  Status Init();
  // Appends rows (each a JSON object on one line, no newline) durably; returns where they
  // start in the spool.
  Result<uint64_t> Append(const std::vector<std::string>& lines);

  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  void Committed(const nlohmann::json& offset) override;
  nlohmann::json Lag() override;

 private:
  std::string FileFor(uint64_t start) const;

  std::string dir_;
  std::mutex mu_;
  std::condition_variable grew_;
  std::map<uint64_t, uint64_t> files_;  // start -> size
  uint64_t end_ = 0;
  int fd_ = -1;  // the last file, for appends
  uint64_t position_ = 0;  // read position (the collector's thread only)
};

}  // namespace aimass::collector
