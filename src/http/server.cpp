#include "http/server.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast.hpp>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <spdlog/spdlog.h>
#include <thread>
#include <unordered_map>

#include "http/json.hpp"

namespace aimass::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

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

namespace {

struct Connection {
  explicit Connection(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool busy = false;  // touched only on the connection's strand
};

// Spools a streaming body to a file while hashing it.
class Spool {
 public:
  ~Spool() {
    if (fd_ >= 0) ::close(fd_);
    if (ctx_) EVP_MD_CTX_free(ctx_);
  }
  Status Open(const std::string& dir) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    path_ = dir + "/upload-" + std::to_string(rng()) + ".part";
    fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd_ < 0) return Status::Internal("cannot create spool file");
    ctx_ = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    return Status::Ok();
  }
  Status Write(const char* data, size_t n) {
    EVP_DigestUpdate(ctx_, data, n);
    size_ += n;
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::Internal("cannot write spool file");
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  std::string FinishHex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char* kHex = "0123456789abcdef";
    std::string hex;
    for (unsigned i = 0; i < len; ++i) {
      hex.push_back(kHex[md[i] >> 4]);
      hex.push_back(kHex[md[i] & 0xf]);
    }
    ::close(fd_);
    fd_ = -1;
    return hex;
  }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  EVP_MD_CTX* ctx_ = nullptr;
  std::string path_;
  uint64_t size_ = 0;
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Pipeline& p)
      : opt(std::move(o)), pipeline(p), ioc(opt.io_threads), workers(opt.worker_threads) {}

  ServerOptions opt;
  const Pipeline& pipeline;
  asio::io_context ioc;
  asio::thread_pool workers;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  uint16_t bound_port = 0;

  std::mutex mu;
  std::condition_variable drained;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  uint64_t next_id = 0;
  bool stopped = false;
  std::thread drainer;

  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(uint64_t id, std::shared_ptr<Connection> conn);
  asio::awaitable<bool> WriteResponse(Connection& conn, Response& res, const Request& req,
                                      bool keep_alive);
  void Forget(uint64_t id);
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
  s.acceptor.emplace(s.ioc);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port) +
                               ": " + ec.message());
  }
  s.bound_port = s.acceptor->local_endpoint().port();
  asio::co_spawn(s.acceptor->get_executor(), s.Accept(), asio::detached);
  for (int i = 0; i < s.opt.io_threads; ++i) {
    s.threads.emplace_back([&s] { s.ioc.run(); });
  }
  return Status::Ok();
}

void Server::Shutdown() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) return;
  if (!s.acceptor) return;
  asio::post(s.acceptor->get_executor(), [&s] {
    boost::system::error_code ec;
    s.acceptor->close(ec);
  });
  {
    // Idle connections are waiting for a request that may never come: close them now. Busy
    // ones see `draining` after their response and close themselves.
    std::lock_guard lock(s.mu);
    for (auto& [id, conn] : s.connections) {
      asio::post(conn->stream.get_executor(), [conn] {
        if (!conn->busy) conn->stream.socket().close();
      });
    }
  }
  s.drainer = std::thread([&s] {
    std::unique_lock lock(s.mu);
    bool clean = s.drained.wait_for(lock, std::chrono::seconds(s.opt.shutdown_timeout_s),
                                    [&s] { return s.connections.empty(); });
    if (!clean) {
      spdlog::warn("shutdown: {} connection(s) still open after {} s, closing them",
                   s.connections.size(), s.opt.shutdown_timeout_s);
    }
    lock.unlock();
    s.ioc.stop();
  });
}

void Server::Wait() {
  Impl& s = *impl_;
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  if (s.drainer.joinable()) s.drainer.join();
  s.workers.join();
}

void Server::Impl::Forget(uint64_t id) {
  std::lock_guard lock(mu);
  connections.erase(id);
  if (connections.empty()) drained.notify_all();
}

asio::awaitable<void> Server::Impl::Accept() {
  for (;;) {
    auto [ec, socket] =
        co_await acceptor->async_accept(asio::make_strand(ioc), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (draining || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket));
    uint64_t id;
    {
      std::lock_guard lock(mu);
      id = next_id++;
      connections.emplace(id, conn);
    }
    auto ex = conn->stream.get_executor();
    asio::co_spawn(ex, Serve(id, std::move(conn)), asio::detached);
  }
}

static std::string RemoteOf(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  if (ec) return "-";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

asio::awaitable<void> Server::Impl::Serve(uint64_t id, std::shared_ptr<Connection> conn) {
  beast::flat_buffer buffer;
  auto& stream = conn->stream;
  std::string remote = RemoteOf(stream);
  bool first = true;
  auto tuple = asio::as_tuple(asio::use_awaitable);

  while (!draining) {
    conn->busy = false;
    stream.expires_after(std::chrono::seconds(first ? opt.read_timeout_s : opt.idle_timeout_s));
    bhttp::request_parser<bhttp::empty_body> header_parser;
    header_parser.header_limit(opt.max_header_bytes);
    // Limits depend on the route, known only after the header: checked below.
    header_parser.body_limit(boost::none);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, header_parser, tuple);
    (void)n;
    first = false;
    Request req;
    req.remote = remote;
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        req.early_error = Status(Code::kHeadersTooLarge, "request headers are too large");
      } else if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                 ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                 ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
        break;
      } else {
        req.early_error = Status::BadRequest("malformed HTTP request");
      }
      Response res = pipeline.Run(req);
      co_await WriteResponse(*conn, res, req, false);
      break;
    }
    conn->busy = true;
    stream.expires_after(std::chrono::seconds(opt.read_timeout_s));

    auto& h = header_parser.get();
    req.method = ParseMethod(std::string_view(h.method_string().data(), h.method_string().size()));
    req.target = std::string(h.target());
    size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& f : h) {
      req.headers.Add(std::string(f.name_string()), std::string(f.value()));
    }
    bool keep_alive = h.keep_alive();
    req.early_error = pipeline.Match(req);

    bool has_body = header_parser.content_length().value_or(0) > 0 || h.chunked();
    uint64_t limit = req.route && req.route->streaming_body ? opt.max_upload_bytes : opt.max_body_bytes;
    if (req.early_error.ok() && header_parser.content_length().value_or(0) > limit) {
      // Refused before reading a byte of it; the connection closes since the body is unread.
      req.early_error = Status::TooLarge("body exceeds " + std::to_string(limit) + " bytes");
      keep_alive = false;
      has_body = false;
    }
    if (has_body && req.early_error.ok()) {
      if (auto expect = h[bhttp::field::expect];
          beast::iequals(std::string_view(expect.data(), expect.size()), "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        co_await bhttp::async_write(stream, cont, tuple);
      }
    }

    std::optional<Spool> spool;
    bool body_read = true;
    if (!req.early_error.ok()) {
      // Nothing will read the body: do not let the peer think it may keep the connection.
      if (has_body) keep_alive = false;
    } else if (req.route && req.route->streaming_body) {
      bhttp::request_parser<bhttp::buffer_body> parser{std::move(header_parser)};
      parser.body_limit(opt.max_upload_bytes);
      spool.emplace();
      Status st = spool->Open(opt.spool_dir);
      std::vector<char> chunk(256 * 1024);
      while (st.ok() && !parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, tuple);
        (void)rn;
        if (rec == bhttp::error::need_buffer) rec = {};
        if (rec) {
          if (rec == bhttp::error::body_limit) {
            st = Status::TooLarge("body exceeds " + std::to_string(opt.max_upload_bytes) + " bytes");
          } else {
            body_read = false;
            st = Status::BadRequest("request body could not be read");
          }
          break;
        }
        st = spool->Write(chunk.data(), chunk.size() - parser.get().body().size);
      }
      if (st.ok()) {
        req.body_sha256 = spool->FinishHex();
        req.body_size = spool->size();
        req.body_file = spool->path();
      } else {
        req.early_error = st;
        keep_alive = false;
      }
    } else if (has_body) {
      bhttp::request_parser<bhttp::string_body> parser{std::move(header_parser)};
      parser.body_limit(opt.max_body_bytes);
      auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, tuple);
      (void)rn;
      if (rec == bhttp::error::body_limit) {
        req.early_error = Status::TooLarge("body exceeds " + std::to_string(opt.max_body_bytes) + " bytes");
        keep_alive = false;
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

    Response res;
    if (req.route && req.route->run_inline) {
      res = pipeline.Run(req);
    } else {
      res = co_await asio::co_spawn(
          workers, [this, &req]() -> asio::awaitable<Response> { co_return pipeline.Run(req); },
          asio::use_awaitable);
    }
    if (spool) {
      std::error_code rm_ec;
      std::filesystem::remove(spool->path(), rm_ec);  // the handler may have moved it away
    }
    if (draining) keep_alive = false;
    bool written = co_await WriteResponse(*conn, res, req, keep_alive);
    if (!written || !keep_alive) break;
  }

  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
  Forget(id);
}

template <typename Message>
static void CopyHeaders(Message& m, const Response& res) {
  for (const auto& [name, value] : res.headers.all()) m.set(name, value);
  m.set(bhttp::field::server, "aimass");
}

asio::awaitable<bool> Server::Impl::WriteResponse(Connection& conn, Response& res,
                                                  const Request& req, bool keep_alive) {
  auto& stream = conn.stream;
  auto tuple = asio::as_tuple(asio::use_awaitable);
  stream.expires_after(std::chrono::seconds(opt.read_timeout_s));
  bool head = req.method == Method::kHead;
  auto status = static_cast<bhttp::status>(res.status);

  if (!res.file) {
    bhttp::response<bhttp::string_body> m{status, 11};
    CopyHeaders(m, res);
    m.keep_alive(keep_alive);
    uint64_t length = res.content_length_override.value_or(res.body.size());
    if (!head) m.body() = std::move(res.body);
    if (res.status != 204 && res.status != 304) m.content_length(length);
    auto [ec, n] = co_await bhttp::async_write(stream, m, tuple);
    (void)n;
    co_return !ec;
  }

  const FileBody& fb = *res.file;
  bhttp::response<bhttp::buffer_body> m{status, 11};
  CopyHeaders(m, res);
  m.keep_alive(keep_alive);
  m.content_length(fb.length);
  int fd = head ? -1 : ::open(fb.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (!head && fd < 0) {
    Response err = ErrorResponse(Status::NotFound("content is gone"), req.request_id);
    co_return co_await WriteResponse(conn, err, req, false);
  }
  m.body().data = nullptr;
  m.body().more = !head && fb.length > 0;
  bhttp::response_serializer<bhttp::buffer_body> sr{m};
  auto [hec, hn] = co_await bhttp::async_write_header(stream, sr, tuple);
  (void)hn;
  bool ok = !hec;
  std::vector<char> chunk(256 * 1024);
  uint64_t offset = fb.offset, remaining = head ? 0 : fb.length;
  while (ok && remaining > 0) {
    ssize_t got = ::pread(fd, chunk.data(), std::min<uint64_t>(chunk.size(), remaining),
                          static_cast<off_t>(offset));
    if (got <= 0) {
      ok = false;  // the file shrank under us; the connection cannot be saved
      break;
    }
    offset += static_cast<uint64_t>(got);
    remaining -= static_cast<uint64_t>(got);
    m.body().data = chunk.data();
    m.body().size = static_cast<size_t>(got);
    m.body().more = remaining > 0;
    stream.expires_after(std::chrono::seconds(opt.read_timeout_s));
    auto [ec, n] = co_await bhttp::async_write(stream, sr, tuple);
    (void)n;
    if (ec == bhttp::error::need_buffer) ec = {};
    ok = !ec;
  }
  if (ok && !sr.is_done()) {
    m.body().data = nullptr;
    m.body().size = 0;
    m.body().more = false;
    auto [ec, n] = co_await bhttp::async_write(stream, sr, tuple);
    (void)n;
    ok = !ec;
  }
  if (fd >= 0) ::close(fd);
  co_return ok;
}

}  // namespace aimass::http
