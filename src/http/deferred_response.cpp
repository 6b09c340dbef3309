#include "http/deferred_response.hpp"

namespace aimass::http {

void DeferredResponse::Complete(Response r) {
  std::function<void()> wake;
  {
    // Finishers run under the lock: one registering late (the chain still unwinding on the
    // handler's thread) then runs after these, never beside them on the same response.
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = true;
    response_ = std::move(r);
    for (auto& f : finishers_) f(response_);
    finishers_.clear();
    wake = std::move(wake_);
    expire_ = nullptr;  // it may hold the job; drop it now
  }
  if (wake) wake();
}

void DeferredResponse::SetDeadline(Clock::time_point deadline, std::function<void()> expire) {
  std::lock_guard lock(mu_);
  deadline_ = deadline;
  if (!done_) expire_ = std::move(expire);
}

DeferredResponse::Clock::time_point DeferredResponse::deadline() const {
  std::lock_guard lock(mu_);
  return deadline_;
}

void DeferredResponse::Expire() {
  std::function<void()> expire;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    expire = std::move(expire_);
  }
  if (expire) expire();  // may call Complete
}

void DeferredResponse::OnFinish(std::function<void(Response&)> f) {
  std::lock_guard lock(mu_);
  if (done_) {
    f(response_);
  } else {
    finishers_.push_back(std::move(f));
  }
}

void DeferredResponse::SetWake(std::function<void()> wake) {
  {
    std::lock_guard lock(mu_);
    if (!done_) {
      wake_ = std::move(wake);
      return;
    }
  }
  wake();
}

bool DeferredResponse::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

void DeferredResponse::Abandon() {
  std::lock_guard lock(mu_);
  done_ = true;
  finishers_.clear();
  wake_ = nullptr;
  expire_ = nullptr;
}

Response DeferredResponse::Take() {
  std::lock_guard lock(mu_);
  return std::move(response_);
}

void Finally(Response& r, std::function<void(Response&)> f) {
  if (r.deferred) {
    r.deferred->OnFinish(std::move(f));
  } else {
    f(r);
  }
}

}  // namespace aimass::http
