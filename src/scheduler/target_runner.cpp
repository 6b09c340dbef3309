#include "scheduler/target_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/auth.hpp"
#include "auth/rbac.hpp"
#include "common/spawn.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "http/client.hpp"
#include "mq/broker.hpp"

namespace aimass::scheduler {

void CancelToken::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

bool CancelToken::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [&] { return cancelled_.load(); });
}

std::string Excerpt(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  static const std::string kCut = "\n…\n";
  size_t half = (limit - kCut.size()) / 2;
  return text.substr(0, half) + kCut + text.substr(text.size() - half);
}

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the first and the last `limit / 2` bytes of a stream of unknown length.
class HeadTail {
 public:
  explicit HeadTail(size_t limit) : half_(limit / 2) {}
  void Append(const char* p, size_t n) {
    size_t to_head = std::min(n, half_ - std::min(half_, head_.size()));
    head_.append(p, to_head);
    p += to_head;
    n -= to_head;
    if (n == 0) return;
    cut_ = true;
    tail_.append(p, n);
    if (tail_.size() > 2 * half_) tail_.erase(0, tail_.size() - half_);
  }
  std::string str() const {
    if (!cut_) return head_;
    std::string tail = tail_.size() > half_ ? tail_.substr(tail_.size() - half_) : tail_;
    return head_ + "\n…\n" + tail;
  }

 private:
  size_t half_;
  bool cut_ = false;
  std::string head_, tail_;
};

class Runner : public TargetRunner {
 public:
  explicit Runner(TargetRunnerOptions o) : o_(std::move(o)) {}

  Outcome Fire(const Job& job, const Run& run, std::chrono::milliseconds timeout, CancelToken& cancel) override {
    if (Status allowed = OwnerMayFire(job); !allowed.ok()) return {allowed, "", false, false};
    switch (job.spec.target.type) {
      case Target::Type::kHttp: return FireHttp(job, run, timeout, cancel);
      case Target::Type::kMq: return FireMq(job, run, timeout, cancel);
      case Target::Type::kShell: return FireShell(job, run, timeout, cancel);
    }
    return {Status::Internal("unknown target type"), "", false, false};
  }

 private:
  TargetRunnerOptions o_;
  http::Client client_;

  Status OwnerMayFire(const Job& job) {
    if (o_.auth == nullptr) return Status::Ok();
    auto owner = o_.auth->PrincipalOf(job.owner);
    if (!owner.ok()) return Status::Forbidden("the job's owner '" + job.owner + "' no longer exists");
    const Target& t = job.spec.target;
    if (t.type == Target::Type::kShell && !auth::Allows(owner->permissions, "cron:shell")) {
      return Status::Forbidden("the job's owner '" + job.owner + "' may no longer run shell commands (cron:shell)");
    }
    if (t.type == Target::Type::kMq) return auth::MayActOnTopic(*owner, t.topic, "publish");
    return Status::Ok();
  }

  // The base URL of the process that serves `path` (this one, or another in distributed mode).
  Result<std::string> UrlFor(std::string_view path) {
    Result<std::string> url = o_.url_for ? o_.url_for(path) : Result<std::string>(std::string());
    if (url.ok() && url->empty()) return Status::Unavailable("HTTP targets are not available here");
    return url;
  }

  // Sends `req` as the job's owner (a token that lives as long as the call may take, plus a
  // margin for clock differences) and waits for the answer or a cancellation.
  Outcome Exchange(const Job& job, const Run& run, std::shared_ptr<http::ClientRequest> req, const std::string& what,
                   CancelToken& cancel) {
    auto token = o_.auth->IssueServiceToken(job.owner, req->timeout.count() / 1000 + 60);
    if (!token.ok()) return {token.status(), "", false, false};
    req->headers.emplace_back("Authorization", "Bearer " + *token);
    req->headers.emplace_back("X-Request-Id", "cron-" + job.spec.name + "-" + std::to_string(run.id));
    auto done = std::make_shared<std::promise<Result<http::ClientResponse>>>();
    auto answer = done->get_future();
    client_.SendAsync(req, [done](Result<http::ClientResponse> r) { done->set_value(std::move(r)); });
    while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (cancel.cancelled()) return {Status::Unavailable("cancelled"), "", false, true};
    }
    auto res = answer.get();
    if (!res.ok()) {
      return {res.status(), "", res.status().code() == Code::kDeadlineExceeded, false};
    }
    std::string output = Excerpt(res->body, o_.output_bytes);
    if (res->status >= 200 && res->status < 300) return {Status::Ok(), output, false, false};
    return {Status::BadGateway(what + " answered " + std::to_string(res->status)), output, false, false};
  }

  Outcome FireHttp(const Job& job, const Run& run, std::chrono::milliseconds timeout, CancelToken& cancel) {
    if (o_.auth == nullptr) return {Status::Unavailable("HTTP targets are not available here"), "", false, false};
    const Target& t = job.spec.target;
    auto base = UrlFor(t.path);
    if (!base.ok()) return {base.status(), "", false, false};
    auto req = std::make_shared<http::ClientRequest>();
    req->method = http::ParseMethod(t.method);
    req->url = *base + t.path;
    req->timeout = timeout;
    req->body = t.body;
    bool has_type = false;
    for (const auto& [k, v] : t.headers) {
      if (strcasecmp(k.c_str(), "authorization") == 0) continue;
      has_type = has_type || strcasecmp(k.c_str(), "content-type") == 0;
      req->headers.emplace_back(k, v);
    }
    if (!has_type && !t.body.empty()) req->headers.emplace_back("Content-Type", "application/json");
    return Exchange(job, run, std::move(req), t.method + " " + t.path, cancel);
  }

  Outcome FireMq(const Job& job, const Run& run, std::chrono::milliseconds timeout, CancelToken& cancel) {
    const Target& t = job.spec.target;
    mq::OutgoingMessage m;
    m.key = t.key;
    m.headers = t.headers;
    m.headers.emplace_back("x-cron-job", job.spec.name);
    m.headers.emplace_back("x-cron-scheduled", Rfc3339Ms(run.scheduled_ms));
    m.body = t.body;
    if (o_.broker == nullptr) return PublishRemotely(job, run, std::move(m), timeout, cancel);
    std::vector<mq::OutgoingMessage> batch;
    batch.push_back(std::move(m));
    auto res = o_.broker->Publish(t.topic, std::move(batch));
    if (!res.ok()) return {res.status(), "", false, false};
    std::string out = "published to " + t.topic + " partition " + std::to_string((*res)[0].partition) + " offset " +
                      std::to_string((*res)[0].offset);
    return {Status::Ok(), out, false, false};
  }

  // The queue runs in another process on its embedded log: published through its HTTP API,
  // with a deduplication id per run, so that a publish retried after a lost answer lands once.
  Outcome PublishRemotely(const Job& job, const Run& run, mq::OutgoingMessage m, std::chrono::milliseconds timeout,
                          CancelToken& cancel) {
    if (o_.auth == nullptr) return {Status::Unavailable("the message queue is not available here"), "", false, false};
    const Target& t = job.spec.target;
    const std::string path = "/api/v1/mq/topics/" + t.topic + "/messages";
    auto base = UrlFor(path);
    if (!base.ok()) return {base.status(), "", false, false};
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : m.headers) headers[k] = v;
    nlohmann::json msg = {{"key", m.key},
                          {"headers", headers},
                          {"body", Base64Encode(m.body)},
                          {"body_encoding", "base64"},
                          {"dedup_id", "cron-" + job.spec.name + "-" + std::to_string(run.id)}};
    auto req = std::make_shared<http::ClientRequest>();
    req->method = http::Method::kPost;
    req->url = *base + path;
    req->timeout = timeout;
    req->body = nlohmann::json{{"messages", nlohmann::json::array({msg})}}.dump();
    req->headers.emplace_back("Content-Type", "application/json");
    Outcome out = Exchange(job, run, std::move(req), "POST " + path, cancel);
    if (!out.status.ok()) return out;
    auto answer = nlohmann::json::parse(out.output, nullptr, false);
    const nlohmann::json* r = nullptr;
    if (answer.is_object() && answer.contains("results") && answer["results"].is_array() && !answer["results"].empty()) {
      r = &answer["results"][0];
    }
    if (r == nullptr || !(*r)["partition"].is_number_integer() || !(*r)["offset"].is_number_integer()) {
      return {Status::BadGateway("the message queue answered an unexpected body"), out.output, false, false};
    }
    out.output = "published to " + t.topic + " partition " + std::to_string((*r)["partition"].get<int64_t>()) +
                 " offset " + std::to_string((*r)["offset"].get<int64_t>()) + " (at " + *base + ")";
    return out;
  }

  Outcome FireShell(const Job& job, const Run& run, std::chrono::milliseconds timeout, CancelToken& cancel) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return {Status::Internal("pipe failed"), "", false, false};
    // A minimal environment: the server's own may hold secrets (AIMASS_ADMIN_PASSWORD, …).
    std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                    "HOME=" + (o_.work_dir.empty() ? std::string("/") : o_.work_dir),
                                    "AIMASS_CRON_JOB=" + job.spec.name, "AIMASS_CRON_RUN_ID=" + std::to_string(run.id),
                                    "AIMASS_CRON_SCHEDULED_AT=" + Rfc3339Ms(run.scheduled_ms)};
    // Its own process group, so that a timeout stops whatever the command started as well.
    SpawnOptions so;
    so.output_fd = fds[1];
    so.chdir = o_.work_dir;
    so.own_group = true;
    auto spawned = Spawn({"/bin/sh", "-c", job.spec.target.command}, env, so);
    ::close(fds[1]);
    if (!spawned.ok()) {
      ::close(fds[0]);
      return {spawned.status(), "", false, false};
    }
    const pid_t pid = *spawned;

    HeadTail out(o_.output_bytes);
    auto deadline = Clock::now() + timeout;
    bool timed_out = false, cancelled = false, eof = false;
    char buf[4096];
    int wstatus = 0;
    bool reaped = false;
    while (!reaped) {
      if (Clock::now() >= deadline) timed_out = true;
      if (cancel.cancelled()) cancelled = true;
      if (timed_out || cancelled) break;
      if (!eof) {
        pollfd p{fds[0], POLLIN, 0};
        int n = ::poll(&p, 1, 50);
        if (n > 0) {
          ssize_t got = ::read(fds[0], buf, sizeof buf);
          if (got > 0) out.Append(buf, static_cast<size_t>(got));
          else if (got == 0 || errno != EINTR) eof = true;
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (::waitpid(pid, &wstatus, WNOHANG) == pid) reaped = true;
    }
    if (!reaped) {
      ::kill(-pid, SIGTERM);
      for (int i = 0; i < 100 && !reaped; ++i) {  // two seconds to stop, then SIGKILL
        if (::waitpid(pid, &wstatus, WNOHANG) == pid) reaped = true;
        else std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!reaped) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &wstatus, 0);
      }
    } else {
      ::kill(-pid, SIGKILL);  // what the command left running in the background goes with it
    }
    // Drain what is buffered without waiting for writers that may still hold the pipe.
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    for (ssize_t got; (got = ::read(fds[0], buf, sizeof buf)) > 0;) out.Append(buf, static_cast<size_t>(got));
    ::close(fds[0]);

    if (cancelled) return {Status::Unavailable("cancelled"), out.str(), false, true};
    if (timed_out) {
      return {Status::DeadlineExceeded("timed out after " + std::to_string(timeout.count() / 1000) + " s"), out.str(), true,
              false};
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return {Status::Ok(), out.str(), false, false};
    std::string why = WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                         : "killed by signal " + std::to_string(WTERMSIG(wstatus));
    return {Status::Unprocessable("the command failed: " + why), out.str(), false, false};
  }
};

}  // namespace

std::unique_ptr<TargetRunner> MakeTargetRunner(TargetRunnerOptions options) {
  return std::make_unique<Runner>(std::move(options));
}

}  // namespace aimass::scheduler
