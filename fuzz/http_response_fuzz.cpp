// libFuzzer target for what the HTTP client reads from an upstream: an answer fed to
// ResponseParser in pieces whose sizes the input chooses, then the end of the connection.
// Nothing may crash; a finished answer has a three-digit final status (interim 1xx answers
// skipped), a body within the limit (none for a HEAD request) and no field with an empty name or
// a line break (the parser stores them unchecked, and the gateway writes them out again as
// they are), and used bytes never exceed those offered. With the head offered (as the gateway
// asks, to stream event bodies), the parser stops at the final head once, before any body byte,
// and a streamed body (taken out piece by piece) may pass the limit.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/response_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool head = data[0] & 1;
  const uint64_t limit = (data[0] & 2) ? 64 : 1 << 20;
  const bool offer = data[0] & 4;
  const bool stream = data[0] & 8;  // when offered: take the body in pieces
  const size_t piece = 1 + data[1] % 64;  // bytes arriving per read
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  aimass::http::ClientResponse out;
  aimass::http::ResponseParser parser;
  parser.Start(out, limit, head, offer);
  std::string buffered;  // what a read left unparsed, as the client's buffer keeps it
  size_t at = 0, offered = 0, streamed = 0;
  bool failed = false, streaming = false;
  auto put = [&] {
    size_t used = 0;
    failed = !parser.Put(buffered, used).ok();
    if (used > buffered.size()) std::abort();
    buffered.erase(0, used);
  };
  while (at < input.size() && !parser.done() && !failed) {
    size_t n = std::min(piece, input.size() - at);
    buffered.append(input.substr(at, n));
    at += n;
    put();
    if (!failed && parser.head_ready()) {
      if (!offer || ++offered > 1 || !out.body.empty() || out.status < 200) std::abort();
      streaming = stream;
      parser.ContinueBody(streaming);
      put();
    }
    if (streaming) {
      streamed += out.body.size();
      out.body.clear();
    }
  }
  if (!failed && !parser.done()) failed = !parser.PutEof().ok();
  if (!failed && parser.done()) {
    if (out.status < 100 || out.status > 999) std::abort();
    if (out.status < 200 && out.status != 101) std::abort();  // interim answers are skipped
    if (!streaming && out.body.size() > limit) std::abort();
    if (head && !out.body.empty()) std::abort();
  }
  // Checked for a failed answer too: the fields read before the error were stored.
  for (auto [name, value] : out.headers.all()) {
    if (!aimass::http::IsWritableField(name, value)) std::abort();
  }
  return 0;
}
