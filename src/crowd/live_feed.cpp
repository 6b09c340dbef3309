#include "crowd/live_feed.hpp"

#include <functional>

#include "common/text.hpp"
#include "common/time.hpp"

namespace aimass::crowd {

class LiveFeed::Viewer final : public http::ResponseStream {
 public:
  Viewer(LiveFeed& feed, std::string stream, Format format) : feed_(feed), stream_(std::move(stream)), format_(format) {}
  ~Viewer() override { Close(); }

  // Called with the feed's lock held.
  void Offer(const std::string& jpeg, const std::string& info) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (format_ == Format::kSse) {
        pending_ = "event: frame\ndata: {\"info\":" + info + ",\"jpeg\":\"" + Base64Encode(jpeg) + "\"}\n\n";
      } else {
        pending_ = "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(jpeg.size()) + "\r\n\r\n" + jpeg + "\r\n";
      }
      wake = wake_;
    }
    if (wake) wake();
  }

  bool Poll(std::string& out) override {
    std::lock_guard lock(mu_);
    out += pending_;
    pending_.clear();
    return !closed_;
  }
  void SetWake(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      wake_ = nullptr;
    }
    feed_.Leave(stream_, this);
  }
  bool KeepAlives() const override { return format_ == Format::kSse; }

 private:
  LiveFeed& feed_;
  const std::string stream_;
  const Format format_;
  std::mutex mu_;
  std::string pending_;
  std::function<void()> wake_;
  bool closed_ = false;
};

void LiveFeed::Publish(const std::string& stream, std::string jpeg, std::string info_json) {
  std::lock_guard lock(mu_);
  Latest& l = streams_[stream];
  l.jpeg = std::move(jpeg);
  l.info = std::move(info_json);
  ++l.seq;
  for (Viewer* v : l.viewers) v->Offer(l.jpeg, l.info);
}

std::shared_ptr<http::ResponseStream> LiveFeed::Open(const std::string& stream, Format format) {
  auto v = std::make_shared<Viewer>(*this, stream, format);
  std::lock_guard lock(mu_);
  Latest& l = streams_[stream];
  l.viewers.insert(v.get());
  l.viewed_ms = UnixNowMs();
  if (l.seq > 0) v->Offer(l.jpeg, l.info);
  return v;
}

bool LiveFeed::Watched(const std::string& stream, int64_t now_ms, int64_t window_ms) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return false;
  if (!it->second.viewers.empty()) it->second.viewed_ms = now_ms;
  return now_ms - it->second.viewed_ms < window_ms;
}

void LiveFeed::Leave(const std::string& stream, Viewer* v) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  it->second.viewers.erase(v);
  it->second.viewed_ms = UnixNowMs();
}

void LiveFeed::Forget(const std::string& stream) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(stream);
  if (it != streams_.end() && it->second.viewers.empty()) streams_.erase(it);
}

}  // namespace aimass::crowd
