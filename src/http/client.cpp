#include "http/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <charconv>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace aimass::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

Result<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return Status::BadRequest("only http:// URLs are supported");
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Url u;
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.empty()) return Status::BadRequest("URL has no host");
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else if (authority.front() == '[') {
    size_t close = authority.find(']');
    u.host = std::string(authority.substr(1, close - 1));
    u.port = close + 1 < authority.size() && authority[close + 1] == ':'
                 ? std::string(authority.substr(close + 2))
                 : "80";
  } else {
    u.host = std::string(authority);
    u.port = "80";
  }
  if (u.host.empty() || u.port.empty()) return Status::BadRequest("URL has no host or port");
  return u;
}

namespace {
thread_local void* t_event_loop = nullptr;
}

void* CurrentEventLoop() { return t_event_loop; }
void SetCurrentEventLoop(void* loop) { t_event_loop = loop; }

struct Client::Impl {
  explicit Impl(ClientOptions o) : opt(o), guard(asio::make_work_guard(ioc)) {
    thread = std::thread([this] { ioc.run(); });
  }
  ~Impl() {
    guard.reset();
    ioc.stop();
    thread.join();
  }

  ClientOptions opt;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::thread thread;
  mutable std::mutex mu;
  // A kept-alive connection and its read buffer (kept with it: allocating 16 KiB per
  // exchange showed in the gateway's profile).
  struct Conn {
    explicit Conn(asio::io_context& loop) : stream(loop) { buffer.reserve(16 * 1024); }
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
  };
  // Keyed by the loop's address and host:port: a stream is bound to the loop it was made on.
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> idle;

  // The pool key, built in a per-thread buffer so a lookup allocates nothing.
  static const std::string& PoolKey(const asio::io_context& loop, const Url& url) {
    thread_local std::string key;
    key.clear();
    char addr[2 * sizeof(uintptr_t)];
    auto [end, ec] = std::to_chars(addr, addr + sizeof addr, reinterpret_cast<uintptr_t>(&loop), 16);
    (void)ec;
    key.append(addr, end).append("/").append(url.host).append(":").append(url.port);
    return key;
  }
  std::unique_ptr<Conn> Take(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto c = std::move(it->second.back());
    it->second.pop_back();
    return c;
  }
  void Park(const std::string& key, std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) it = idle.emplace(key, std::vector<std::unique_ptr<Conn>>{}).first;
    if (it->second.size() < opt.max_idle_per_host) it->second.push_back(std::move(c));
  }

  asio::awaitable<Result<ClientResponse>> Exchange(asio::io_context& loop, const Url& url, const ClientRequest& req);
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
Client::~Client() = default;

size_t Client::idle_connections() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& [k, v] : impl_->idle) n += v.size();
  return n;
}

asio::awaitable<Result<ClientResponse>> Client::Impl::Exchange(asio::io_context& loop, const Url& url,
                                                               const ClientRequest& req) {
  auto tuple = asio::as_tuple(asio::use_awaitable);
  std::string key = url.host + ":" + url.port;

  bhttp::request<bhttp::string_body> m{
      static_cast<bhttp::verb>(bhttp::string_to_verb(MethodName(req.method))), url.target, 11};
  m.set(bhttp::field::host, key);
  m.set(bhttp::field::user_agent, "aimass-client");
  for (const auto& [n, v] : req.headers) m.set(n, v);
  m.body() = req.body;
  m.keep_alive(true);
  m.prepare_payload();

  // A pooled connection may have been closed by the server while parked: when the first
  // write or read on it fails, retry once on a fresh connection (only for a reused one, so a
  // request is never sent twice over fresh connections).
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = Take(PoolKey(loop, url));
    bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<Conn>(loop);
      tcp::resolver resolver(loop);
      auto [rec, results] = co_await resolver.async_resolve(url.host, url.port, tuple);
      if (rec) co_return Status::Unavailable("cannot resolve " + url.host + ": " + rec.message());
      conn->stream.expires_after(req.timeout);
      auto [cec, ep] = co_await conn->stream.async_connect(results, tuple);
      (void)ep;
      if (cec == beast::error::timeout) co_return Status::DeadlineExceeded("no connection to " + key + " in time");
      if (cec) co_return Status::Unavailable("cannot connect to " + key + ": " + cec.message());
      boost::system::error_code ignored;
      conn->stream.socket().set_option(tcp::no_delay(true), ignored);
    }
    conn->stream.expires_after(req.timeout);
    auto [wec, wn] = co_await bhttp::async_write(conn->stream, m, tuple);
    (void)wn;
    if (wec) {
      if (wec == beast::error::timeout) co_return Status::DeadlineExceeded("could not send to " + key + " in time");
      if (reused) continue;
      co_return Status::Unavailable("cannot send to " + key + ": " + wec.message());
    }
    conn->buffer.clear();
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(opt.max_response_bytes);
    if (req.method == Method::kHead) parser.skip(true);
    auto [rec, rn] = co_await bhttp::async_read(conn->stream, conn->buffer, parser, tuple);
    (void)rn;
    if (rec) {
      if (reused && (rec == bhttp::error::end_of_stream || rec == asio::error::connection_reset ||
                     rec == asio::error::eof)) {
        continue;
      }
      if (rec == beast::error::timeout) co_return Status::DeadlineExceeded("no answer from " + key + " in time");
      co_return Status::Unavailable("no answer from " + key + ": " + rec.message());
    }
    auto& res = parser.get();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.Add(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    // Bytes after the answer would be an unsolicited second answer: such a connection is not
    // reused.
    if (res.keep_alive() && conn->buffer.size() == 0) Park(PoolKey(loop, url), std::move(conn));
    co_return out;
  }
  co_return Status::Unavailable("connection to " + key + " kept failing");
}

Result<ClientResponse> Client::Send(const ClientRequest& request) {
  auto url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  std::promise<Result<ClientResponse>> done;
  auto fut = done.get_future();
  asio::co_spawn(
      impl_->ioc,
      [this, &url, &request, &done]() -> asio::awaitable<void> {
        done.set_value(co_await impl_->Exchange(impl_->ioc, *url, request));
      },
      [&done](std::exception_ptr e) {
        if (e) done.set_value(Status::Internal("HTTP client failed"));
      });
  return fut.get();
}

void Client::SendAsync(ClientRequest request, std::function<void(Result<ClientResponse>)> done) {
  SendAsync(std::make_shared<const ClientRequest>(std::move(request)), std::move(done));
}

void Client::SendAsync(std::shared_ptr<const ClientRequest> request, std::function<void(Result<ClientResponse>)> done) {
  auto url = ParseUrl(request->url);
  if (!url.ok()) {
    done(url.status());
    return;
  }
  struct Call {
    Url url;
    std::shared_ptr<const ClientRequest> request;
    std::function<void(Result<ClientResponse>)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(*url), std::move(request), std::move(done)});
  // On the calling server I/O thread's own loop when there is one: no thread hand-off.
  auto* loop = static_cast<asio::io_context*>(CurrentEventLoop());
  if (!loop) loop = &impl_->ioc;
  asio::co_spawn(
      *loop,
      [this, call, loop]() -> asio::awaitable<void> {
        if (call->request->start_after.count() > 0) {
          asio::steady_timer timer(*loop, call->request->start_after);
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        call->done(co_await impl_->Exchange(*loop, call->url, *call->request));
      },
      [call](std::exception_ptr e) {
        if (e) call->done(Status::Internal("HTTP client failed"));
      });
}

}  // namespace aimass::http
