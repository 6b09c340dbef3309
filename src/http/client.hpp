// Client: an HTTP/1.1 client on the same Asio loops as the server (Beast parses the answers),
// with a pool of keep-alive connections per event loop and host:port. The CLI, the scheduler's
// HTTP targets and the gateway's proxying use it.
// Thread-safety: Send may be called from many threads at once; each call blocks its caller
// (the I/O runs on the client's own thread, so callers may be on any executor or none);
// SendAsync does not block.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "http/message.hpp"

namespace aimass::http {

struct ClientResponse;

// Takes an answer's body in pieces as they arrive instead of whole (the gateway forwards
// server-sent events so). Its calls run on the client's I/O thread and must not block.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // The final answer's head (status and fields, no body yet): true takes its body in pieces
  // (OnData for each, then the exchange's `done` with an empty body, or a failure if the body
  // broke off); false reads it whole as usual. `cancel`, callable from any thread at any time,
  // ends the exchange early (its `done` then fails).
  virtual bool OnHead(const ClientResponse& head, std::function<void()> cancel) = 0;
  virtual void OnData(std::string_view piece) = 0;
};

struct ClientRequest {
  Method method = Method::kGet;
  std::string url;  // http://host:port/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  // Fields already written out, "Name: value\r\n" each, sent after `headers` as they are: a
  // proxy forwarding a caller's fields writes them once instead of filling `headers` to be
  // copied again. The caller guarantees no CR or LF inside a line and no framing fields
  // (Content-Length, Transfer-Encoding, Connection). The flags say that they carry Host or
  // User-Agent, so that the client adds neither default.
  std::string fields;
  bool fields_have_host = false;
  bool fields_have_agent = false;
  std::string body;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds start_after{0};  // SendAsync: wait this long first (retry backoff)
  // When set, offered each answer's head. While a body streams, `timeout` is
  // the longest silence allowed between pieces, and the body has no size limit.
  BodyStream* body_stream = nullptr;
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// Splits http://host:port/path into its parts; only the http scheme is supported.
struct Url {
  std::string host;
  std::string port;
  std::string target;
};
Result<Url> ParseUrl(std::string_view url);

// Whether a failed exchange failed before any of the request was sent (no connection could
// be made): then even a non-idempotent request may be tried elsewhere.
bool NeverSent(const Status& failure);

struct ClientOptions {
  size_t max_idle_per_host = 16;
  uint64_t max_response_bytes = 256ull << 20;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Transport failures are kUnavailable (refused, reset, malformed answer) or
  // kDeadlineExceeded (request.timeout passed while connecting, sending or waiting); any HTTP
  // status is a successful exchange and is returned as is.
  Result<ClientResponse> Send(const ClientRequest& request);
  // The same exchange without blocking the caller: `done` runs once, on the client's I/O
  // thread, when it ends (so it must not block either). The gateway proxies with it.
  void SendAsync(ClientRequest request, std::function<void(Result<ClientResponse>)> done);
  // The same, for a request the caller keeps (the gateway retries one without copying it);
  // it must not change until `done` has run. The client holds `request` until `done` has
  // returned (the gateway's callback relies on that to keep its exchange alive).
  void SendAsync(std::shared_ptr<const ClientRequest> request, std::function<void(Result<ClientResponse>)> done);
  // The same with the URL split already: `url` stands for request->url, which is not read (the
  // gateway splits each target's URL once instead of building and parsing one per request).
  void SendAsync(Url url, std::shared_ptr<const ClientRequest> request, std::function<void(Result<ClientResponse>)> done);

  // Connections currently parked in the pool (for tests of reuse).
  size_t idle_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The event loop (an asio::io_context, opaque here) of the server I/O thread the caller runs on,
// or null. The server sets it for its I/O threads; SendAsync called from one runs the exchange
// on that thread's loop, with connections pooled per loop, so a proxied request never changes
// thread.
void* CurrentEventLoop();
void SetCurrentEventLoop(void* loop);
}  // namespace aimass::http

namespace boost::asio {
class io_context;
}

namespace aimass::http {
// Runs `loop` until it stops, going on after a handler that throws (logged): Asio lets an
// exception leave run(), which would end the thread, and with it the process.
void RunLoop(boost::asio::io_context& loop);

}  // namespace aimass::http
