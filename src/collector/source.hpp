// Source: where a collector's rows come from. A source reads from an offset (its own JSON:
// a file's inode and position, a spool position, a topic's partition offsets, a SQL cursor)
// and says where the rows it returned end; the collector stores that offset with the rows,
// in the dataset version that holds them, so a restart resumes exactly after them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::collector {

// A row that did not parse: where it was, its text, and why.
struct Rejected {
  std::string position;  // unique per row within the collector ("file:<inode>:<byte>", …)
  std::string row;
  std::string reason;
};

struct Pulled {
  std::vector<nlohmann::json> rows;
  std::vector<std::string> positions;  // of each row, for rejections found later
  std::vector<Rejected> rejected;
  nlohmann::json offset;  // after every row and rejection above
};

class Source {
 public:
  virtual ~Source() = default;
  // Positions the source at `offset` (null: where a new collector starts).
  virtual Status Open(const nlohmann::json& offset) = 0;
  // Adds at most `max_rows` rows read since the last pull to `out` and sets out.offset; waits
  // up to `wait` while there is nothing.
  virtual Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) = 0;
  // Everything up to `offset` is stored: the source may forget it (acks, spool files).
  virtual void Committed(const nlohmann::json& offset) {}
  // How far behind the source the collector is: {"bytes": n}, {"messages": n}, …
  virtual nlohmann::json Lag() = 0;
};

}  // namespace aimass::collector
