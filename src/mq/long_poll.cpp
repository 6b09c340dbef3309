#include "mq/long_poll.hpp"

#include "common/thread_name.hpp"

namespace aimass::mq {

using Clock = std::chrono::steady_clock;

LongPoller::LongPoller(Broker& broker, size_t max_waiting) : broker_(broker), max_waiting_(max_waiting) {
  thread_ = NamedThread("mq-long-poll", [this] { Run(); });
}

LongPoller::~LongPoller() { Stop(); }

void LongPoller::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  thread_.join();
  std::list<Waiting> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
  }
  for (auto& w : left) w.done(std::vector<Delivery>{});
}

void LongPoller::Add(std::string subscription, size_t max, Clock::time_point deadline, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && waiting_.size() < max_waiting_) {
      waiting_.push_back({std::move(subscription), max, deadline, std::move(done)});
      return;
    }
  }
  done(Status::Unavailable("too many long polls are waiting; retry shortly"));
}

void LongPoller::Drain() {
  std::lock_guard lock(mu_);
  draining_ = true;
}

void LongPoller::Run() {
  constexpr auto kSlice = std::chrono::milliseconds(50);
  while (true) {
    uint64_t seen = broker_.ChangeCount();
    std::list<Waiting> round;
    bool draining;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      round.splice(round.end(), waiting_);
      draining = draining_;
    }
    // Outside the lock: Add goes on while the fetches run. What is not answered goes back.
    auto now = Clock::now();
    auto next = now + kSlice;
    for (auto it = round.begin(); it != round.end();) {
      auto got = broker_.Fetch(it->subscription, it->max, std::chrono::milliseconds(0));
      if (!got.ok() || !got->empty() || now >= it->deadline || draining) {
        it->done(std::move(got));
        it = round.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    {
      std::lock_guard lock(mu_);
      waiting_.splice(waiting_.begin(), round);
      if (stopping_) return;
    }
    broker_.WaitForChange(seen, next);
  }
}

}  // namespace aimass::mq
