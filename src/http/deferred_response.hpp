// DeferredResponse: a response its handler finishes later, from another thread (an inference
// job's completion), so that no thread sits waiting for it. The handler returns a Response
// whose `deferred` is set; middlewares that act on the final response register with
// http::Finally; the server waits for Complete without holding a thread, and gives up on the
// handler's behalf at its deadline.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "http/message.hpp"

namespace aimass::http {

class DeferredResponse {
 public:
  using Clock = std::chrono::steady_clock;
  // Room for the usual middlewares' finishers at once (growing one by one showed in the
  // gateway's profile).
  DeferredResponse() { finishers_.reserve(4); }

  // The handler: the final response, once, from any thread. Runs the finishers, then wakes
  // the server. Later calls are ignored (an expiry and a late completion may race).
  void Complete(Response r);

  // The handler: when the answer is due. At `deadline` the server calls `expire`, which may
  // Complete the response itself (a request still queued gets its 504) or return and let the
  // work finish (a forward pass that has started cannot be interrupted).
  void SetDeadline(Clock::time_point deadline, std::function<void()> expire);
  Clock::time_point deadline() const;
  void Expire();

  // Middlewares: `f` runs on the final response, in registration order (inner middleware
  // first, as with a synchronous answer). At once if the response is already complete.
  void OnFinish(std::function<void(Response&)> f);

  // The server: `wake` is called once, from any thread, when the response is complete (at
  // once if it already is). Then Take gives the response.
  void SetWake(std::function<void()> wake);
  bool done() const;
  Response Take();
  // The server: the connection is gone before the answer came (a forced shutdown). A later
  // Complete is ignored and runs no finisher: they refer to the request, which is gone too.
  void Abandon();

 private:
  mutable std::mutex mu_;
  bool done_ = false;
  Response response_;
  std::vector<std::function<void(Response&)>> finishers_;
  std::function<void()> wake_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::function<void()> expire_;
};

// Runs `f` on `r` now, or when its deferred answer completes.
void Finally(Response& r, std::function<void(Response&)> f);

}  // namespace aimass::http
