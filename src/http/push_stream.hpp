// PushStream: a response body that another thread produces in pieces (a language model's
// tokens, an upstream's server-sent events forwarded by the gateway). The producer pushes and
// ends it; the server sends what is pending whenever it is woken. A client that goes away
// before the end runs the OnClose callback, so that the producer can stop its work.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace aimass::http {

class PushStream final : public ResponseStream {
 public:
  // The producer, from any thread. Pieces after the end, or once the client is gone, are
  // dropped. Push never blocks: what the client has not taken yet waits in memory.
  void Push(std::string_view data, bool last = false);
  // The body is complete (the chunked answer's final chunk follows).
  void End() { Push({}, true); }
  // The body broke off: the connection is cut without the final chunk, so the client sees a
  // truncated answer rather than a short, complete-looking one.
  void Fail();
  // Runs once, on the thread that closes the stream, when the client goes away (or the server
  // shuts down) before the end. Set before handing the stream to the server.
  void OnClose(std::function<void()> f);
  // Whether the client is gone.
  bool closed() const;

  bool Poll(std::string& out) override;
  void SetWake(std::function<void()> wake) override;
  void Close() override;
  bool Failed() const override;

 private:
  mutable std::mutex mu_;
  std::string pending_;
  bool ended_ = false;
  bool failed_ = false;
  bool closed_ = false;
  std::function<void()> wake_;
  std::function<void()> on_close_;
};

}  // namespace aimass::http
