#include "cluster/api.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "auth/rbac.hpp"
#include "common/name.hpp"
#include "common/time.hpp"
#include "http/client.hpp"
#include "http/file_response.hpp"
#include "http/json.hpp"

namespace aimass::cluster {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Result<int64_t> PositiveInt(std::string_view text, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) {
    return Status::BadRequest(std::string(what) + " must be a non-negative integer");
  }
  return v;
}

Result<int64_t> JobId(const Request& req) {
  AIMASS_ASSIGN_OR_RETURN(int64_t id, PositiveInt(req.Param("id"), "a job id"));
  if (id == 0) return Status::BadRequest("a job id is a positive integer");
  return id;
}

// Logs and cancels are the owner's, or for those who hold jobs:admin.
Status MayTouch(const Principal& who, const Job& j) {
  if (who.username == j.owner || auth::Allows(who.permissions, "jobs:admin")) return Status::Ok();
  return Status::Forbidden("job " + std::to_string(j.id) + " belongs to '" + j.owner + "' (jobs:admin may act on it)");
}

Result<Quota> ParseQuota(const std::string& subject, const Json& body) {
  Quota q;
  q.subject = subject;
  size_t colon = subject.find(':');
  std::string kind = subject.substr(0, colon);
  if (colon == std::string::npos || (kind != "user" && kind != "role")) {
    return Status::BadRequest("a quota's subject is user:<name> or role:<name>");
  }
  AIMASS_RETURN_IF_ERROR(ValidateName(kind, subject.substr(colon + 1), 64));
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "cpus" && it.key() != "memory_mb" && it.key() != "gpus") {
      return Status::BadRequest("unknown field '" + it.key().substr(0, 64) + "' in a quota (cpus, memory_mb, gpus)");
    }
    if (!it.value().is_null() && (!it.value().is_number() || it.value().get<double>() < 0)) {
      return Status::BadRequest("quota '" + it.key() + "' must be a non-negative number or null (no limit)");
    }
  }
  auto num = [&](const char* k) { return body.contains(k) && !body[k].is_null() ? body[k].get<double>() : -1.0; };
  q.cpus = static_cast<int64_t>(num("cpus"));
  q.memory_mb = static_cast<int64_t>(num("memory_mb"));
  q.gpus = num("gpus");
  q.updated_ms = UnixNowMs();
  return q;
}

Json QuotaJson(const Quota& q) {
  auto lim = [](double v) { return v < 0 ? Json(nullptr) : Json(v); };
  return {{"subject", q.subject},
          {"cpus", q.cpus < 0 ? Json(nullptr) : Json(q.cpus)},
          {"memory_mb", q.memory_mb < 0 ? Json(nullptr) : Json(q.memory_mb)},
          {"gpus", lim(q.gpus)},
          {"updated_at", Rfc3339Ms(q.updated_ms)}};
}

// `GET /api/v1/jobs/{id}/logs?follow=true`: the log from an offset, then what the job writes,
// until it has ended and everything is sent. Plain text in chunks; no keep-alive comments.
class LogStream : public http::ResponseStream {
 public:
  LogStream(Cluster& cluster, int64_t id, std::string path, uint64_t offset)
      : cluster_(cluster), id_(id), path_(std::move(path)), offset_(offset) {}
  ~LogStream() override { Close(); }

  bool Poll(std::string& out) override {
    if (ReadMore(out)) return true;
    // Nothing new: has the job ended? Asked at most twice a second.
    int64_t now = UnixNowMs();
    if (now - checked_ms_ < 500) return true;
    checked_ms_ = now;
    auto job = cluster_.Get(id_);
    if (!job.ok() || Finished(job->state)) {
      ReadMore(out);  // what it wrote just before it ended
      return false;
    }
    return true;
  }
  void SetWake(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    if (follow_id_ == 0) follow_id_ = cluster_.Follow(std::move(wake));
  }
  void Close() override {
    std::lock_guard lock(mu_);
    if (follow_id_ != 0) cluster_.Unfollow(follow_id_);
    follow_id_ = 0;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool KeepAlives() const override { return false; }

 private:
  bool ReadMore(std::string& out) {
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return false;
    char buf[65536];
    bool any = false;
    for (int i = 0; i < 4; ++i) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      offset_ += static_cast<uint64_t>(n);
      any = true;
    }
    return any;
  }

  Cluster& cluster_;
  int64_t id_;
  std::string path_;
  uint64_t offset_;
  int fd_ = -1;
  int64_t checked_ms_ = 0;
  std::mutex mu_;
  uint64_t follow_id_ = 0;
};

// A job's log lives on the node that ran it (its jobs directory). For another node's job, the
// request goes to that node's process as the caller; these are the answer's fields kept.
http::Client& LogClient() {
  static http::Client client;
  return client;
}

// The node whose jobs directory holds `job`'s log: its node, or for a Slurm job the node
// that handed it over ("slurm@<node>").
std::string LogNode(const Job& job) {
  return job.node.starts_with("slurm@") ? job.node.substr(6) : job.node;
}

// `GET …/logs?follow=true` for a job of another node: a thread reads the log there from where
// it was left, a chunk at a time, until the job has ended and nothing more comes. The thread
// owns what it shares with the stream, so a connection that goes never waits for it.
class RemoteLogStream : public http::ResponseStream {
 public:
  RemoteLogStream(std::string node_url, int64_t id, std::string auth, uint64_t offset)
      : node_url_(std::move(node_url)), id_(id), auth_(std::move(auth)), offset_(offset) {}
  ~RemoteLogStream() override { Close(); }

  bool Poll(std::string& out) override {
    std::lock_guard lock(s_->mu);
    out += std::move(s_->buf);
    s_->buf.clear();
    return !s_->done;
  }
  void SetWake(std::function<void()> wake) override {
    std::lock_guard lock(s_->mu);
    if (s_->started) return;
    s_->started = true;
    s_->wake = std::move(wake);
    std::thread([s = s_, base = node_url_ + "/api/v1/jobs/" + std::to_string(id_), auth = auth_,
                 offset = offset_] { Run(s, base, auth, offset); })
        .detach();
  }
  void Close() override {
    std::lock_guard lock(s_->mu);
    s_->closed = true;
    s_->wake = nullptr;
    s_->cv.notify_all();
  }
  bool KeepAlives() const override { return false; }
  bool Failed() const override {
    std::lock_guard lock(s_->mu);
    return s_->failed;
  }

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::string buf;
    bool started = false, done = false, closed = false, failed = false;
    std::function<void()> wake;
  };

  static Result<http::ClientResponse> Get(const std::string& url, const std::string& auth) {
    http::ClientRequest r;
    r.url = url;
    r.headers = {{"Authorization", auth}};
    r.timeout = std::chrono::seconds(30);
    return LogClient().Send(r);
  }

  static void Run(std::shared_ptr<Shared> s, std::string base, std::string auth, uint64_t offset) {
    constexpr size_t kChunk = 1 << 20;
    bool ended = false;
    for (;;) {
      auto res = Get(base + "/logs?offset=" + std::to_string(offset) + "&limit=" + std::to_string(kChunk), auth);
      bool empty = res.ok() && res->status == 200 && res->body.empty();
      std::function<void()> wake;
      {
        std::lock_guard lock(s->mu);
        if (s->closed) return;
        if (!res.ok() || res->status != 200) {
          s->failed = s->done = true;
        } else {
          offset += res->body.size();
          s->buf += res->body;
          if (empty && ended) s->done = true;
        }
        wake = s->wake;
      }
      if (wake) wake();
      {
        std::lock_guard lock(s->mu);
        if (s->done) return;
      }
      if (res->body.size() == kChunk) continue;  // more is there already
      if (!empty) {
        std::unique_lock lock(s->mu);
        s->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return s->closed; });
        if (s->closed) return;
        continue;
      }
      // Nothing new: has the job ended? Then one more read takes what it wrote last.
      auto job = Get(base, auth);
      if (job.ok() && job->status == 200) {
        auto j = nlohmann::json::parse(job->body, nullptr, false);
        std::string state = j.is_object() ? j.value("state", "") : "";
        ended = state != "queued" && state != "running";
      } else {
        ended = true;
      }
      std::unique_lock lock(s->mu);
      s->cv.wait_for(lock, std::chrono::milliseconds(ended ? 0 : 250), [&] { return s->closed; });
      if (s->closed) return;
    }
  }

  std::string node_url_;
  int64_t id_;
  std::string auth_;
  uint64_t offset_;
  std::shared_ptr<Shared> s_ = std::make_shared<Shared>();
};

Response RemoteLogs(Cluster& c, const Request& req, const Job& job) {
  auto node = c.GetNode(LogNode(job));
  if (!node.ok() || node->url.empty()) {
    return http::ErrorResponse(Status::Unavailable("the log of job " + std::to_string(job.id) + " is on node '" +
                                                   LogNode(job) + "', which cannot be reached"),
                               req.request_id);
  }
  const std::string url = node->url + "/api/v1/jobs/" + std::to_string(job.id) + "/logs";
  const std::string auth(req.headers.Get("Authorization").value_or(""));
  if (req.Query("follow").value_or("false") == "true") {
    uint64_t offset = 0;
    if (auto o = req.Query("offset")) {
      auto v = PositiveInt(*o, "'offset'");
      if (!v.ok()) return http::ErrorResponse(v.status(), req.request_id);
      offset = static_cast<uint64_t>(*v);
    }
    Response r;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("Cache-Control", "no-store");
    r.stream = std::make_shared<RemoteLogStream>(node->url, job.id, auth, offset);
    return r;
  }
  http::ClientRequest out;
  out.url = url + (req.query.empty() ? "" : "?" + req.query);
  out.headers = {{"Authorization", auth}};
  if (auto range = req.headers.Get("Range")) out.headers.emplace_back("Range", std::string(*range));
  auto res = LogClient().Send(out);
  if (!res.ok()) {
    return http::ErrorResponse(Status::BadGateway("node '" + LogNode(job) + "' did not answer: " + res.status().message()),
                               req.request_id);
  }
  Response r;
  r.status = res->status;
  for (const char* h : {"Content-Type", "Content-Range", "X-Log-Size", "X-Next-Offset"}) {
    if (auto v = res->headers.Get(h)) r.headers.Set(h, *v);
  }
  r.body = std::move(res->body);
  return r;
}

Response LogsResponse(Cluster& c, const Request& req, const Job& job) {
  if (!job.node.empty() && LogNode(job) != c.node_name()) return RemoteLogs(c, req, job);
  const std::string path = c.LogPath(job.id);
  struct stat st;
  uint64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  uint64_t offset = 0;
  if (auto o = req.Query("offset")) {
    auto v = PositiveInt(*o, "'offset'");
    if (!v.ok()) return http::ErrorResponse(v.status(), req.request_id);
    offset = static_cast<uint64_t>(*v);
  }
  if (req.Query("follow").value_or("false") == "true") {
    Response r;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("Cache-Control", "no-store");
    r.stream = std::make_shared<LogStream>(c, job.id, path, offset);
    return r;
  }
  if (req.Query("offset") || req.Query("limit")) {
    uint64_t limit = 1 << 20;
    if (auto l = req.Query("limit")) {
      auto v = PositiveInt(*l, "'limit'");
      if (!v.ok()) return http::ErrorResponse(v.status(), req.request_id);
      limit = std::min<uint64_t>(static_cast<uint64_t>(*v), 64ull << 20);
    }
    Response r;
    r.status = 200;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("X-Log-Size", std::to_string(size));
    uint64_t start = std::min(offset, size), len = std::min(limit, size - start);
    r.headers.Set("X-Next-Offset", std::to_string(start + len));
    if (len > 0) r.file = http::FileBody{path, start, len};
    return r;
  }
  if (size == 0) {
    Response r;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("X-Log-Size", "0");
    return r;
  }
  Response r = http::FileResponse(req, path, size, "text/plain; charset=utf-8");
  r.headers.Set("X-Log-Size", std::to_string(size));
  return r;
}

}  // namespace

Status RegisterRoutes(http::Router& router, Cluster& cluster) {
  Cluster& c = cluster;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string tag, std::string summary,
                 http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), std::move(tag), std::move(summary),
                                     std::move(h)));
  };

  add(Method::kGet, "/api/v1/cluster/nodes", "cluster:read", "cluster",
      "List nodes: CPUs, memory, GPUs, labels, state (ready, draining, drained, down) and what is allocated",
      [&c](Request& req) -> Response {
        HTTP_TRY(auto nodes, c.Nodes());
        Json list = Json::array();
        int64_t now = UnixNowMs();
        for (const auto& n : nodes) list.push_back(ToJson(n, now, c.down_after_ms()));
        return http::JsonResponse(200, {{"nodes", list}});
      });
  add(Method::kGet, "/api/v1/cluster/nodes/{name}", "cluster:read", "cluster", "Show a node",
      [&c](Request& req) -> Response {
        HTTP_TRY(Node n, c.GetNode(req.Param("name")));
        return http::JsonResponse(200, ToJson(n, UnixNowMs(), c.down_after_ms()));
      });
  for (bool drain : {true, false}) {
    add(Method::kPost, std::string("/api/v1/cluster/nodes/{name}/") + (drain ? "drain" : "undrain"), "cluster:admin",
        "cluster",
        drain ? "Drain a node: its running jobs finish, no new ones start there"
              : "Return a drained node to service",
        [&c, drain](Request& req) -> Response {
          HTTP_TRY(Node n, c.SetNodeState(req.Param("name"), drain));
          return http::JsonResponse(200, ToJson(n, UnixNowMs(), c.down_after_ms()));
        });
  }
  add(Method::kGet, "/api/v1/cluster/quotas", "cluster:read", "cluster",
      "List quotas: what the running jobs of a user (user:<name>) or a team (role:<name>) may hold together",
      [&c](Request& req) -> Response {
        HTTP_TRY(auto quotas, c.Quotas());
        Json list = Json::array();
        for (const auto& q : quotas) list.push_back(QuotaJson(q));
        return http::JsonResponse(200, {{"quotas", list}});
      });
  add(Method::kPut, "/api/v1/cluster/quotas/{subject}", "cluster:admin", "cluster",
      "Set a quota {cpus, memory_mb, gpus} (null or absent: no limit) for user:<name> or role:<name>",
      [&c](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Quota q, ParseQuota(req.Param("subject"), body));
        HTTP_TRY_STATUS(c.PutQuota(q));
        return http::JsonResponse(200, QuotaJson(q));
      });
  add(Method::kDelete, "/api/v1/cluster/quotas/{subject}", "cluster:admin", "cluster", "Remove a quota",
      [&c](Request& req) -> Response {
        HTTP_TRY_STATUS(c.DeleteQuota(req.Param("subject")));
        return http::NoContent();
      });

  add(Method::kPost, "/api/v1/jobs", "jobs:write", "jobs",
      "Submit a job {name, command, workdir, env, resources {cpus, memory_mb, gpus}, executor, timeout_s, retries, "
      "priority, sandbox, network, labels}",
      [&c](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(JobSpec spec, ParseJobSpec(body));
        if (!spec.sandbox && !auth::Allows(req.principal->permissions, "jobs:unsandboxed")) {
          return http::ErrorResponse(Status::Forbidden("a job outside the sandbox needs jobs:unsandboxed (admins by default)"),
                                     req.request_id);
        }
        if (spec.network && !auth::Allows(req.principal->permissions, "jobs:network")) {
          return http::ErrorResponse(Status::Forbidden("a job with network access needs jobs:network"), req.request_id);
        }
        HTTP_TRY(Job job, c.Submit(std::move(spec), *req.principal));
        Response r = http::JsonResponse(201, ToJson(job));
        r.headers.Set("Location", "/api/v1/jobs/" + std::to_string(job.id));
        return r;
      });
  add(Method::kGet, "/api/v1/jobs", "jobs:read", "jobs",
      "List jobs, newest first (state=a,b, owner, node, executor, name, page_size, page_token)",
      [&c](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        JobFilter f;
        f.limit = page.size;
        f.offset = page.offset;
        if (auto s = req.Query("state")) {
          std::string_view rest = *s;
          while (!rest.empty()) {
            size_t comma = rest.find(',');
            std::string_view one = rest.substr(0, comma);
            HTTP_TRY(JobState st, ParseState(one));
            f.states.push_back(StateName(st));
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
          }
        }
        f.owner = req.Query("owner").value_or("");
        f.node = req.Query("node").value_or("");
        f.executor = req.Query("executor").value_or("");
        f.name = req.Query("name").value_or("");
        HTTP_TRY(auto jobs, c.List(f));
        Json list = Json::array();
        for (const auto& j : jobs) list.push_back(ToJson(j));
        Json out = {{"jobs", list}};
        std::string next = http::NextPageToken(page, jobs.size());
        if (!next.empty()) out["next_page_token"] = next;
        return http::JsonResponse(200, out);
      });
  add(Method::kGet, "/api/v1/jobs/{id}", "jobs:read", "jobs", "Show a job", [&c](Request& req) -> Response {
    HTTP_TRY(int64_t id, JobId(req));
    HTTP_TRY(Job job, c.Get(id));
    return http::JsonResponse(200, ToJson(job));
  });
  add(Method::kGet, "/api/v1/jobs/{id}/logs", "jobs:read", "jobs",
      "A job's output (stdout and stderr): whole, a Range or ?offset=&limit= bytes, or ?follow=true until it ends",
      [&c](Request& req) -> Response {
        HTTP_TRY(int64_t id, JobId(req));
        HTTP_TRY(Job job, c.Get(id));
        HTTP_TRY_STATUS(MayTouch(*req.principal, job));
        return LogsResponse(c, req, job);
      });
  add(Method::kPost, "/api/v1/jobs/{id}/cancel", "jobs:write", "jobs",
      "Cancel a job: a queued one at once, a running one with its whole process tree", [&c](Request& req) -> Response {
        HTTP_TRY(int64_t id, JobId(req));
        HTTP_TRY(Job job, c.Get(id));
        HTTP_TRY_STATUS(MayTouch(*req.principal, job));
        HTTP_TRY(Job after, c.Cancel(id));
        return http::JsonResponse(200, ToJson(after));
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::cluster
