#include "http/client.hpp"

#include "common/thread_name.hpp"
#include "http/draining_read.hpp"
#include "http/response_parser.hpp"
#include "http/write_at_once.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <array>
#include <atomic>
#include <charconv>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace aimass::http {

namespace {
constexpr std::string_view kCannotConnect = "cannot connect to ";
}  // namespace

bool NeverSent(const Status& failure) {
  return failure.code() == Code::kUnavailable && failure.message().rfind(kCannotConnect, 0) == 0;
}


namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::string_view_literals;

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

void RunLoop(boost::asio::io_context& loop) {
  for (;;) {
    try {
      loop.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("event loop: a handler threw, loop goes on: {}", e.what());
    } catch (...) {
      spdlog::error("event loop: a handler threw, loop goes on");
    }
  }
}
void SetCurrentEventLoop(void* loop) { t_event_loop = loop; }

namespace {

// Typed to the io_context's own executor, as the server's I/O: no type-erased executor per
// operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Clock = std::chrono::steady_clock;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// The request as it goes on the wire, in one buffer (one write, no per-field serializer
// state). Fields with a CR or LF are dropped (they would split the request); the caller's Host
// and User-Agent replace the defaults, and the framing is ours.
void SerializeRequest(const ClientRequest& req, const Url& url, std::string& out) {
  bool has_host = false, has_agent = false;
  out.clear();
  out.append(MethodName(req.method)).append(" "sv).append(url.target).append(" HTTP/1.1\r\n"sv);
  for (const auto& [name, value] : req.headers) {
    if (!IsWritableField(name, value) || EqualsIgnoreCase(name, "content-length") ||
        EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "connection")) {
      continue;
    }
    has_host |= EqualsIgnoreCase(name, "host");
    has_agent |= EqualsIgnoreCase(name, "user-agent");
    AppendField(out, name, value);
  }
  out.append(req.fields);
  has_host |= req.fields_have_host;
  has_agent |= req.fields_have_agent;
  if (!has_host) {
    bool ipv6 = url.host.find(':') != std::string::npos;  // ParseUrl took its brackets off
    out.append(ipv6 ? "Host: ["sv : "Host: "sv).append(url.host).append(ipv6 ? "]:"sv : ":"sv).append(url.port).append("\r\n"sv);
  }
  if (!has_agent) out.append("User-Agent: aimass-client\r\n"sv);
  // As Beast frames a string body: no length for a bodiless GET, HEAD, DELETE…
  bool says_length = !req.body.empty() || req.method == Method::kPost || req.method == Method::kPut ||
                     req.method == Method::kPatch;
  if (says_length) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, req.body.size());
    (void)ec;
    AppendField(out, "Content-Length"sv, std::string_view(digits, end - digits));
  }
  out.append("\r\n"sv);
}

// A kept-alive connection, its read buffer and the buffer its requests are written from (kept
// with it: allocating them per exchange showed in the gateway's profile). Its timeout is a
// deadline the exchange sets and a watchdog timer that is re-armed only when it fires or when a
// deadline comes before the armed one, as the server's connections do: no timer is armed and
// cancelled around every request (with Beast's basic_stream that was two timer operations per
// proxied request).
struct Conn {
  explicit Conn(asio::io_context& loop) : socket(loop.get_executor()), watchdog(loop.get_executor()) {
    buffer.reserve(16 * 1024);
  }
  Socket socket;
  Timer watchdog;
  Clock::time_point deadline = Clock::time_point::max();  // of the exchange in progress
  Clock::time_point armed_at = Clock::time_point::max();  // max: the watchdog is not armed
  bool timed_out = false;
  beast::flat_buffer buffer;
  std::string head;
  ResponseParser parser;
};

void ArmWatchdog(const std::shared_ptr<Conn>& c, Clock::time_point at);

void OnWatchdog(const std::shared_ptr<Conn>& c) {
  c->armed_at = Clock::time_point::max();
  if (c->deadline == Clock::time_point::max()) return;  // idle: armed again by the next exchange
  if (Clock::now() >= c->deadline) {
    c->timed_out = true;
    boost::system::error_code ignored;
    c->socket.close(ignored);  // the pending operation completes with an error
    return;
  }
  ArmWatchdog(c, c->deadline);
}

void ArmWatchdog(const std::shared_ptr<Conn>& c, Clock::time_point at) {
  c->armed_at = at;
  c->watchdog.expires_at(at);  // a wait already armed completes as aborted
  c->watchdog.async_wait([weak = std::weak_ptr<Conn>(c)](boost::system::error_code ec) {
    if (ec) return;
    if (auto c = weak.lock()) OnWatchdog(c);
  });
}

void SetDeadline(const std::shared_ptr<Conn>& c, std::chrono::milliseconds timeout) {
  c->deadline = Clock::now() + timeout;
  c->timed_out = false;
  if (c->deadline < c->armed_at) ArmWatchdog(c, c->deadline);
}

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o) : opt(o), guard(asio::make_work_guard(ioc)) {
    thread = NamedThread("http-client", [this] { RunLoop(ioc); });
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
  std::mutex mu;  // guards the map below (finding and adding lists), not the lists
  // Keyed by the loop and host:port: a socket is bound to the loop it was made on. Looked up
  // with a view of the call's own URL, so that a lookup builds no key string.
  struct PoolKeyView {
    const asio::io_context* loop;
    std::string_view host, port;
  };
  struct PoolKey {
    const asio::io_context* loop;
    std::string host, port;
    operator PoolKeyView() const { return {loop, host, port}; }
  };
  struct PoolHash {
    using is_transparent = void;
    size_t operator()(const PoolKeyView& k) const {
      size_t h = std::hash<std::string_view>{}(k.host) * 31 + std::hash<std::string_view>{}(k.port);
      return h ^ (std::hash<const void*>{}(k.loop) << 1);
    }
  };
  struct PoolEq {
    using is_transparent = void;
    bool operator()(const PoolKeyView& a, const PoolKeyView& b) const {
      return a.loop == b.loop && a.host == b.host && a.port == b.port;
    }
  };
  using IdleList = std::vector<std::shared_ptr<Conn>>;
  // Entries are never erased while the client lives, so a pointer to a list stays valid.
  std::unordered_map<PoolKey, IdleList, PoolHash, PoolEq> idle;
  // Tells this client from a later one at the same address, for the per-thread cache below.
  const uint64_t id = [] {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }();

  // The idle list of `key` (made when `make`). A list is used only by the thread that runs its
  // loop (a socket is bound to its loop, and a loop has one thread), so `mu` guards finding
  // it in the map, not using it. The last one this thread looked up is kept by its key: a
  // proxy sends run after run to one upstream, and hashing host and port twice a request
  // (taking and parking) and a lock around each showed in the gateway's profile.
  IdleList* List(const PoolKeyView& key, bool make) {
    thread_local struct {
      uint64_t client = 0;
      const asio::io_context* loop = nullptr;
      std::string host, port;
      IdleList* list = nullptr;
    } last;
    if (last.client == id && last.loop == key.loop && last.host == key.host && last.port == key.port) return last.list;
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) {
      if (!make) return nullptr;
      it = idle.emplace(PoolKey{key.loop, std::string(key.host), std::string(key.port)}, IdleList{}).first;
    }
    last.client = id;
    last.loop = key.loop;
    last.host.assign(key.host);
    last.port.assign(key.port);
    last.list = &it->second;
    return last.list;
  }
  std::shared_ptr<Conn> Take(const PoolKeyView& key) {
    IdleList* list = List(key, false);
    if (!list || list->empty()) return nullptr;
    auto c = std::move(list->back());
    list->pop_back();
    idle_count.fetch_sub(1, std::memory_order_relaxed);
    return c;
  }
  void Park(const PoolKeyView& key, std::shared_ptr<Conn> c) {
    c->deadline = Clock::time_point::max();
    IdleList* list = List(key, true);
    if (list->size() >= opt.max_idle_per_host) return;
    list->push_back(std::move(c));
    idle_count.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<size_t> idle_count{0};  // over all lists, for idle_connections()

  class Call;
  void Start(asio::io_context& loop, Url&& url, std::shared_ptr<const ClientRequest>&& request,
             std::function<void(Result<ClientResponse>)>&& done);
};

// One exchange, driven by completion handlers that own it: connect (or take a pooled
// connection), write, read until the parser is done. No coroutine frame and no composed
// operation per request; each step is one socket operation.
class Client::Impl::Call : public std::enable_shared_from_this<Call> {
 public:
  Call(Impl& impl, asio::io_context& loop, Url&& url, std::shared_ptr<const ClientRequest>&& request,
       std::function<void(Result<ClientResponse>)>&& done)
      : impl_(impl), loop_(loop), url_(std::move(url)), request_(std::move(request)), done_(std::move(done)) {}

  void Begin() {
    if (request_->method == Method::kOther) {
      return End(Status::BadRequest("the HTTP client sends the seven methods it names only"));
    }
    // A pooled connection may have been closed by the server while parked: when the first
    // write or read on it fails, the request is retried once on a fresh connection (only for
    // a reused one, so a request is never sent twice over fresh connections).
    conn_ = attempt_ == 0 ? impl_.Take(PoolKey()) : nullptr;
    reused_ = conn_ != nullptr;
    if (reused_) return Send();
    resolver_.emplace(loop_.get_executor());
    resolver_->async_resolve(url_.host, url_.port, [self = shared_from_this()](
                                                       boost::system::error_code ec, Resolver::results_type results) {
      self->Connect(ec, std::move(results));
    });
  }

 private:
  using Resolver = asio::ip::basic_resolver<tcp, Executor>;

  PoolKeyView PoolKey() const { return {&loop_, url_.host, url_.port}; }
  std::string Key() const { return url_.host + ":" + url_.port; }  // for messages only

  void Connect(boost::system::error_code ec, const Resolver::results_type& results) {
    resolver_.reset();
    if (ec) return End(Status::Unavailable("cannot resolve " + url_.host + ": " + ec.message()));
    conn_ = std::make_shared<Conn>(loop_);
    SetDeadline(conn_, request_->timeout);
    asio::async_connect(conn_->socket, results, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
      Conn& c = *self->conn_;
      if (c.timed_out) return self->End(Status::DeadlineExceeded("no connection to " + self->Key() + " in time"));
      if (ec) return self->End(Status::Unavailable(std::string(kCannotConnect) + self->Key() + ": " + ec.message()));
      boost::system::error_code ignored;
      c.socket.set_option(tcp::no_delay(true), ignored);
      c.socket.non_blocking(true, ignored);  // Send's direct write must not wait
      EnableDrainingReads(c.socket.native_handle());
      self->Send();
    });
  }

  void Send() {
    Conn& c = *conn_;
    SerializeRequest(*request_, url_, c.head);
    SetDeadline(conn_, request_->timeout);
    std::array<asio::const_buffer, 2> out = {asio::buffer(c.head), asio::buffer(request_->body)};
    // A request that fits the socket's send buffer is written at once, without a trip through
    // the event loop; the kernel's rest, if any, is left to async_write. An error is left to
    // it too (it reports the same one), so that the handling below stays in one place.
    boost::system::error_code ignored;
    if (WriteAtOnce(c.socket, out, ignored)) return Receive();
    asio::async_write(c.socket, out, [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (!ec) return self->Receive();
      if (self->conn_->timed_out) return self->End(Status::DeadlineExceeded("could not send to " + self->Key() + " in time"));
      if (self->reused_) return self->Retry();
      self->End(Status::Unavailable("cannot send to " + self->Key() + ": " + ec.message()));
    });
  }

  void Receive() {
    conn_->buffer.clear();
    conn_->parser.Start(response_, impl_.opt.max_response_bytes, request_->method == Method::kHead,
                        /*offer_head=*/request_->body_stream != nullptr);
    ReadSome();
  }

  // Parses what the buffer holds; with a body stream, offers the head once it is read and
  // hands on the body's pieces.
  Status PutBuffered() {
    Conn& c = *conn_;
    ResponseParser& parser = c.parser;
    size_t used = 0;
    Status st = parser.Put(std::string_view(static_cast<const char*>(c.buffer.data().data()), c.buffer.size()), used);
    c.buffer.consume(used);
    if (!st.ok()) return st;
    if (parser.head_ready()) {
      streaming_ = request_->body_stream->OnHead(response_, Canceller());
      parser.ContinueBody(/*unlimited=*/streaming_);
      st = parser.Put(std::string_view(static_cast<const char*>(c.buffer.data().data()), c.buffer.size()), used);
      c.buffer.consume(used);
      if (!st.ok()) return st;
    }
    if (streaming_ && !response_.body.empty()) {
      request_->body_stream->OnData(response_.body);
      response_.body.clear();
      SetDeadline(conn_, request_->timeout);  // the time allowed until the next piece
    }
    return Status::Ok();
  }

  // Ends the exchange from any thread: on its own loop, the socket is closed and the read in
  // flight fails.
  std::function<void()> Canceller() {
    return [weak = weak_from_this(), executor = loop_.get_executor()] {
      asio::post(executor, [weak] {
        auto self = weak.lock();
        if (!self || !self->conn_) return;
        self->cancelled_ = true;
        boost::system::error_code ignored;
        self->conn_->socket.close(ignored);
      });
    };
  }

  void ReadSome() {
    Conn& c = *conn_;
    // As Beast's own read loop: at least 512 bytes of room, at most 64 KiB per read.
    size_t room = std::clamp<size_t>(c.buffer.capacity() - c.buffer.size(), 512, 64 * 1024);
    c.socket.async_read_some(DrainingRead(c.buffer.prepare(room)), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->conn_->buffer.commit(n);
      self->Parse(ec);
    });
  }

  void Parse(boost::system::error_code ec) {
    ResponseParser& parser = conn_->parser;
    if (ec && ec != asio::error::eof) return Failed(ec);
    Status st = PutBuffered();
    if (!st.ok()) return Failed({}, st.message());
    if (parser.done()) return Done(/*reusable=*/!ec && parser.keep_alive());
    if (!ec) return ReadSome();
    // The end of the connection: it may delimit the answer.
    if (!parser.got_some()) return Failed(ec);
    st = parser.PutEof();
    if (!st.ok()) return Failed({}, st.message());
    Done(/*reusable=*/false);
  }

  // A transport error `ec`, or a malformed answer (`malformed` says how).
  void Failed(boost::system::error_code ec, std::string_view malformed = {}) {
    if (cancelled_) return End(Status::Unavailable("the exchange with " + Key() + " was cancelled"));
    if (conn_->timed_out) return End(Status::DeadlineExceeded("no answer from " + Key() + " in time"));
    if (reused_ && !conn_->parser.got_some() &&
        (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe)) {
      return Retry();
    }
    if (ec == asio::error::eof) ec = bhttp::error::end_of_stream;
    End(Status::Unavailable("no answer from " + Key() + ": " + (malformed.empty() ? ec.message() : std::string(malformed))));
  }

  void Done(bool reusable) {
    // Bytes after the answer would be an unsolicited second answer: such a connection is not
    // reused.
    if (reusable && conn_->buffer.size() == 0) impl_.Park(PoolKey(), std::move(conn_));
    conn_.reset();
    End(std::move(response_));
  }

  void Retry() {
    conn_.reset();
    response_ = ClientResponse{};
    if (++attempt_ >= 2) return End(Status::Unavailable("connection to " + Key() + " kept failing"));
    Begin();
  }

  void End(Result<ClientResponse> result) {
    if (conn_) {
      boost::system::error_code ignored;
      conn_->socket.close(ignored);
      conn_.reset();
    }
    // What the callback throws leaves through the event loop, which RunLoop keeps going.
    auto done = std::move(done_);
    done(std::move(result));
  }

  Impl& impl_;
  asio::io_context& loop_;
  Url url_;
  std::shared_ptr<const ClientRequest> request_;
  std::function<void(Result<ClientResponse>)> done_;
  std::shared_ptr<Conn> conn_;
  bool reused_ = false;
  int attempt_ = 0;
  bool streaming_ = false;  // the body goes to request_->body_stream in pieces
  bool cancelled_ = false;
  std::optional<Resolver> resolver_;
  ClientResponse response_;
};

void Client::Impl::Start(asio::io_context& loop, Url&& url, std::shared_ptr<const ClientRequest>&& request,
                         std::function<void(Result<ClientResponse>)>&& done) {
  auto delay = request->start_after;
  auto call = std::make_shared<Call>(*this, loop, std::move(url), std::move(request), std::move(done));
  if (delay.count() <= 0) return call->Begin();
  auto timer = std::make_shared<Timer>(loop.get_executor(), delay);
  timer->async_wait([timer, call](boost::system::error_code) { call->Begin(); });
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
Client::~Client() = default;

size_t Client::idle_connections() const {
  return impl_->idle_count.load(std::memory_order_relaxed);
}

Result<ClientResponse> Client::Send(const ClientRequest& request) {
  auto url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  std::promise<Result<ClientResponse>> done;
  auto fut = done.get_future();
  // The caller keeps `request` until the answer: shared without a copy.
  std::shared_ptr<const ClientRequest> borrowed(&request, [](const ClientRequest*) {});
  asio::post(impl_->ioc, [this, url = std::move(*url), borrowed, &done]() mutable {
    impl_->Start(impl_->ioc, std::move(url), std::move(borrowed),
                 [&done](Result<ClientResponse> r) { done.set_value(std::move(r)); });
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
  SendAsync(std::move(*url), std::move(request), std::move(done));
}

void Client::SendAsync(Url url, std::shared_ptr<const ClientRequest> request, std::function<void(Result<ClientResponse>)> done) {
  // On the calling server I/O thread's own loop when there is one: no thread hand-off.
  if (auto* loop = static_cast<asio::io_context*>(CurrentEventLoop())) {
    return impl_->Start(*loop, std::move(url), std::move(request), std::move(done));
  }
  asio::post(impl_->ioc, [this, url = std::move(url), request = std::move(request), done = std::move(done)]() mutable {
    impl_->Start(impl_->ioc, std::move(url), std::move(request), std::move(done));
  });
}

}  // namespace aimass::http
