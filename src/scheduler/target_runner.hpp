// TargetRunner: fires a job's target once: an HTTP call into the platform with a short-lived
// token of the job's owner, a message published to a topic, or a shell command. The owner's
// right to do it is checked again at every firing, so that taking a role away from a user
// stops their jobs too. Thread-safe: runs of many jobs fire at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.hpp"
#include "scheduler/job.hpp"

namespace aimass::auth {
class AuthService;
}
namespace aimass::mq {
class Broker;
}

namespace aimass::scheduler {

// Stops a run early (Replace, or the server stopping); sleeps and waits inside a run wake on it.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Sleeps up to `d`; true when cancelled meanwhile.
  bool WaitFor(std::chrono::milliseconds d);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

struct Outcome {
  Status status;        // ok when the target succeeded
  std::string output;   // excerpt of what it answered or printed
  bool timed_out = false;
  bool cancelled = false;
};

class TargetRunner {
 public:
  virtual ~TargetRunner() = default;
  virtual Outcome Fire(const Job& job, const Run& run, std::chrono::milliseconds timeout, CancelToken& cancel) = 0;
};

struct TargetRunnerOptions {
  auth::AuthService* auth = nullptr;  // null: owners are not checked and HTTP targets cannot run (tests)
  // The queue; null when it runs in another process on its embedded log: MQ targets are then
  // published through its HTTP API, at url_for's answer.
  mq::Broker* broker = nullptr;
  // Where a target's path is served: the base URL (http://127.0.0.1:8080) of this process or
  // of a live one that serves the path's module (distributed mode). Asked at each firing, since
  // the port is known only once the server listens and processes come and go; "" or unset:
  // HTTP targets cannot run yet.
  std::function<Result<std::string>(std::string_view path)> url_for;
  std::string work_dir;               // the working directory and HOME of shell commands
  size_t output_bytes = 4096;         // excerpt kept per run
};

std::unique_ptr<TargetRunner> MakeTargetRunner(TargetRunnerOptions options);

// The first and last bytes of `text` when it is longer than `limit`, marked where cut.
std::string Excerpt(const std::string& text, size_t limit);

}  // namespace aimass::scheduler
