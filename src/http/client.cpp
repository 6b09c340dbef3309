#include "http/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <array>
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

namespace {

// Typed to the io_context's own executor, as the server's I/O: no type-erased executor per
// operation.
using Executor = asio::io_context::executor_type;
template <class T>
using Awaitable = asio::awaitable<T, Executor>;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;

// Reads an answer straight into a ClientResponse: Beast's own message type would store every
// field in its own allocation and then be copied field by field (the gateway's profile showed
// both).
class ResponseReader : public bhttp::basic_parser<false> {
 public:
  explicit ResponseReader(ClientResponse& out) : out_(out) {}

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { out_.status = code; }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    out_.headers.Add(std::string(name), std::string(value));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    if (length) out_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  ClientResponse& out_;
};

// The request as it goes on the wire, in one buffer (one write, no per-field serializer
// state). Fields with a CR or LF are dropped (they would split the request); the caller's Host
// and User-Agent replace the defaults, and the framing is ours.
void SerializeRequest(const ClientRequest& req, const Url& url, std::string& out) {
  bool has_host = false, has_agent = false;
  out.clear();
  out += MethodName(req.method);
  out += ' ';
  out += url.target;
  out += " HTTP/1.1\r\n";
  for (const auto& [name, value] : req.headers) {
    if (HasLineBreak(name) || HasLineBreak(value) || name.empty() || EqualsIgnoreCase(name, "content-length") ||
        EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "connection")) {
      continue;
    }
    has_host |= EqualsIgnoreCase(name, "host");
    has_agent |= EqualsIgnoreCase(name, "user-agent");
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!has_host) {
    bool ipv6 = url.host.find(':') != std::string::npos;  // ParseUrl took its brackets off
    out.append(ipv6 ? "Host: [" : "Host: ").append(url.host).append(ipv6 ? "]:" : ":").append(url.port).append("\r\n");
  }
  if (!has_agent) out += "User-Agent: aimass-client\r\n";
  // As Beast frames a string body: no length for a bodiless GET, HEAD, DELETE…
  bool says_length = !req.body.empty() || req.method == Method::kPost || req.method == Method::kPut ||
                     req.method == Method::kPatch;
  if (says_length) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, req.body.size());
    (void)ec;
    out.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  out += "\r\n";
}

}  // namespace

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
  // A kept-alive connection, its read buffer and the buffer its requests are written from (kept
  // with it: allocating them per exchange showed in the gateway's profile).
  struct Conn {
    explicit Conn(asio::io_context& loop) : stream(loop.get_executor()) { buffer.reserve(16 * 1024); }
    Stream stream;
    beast::flat_buffer buffer;
    std::string head;
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

  Awaitable<Result<ClientResponse>> Exchange(asio::io_context& loop, const Url& url, const ClientRequest& req);
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
Client::~Client() = default;

size_t Client::idle_connections() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& [k, v] : impl_->idle) n += v.size();
  return n;
}

Awaitable<Result<ClientResponse>> Client::Impl::Exchange(asio::io_context& loop, const Url& url,
                                                         const ClientRequest& req) {
  auto tuple = asio::as_tuple(asio::use_awaitable_t<Executor>{});
  auto key = [&url] { return url.host + ":" + url.port; };  // for messages only
  if (req.method == Method::kOther) co_return Status::BadRequest("the HTTP client sends the seven methods it names only");

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
      if (cec == beast::error::timeout) co_return Status::DeadlineExceeded("no connection to " + key() + " in time");
      if (cec) co_return Status::Unavailable("cannot connect to " + key() + ": " + cec.message());
      boost::system::error_code ignored;
      conn->stream.socket().set_option(tcp::no_delay(true), ignored);
    }
    SerializeRequest(req, url, conn->head);
    std::array<asio::const_buffer, 2> out = {asio::buffer(conn->head), asio::buffer(req.body)};
    conn->stream.expires_after(req.timeout);
    auto [wec, wn] = co_await asio::async_write(conn->stream, out, tuple);
    (void)wn;
    if (wec) {
      if (wec == beast::error::timeout) co_return Status::DeadlineExceeded("could not send to " + key() + " in time");
      if (reused) continue;
      co_return Status::Unavailable("cannot send to " + key() + ": " + wec.message());
    }
    conn->buffer.clear();
    ClientResponse res;
    res.headers.Reserve(12);  // growing field by field showed in the gateway's profile
    ResponseReader reader(res);
    reader.body_limit(opt.max_response_bytes);
    if (req.method == Method::kHead) reader.skip(true);
    auto [rec, rn] = co_await bhttp::async_read(conn->stream, conn->buffer, reader, tuple);
    (void)rn;
    if (rec) {
      if (reused && (rec == bhttp::error::end_of_stream || rec == asio::error::connection_reset ||
                     rec == asio::error::eof)) {
        continue;
      }
      if (rec == beast::error::timeout) co_return Status::DeadlineExceeded("no answer from " + key() + " in time");
      co_return Status::Unavailable("no answer from " + key() + ": " + rec.message());
    }
    // Bytes after the answer would be an unsolicited second answer: such a connection is not
    // reused.
    if (reader.keep_alive() && conn->buffer.size() == 0) Park(PoolKey(loop, url), std::move(conn));
    co_return res;
  }
  co_return Status::Unavailable("connection to " + key() + " kept failing");
}

Result<ClientResponse> Client::Send(const ClientRequest& request) {
  auto url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  std::promise<Result<ClientResponse>> done;
  auto fut = done.get_future();
  asio::co_spawn(
      impl_->ioc,
      [this, &url, &request, &done]() -> Awaitable<void> {
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
      [this, call, loop]() -> Awaitable<void> {
        if (call->request->start_after.count() > 0) {
          asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>
              timer(loop->get_executor(), call->request->start_after);
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable_t<Executor>{}));
        }
        call->done(co_await impl_->Exchange(*loop, call->url, *call->request));
      },
      [call](std::exception_ptr e) {
        if (e) call->done(Status::Internal("HTTP client failed"));
      });
}

}  // namespace aimass::http
