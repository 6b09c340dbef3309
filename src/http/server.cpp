#include "http/server.hpp"

#include "common/thread_name.hpp"
#include "http/client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast.hpp>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>
#include <unordered_map>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "http/deferred_response.hpp"
#include "http/draining_read.hpp"
#include "http/head_parser.hpp"
#include "http/json.hpp"
#include "http/write_at_once.hpp"

namespace aimass::http {

// Bodies up to this size are read before the caller is admitted (see ServeRequests).
constexpr uint64_t kReadBeforeAdmitBytes = 64 * 1024;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::string_view_literals;

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return Status::BadRequest("expected HOST:PORT, got '" + std::string(s) + "'");
  std::string host(s.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  std::string_view p = s.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port > 65535) {
    return Status::BadRequest("invalid port in '" + std::string(s) + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

// Executor-typed I/O: everything on a connection runs on one single-threaded io_context, so
// the concrete executor type is used instead of any_io_executor (its type erasure showed up in
// profiles at several percent of a /healthz request).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T>
using Awaitable = asio::awaitable<T, Executor>;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable_t<Executor>{});
using Clock = std::chrono::steady_clock;

namespace {

// The handler pool's threads are asio's, started unnamed; each names itself at its first job.
void NameWorkerThread() {
  thread_local bool named = false;
  if (named) return;
  NameThisThread("http-worker");
  named = true;
}

class AnswerWaiter;

// The wake-ups other threads send to one I/O thread's connections, handed over in one post:
// an executor finishing a batch completes its requests one after another, and a post each
// made the I/O thread and the executor take turns on the io_context's scheduler lock (a fifth
// of the I/O threads' context switches under batched load). Only the first wake-up after a
// drain posts; the rest queue behind it.
class WakeBox {
 public:
  explicit WakeBox(Executor executor) : executor_(executor) {}
  void Add(std::weak_ptr<AnswerWaiter> waiter);

 private:
  void Drain();
  Executor executor_;
  std::mutex mu_;
  // Weak: a waiter lives as long as its connection, and a connection that is gone has no one
  // to wake (nor should a box outliving its io_context destroy a timer of it).
  std::vector<std::weak_ptr<AnswerWaiter>> waiting_;  // guarded by mu_
  bool posted_ = false;                                 // guarded by mu_
};

// Waits for a connection's deferred answers: a timer on the connection's own io_context that
// the completion cancels (directly on that thread, through the WakeBox from others), so that no
// thread waits. Made once per connection and handed to each answer it waits for.
class AnswerWaiter final : public DeferredResponse::Waiter, public std::enable_shared_from_this<AnswerWaiter> {
 public:
  AnswerWaiter(Executor executor, WakeBox& box) : timer(executor), box_(box) {}
  Timer timer;

  void Wake() override {
    if (timer.get_executor().running_in_this_thread()) {
      timer.cancel();
      return;
    }
    // Runs after the wait is armed: the io_context has one thread, so the drain cannot run
    // between DeferredWait's done() check and its wait.
    box_.Add(weak_from_this());
  }

 private:
  WakeBox& box_;
};

void WakeBox::Add(std::weak_ptr<AnswerWaiter> waiter) {
  {
    std::lock_guard lock(mu_);
    waiting_.push_back(std::move(waiter));
    if (posted_) return;
    posted_ = true;
  }
  asio::post(executor_, [this] { Drain(); });
}

void WakeBox::Drain() {
  std::vector<std::weak_ptr<AnswerWaiter>> woken;
  {
    std::lock_guard lock(mu_);
    woken.swap(waiting_);
    posted_ = false;
  }
  for (auto& w : woken) {
    if (auto waiter = w.lock()) waiter->timer.cancel();
  }
}

// One connection. Timeouts are a deadline that the serving loop moves and a watchdog that
// closes the socket once it passes, instead of a timer armed and cancelled around every read
// and write.
struct Connection {
  Connection(Socket s, WakeBox& box) : socket(std::move(s)), watchdog(socket.get_executor()), wake_box(box) {}
  Socket socket;
  Timer watchdog;
  WakeBox& wake_box;  // its I/O thread's
  std::shared_ptr<AnswerWaiter> answer_waiter;  // DeferredWait's, made on first use
  std::string head;  // the status line and fields of the response being written
  Clock::time_point deadline = Clock::time_point::max();
  bool busy = false;    // touched only on the connection's io_context
  bool streaming = false;  // sending an event stream: closed at once on shutdown
  bool closed = false;

  void ExpiresAfter(std::chrono::seconds s) { deadline = Clock::now() + s; }
  void Close() {
    boost::system::error_code ec;
    socket.close(ec);
  }
};

// One wait for a deferred response, with the connection's AnswerWaiter, whose timer is also the
// deadline: when it fires first, the handler's expiry runs (a request still queued is answered
// 504 by it). A completion on this connection's own thread (the gateway's upstream answer
// arrives on it) finds the wait armed: the serving loop was suspended in it, or the completion
// came before the wait and done() is true. A spurious wake-up (a late post for an earlier
// answer) only makes the loop look again. Should the wait go before the answer (the io_context
// stopped under it), the answer is abandoned, and a later completion touches nothing of the
// connection.
// A response that asks for it (DeferredResponse::OnClientGone) also has the connection watched
// for its client closing meanwhile: readable with nothing to read is the end of the stream.
class DeferredWait {
 public:
  DeferredWait(Connection& conn, std::shared_ptr<DeferredResponse> deferred) : conn_(conn), deferred_(std::move(deferred)) {
    if (!conn.answer_waiter) conn.answer_waiter = std::make_shared<AnswerWaiter>(conn.socket.get_executor(), conn.wake_box);
    waiter_ = conn.answer_waiter.get();
    deferred_->SetWaiter(conn.answer_waiter);
    waiter_->timer.expires_at(std::min(deferred_->deadline(), Clock::now() + std::chrono::hours(24)));
    if (deferred_->watches_client()) {
      watch_ = std::make_shared<Watch>();
      Arm(conn_, watch_, deferred_, conn.answer_waiter);
    }
  }
  ~DeferredWait() {
    if (watch_ && watch_->active) {
      watch_->active = false;
      boost::system::error_code ignored;
      conn_.socket.cancel(ignored);  // the watch is the socket's only operation now
    }
    if (!deferred_->done()) deferred_->Abandon();
  }
  DeferredWait(const DeferredWait&) = delete;
  DeferredWait& operator=(const DeferredWait&) = delete;

  bool done() const { return deferred_->done() || client_gone(); }
  bool client_gone() const { return watch_ && watch_->gone; }
  Timer& timer() { return waiter_->timer; }
  // After each wait: the deadline passed unless the wait was cut short.
  void Woken(const boost::system::error_code& ec) {
    if (ec || deferred_->done()) return;
    deferred_->Expire();
    waiter_->timer.expires_at(Clock::now() + std::chrono::hours(24));
  }
  Response Take() { return deferred_->Take(); }

 private:
  struct Watch {
    bool active = true;  // false once the wait is over: a completion already queued does nothing
    bool gone = false;
  };
  // Runs on the connection's thread, as the serving loop does.
  static void Arm(Connection& conn, std::shared_ptr<Watch> watch, std::shared_ptr<DeferredResponse> deferred,
                  std::shared_ptr<AnswerWaiter> waiter) {
    conn.socket.async_wait(Socket::wait_read, [&conn, watch, deferred, waiter](boost::system::error_code ec) mutable {
      if (ec || !watch->active) return;  // cancelled: the connection is still there
      char c;
      ssize_t n = ::recv(conn.socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return Arm(conn, std::move(watch), std::move(deferred), std::move(waiter));
      }
      watch->active = false;
      if (n > 0) return;  // the client's next request: it is still there
      watch->gone = true;
      deferred->ClientGone();
      waiter->timer.cancel();  // the serving loop looks again
    });
  }

  Connection& conn_;
  std::shared_ptr<DeferredResponse> deferred_;
  AnswerWaiter* waiter_;
  std::shared_ptr<Watch> watch_;
};

// Spools a streaming body to a file while hashing it.
class Spool {
 public:
  ~Spool() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& dir) {
    // Locked until the request is done (the handler may adopt the file meanwhile): a blob store
    // on a shared directory sweeps only spool files no live process holds.
    fd_ = CreateLockedTempFile(dir + "/upload-", &path_);
    if (fd_ < 0) return Status::Internal("cannot create spool file");
    return Status::Ok();
  }
  Status Write(const char* data, size_t n) {
    hash_.Update(std::string_view(data, n));
    size_ += n;
    int err = AIMASS_FAILPOINT("upload.spool_write");
    if (err == 0 && !WriteAll(fd_, std::string_view(data, n))) err = errno;
    if (err != 0) return failpoint::IoError("cannot store the upload", err);
    return Status::Ok();
  }
  // The file stays open (and locked) until the Spool goes.
  std::string FinishHex() { return hash_.FinishHex(); }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  Sha256 hash_;
  std::string path_;
  uint64_t size_ = 0;
};

// A chunked body's unparsed rest, when the parser wants more, is a chunk-size line or the
// trailers (a chunk's data is always taken whole): a line feed there without its carriage
// return is a bare-LF line, which Beast reads past while it waits for a CR that never comes.
bool BareLineFeed(const beast::flat_buffer& buffer) {
  auto* p = static_cast<const char*>(buffer.data().data());
  size_t n = buffer.size();
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) return true;
  }
  return false;
}

// Feeds `parser` from the connection until its message is complete, its body buffer is full
// (buffer_body: need_buffer), or an error. Beast's async_read does the same but trusts a
// chunked body's framing further: a chunk line ended by a bare LF made the request wait for
// the read timeout, and a chunk line or trailer that never ends grew the buffer without limit.
// Both are malformed framing here (bad_chunk), answered 400 at once. Errors of the socket
// (eof, reset, the watchdog's close) are returned as they are: nobody is left to answer.
template <class Parser>
Awaitable<boost::system::error_code> ReadBody(Socket& socket, beast::flat_buffer& buffer, Parser& parser,
                                              size_t max_line_bytes) {
  parser.eager(true);
  for (;;) {
    boost::system::error_code ec;
    if (buffer.size() > 0) {
      buffer.consume(parser.put(buffer.data(), ec));
      if (parser.is_done()) co_return boost::system::error_code{};
      if (ec && ec != bhttp::error::need_more) co_return ec;
      if (ec == bhttp::error::need_more && parser.chunked() &&
          (BareLineFeed(buffer) || buffer.size() > max_line_bytes)) {
        co_return bhttp::error::bad_chunk;
      }
    }
    size_t room = beast::read_size(buffer, 65536);
    auto [rec, n] = co_await socket.async_read_some(DrainingRead(buffer.prepare(room)), kUse);
    buffer.commit(n);
    if (rec) co_return rec;
  }
}

// A body the client sent but the parser refused (chunked framing, a size that does not fit):
// the client's error, answered; not a socket's.
bool MalformedBody(const boost::system::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
         ec != bhttp::error::partial_message && ec != bhttp::error::end_of_stream;
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Pipeline& p)
      : opt(std::move(o)), pipeline(p), workers(opt.worker_threads) {
    // One single-threaded io_context per I/O thread, connections dealt out round-robin (the
    // nginx worker model): a connection never changes thread, so no strands, no lock
    // hand-offs between threads and no cross-thread wake-ups on the hot path.
    for (int i = 0; i < std::max(1, opt.io_threads); ++i) {
      auto ctx = std::make_unique<asio::io_context>(1);
      guards.emplace_back(asio::make_work_guard(*ctx));
      wake_boxes.push_back(std::make_unique<WakeBox>(ctx->get_executor()));
      iocs.push_back(std::move(ctx));
    }
  }

  ServerOptions opt;
  const Pipeline& pipeline;
  std::vector<std::unique_ptr<WakeBox>> wake_boxes;  // one per io_context; outlive them
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  size_t next_ioc = 0;
  asio::thread_pool workers;
  std::optional<asio::basic_socket_acceptor<tcp, Executor>> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  uint16_t bound_port = 0;

  std::mutex mu;
  std::condition_variable drained;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  uint64_t next_id = 0;
  bool stopped = false;
  std::thread drainer;

  Awaitable<void> Accept();
  Awaitable<void> Serve(uint64_t id, std::shared_ptr<Connection> conn);
  Awaitable<void> ServeRequests(Connection& conn);
  Awaitable<void> Watch(std::shared_ptr<Connection> conn);
  Awaitable<bool> WriteResponse(Connection& conn, Response& res, const Request& req,
                                bool keep_alive);
  Awaitable<bool> WriteStream(Connection& conn, Response& res);
  void Forget(uint64_t id);

  Status AdmitSafely(Request& req) {
    try {
      return pipeline.Admit(req);
    } catch (const std::exception& e) {
      spdlog::error("request admission threw: {}", e.what());
      return Status::Internal("internal error");
    }
  }

  // The pipeline turns handler exceptions into 500s; this catches what a middleware throws,
  // which would otherwise escape the connection's coroutine and end its I/O thread.
  Response RunSafely(Request& req) {
    try {
      return pipeline.Run(req);
    } catch (const std::exception& e) {
      spdlog::error("request pipeline threw: {}", e.what());
    } catch (...) {
      spdlog::error("request pipeline threw a non-standard exception");
    }
    return ErrorResponse(Status::Internal("internal error"), req.request_id);
  }
};

Server::Server(ServerOptions options, const Pipeline& pipeline)
    : impl_(std::make_unique<Impl>(std::move(options), pipeline)) {}

Server::~Server() {
  Shutdown();
  Wait();
}

uint16_t Server::port() const { return impl_->bound_port; }

Status Server::Start() {
  Impl& s = *impl_;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(s.opt.host, ec);
  if (ec) return Status::BadRequest("invalid listen address '" + s.opt.host + "'");
  tcp::endpoint ep(addr, s.opt.port);
  s.acceptor.emplace(s.iocs[0]->get_executor());
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();  // nothing runs its io_context yet: Shutdown must not wait on it
    return Status::Unavailable("cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port) +
                               ": " + ec.message());
  }
  s.bound_port = s.acceptor->local_endpoint().port();
  asio::co_spawn(s.acceptor->get_executor(), s.Accept(), asio::detached);
  for (auto& ctx : s.iocs) {
    s.threads.push_back(NamedThread("http-io", [c = ctx.get()] {
      SetCurrentEventLoop(c);  // the gateway's upstream calls run on this loop too
      RunLoop(*c);
    }));
  }
  return Status::Ok();
}

void Server::Shutdown() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) return;
  if (!s.acceptor || s.threads.empty()) return;
  std::lock_guard start_lock(s.mu);  // Wait() reads `drainer` under mu
  s.drainer = std::thread([&s] {
    // First the listening socket, on its own thread, and wait until it is closed: after that
    // no connection can arrive that the steps below would miss.
    std::promise<void> acceptor_closed;
    asio::post(s.acceptor->get_executor(), [&s, &acceptor_closed] {
      boost::system::error_code ec;
      s.acceptor->close(ec);
      acceptor_closed.set_value();
    });
    acceptor_closed.get_future().wait();
    {
      // Idle connections are waiting for a request that may never come: close them now. Busy
      // ones see `draining` after their response and close themselves.
      std::lock_guard lock(s.mu);
      for (auto& entry : s.connections) {
        std::shared_ptr<Connection> conn = entry.second;
        asio::post(conn->socket.get_executor(), [conn] {
          // Idle, or streaming events that would never end by themselves (clients reconnect).
          if (!conn->busy || conn->streaming) conn->Close();
        });
      }
    }
    std::unique_lock lock(s.mu);
    bool clean = s.drained.wait_for(lock, std::chrono::seconds(s.opt.shutdown_timeout_s),
                                    [&s] { return s.connections.empty(); });
    if (!clean) {
      spdlog::warn("shutdown: {} connection(s) still open after {} s, closing them",
                   s.connections.size(), s.opt.shutdown_timeout_s);
    }
    lock.unlock();
    for (auto& g : s.guards) g.reset();
    for (auto& ctx : s.iocs) ctx->stop();
  });
}

void Server::Wait() {
  Impl& s = *impl_;
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  std::thread drainer;
  {
    std::lock_guard lock(s.mu);
    drainer = std::move(s.drainer);
  }
  if (drainer.joinable()) drainer.join();
  s.workers.join();
}

void Server::Impl::Forget(uint64_t id) {
  std::lock_guard lock(mu);
  connections.erase(id);
  if (connections.empty()) drained.notify_all();
}

Awaitable<void> Server::Impl::Accept() {
  for (;;) {
    size_t index = next_ioc++ % iocs.size();
    asio::io_context& target = *iocs[index];
    auto [ec, socket] = co_await acceptor->async_accept(target.get_executor(), kUse);
    if (ec) {
      if (draining || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors (EMFILE) and the like: back off instead of spinning on the error.
      spdlog::warn("accept failed: {}", ec.message());
      Timer pause(acceptor->get_executor());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(kUse);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    // Synchronous calls on it return would_block instead of waiting (PlainWrite tries a direct
    // write first); asynchronous ones are unaffected.
    socket.non_blocking(true, ec);
    EnableDrainingReads(socket.native_handle());
    auto conn = std::make_shared<Connection>(std::move(socket), *wake_boxes[index]);
    uint64_t id;
    {
      std::lock_guard lock(mu);
      if (connections.size() >= opt.max_connections) {
        conn->Close();  // over the limit: refuse at once rather than queue without bound
        continue;
      }
      id = next_id++;
      connections.emplace(id, conn);
    }
    asio::co_spawn(target.get_executor(), Watch(conn), asio::detached);
    asio::co_spawn(target.get_executor(), Serve(id, std::move(conn)), asio::detached);
  }
}

Awaitable<void> Server::Impl::Watch(std::shared_ptr<Connection> conn) {
  // Ticks once a second: a deadline moved by the serving loop is seen within a second, and an
  // idle connection costs one timer wait per second.
  while (!conn->closed) {
    conn->watchdog.expires_after(std::chrono::seconds(1));
    co_await conn->watchdog.async_wait(kUse);  // woken by expiry or cancel alike
    if (conn->closed) break;
    if (Clock::now() >= conn->deadline) {
      conn->Close();  // pending reads and writes complete with an error
      break;
    }
  }
}

static std::string RemoteOf(Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "-";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

static bool Disconnected(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::bad_descriptor || ec == asio::error::broken_pipe;
}

Awaitable<void> Server::Impl::Serve(uint64_t id, std::shared_ptr<Connection> conn) {
  try {
    co_await ServeRequests(*conn);
  } catch (...) {
    // Whatever escaped (bad_alloc, a non-std throw), the connection is cleaned up below and
    // the I/O thread lives on.
    spdlog::error("connection ended by an exception");
  }
  conn->closed = true;
  conn->Close();
  conn->watchdog.cancel();
  Forget(id);
}

// The status line and headers, written into `head` (cleared first, so that a connection can
// keep one buffer for its heads). Header values come from handlers and from validated request
// data; a CR or LF in one would split the response, so such a header is dropped.
static void WriteHead(std::string& head, const Response& res, uint64_t content_length, bool keep_alive,
                      bool chunked = false) {
  head.clear();
  head.reserve(256);
  char digits[24];
  head.append("HTTP/1.1 "sv);
  head.append(digits, std::to_chars(digits, digits + sizeof digits, res.status).ptr);
  head.push_back(' ');
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  head.append(reason.data(), reason.size());
  head.append("\r\n"sv);
  res.headers.AppendTo(head);
  if (!res.headers.Get("Server")) head.append("Server: aimass\r\n"sv);
  if (chunked) {
    head.append("Transfer-Encoding: chunked\r\n"sv);
  } else if (res.status != 204 && res.status != 304 && !(res.status >= 100 && res.status < 200)) {
    AppendField(head, "Content-Length"sv,
                std::string_view(digits, std::to_chars(digits, digits + sizeof digits, content_length).ptr - digits));
  }
  if (!keep_alive) head.append("Connection: close\r\n"sv);
  head.append("\r\n"sv);
}

static std::string ResponseHead(const Response& res, uint64_t content_length, bool keep_alive,
                                bool chunked = false) {
  std::string head;
  WriteHead(head, res, content_length, keep_alive, chunked);
  return head;
}

// A response with its body in memory, written at once when it fits the socket's send buffer
// (most do): no trip through the event loop, no coroutine suspended and resumed. What the
// kernel does not take is left in `rest` for async_write. The head goes into the
// connection's own buffer (one allocation per connection, not per response).
struct PlainWrite {
  enum Outcome { kDone, kPartial };
  std::array<asio::const_buffer, 2> rest;
  bool ok = true;

  Outcome Start(Connection& conn, const Response& res, bool head_only, bool keep_alive) {
    std::string& head = conn.head;
    WriteHead(head, res, res.content_length_override.value_or(res.body.size()), keep_alive);
    rest = {asio::buffer(head), head_only ? asio::const_buffer() : asio::buffer(res.body)};
    boost::system::error_code ec;
    if (WriteAtOnce(conn.socket, rest, ec)) return kDone;
    ok = !ec;
    return ok ? kPartial : kDone;
  }
};

Awaitable<void> Server::Impl::ServeRequests(Connection& connection) {
  Connection* conn = &connection;
  beast::flat_buffer buffer;
  // Beast reads as much as the buffer has room for, and an empty buffer only 512 bytes: a
  // request of a few hundred bytes of headers would take several reads.
  buffer.reserve(16 * 1024);
  Socket& socket = conn->socket;
  std::string remote = RemoteOf(socket);
  bool first = true;
  bool unread_body = false;  // answered without reading the body: linger before closing
  const auto read_timeout = std::chrono::seconds(opt.read_timeout_s);

  while (!draining) {
    conn->busy = false;
    conn->ExpiresAfter(first ? read_timeout : std::chrono::seconds(opt.idle_timeout_s));
    Request req;
    // A login token alone is 300-400 bytes of Authorization; under glibc's tcache limit (1 KiB).
    req.headers.Reserve(12, 960);
    HeadParser header_parser(req);
    header_parser.header_limit(opt.max_header_bytes);
    // Limits depend on the route, known only after the header: checked below.
    header_parser.body_limit(boost::none);
    // The header is read here, the parser fed from the socket's reads directly: Beast's
    // async_read_header wraps each read in two composed operations of its own (their handlers,
    // executors and work counts cost ~900 instructions a request in the gateway's profile).
    // What it does is kept: bytes already buffered (a pipelined request) are parsed first, a
    // full buffer is an overflow, and the peer closing before a whole header is end_of_stream
    // (nothing sent) or partial_message.
    boost::system::error_code ec;
    if (buffer.size() > 0) buffer.consume(header_parser.put(buffer.data(), ec));
    // (An error_code compared with an enum builds one and asks its category: `!ec` first.)
    while (!ec ? !header_parser.is_header_done() : ec == bhttp::error::need_more) {
      size_t room = beast::read_size(buffer, 65536);
      if (room == 0) {
        ec = bhttp::error::buffer_overflow;
        break;
      }
      auto [rec, n] = co_await socket.async_read_some(DrainingRead(buffer.prepare(room)), kUse);
      buffer.commit(n);
      if (rec && rec == asio::error::eof) {
        ec = header_parser.got_some() ? bhttp::error::partial_message : bhttp::error::end_of_stream;
        break;
      }
      ec = rec;
      if (!ec) buffer.consume(header_parser.put(buffer.data(), ec));
    }
    first = false;
    req.remote = remote;
    if (ec) {
      if (Disconnected(ec)) break;
      // Nothing of a header that failed to parse reaches the middleware (a forged request id).
      req = Request();
      req.remote = remote;
      if (ec == bhttp::error::header_limit) {
        req.early_error = Status(Code::kHeadersTooLarge, "request headers are too large");
      } else {
        req.early_error = Status::BadRequest("malformed HTTP request");
      }
      Response res = RunSafely(req);
      co_await WriteResponse(*conn, res, req, false);
      unread_body = true;
      break;
    }
    conn->busy = true;
    req.received = Clock::now();
    conn->deadline = req.received + read_timeout;  // one clock read for both

    bool keep_alive = header_parser.keep_alive();
    const bool chunked = header_parser.chunked();
    req.early_error = pipeline.Match(req);
    // Beast frames a body as chunked only when chunked is the last coding, and otherwise reads
    // no body at all; a proxy in front may frame it differently (request smuggling). Any
    // Transfer-Encoding but a plain final chunked, or one beside Content-Length, is refused.
    if (req.headers.Get("Transfer-Encoding") && (!chunked || req.headers.Get("Content-Length"))) {
      req.early_error = Status::BadRequest("unsupported Transfer-Encoding framing");
      Response res = RunSafely(req);
      co_await WriteResponse(*conn, res, req, false);
      unread_body = true;
      break;
    }

    bool has_body = header_parser.content_length().value_or(0) > 0 || chunked;
    uint64_t limit = req.route && req.route->streaming_body ? opt.max_upload_bytes
                     : req.route && req.route->max_body_bytes ? req.route->max_body_bytes
                                                               : opt.max_body_bytes;
    if (req.early_error.ok() && header_parser.content_length().value_or(0) > limit) {
      // Refused before reading a byte of it.
      req.early_error = Status::TooLarge("body exceeds " + std::to_string(limit) + " bytes");
    }
    if (!req.early_error.ok()) {
      // Nothing will read the body, so the connection cannot carry another request.
      if (has_body) {
        keep_alive = false;
        unread_body = true;
        has_body = false;
      }
    } else if (has_body && (chunked || *header_parser.content_length() > kReadBeforeAdmitBytes)) {
      // A large body is read only for an admitted caller. Admission may read the metadata store
      // (token revocation, API keys): on a worker, so that an I/O thread never waits on a
      // database lock. A small body is simply read, and the pipeline admits the request on
      // the same worker trip that runs it (one trip instead of two: inference requests).
      req.early_error = co_await asio::co_spawn(
          workers, [this, &req]() -> asio::awaitable<Status> {
            NameWorkerThread();
            co_return AdmitSafely(req);
          },
          asio::use_awaitable_t<Executor>{});
      if (!req.early_error.ok()) {
        keep_alive = false;
        unread_body = true;
        has_body = false;
      }
    }
    if (has_body) {
      if (auto expect = req.headers.Get("Expect"); expect && EqualsIgnoreCase(*expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(kContinue.data(), kContinue.size()), kUse);
      }
    }

    std::optional<Spool> spool;
    bool body_read = true;
    if (req.early_error.ok() && req.route->streaming_body) {
      // Also without a body: an empty upload is a valid (empty) blob.
      auto declared = header_parser.content_length();  // boost::optional
      bhttp::request_parser<bhttp::buffer_body> parser{header_parser.Release()};
      parser.body_limit(opt.max_upload_bytes);
      spool.emplace();
      Status st = spool->Open(opt.spool_dir);
      std::vector<char> chunk(1024 * 1024);
      if (st.ok() && declared && !chunked) {
        // A body of known length goes straight from the socket to the spool in 1 MiB reads:
        // without the parser's copy and its 64 KiB reads, uploads run about twice as fast.
        uint64_t remaining = *declared;
        size_t buffered = std::min<uint64_t>(buffer.size(), remaining);
        if (buffered > 0) {
          st = spool->Write(static_cast<const char*>(buffer.data().data()), buffered);
          buffer.consume(buffered);
          remaining -= buffered;
        }
        while (st.ok() && remaining > 0) {
          conn->ExpiresAfter(read_timeout);
          auto [rec, rn] = co_await socket.async_read_some(
              asio::buffer(chunk.data(), std::min<uint64_t>(chunk.size(), remaining)), kUse);
          if (rec) {
            body_read = false;
            st = Status::BadRequest("request body could not be read");
            break;
          }
          st = spool->Write(chunk.data(), rn);
          remaining -= rn;
        }
      }
      while (st.ok() && !(declared && !chunked) && !parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        conn->ExpiresAfter(read_timeout);  // a deadline per chunk: big uploads may take long
        auto rec = co_await ReadBody(socket, buffer, parser, opt.max_header_bytes);
        if (rec == bhttp::error::need_buffer) rec = {};
        // Whatever was decoded before an error is the body's: written before it is judged.
        if (size_t got = chunk.size() - parser.get().body().size; got > 0) st = spool->Write(chunk.data(), got);
        if (rec) {
          if (rec == bhttp::error::body_limit) {
            st = Status::TooLarge("body exceeds " + std::to_string(opt.max_upload_bytes) + " bytes");
          } else if (MalformedBody(rec)) {
            st = Status::BadRequest("malformed chunked body: " + rec.message());
          } else {
            body_read = false;
            st = Status::BadRequest("request body could not be read");
          }
          break;
        }
      }
      if (st.ok()) {
        req.body_sha256 = spool->FinishHex();
        req.body_size = spool->size();
        req.body_file = spool->path();
      } else {
        req.early_error = st;
        keep_alive = false;
        unread_body = true;
      }
    } else if (has_body) {
      bhttp::request_parser<bhttp::string_body> parser{header_parser.Release()};
      parser.body_limit(limit);
      auto rec = co_await ReadBody(socket, buffer, parser, opt.max_header_bytes);
      if (rec == bhttp::error::body_limit) {
        req.early_error = Status::TooLarge("body exceeds " + std::to_string(limit) + " bytes");
        keep_alive = false;
        unread_body = true;
      } else if (MalformedBody(rec)) {
        // Answered like any early error: logged, counted and audited, the handler not called.
        req.early_error = Status::BadRequest("malformed chunked body: " + rec.message());
        keep_alive = false;
        unread_body = true;
      } else if (rec) {
        body_read = false;
      } else {
        req.body = std::move(parser.get().body());
      }
    }
    if (!body_read && req.early_error.ok()) {
      // The peer went away or stalled mid-body: nobody is left to answer.
      if (spool) std::filesystem::remove(spool->path());
      break;
    }

    // The handler's time is its own (a large upload's rename and fsync, a slow query); the
    // watchdog only guards the peer, so it is off until the response is written.
    conn->deadline = Clock::time_point::max();
    Response res;
    bool run_inline = req.route && (req.route->run_inline || (req.route->inline_max_body_bytes > 0 &&
                                                               req.body_file.empty() &&
                                                               req.body.size() <= req.route->inline_max_body_bytes));
    if (run_inline) {
      res = RunSafely(req);
    } else {
      res = co_await asio::co_spawn(
          workers, [this, &req]() -> asio::awaitable<Response> {
            NameWorkerThread();
            co_return RunSafely(req);
          },
          asio::use_awaitable_t<Executor>{});
    }
    bool client_gone = false;
    if (res.deferred) {
      // Waited for here rather than in a nested coroutine (one per proxied request showed in
      // the gateway's profile).
      DeferredWait wait(*conn, std::move(res.deferred));
      while (!wait.done()) {
        auto [ec] = co_await wait.timer().async_wait(kUse);
        wait.Woken(ec);
      }
      client_gone = wait.client_gone();
      if (!client_gone) res = wait.Take();
    }
    if (spool) {
      std::error_code rm_ec;
      std::filesystem::remove(spool->path(), rm_ec);  // the handler may have moved it away
    }
    if (client_gone) break;  // nobody to answer: the connection closes
    if (draining) keep_alive = false;
    bool written;
    if (!res.stream && !res.file) {
      // The usual answer, written here rather than in WriteResponse: a nested coroutine per
      // response showed in the gateway's profile.
      conn->ExpiresAfter(read_timeout);
      PlainWrite w;
      if (w.Start(*conn, res, req.method == Method::kHead, keep_alive) == PlainWrite::kPartial) {
        auto [wec, wn] = co_await asio::async_write(socket, w.rest, kUse);
        (void)wn;
        w.ok = !wec;
      }
      written = w.ok;
    } else {
      written = co_await WriteResponse(*conn, res, req, keep_alive);
    }
    if (!written || !keep_alive) break;
  }

  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (unread_body && socket.is_open()) {
    // Closing a socket with unread input makes the kernel send RST, which can destroy the
    // error response before the client reads it. Read and drop what is still coming, briefly.
    std::vector<char> sink(64 * 1024);
    size_t drained_bytes = 0;
    conn->ExpiresAfter(std::chrono::seconds(2));
    while (drained_bytes < (8u << 20)) {
      auto [rec, rn] = co_await socket.async_read_some(asio::buffer(sink), kUse);
      if (rec) break;
      drained_bytes += rn;
    }
  }
}

Awaitable<bool> Server::Impl::WriteResponse(Connection& conn, Response& res, const Request& req,
                                            bool keep_alive) {
  Socket& socket = conn.socket;
  const auto timeout = std::chrono::seconds(opt.read_timeout_s);
  conn.ExpiresAfter(timeout);
  bool head_only = req.method == Method::kHead;

  if (res.stream && !head_only) co_return co_await WriteStream(conn, res);
  if (res.stream) {
    // HEAD of a streamed body: the same head a GET gets (chunked, length unknown), no body.
    res.stream->Close();
    std::string head = ResponseHead(res, 0, keep_alive, /*chunked=*/true);
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), kUse);
    (void)n;
    co_return !ec;
  }
  if (!res.file) {
    // Reached only from elsewhere than the serving loop, which writes these itself.
    PlainWrite w;
    if (w.Start(conn, res, head_only, keep_alive) != PlainWrite::kPartial) co_return w.ok;
    auto [ec, n] = co_await asio::async_write(socket, w.rest, kUse);
    (void)n;
    co_return !ec;
  }

  const FileBody& fb = *res.file;
  int fd = head_only ? -1 : ::open(fb.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (!head_only && fd < 0) {
    Response err = ErrorResponse(Status::NotFound("content is gone"), req.request_id);
    err.headers.Set("X-Request-Id", req.request_id);
    co_await WriteResponse(conn, err, req, false);
    co_return false;  // it said Connection: close
  }
  std::string head = ResponseHead(res, fb.length, keep_alive);
  auto [hec, hn] = co_await asio::async_write(socket, asio::buffer(head), kUse);
  (void)hn;
  bool ok = !hec;
  std::vector<char> chunk(256 * 1024);
  uint64_t offset = fb.offset, remaining = head_only ? 0 : fb.length;
  while (ok && remaining > 0) {
    ssize_t got = ::pread(fd, chunk.data(), std::min<uint64_t>(chunk.size(), remaining),
                          static_cast<off_t>(offset));
    if (got <= 0) {
      ok = false;  // the file shrank under us; the connection cannot be saved
      break;
    }
    offset += static_cast<uint64_t>(got);
    remaining -= static_cast<uint64_t>(got);
    conn.ExpiresAfter(timeout);
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(chunk.data(), static_cast<size_t>(got)), kUse);
    (void)n;
    ok = !ec;
  }
  if (fd >= 0) ::close(fd);
  co_return ok;
}

// Sends a ResponseStream as chunks. Waiting for news is a timer on the connection's own
// io_context that the stream's wake callback cancels, so no thread blocks; after 15 s without
// news a comment line keeps proxies from closing the idle connection (and finds out whether
// the client is still there). Always ends the connection (returns false).
Awaitable<bool> Server::Impl::WriteStream(Connection& conn, Response& res) {
  Socket& socket = conn.socket;
  std::shared_ptr<ResponseStream> stream = res.stream;
  auto timer = std::make_shared<Timer>(socket.get_executor());
  auto woken = std::make_shared<std::atomic<bool>>(false);
  std::weak_ptr<Timer> weak = timer;
  auto executor = socket.get_executor();
  stream->SetWake([weak, woken, executor] {
    woken->store(true);
    asio::post(executor, [weak] {
      if (auto t = weak.lock()) t->cancel();
    });
  });
  // Event streams never end by themselves, so a shutdown cuts them (clients reconnect); a bulk
  // body (a tar of a model) is finished like any other response.
  conn.streaming = !stream->Bulk();
  const auto timeout = std::chrono::seconds(opt.read_timeout_s);
  auto write_chunk = [&](const std::string& data) -> Awaitable<bool> {
    char size[20];
    int n = snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::array<asio::const_buffer, 3> bufs = {asio::buffer(size, static_cast<size_t>(n)),
                                              asio::buffer(data), asio::buffer("\r\n", 2)};
    conn.ExpiresAfter(timeout);
    auto [ec, written] = co_await asio::async_write(socket, bufs, kUse);
    (void)written;
    conn.deadline = Clock::time_point::max();
    co_return !ec;
  };

  std::string head = ResponseHead(res, 0, false, /*chunked=*/true);
  conn.ExpiresAfter(timeout);
  auto [hec, hn] = co_await asio::async_write(socket, asio::buffer(head), kUse);
  (void)hn;
  conn.deadline = Clock::time_point::max();
  bool ok = !hec;
  int quiet_seconds = 0;
  while (ok && (!draining || stream->Bulk()) && conn.socket.is_open()) {
    woken->store(false);
    std::string data;
    bool alive = stream->Poll(data);
    if (!data.empty()) {
      ok = co_await write_chunk(data);
      quiet_seconds = 0;
    }
    if (!alive || !ok) break;
    if (!data.empty() || woken->load()) continue;
    // One-second naps, so that a shutdown is noticed within a second.
    timer->expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer->async_wait(kUse);
    if (!ec && !woken->load() && stream->KeepAlives() && ++quiet_seconds >= 15) {
      ok = co_await write_chunk(": keep-alive\n\n");
      quiet_seconds = 0;
    }
  }
  if (ok && !stream->Failed()) {
    conn.ExpiresAfter(timeout);
    co_await asio::async_write(socket, asio::buffer("0\r\n\r\n", 5), kUse);
  }
  stream->Close();
  conn.streaming = false;
  co_return false;
}

}  // namespace aimass::http
