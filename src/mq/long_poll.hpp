// LongPoller: answers long-poll fetches (GET …/messages?wait_ms=) without a thread waiting per
// consumer. One thread retries every waiting fetch when the broker reports a change (a publish,
// a nack, a replay) and at least every 50 ms (delayed messages and redeliveries come due by the
// clock), and answers each as soon as it has messages or its wait is over. Before it, each
// long poll held one of the HTTP worker threads: 64 idle consumers stopped the whole API.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mq/broker.hpp"

namespace aimass::mq {

class LongPoller {
 public:
  using Done = std::function<void(Result<std::vector<Delivery>>)>;

  explicit LongPoller(Broker& broker, size_t max_waiting = 10000);
  // Stop().
  ~LongPoller();
  LongPoller(const LongPoller&) = delete;
  LongPoller& operator=(const LongPoller&) = delete;

  // Calls `done` once, on the poller's thread, with up to `max` messages of `subscription` or
  // with none at `deadline`. Unavailable (at once, on the caller's thread) when `max_waiting`
  // fetches already wait.
  void Add(std::string subscription, size_t max, std::chrono::steady_clock::time_point deadline, Done done);
  // Answers every waiting fetch now (with what is there, often nothing) and every later one at
  // once: the server is stopping, and a graceful stop must not wait out consumers' long polls.
  void Drain();
  // Stops the poller's thread and answers what still waits (with nothing); later fetches are
  // answered unavailable at once. Before the broker goes: the routes may hold the poller longer.
  void Stop();

 private:
  struct Waiting {
    std::string subscription;
    size_t max = 0;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  void Run();

  Broker& broker_;
  const size_t max_waiting_;
  std::mutex mu_;
  std::list<Waiting> waiting_;
  bool stopping_ = false;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace aimass::mq
