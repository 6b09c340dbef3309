// The live view of streams: the worker's newest annotated frame (JPEG) and what it counted, fanned
// out to every viewer, as server-sent events (the console: `event: frame`, JSON with the JPEG in
// base64) or as MJPEG (multipart/x-mixed-replace, for players and <img>). A viewer gets the newest
// frame only: one that reads slowly skips frames instead of queueing them. The worker is told
// whether anyone watched lately, and sends frames only then.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "http/message.hpp"

namespace aimass::crowd {

class LiveFeed {
 public:
  enum class Format { kSse, kMjpeg };
  // A frame from a stream's worker: the JPEG and a JSON object about it (frame, counts).
  void Publish(const std::string& stream, std::string jpeg, std::string info_json);
  // A viewer of the stream; it gets the newest frame at once when there is one.
  std::shared_ptr<http::ResponseStream> Open(const std::string& stream, Format format);
  // Whether anyone viewed the stream within `window_ms` (or views it now).
  bool Watched(const std::string& stream, int64_t now_ms, int64_t window_ms = 10000);
  void Forget(const std::string& stream);

  class Viewer;

 private:
  friend class Viewer;
  struct Latest {
    std::string jpeg, info;
    uint64_t seq = 0;
    int64_t viewed_ms = 0;
    std::set<Viewer*> viewers;
  };
  void Leave(const std::string& stream, Viewer* v);
  std::mutex mu_;
  std::map<std::string, Latest> streams_;
};

}  // namespace aimass::crowd
