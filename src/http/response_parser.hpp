// ResponseParser: an HTTP/1.1 answer read from bytes as they arrive, split anywhere, into a
// ClientResponse. The HTTP client's reading half, apart from its socket (so that it can be
// fuzzed). One per connection; Start begins each answer without allocating.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.hpp"
#include "http/client.hpp"

namespace aimass::http {

class ResponseParser {
 public:
  ResponseParser();
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Begins an answer, read into `out` (which must outlive it); a body over `body_limit` bytes
  // is an error, and the answer to a HEAD request has none whatever it says. With
  // `offer_head`, Put stops once the final answer's head is read (head_ready()), before any
  // of its body, so that the caller can decide how to take the body.
  void Start(ClientResponse& out, uint64_t body_limit, bool head_request, bool offer_head = false);
  // Parses what it can of `data` and says how much it used: the rest is offered again, with
  // more bytes after it. An error (kUnavailable) means the answer is malformed (a status
  // under 100 included). Interim 1xx answers are skipped: `out` holds the final one.
  Status Put(std::string_view data, size_t& used);
  // The peer closed the connection: ends an answer delimited by it, and is an error for an
  // answer cut short or not begun.
  Status PutEof();

  // The final answer's head is read and Put stopped there (Start's `offer_head`); the body is
  // parsed once ContinueBody is called. `unlimited` lifts the body limit (a stream, whose
  // pieces the caller takes out of the answer's body as they come).
  bool head_ready() const;
  void ContinueBody(bool unlimited);

  bool done() const;
  bool got_some() const;    // any byte of the answer
  bool keep_alive() const;  // once done: whether the connection may carry another exchange

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::http
