#include "tracking/metric_chunk.hpp"

#include <charconv>

namespace aimass::tracking {

void AppendChunkPoint(std::string& chunk, const ChunkPoint& p) {
  // Each field gets room of its own (an int64 is at most 20 characters, a double's shortest
  // form at most 24), so no write can run past the buffer.
  char buf[3][32];
  size_t n0 = static_cast<size_t>(std::to_chars(buf[0], buf[0] + 32, p.step).ptr - buf[0]);
  size_t n1 = static_cast<size_t>(std::to_chars(buf[1], buf[1] + 32, p.timestamp_ms).ptr - buf[1]);
  size_t n2 = static_cast<size_t>(std::to_chars(buf[2], buf[2] + 32, p.value).ptr - buf[2]);
  chunk.append(buf[0], n0).push_back(' ');
  chunk.append(buf[1], n1).push_back(' ');
  chunk.append(buf[2], n2).push_back('\n');
}

Result<std::vector<ChunkPoint>> DecodeChunk(std::string_view chunk) {
  std::vector<ChunkPoint> out;
  const char* p = chunk.data();
  const char* end = p + chunk.size();
  while (p < end) {
    ChunkPoint point;
    auto r1 = std::from_chars(p, end, point.step);
    if (r1.ec != std::errc() || r1.ptr >= end || *r1.ptr != ' ') return Status::Internal("corrupt metric chunk");
    auto r2 = std::from_chars(r1.ptr + 1, end, point.timestamp_ms);
    if (r2.ec != std::errc() || r2.ptr >= end || *r2.ptr != ' ') return Status::Internal("corrupt metric chunk");
    auto r3 = std::from_chars(r2.ptr + 1, end, point.value);
    // from_chars reads "nan" and "inf" too, which is how to_chars wrote them.
    if (r3.ec != std::errc() || r3.ptr >= end || *r3.ptr != '\n') return Status::Internal("corrupt metric chunk");
    out.push_back(point);
    p = r3.ptr + 1;
  }
  return out;
}

void Accumulate(LatestMetric& m, const ChunkPoint& p) {
  if (m.count == 0) {
    m = {p.value, p.step, p.timestamp_ms, p.value, p.value, 1};
    return;
  }
  ++m.count;
  if (p.value < m.min) m.min = p.value;
  if (p.value > m.max) m.max = p.value;
  bool later = p.step > m.step || (p.step == m.step && (p.timestamp_ms > m.timestamp_ms ||
                                                        (p.timestamp_ms == m.timestamp_ms && p.value > m.value)));
  if (later) {
    m.value = p.value;
    m.step = p.step;
    m.timestamp_ms = p.timestamp_ms;
  }
}

}  // namespace aimass::tracking
