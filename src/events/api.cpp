#include "events/api.hpp"

#include <deque>
#include <mutex>

#include "auth/rbac.hpp"
#include "common/topic_pattern.hpp"
#include "http/json.hpp"

namespace aimass::events {

namespace {

// One SSE client: a bounded queue filled by the bus, drained by the server.
class SseStream : public http::ResponseStream, public std::enable_shared_from_this<SseStream> {
 public:
  static constexpr size_t kMaxQueued = 1000;

  explicit SseStream(EventBus& bus) : bus_(bus) {}
  ~SseStream() override { Close(); }

  void Start(std::string pattern) {
    std::weak_ptr<SseStream> self = weak_from_this();
    sub_ = bus_.Subscribe(std::move(pattern), [self](const Event& e) {
      if (auto s = self.lock()) s->Push(e);
    });
  }

  bool Poll(std::string& out) override {
    std::lock_guard lock(mu_);
    while (!queue_.empty()) {
      out += queue_.front();
      queue_.pop_front();
    }
    return !overflowed_;
  }

  void SetWake(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }

  void Close() override {
    uint64_t sub = 0;
    {
      std::lock_guard lock(mu_);
      std::swap(sub, sub_);
    }
    if (sub) bus_.Unsubscribe(sub);
  }

 private:
  void Push(const Event& e) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (overflowed_) return;
      if (queue_.size() >= kMaxQueued) {
        // A client this far behind is cut off with a note rather than letting memory grow;
        // it reconnects with Last-Event-ID knowledge of what it saw.
        queue_.push_back("event: overflow\ndata: {\"reason\":\"client too slow\"}\n\n");
        overflowed_ = true;
      } else {
        queue_.push_back("id: " + std::to_string(e.id) + "\nevent: " + e.topic + "\ndata: " + e.data +
                         "\n\n");
      }
      wake = wake_;
    }
    if (wake) wake();
  }

  EventBus& bus_;
  std::mutex mu_;
  std::deque<std::string> queue_;
  std::function<void()> wake_;
  uint64_t sub_ = 0;
  bool overflowed_ = false;
};

// Reading events needs read access to what they are about: registry.* → models:read,
// cluster.* → jobs:read, dataset.* → datasets:read, tracking.* → experiments:read,
// pipeline.* → pipelines:read, assist.* → assist:read, recommend.* → recommend:read, crowd.* → crowd:read; any other topic (or a pattern reaching beyond one module) → events:read.
std::string RequiredPermission(const std::string& pattern) {
  if (pattern.starts_with("registry.")) return "models:read";
  if (pattern.starts_with("cluster.")) return "jobs:read";
  if (pattern.starts_with("dataset.")) return "datasets:read";
  if (pattern.starts_with("tracking.")) return "experiments:read";
  if (pattern.starts_with("pipeline.")) return "pipelines:read";
  if (pattern.starts_with("assist.")) return "assist:read";
  if (pattern.starts_with("recommend.")) return "recommend:read";
  if (pattern.starts_with("crowd.")) return "crowd:read";
  return "events:read";
}

}  // namespace

Status RegisterRoutes(http::Router& router, EventBus& bus) {
  EventBus* b = &bus;
  return router.Add(http::MakeRoute(
      http::Method::kGet, "/api/v1/events", "",
      "events", "Server-sent events for ?topic=PATTERN (e.g. registry.*, registry.>)",
      [b](http::Request& req) -> http::Response {
        std::string topic = req.Query("topic").value_or("");
        if (!ValidPattern(topic)) {
          return http::ErrorResponse(
              Status::BadRequest("topic must be a pattern such as registry.* or registry.>"),
              req.request_id);
        }
        std::string perm = RequiredPermission(topic);
        if (!auth::Allows(req.principal->permissions, perm)) {
          return http::ErrorResponse(Status::Forbidden("permission '" + perm + "' is required"),
                                     req.request_id);
        }
        auto stream = std::make_shared<SseStream>(*b);
        stream->Start(topic);
        http::Response r;
        r.headers.Set("Content-Type", "text/event-stream");
        r.headers.Set("Cache-Control", "no-cache");
        r.stream = stream;
        return r;
      }));
}

}  // namespace aimass::events
