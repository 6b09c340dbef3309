// DeferredResponse: a response its handler finishes later, from another thread (an inference
// job's completion), so that no thread sits waiting for it. The handler returns a Response
// whose `deferred` is set; middlewares that act on the final response register with
// http::Finally; the server waits for Complete without holding a thread, and gives up on the
// handler's behalf at its deadline.
#pragma once

#include <atomic>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <type_traits>

#include "http/message.hpp"

namespace aimass::http {

class DeferredResponse {
 public:
  using Clock = std::chrono::steady_clock;
  // The server's side of the wait. Wake runs once, on whichever thread completes the response,
  // under the response's lock (so that it never runs after Abandon has returned): it must only
  // hand the news to the waiting connection's own thread, never run request code.
  class Waiter {
   public:
    virtual void Wake() = 0;

   protected:
    ~Waiter() = default;
  };

  // The handler: the final response, once, from any thread. Runs the finishers, then wakes
  // the server. Later calls are ignored (an expiry and a late completion may race).
  void Complete(Response&& r);

  // The handler: when the answer is due. At `deadline` the server calls `expire`, which may
  // Complete the response itself (a request still queued gets its 504) or return and let the
  // work finish (a forward pass that has started cannot be interrupted).
  void SetDeadline(Clock::time_point deadline, std::function<void()> expire);
  Clock::time_point deadline() const;
  void Expire();

  // Middlewares: `f` runs on the final response, in registration order (inner middleware
  // first, as with a synchronous answer). At once if the response is already complete.
  void OnFinish(std::function<void(Response&)> f);

  // The handler: `gone` runs once, on the server's thread, when the client closes its
  // connection before the response is complete, so that work nobody will read stops (a
  // language model's generation); the server then sends nothing and closes. Only a response
  // with one is watched (nginx's check for a broken connection; a request pipelined behind
  // this one ends the watch); the gateway's many short answers pay nothing.
  void OnClientGone(std::function<void()> gone);
  // The server.
  bool watches_client() const;
  void ClientGone();

  // The server: `waiter` is woken once when the response is complete (at once if it already
  // is); it is held until then (a connection keeps one waiter for all its requests, so that
  // waiting allocates nothing). Then done() is true and Take gives the response: only after
  // done() was seen true, and once.
  void SetWaiter(std::shared_ptr<Waiter> waiter);
  bool done() const { return done_.load(std::memory_order_acquire); }
  Response Take();
  // The server: the connection is gone before the answer came (a forced shutdown). A later
  // Complete is ignored and runs no finisher: they refer to the request, which is gone too.
  void Abandon();

 private:
  mutable std::mutex mu_;
  // Written under mu_, read without it: the server polls done() and deadline() while it waits.
  std::atomic<bool> done_{false};
  std::atomic<Clock::rep> deadline_{Clock::time_point::max().time_since_epoch().count()};
  Response response_;
  // Inline room for the usual finishers (request id, metrics, the audit log, a rate limit's
  // fields): a vector's allocation per response showed in the gateway's profile. Each slot
  // is a std::function (32 bytes) in every deferred answer, which the gateway's exchange holds.
  boost::container::small_vector<std::function<void(Response&)>, 3> finishers_;
  std::shared_ptr<Waiter> waiter_;
  std::function<void()> expire_;
  std::function<void()> client_gone_;
};

// Whether std::function keeps a finisher in its own storage, without an allocation: libstdc++
// does so for a trivially copyable callable of at most two pointers (capture pointers, not
// values). Every request runs a few finishers; an allocation each showed in the gateway's
// profile.
template <class F>
inline constexpr bool kInlineFinisher = std::is_trivially_copyable_v<F> && sizeof(F) <= 2 * sizeof(void*);

void FinallyAny(Response& r, std::function<void(Response&)> f);

// Runs `f` on `r` now, or when its deferred answer completes. `f` must capture little enough
// to be held without an allocation (checked when it is compiled).
template <class F>
void Finally(Response& r, F&& f) {
  static_assert(kInlineFinisher<std::decay_t<F>>,
                "a finisher must be trivially copyable and at most two pointers big: capture a pointer to what it needs");
  FinallyAny(r, std::function<void(Response&)>(std::forward<F>(f)));
}

}  // namespace aimass::http
