#include "http/deferred_response.hpp"

namespace aimass::http {

void DeferredResponse::Complete(Response&& r) {
  // Finishers run under the lock: one registering late (the chain still unwinding on the
  // handler's thread) then runs after these, never beside them on the same response. The
  // waiter is woken under it too, so that an Abandon (the connection going) waits for it.
  std::lock_guard lock(mu_);
  if (done_.load(std::memory_order_relaxed)) return;
  response_ = std::move(r);
  for (auto& f : finishers_) f(response_);
  finishers_.clear();
  expire_ = nullptr;  // it may hold the job; drop it now
  client_gone_ = nullptr;
  done_.store(true, std::memory_order_release);
  if (auto waiter = std::move(waiter_)) waiter->Wake();
}

void DeferredResponse::SetDeadline(Clock::time_point deadline, std::function<void()> expire) {
  std::lock_guard lock(mu_);
  deadline_.store(deadline.time_since_epoch().count(), std::memory_order_relaxed);
  if (!done_.load(std::memory_order_relaxed)) expire_ = std::move(expire);
}

DeferredResponse::Clock::time_point DeferredResponse::deadline() const {
  return Clock::time_point(Clock::duration(deadline_.load(std::memory_order_relaxed)));
}

void DeferredResponse::Expire() {
  std::function<void()> expire;
  {
    std::lock_guard lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    expire = std::move(expire_);
  }
  if (expire) expire();  // may call Complete
}

void DeferredResponse::OnClientGone(std::function<void()> gone) {
  std::lock_guard lock(mu_);
  if (!done_.load(std::memory_order_relaxed)) client_gone_ = std::move(gone);
}

bool DeferredResponse::watches_client() const {
  std::lock_guard lock(mu_);
  return client_gone_ != nullptr;
}

void DeferredResponse::ClientGone() {
  std::function<void()> gone;
  {
    std::lock_guard lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    gone = std::move(client_gone_);
    client_gone_ = nullptr;
  }
  if (gone) gone();  // outside the lock: it may Complete the response
}

void DeferredResponse::OnFinish(std::function<void(Response&)> f) {
  std::lock_guard lock(mu_);
  if (done_.load(std::memory_order_relaxed)) {
    f(response_);
  } else {
    finishers_.push_back(std::move(f));
  }
}

void DeferredResponse::SetWaiter(std::shared_ptr<Waiter> waiter) {
  std::lock_guard lock(mu_);
  if (done_.load(std::memory_order_relaxed)) {
    waiter->Wake();
  } else {
    waiter_ = std::move(waiter);
  }
}

void DeferredResponse::Abandon() {
  std::lock_guard lock(mu_);
  done_.store(true, std::memory_order_release);
  finishers_.clear();
  waiter_ = nullptr;
  expire_ = nullptr;
  client_gone_ = nullptr;
}

Response DeferredResponse::Take() {
  // No lock: the response is written before done_ is released and never after (a finisher
  // registering late runs on the handler's thread, before the server waits), so a caller that
  // saw done() owns it. Locking here made the connection's thread wait for the completing
  // thread to finish waking it: a futex sleep and two context switches per answer.
  return std::move(response_);
}

void FinallyAny(Response& r, std::function<void(Response&)> f) {
  if (r.deferred) {
    r.deferred->OnFinish(std::move(f));
  } else {
    f(r);
  }
}

}  // namespace aimass::http
