// Record: the on-disk frame of one message in a partition's log,
//   u32 payload length | u32 CRC-32 of the payload | payload,
// little-endian, the payload holding every field of the Message but its topic and partition
// (the log's directory says those). The CRC lets recovery tell a torn or corrupt tail from
// data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mq/message.hpp"

namespace aimass::mq {

inline constexpr size_t kRecordHeaderBytes = 8;
// A frame claiming more than this is corrupt (no message is this large: the HTTP body limit
// is far below).
inline constexpr uint32_t kMaxRecordBytes = 256u << 20;

// Appends m's frame to `out`.
void EncodeRecord(const Message& m, std::string& out);

// The frame at the start of `data`: its size, or nullopt when `data` does not start with a
// whole frame whose CRC matches (a torn or corrupt tail).
std::optional<size_t> ValidFrame(std::string_view data);

// Decodes the payload of a valid frame (the bytes after the header). False when its fields do
// not fit the payload.
bool DecodeRecord(std::string_view payload, Message& m);

}  // namespace aimass::mq
