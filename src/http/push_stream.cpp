#include "http/push_stream.hpp"

namespace aimass::http {

void PushStream::Push(std::string_view data, bool last) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (closed_ || ended_) return;
    pending_.append(data);
    ended_ = last;
    wake = wake_;  // called outside the lock: it may run the server's code
  }
  if (wake) wake();
}

void PushStream::Fail() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (closed_ || ended_) return;
    ended_ = failed_ = true;
    wake = wake_;
  }
  if (wake) wake();
}

void PushStream::OnClose(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_close_ = std::move(f);
}

bool PushStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool PushStream::Poll(std::string& out) {
  std::lock_guard lock(mu_);
  out.append(pending_);
  pending_.clear();
  return !ended_;
}

void PushStream::SetWake(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
}

void PushStream::Close() {
  std::function<void()> on_close;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    wake_ = nullptr;
    pending_.clear();
    if (!ended_) on_close = std::move(on_close_);
    on_close_ = nullptr;
  }
  if (on_close) on_close();
}

bool PushStream::Failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace aimass::http
