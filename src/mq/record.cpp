#include "mq/record.hpp"

#include <zlib.h>

#include <cstring>

namespace aimass::mq {

namespace {

template <class T>
void Put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and aarch64: little-endian, the on-disk order
  out.append(b, sizeof(T));
}
void PutBytes(std::string& out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

struct Reader {
  std::string_view in;
  template <class T>
  bool Get(T& v) {
    if (in.size() < sizeof(T)) return false;
    std::memcpy(&v, in.data(), sizeof(T));
    in.remove_prefix(sizeof(T));
    return true;
  }
  bool GetBytes(std::string& s) {
    uint32_t n = 0;
    if (!Get(n) || in.size() < n) return false;
    s.assign(in.data(), n);
    in.remove_prefix(n);
    return true;
  }
};

uint32_t Crc(std::string_view s) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

}  // namespace

void EncodeRecord(const Message& m, std::string& out) {
  size_t start = out.size();
  out.append(kRecordHeaderBytes, '\0');
  Put<uint64_t>(out, m.offset);
  Put<int64_t>(out, m.timestamp_ms);
  Put<int64_t>(out, m.deliver_at_ms);
  Put<int64_t>(out, m.expire_at_ms);
  PutBytes(out, m.key);
  PutBytes(out, m.dedup_id);
  Put<uint32_t>(out, static_cast<uint32_t>(m.headers.size()));
  for (const auto& [n, v] : m.headers) {
    PutBytes(out, n);
    PutBytes(out, v);
  }
  PutBytes(out, m.body);
  std::string_view payload(out.data() + start + kRecordHeaderBytes, out.size() - start - kRecordHeaderBytes);
  uint32_t len = static_cast<uint32_t>(payload.size()), crc = Crc(payload);
  std::memcpy(out.data() + start, &len, 4);
  std::memcpy(out.data() + start + 4, &crc, 4);
}

std::optional<size_t> ValidFrame(std::string_view data) {
  if (data.size() < kRecordHeaderBytes) return std::nullopt;
  uint32_t len = 0, crc = 0;
  std::memcpy(&len, data.data(), 4);
  std::memcpy(&crc, data.data() + 4, 4);
  if (len > kMaxRecordBytes || data.size() - kRecordHeaderBytes < len) return std::nullopt;
  if (Crc(data.substr(kRecordHeaderBytes, len)) != crc) return std::nullopt;
  return kRecordHeaderBytes + len;
}

bool DecodeRecord(std::string_view payload, Message& m) {
  Reader r{payload};
  uint32_t headers = 0;
  if (!r.Get(m.offset) || !r.Get(m.timestamp_ms) || !r.Get(m.deliver_at_ms) || !r.Get(m.expire_at_ms) ||
      !r.GetBytes(m.key) || !r.GetBytes(m.dedup_id) || !r.Get(headers)) {
    return false;
  }
  m.headers.clear();
  for (uint32_t i = 0; i < headers; ++i) {
    std::string n, v;
    if (!r.GetBytes(n) || !r.GetBytes(v)) return false;
    m.headers.emplace_back(std::move(n), std::move(v));
  }
  return r.GetBytes(m.body) && r.in.empty();
}

}  // namespace aimass::mq
