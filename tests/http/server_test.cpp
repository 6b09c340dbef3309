#include "test_support.hpp"
#include "http/server.hpp"
#include "http/metrics.hpp"
#include <prometheus/registry.h>

#include <cctype>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/client.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"
#include "http/pipeline.hpp"
#include "http/push_stream.hpp"
#include "http/router.hpp"

namespace aimass::http {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

using testing::ExpectedSha256Hex;
using testing::ReadAll;

fs::path UniqueTempDir(const std::string& what) {
  static std::atomic<int> counter{0};
  fs::path p = fs::temp_directory_path() / ("aimass-" + what + "-" + std::to_string(::getpid()) +
                                            "-" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

Route MakeRoute(Method m, std::string pattern, Handler h) {
  Route r;
  r.method = m;
  r.pattern = std::move(pattern);
  r.handler = std::move(h);
  return r;
}

Response Text(std::string body, int status = 200) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

// Refuses requests that carry X-Deny, before their body is read (Admit) and, for requests
// without a body, in Handle, the way the access-control middleware does.
class DenyMiddleware : public Middleware {
 public:
  Status Admit(Request& req) override {
    ++admits;
    if (req.headers.Get("X-Deny")) return Status::Unauthenticated("denied");
    return Status::Ok();
  }
  Response Handle(Request& req, const Next& next) override {
    if (req.early_error.ok() && req.headers.Get("X-Deny")) {
      return ErrorResponse(Status::Unauthenticated("denied"), req.request_id);
    }
    return next(req);
  }
  std::atomic<int> admits{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kMaxBody = 1024;
  static constexpr const char* kFileContent = "0123456789abcdefghijklmnopqrstuvwxyz";

  void SetUp() override {
    dir_ = UniqueTempDir("http-test");
    spool_ = dir_ / "spool";
    fs::create_directories(spool_);
    file_ = (dir_ / "data.txt").string();
    std::ofstream(file_, std::ios::binary) << kFileContent;

    Add(MakeRoute(Method::kGet, "/hello", [](Request&) { return Text("hello world"); }));
    Add(MakeRoute(Method::kGet, "/peer", [](Request& req) { return Text(req.remote); }));
    Add(MakeRoute(Method::kGet, "/id", [](Request& req) { return Text(req.request_id); }));
    Add(MakeRoute(Method::kPost, "/headers", [](Request& req) {
      std::string all;
      for (const auto& [n, v] : req.headers.all()) all.append(n).append(": ").append(v).append("\n");
      return Text(all + "body=" + req.body);
    }));
    Add(MakeRoute(Method::kGet, "/chunked", [](Request&) {
      // Three pieces, then the end: the client must join the chunks.
      struct Pieces : ResponseStream {
        int left = 3;
        bool Poll(std::string& out) override {
          if (left == 0) return false;
          out += "piece" + std::to_string(left--) + ";";
          return true;
        }
        void SetWake(std::function<void()>) override {}
        void Close() override {}
        bool Bulk() const override { return true; }
      };
      Response r = Text("");
      r.stream = std::make_shared<Pieces>();
      return r;
    }));
    Add(MakeRoute(Method::kGet, "/users/{name}",
                  [](Request& req) { return Text("user " + req.Param("name")); }));
    Add(MakeRoute(Method::kPost, "/echo", [](Request& req) {
      Response r = Text(req.body);
      r.headers.Set("X-Body-File", req.body_file.empty() ? "none" : req.body_file);
      return r;
    }));
    Route big_echo = MakeRoute(Method::kPost, "/big-echo", [](Request& req) { return Text(req.body); });
    big_echo.max_body_bytes = 16 << 20;
    Add(std::move(big_echo));
    Route upload = MakeRoute(Method::kPut, "/upload", [this](Request& req) {
      json j = {{"body_file", req.body_file},
                {"body_size", req.body_size},
                {"body_sha256", req.body_sha256},
                {"in_memory_body", req.body.size()},
                {"file_exists", !req.body_file.empty() && fs::exists(req.body_file)},
                {"file_sha256", req.body_file.empty() ? "" : ExpectedSha256Hex(ReadAll(req.body_file))}};
      ++upload_calls_;
      return JsonResponse(200, j);
    });
    upload.streaming_body = true;
    Add(std::move(upload));
    Add(MakeRoute(Method::kGet, "/file", [this](Request&) {
      Response r;
      r.headers.Set("Content-Type", "application/octet-stream");
      r.file = FileBody{file_, 5, 10};
      return r;
    }));
    Add(MakeRoute(Method::kGet, "/slow", [this](Request&) {
      slow_entered_.set_value();
      std::this_thread::sleep_for(300ms);
      return Text("slow done");
    }));
    // Deferred answers: completed later by another thread, at once by the handler itself, or
    // never in time (the deadline's expiry answers instead; the late completion is ignored).
    Add(MakeRoute(Method::kGet, "/deferred/{how}", [this](Request& req) {
      auto d = std::make_shared<DeferredResponse>();
      std::string how = req.Param("how");
      if (how == "now") {
        d->Complete(Text("now"));
      } else {
        auto delay = how == "late" ? 50ms : 500ms;
        if (how == "expire") {
          d->SetDeadline(std::chrono::steady_clock::now() + 50ms, [d] { d->Complete(Text("expired", 504)); });
        }
        std::lock_guard lock(completers_mu_);
        completers_.emplace_back([d, delay] {
          std::this_thread::sleep_for(delay);
          d->Complete(Text("late"));
        });
      }
      Response r;
      r.deferred = d;
      return r;
    }));
    // A deferred answer that watches its client (completed 300 ms later).
    Add(MakeRoute(Method::kGet, "/watched/{how}", [this](Request&) {
      auto d = std::make_shared<DeferredResponse>();
      d->OnClientGone([this] { gone_++; });
      std::lock_guard lock(completers_mu_);
      completers_.emplace_back([d] {
        std::this_thread::sleep_for(300ms);
        d->Complete(Text("watched"));
      });
      Response r;
      r.deferred = d;
      return r;
    }));
    // Answers completed in one burst by one thread once kBurst requests wait: the way an
    // executor finishes a batch (its wake-ups reach each I/O thread in one hand-over).
    Add(MakeRoute(Method::kGet, "/burst/{i}", [this](Request& req) {
      auto d = std::make_shared<DeferredResponse>();
      std::lock_guard lock(completers_mu_);
      burst_.emplace_back(d, req.Param("i"));
      if (burst_.size() == kBurst) {
        completers_.emplace_back([waiting = std::move(burst_)] {
          for (auto& [deferred, i] : waiting) deferred->Complete(Text("answer " + i));
        });
        burst_.clear();
      }
      Response r;
      r.deferred = d;
      return r;
    }));
    Add(MakeRoute(Method::kGet, "/throws", [](Request&) -> Response {
      throw std::runtime_error("handler failure");
    }));

    pipeline_ = std::make_unique<Pipeline>(router_);
    pipeline_->Use(std::make_shared<RequestIdMiddleware>());
    pipeline_->Use(deny_);

    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 2;
    o.worker_threads = 4;
    o.max_body_bytes = kMaxBody;
    o.max_upload_bytes = 1 << 20;
    o.shutdown_timeout_s = 10;
    o.spool_dir = spool_.string();
    server_ = std::make_unique<Server>(o, *pipeline_);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    for (auto& t : completers_) t.join();
    if (server_) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Add(Route r) {
    std::string pattern = r.pattern;
    Status st = router_.Add(std::move(r));
    ASSERT_TRUE(st.ok()) << pattern << ": " << st.ToString();
  }

  std::string Url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + target;
  }

  ClientResponse Send(Client& client, Method m, const std::string& target, std::string body = {},
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    ClientRequest req;
    req.method = m;
    req.url = Url(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.timeout = 10s;
    auto r = client.Send(req);
    EXPECT_TRUE(r.ok()) << MethodName(m) << " " << target << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : ClientResponse{};
  }

  static std::string Header(const ClientResponse& r, const std::string& name) {
    auto v = r.headers.Get(name);
    return v ? std::string(*v) : "<absent>";
  }

  fs::path dir_, spool_;
  std::string file_;
  std::atomic<int> upload_calls_{0};
  std::shared_ptr<DenyMiddleware> deny_ = std::make_shared<DenyMiddleware>();
  std::promise<void> slow_entered_;
  std::mutex completers_mu_;
  std::vector<std::thread> completers_;
  std::atomic<int> gone_{0};  // /watched answers whose client left
  static constexpr size_t kBurst = 24;
  std::vector<std::pair<std::shared_ptr<DeferredResponse>, std::string>> burst_;  // guarded by completers_mu_
  Router router_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpServerTest, GetRoute) {
  Client client;
  ClientResponse r = Send(client, Method::kGet, "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(Header(r, "Content-Type"), "text/plain");
  EXPECT_EQ(Header(r, "Content-Length"), "11");

  ClientResponse u = Send(client, Method::kGet, "/users/a%20b");
  EXPECT_EQ(u.status, 200);
  EXPECT_EQ(u.body, "user a b");
}

// The client writes the request itself: every field the caller gives (repeats too), none that
// would split the request, the caller's Host instead of its own, and its own framing.
TEST_F(HttpServerTest, ClientSendsCallerFieldsSafely) {
  Client client;
  ClientResponse r = Send(client, Method::kPost, "/headers", "abc",
                          {{"X-Dup", "one"}, {"X-Dup", "two"}, {"X-Evil", "a\r\nX-Injected: 1"},
                           {"Host", "example.test"}, {"Content-Length", "99"}, {"Connection", "close"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("X-Dup: one\nX-Dup: two\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("X-Injected"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("X-Evil"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("Host: example.test\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("Host: 127.0.0.1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("Content-Length: 3\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("User-Agent: aimass-client\n"), std::string::npos) << r.body;
  EXPECT_TRUE(r.body.ends_with("body=abc")) << r.body;
  // The caller's "Connection: close" was not sent: the connection went back to the pool.
  EXPECT_EQ(client.idle_connections(), 1u);
}

// A field block written by the caller goes out as is, after the listed fields; its flags stand
// for the Host and User-Agent the client would otherwise add.
TEST_F(HttpServerTest, ClientSendsAFieldBlockAfterTheListedFields) {
  Client client;
  ClientRequest req;
  req.method = Method::kPost;
  req.url = Url("/headers");
  req.headers = {{"X-First", "1"}};
  req.fields = "X-Block: a\r\nUser-Agent: proxy-caller\r\nHost: block.test\r\n";
  req.fields_have_host = true;
  req.fields_have_agent = true;
  req.body = "b";
  req.timeout = 10s;
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->body.find("X-First: 1\nX-Block: a\nUser-Agent: proxy-caller\nHost: block.test\n"), std::string::npos)
      << r->body;
  EXPECT_EQ(r->body.find("aimass-client"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("Host: 127.0.0.1"), std::string::npos) << r->body;

  req.fields = "X-Block: b\r\n";
  req.fields_have_host = req.fields_have_agent = false;
  r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->body.find("X-Block: b\nHost: 127.0.0.1"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("User-Agent: aimass-client\n"), std::string::npos) << r->body;
}

// Both ends write a message at once when it fits the socket's send buffer and leave the rest
// to the event loop: 8 MiB each way does not fit, so the rest must follow whole and in order.
TEST_F(HttpServerTest, MessagesLargerThanTheSendBufferArriveWhole) {
  Client client;
  std::string body(8 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7919 + i / 4096) % 26);
  for (int round = 0; round < 2; ++round) {  // the second on the kept-alive connection
    ClientResponse r = Send(client, Method::kPost, "/big-echo", body);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.size(), body.size());
    EXPECT_TRUE(r.body == body) << "round " << round;
  }
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST_F(HttpServerTest, ClientJoinsChunkedBodies) {
  Client client;
  ClientResponse r = Send(client, Method::kGet, "/chunked");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "piece3;piece2;piece1;");
  EXPECT_EQ(Header(r, "Transfer-Encoding"), "chunked");
}

TEST_F(HttpServerTest, HeadServedByGetWithoutBody) {
  Client client;
  ClientResponse r = Send(client, Method::kHead, "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Header(r, "Content-Length"), "11");
  // The connection is still usable afterwards (no stray body bytes on it).
  ClientResponse g = Send(client, Method::kGet, "/hello");
  EXPECT_EQ(g.body, "hello world");
}

TEST_F(HttpServerTest, KeepAliveReusesOneConnection) {
  Client client;
  EXPECT_EQ(client.idle_connections(), 0u);
  ClientResponse a = Send(client, Method::kGet, "/peer");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(client.idle_connections(), 1u);
  ClientResponse b = Send(client, Method::kGet, "/peer");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(client.idle_connections(), 1u);
  // Same client port on both requests: the same TCP connection served them.
  EXPECT_FALSE(a.body.empty());
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(Header(b, "Connection"), "<absent>");
}

TEST_F(HttpServerTest, BodyOverLimitIs413) {
  Client client;
  ClientResponse ok = Send(client, Method::kPost, "/echo", std::string(kMaxBody, 'a'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), kMaxBody);
  EXPECT_EQ(Header(ok, "X-Body-File"), "none") << "buffered routes get no spool file";

  ClientResponse big = Send(client, Method::kPost, "/echo", std::string(kMaxBody + 1, 'a'));
  EXPECT_EQ(big.status, 413);
  auto j = json::parse(big.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << big.body;
  EXPECT_EQ(j["error"]["code"], "payload_too_large");
  EXPECT_EQ(Header(big, "Connection"), "close") << "the unread body makes the connection unusable";

  // A fresh connection works afterwards.
  EXPECT_EQ(Send(client, Method::kGet, "/hello").status, 200);
}

TEST_F(HttpServerTest, UnknownRouteIs404WithJsonError) {
  Client client;
  ClientResponse r = Send(client, Method::kGet, "/no/such/route", {}, {{"X-Request-Id", "req-404"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Header(r, "Content-Type"), "application/json");
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_EQ(j["error"]["request_id"], "req-404");

  // Wrong method: 405 with Allow.
  ClientResponse m = Send(client, Method::kDelete, "/hello");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(json::parse(m.body)["error"]["code"], "method_not_allowed");
  EXPECT_EQ(Header(m, "Allow"), "GET, HEAD") << "GET routes answer HEAD as well";

  // A malformed escape in a capture: 400.
  ClientResponse bad = Send(client, Method::kGet, "/users/%zz");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["code"], "bad_request");
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  Client client;
  ClientResponse r = Send(client, Method::kGet, "/throws");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "internal");
  EXPECT_EQ(r.body.find("handler failure"), std::string::npos) << "no internals leak";
  EXPECT_EQ(Send(client, Method::kGet, "/hello").status, 200);
}

TEST_F(HttpServerTest, RequestIdEchoedOrGenerated) {
  Client client;
  ClientResponse given = Send(client, Method::kGet, "/id", {}, {{"X-Request-Id", "abc-123_XYZ"}});
  EXPECT_EQ(Header(given, "X-Request-Id"), "abc-123_XYZ");
  EXPECT_EQ(given.body, "abc-123_XYZ") << "handlers see the same id";

  ClientResponse generated = Send(client, Method::kGet, "/id");
  std::string id = Header(generated, "X-Request-Id");
  EXPECT_EQ(id.size(), 32u) << id;
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(generated.body, id);
  EXPECT_NE(Header(Send(client, Method::kGet, "/id"), "X-Request-Id"), id) << "ids are unique";

  // Not sane (too long, or with spaces): replaced.
  ClientResponse too_long = Send(client, Method::kGet, "/id", {}, {{"X-Request-Id", std::string(129, 'a')}});
  EXPECT_EQ(Header(too_long, "X-Request-Id").size(), 32u);
  ClientResponse spaced = Send(client, Method::kGet, "/id", {}, {{"X-Request-Id", "a b"}});
  EXPECT_NE(Header(spaced, "X-Request-Id"), "a b");
  EXPECT_EQ(Header(spaced, "X-Request-Id").size(), 32u);
}

TEST_F(HttpServerTest, DeferredResponsesAnswerWhenCompleted) {
  Client client;
  ClientResponse late = Send(client, Method::kGet, "/deferred/late", {}, {{"X-Request-Id", "deferred-1"}});
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(late.body, "late");
  EXPECT_EQ(Header(late, "X-Request-Id"), "deferred-1") << "middlewares finish the deferred answer";
  ClientResponse now = Send(client, Method::kGet, "/deferred/now");
  EXPECT_EQ(now.body, "now");
  EXPECT_EQ(Header(now, "X-Request-Id").size(), 32u);
  EXPECT_EQ(client.idle_connections(), 1u) << "the connection carries on";

  ClientResponse expired = Send(client, Method::kGet, "/deferred/expire");
  EXPECT_EQ(expired.status, 504);
  EXPECT_EQ(expired.body, "expired");
  EXPECT_EQ(Send(client, Method::kGet, "/hello").body, "hello world");
}

TEST_F(HttpServerTest, AnswersCompletedTogetherFromAnotherThreadEachReachTheirConnection) {
  // kBurst connections (dealt over both I/O threads), each waiting; one thread completes all.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> clients;
    std::atomic<int> right{0};
    for (size_t i = 0; i < kBurst; ++i) {
      clients.emplace_back([&, i] {
        Client client;
        ClientResponse r = Send(client, Method::kGet, "/burst/" + std::to_string(i));
        if (r.status == 200 && r.body == "answer " + std::to_string(i)) right++;
      });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(right.load(), static_cast<int>(kBurst)) << "round " << round;
  }
}

TEST_F(HttpServerTest, StreamingRouteGetsSpooledBody) {
  std::string body(300 * 1024 + 17, '\0');
  std::mt19937 rng(7);
  for (char& c : body) c = static_cast<char>(rng() & 0xff);

  Client client;
  ClientResponse r = Send(client, Method::kPut, "/upload", body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["body_size"], body.size());
  EXPECT_EQ(j["body_sha256"], ExpectedSha256Hex(body));
  EXPECT_EQ(j["file_sha256"], ExpectedSha256Hex(body)) << "the file holds exactly the body";
  EXPECT_EQ(j["file_exists"], true);
  EXPECT_EQ(j["in_memory_body"], 0) << "streamed, not buffered";
  std::string spooled = j["body_file"];
  EXPECT_EQ(fs::path(spooled).parent_path(), spool_);

  // The spool file is removed after the response.
  EXPECT_FALSE(fs::exists(spooled));
  EXPECT_TRUE(fs::is_empty(spool_));

  // max_body_bytes does not apply to streaming routes; max_upload_bytes does.
  ClientResponse big = Send(client, Method::kPut, "/upload", std::string((1 << 20) + 1, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_TRUE(fs::is_empty(spool_));
}

TEST_F(HttpServerTest, EmptyUploadIsSpooledToo) {
  Client client;
  ClientResponse r = Send(client, Method::kPut, "/upload");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["body_size"], 0);
  EXPECT_EQ(j["body_sha256"], ExpectedSha256Hex(""));
  EXPECT_EQ(j["file_exists"], true);
  EXPECT_TRUE(fs::is_empty(spool_));
}

TEST_F(HttpServerTest, RefusedBeforeTheBodyIsRead) {
  Client client;
  std::string body(512 * 1024, 'z');
  ClientResponse r = Send(client, Method::kPut, "/upload", body, {{"X-Deny", "1"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unauthenticated");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer");
  EXPECT_EQ(Header(r, "Connection"), "close") << "the unread body ends the connection";
  EXPECT_NE(Header(r, "X-Request-Id"), "<absent>") << "refused requests are still tagged";
  EXPECT_EQ(upload_calls_.load(), 0) << "the handler must not run";
  EXPECT_TRUE(fs::is_empty(spool_)) << "nothing of a refused body is stored";
  EXPECT_GE(deny_->admits.load(), 1);

  // Buffered routes are refused the same way; admitted requests go through.
  ClientResponse e = Send(client, Method::kPost, "/echo", "payload", {{"X-Deny", "1"}});
  EXPECT_EQ(e.status, 401);
  ClientResponse ok = Send(client, Method::kPut, "/upload", "fine");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(upload_calls_.load(), 1);
}

TEST_F(HttpServerTest, FileBodySlice) {
  Client client;
  ClientResponse r = Send(client, Method::kGet, "/file");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string(kFileContent).substr(5, 10));
  EXPECT_EQ(Header(r, "Content-Length"), "10");

  ClientResponse h = Send(client, Method::kHead, "/file");
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(Header(h, "Content-Length"), "10");

  // Still in step afterwards on the same connection.
  EXPECT_EQ(Send(client, Method::kGet, "/hello").body, "hello world");
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST_F(HttpServerTest, GracefulShutdownFinishesInFlightRequest) {
  std::future<void> entered = slow_entered_.get_future();
  Client slow_client;
  auto in_flight = std::async(std::launch::async, [&] {
    ClientRequest req;
    req.url = Url("/slow");
    req.timeout = 10s;
    return slow_client.Send(req);
  });
  ASSERT_EQ(entered.wait_for(5s), std::future_status::ready) << "the handler never started";

  auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  server_->Wait();
  auto waited = std::chrono::steady_clock::now() - start;

  auto r = in_flight.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(Header(*r, "Connection"), "close");
  EXPECT_LT(waited, 5s) << "Wait() should return once the in-flight request is done";

  // No longer accepting.
  Client after;
  ClientRequest req;
  req.url = Url("/hello");
  req.timeout = 2s;
  auto refused = after.Send(req);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  server_.reset();
}

TEST_F(HttpServerTest, ShutdownClosesIdleKeepAliveConnections) {
  Client client;
  ASSERT_EQ(Send(client, Method::kGet, "/hello").status, 200);
  ASSERT_EQ(client.idle_connections(), 1u);
  auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  server_->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s)
      << "an idle keep-alive connection must not hold up the shutdown";
  server_.reset();
}

// A raw TCP exchange: sends `data`, reads until the peer closes or `wait` passes.
// Sends `pieces` with a pause after each (so that the server reads them apart), then ends the
// sending side when `half_close`; returns what comes back before the server closes or `wait`
// passes.
std::string RawPieces(uint16_t port, const std::vector<std::string>& pieces, std::chrono::milliseconds wait,
                      bool half_close) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (size_t i = 0; i < pieces.size(); ++i) {
    (void)::send(fd, pieces[i].data(), pieces[i].size(), MSG_NOSIGNAL);
    if (i + 1 < pieces.size()) std::this_thread::sleep_for(30ms);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // closed, or the timeout passed with the connection still open
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string RawExchange(uint16_t port, const std::string& data, std::chrono::milliseconds wait) {
  return RawPieces(port, {data}, wait, false);
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// The request line and fields are read straight into the Request (HeadParser); what frames the
// body comes from the parser. Each exchange below goes through one of those paths.
TEST_F(HttpServerTest, RawRequestsAreFramedAsSent) {
  // A header that fails to parse: 400, and nothing of it (a forged id) reaches the middleware.
  std::string bad = RawExchange(server_->port(), "GET /id HTTP/1.1\r\nHost: x\r\nX-Request-Id: forged-id\r\nno colon\r\n\r\n", 2s);
  EXPECT_EQ(bad.rfind("HTTP/1.1 400 ", 0), 0u) << bad;
  EXPECT_EQ(bad.find("forged-id"), std::string::npos) << bad;

  // Expect: 100-continue (in any case) is answered before the body is read.
  std::string cont = RawExchange(server_->port(),
                                 "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-CONTINUE\r\nContent-Length: 5\r\n"
                                 "Connection: close\r\n\r\nhello", 2s);
  EXPECT_EQ(cont.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ", 0), 0u) << cont;
  EXPECT_TRUE(cont.ends_with("\r\n\r\nhello")) << cont;
  std::string no_expect = RawExchange(server_->port(),
                                      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 2s);
  EXPECT_EQ(no_expect.rfind("HTTP/1.1 200 ", 0), 0u) << no_expect;

  // A chunked body, then a second request on the same connection: both answered, in order.
  std::string chunked = RawExchange(server_->port(),
                                    "POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-One: 1\r\n\r\n"
                                    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                                    "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2s);
  EXPECT_NE(chunked.find("X-One: 1\nbody=abcde"), std::string::npos) << chunked;
  EXPECT_EQ(Count(chunked, "HTTP/1.1 200 "), 2u) << chunked;
  EXPECT_LT(chunked.find("body=abcde"), chunked.find("hello world")) << chunked;

  // HTTP/1.0 without keep-alive: answered, then closed (the read returns before its timeout
  // with the whole answer and nothing for the second request).
  std::string old = RawExchange(server_->port(), "GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n", 5s);
  EXPECT_EQ(Count(old, "hello world"), 1u) << old;
  EXPECT_NE(old.find("Connection: close"), std::string::npos) << old;
}

// A deferred answer that asks for it has its connection watched: a client that closes, or
// ends its sending side (as nginx reads it), before the answer runs the handler's OnClientGone
// at once and gets nothing; a client that waits, or pipelines its next request, is answered.
TEST_F(HttpServerTest, AWatchedDeferredAnswerLearnsThatItsClientLeft) {
  Client client;
  EXPECT_EQ(Send(client, Method::kGet, "/watched/a").body, "watched");
  std::string both = RawExchange(server_->port(),
                                 "GET /watched/b HTTP/1.1\r\nHost: x\r\n\r\n"
                                 "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3s);
  EXPECT_EQ(Count(both, "HTTP/1.1 200 "), 2u) << both;
  EXPECT_LT(both.find("watched"), both.find("hello world")) << both;
  EXPECT_EQ(gone_.load(), 0);

  auto wait_gone = [&](int n) {
    for (int i = 0; i < 100 && gone_.load() < n; ++i) std::this_thread::sleep_for(10ms);
    return gone_.load();
  };
  std::string left = RawPieces(server_->port(), {"GET /watched/c HTTP/1.1\r\nHost: x\r\n\r\n"}, 50ms, false);
  EXPECT_EQ(left, "");
  EXPECT_EQ(wait_gone(1), 1) << "the handler learns within a second, before its answer is due";
  std::string half = RawPieces(server_->port(), {"GET /watched/d HTTP/1.1\r\nHost: x\r\n\r\n"}, 3s, true);
  EXPECT_EQ(half, "") << "nothing is sent to a client that left";
  EXPECT_EQ(wait_gone(2), 2);
  EXPECT_EQ(Send(client, Method::kGet, "/hello").body, "hello world");
}

// The serving loop reads the header itself, feeding the parser what each read brings.
TEST_F(HttpServerTest, HeadersAreReadAcrossPiecesAndRefusedWhenCutShortOrTooLarge) {
  // Split inside the request line, inside a field and between the final CR and LF.
  std::string split = RawPieces(server_->port(), {"GE", "T /hello HTTP/1.1\r\nHo", "st: x\r\nConnection: close\r\n\r", "\n"},
                                2s, false);
  EXPECT_EQ(split.rfind("HTTP/1.1 200 ", 0), 0u) << split;
  EXPECT_NE(split.find("hello world"), std::string::npos) << split;

  // The client ends its side halfway through a header: 400 at once, not a wait for the rest.
  auto begin = std::chrono::steady_clock::now();
  std::string cut = RawPieces(server_->port(), {"GET /hello HTTP/1.1\r\nHost: x\r\n"}, 5s, true);
  EXPECT_EQ(cut.rfind("HTTP/1.1 400 ", 0), 0u) << cut;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 4s);
  // Ended before a byte of a request: no answer, and the connection is closed.
  begin = std::chrono::steady_clock::now();
  EXPECT_EQ(RawPieces(server_->port(), {}, 5s, true), "");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 4s);

  // A header over the limit, arriving over many reads: 431.
  std::string big = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n";
  std::string refused = RawExchange(server_->port(), big, 5s);
  EXPECT_EQ(refused.rfind("HTTP/1.1 431 ", 0), 0u) << refused.substr(0, 200);
}

// A server of its own with a 1 s read timeout and a few special routes.
class ServerWithShortTimeout : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueTempDir("http-timeout");
    ASSERT_TRUE(router_.Add(MakeRoute(Method::kGet, "/sleepy", [](Request&) {
      std::this_thread::sleep_for(2200ms);  // longer than read_timeout_s
      return Text("worth the wait");
    })).ok());
    ASSERT_TRUE(router_.Add(MakeRoute(Method::kGet, "/gone", [this](Request&) {
      Response r;
      r.file = FileBody{(dir_ / "missing").string(), 0, 10};
      return r;
    })).ok());
    ASSERT_TRUE(router_.Add(MakeRoute(Method::kGet, "/hello", [](Request&) { return Text("hi"); })).ok());
    pipeline_ = std::make_unique<Pipeline>(router_);
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.read_timeout_s = 1;
    o.spool_dir = dir_.string();
    server_ = std::make_unique<Server>(o, *pipeline_);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  Router router_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerWithShortTimeout, HandlerSlowerThanTheReadTimeoutStillAnswers) {
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/sleepy";
  req.timeout = 10s;
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "worth the wait");
}

TEST_F(ServerWithShortTimeout, FileGoneAnswers404AndReallyCloses) {
  std::string out = RawExchange(server_->port(),
                                "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                                3000ms);
  EXPECT_EQ(Count(out, "HTTP/1.1 "), 1u) << out;
  EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
}

TEST_F(ServerWithShortTimeout, NothingIsAcceptedOnceWaitReturns) {
  uint16_t port = server_->port();
  server_->Shutdown();
  server_->Wait();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(RawExchange(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200ms), "<connect failed>");
  }
}

TEST(ParseHostPortTest, Forms) {
  auto a = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 8080);
  auto b = ParseHostPort(":9000");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "0.0.0.0");
  EXPECT_EQ(b->second, 9000);
  auto c = ParseHostPort("[::1]:443");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, "::1");
  EXPECT_EQ(c->second, 443);
  EXPECT_FALSE(ParseHostPort("localhost").ok());
  EXPECT_FALSE(ParseHostPort("host:99999").ok());
  EXPECT_FALSE(ParseHostPort("host:").ok());
  EXPECT_FALSE(ParseHostPort("host:8x").ok());
}

TEST(ParseUrlTest, Forms) {
  auto u = ParseUrl("http://example.com:81/a/b?c=d");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, "81");
  EXPECT_EQ(u->target, "/a/b?c=d");
  auto d = ParseUrl("http://example.com");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, "80");
  EXPECT_EQ(d->target, "/");
  auto v6 = ParseUrl("http://[::1]:8080/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8080");
  EXPECT_FALSE(ParseUrl("https://example.com/").ok());
  EXPECT_FALSE(ParseUrl("http:///x").ok());
}

TEST(ClientTest, RefusedConnectionIsUnavailable) {
  // Bind nothing: grab a free port from a short-lived server, then stop it.
  Router router;
  Pipeline pipeline(router);
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = 1;
  o.worker_threads = 1;
  uint16_t port = 0;
  {
    Server s(o, pipeline);
    ASSERT_TRUE(s.Start().ok());
    port = s.port();
  }
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  req.timeout = 2s;
  auto r = client.Send(req);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  // Nothing was sent: a proxy may try any request elsewhere (the gateway does).
  EXPECT_TRUE(NeverSent(r.status())) << r.status().ToString();
  EXPECT_FALSE(NeverSent(Status::Unavailable("connection to 127.0.0.1:1 kept failing")));
  EXPECT_FALSE(NeverSent(Status::DeadlineExceeded("cannot connect to x: timed out")));
}

TEST(MessageTest, HasLineBreakFindsCrAndLfAnywhere) {
  for (size_t len = 0; len <= 40; ++len) {
    std::string clean(len, 'a');
    for (size_t i = 0; i < len; ++i) clean[i] = static_cast<char>('!' + (i * 7) % 90);  // printable, no CR/LF
    EXPECT_FALSE(HasLineBreak(clean)) << len;
    for (size_t at = 0; at < len; ++at) {
      for (char c : {'\r', '\n'}) {
        std::string bad = clean;
        bad[at] = c;
        EXPECT_TRUE(HasLineBreak(bad)) << "length " << len << ", at " << at;
      }
    }
  }
  // Bytes next to CR and LF in value (0x0c, 0x0b, 0x0e, 0x8d, 0x8a) are not line breaks.
  EXPECT_FALSE(HasLineBreak(std::string("\x0b\x0c\x0e\x8a\x8d\x09\xff\x00 tail", 14)));
}

TEST(MessageTest, EqualsIgnoreCaseFoldsLettersOnly) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("Host", "Hosts"));
  EXPECT_FALSE(EqualsIgnoreCase("Host", "Hoss"));
  // Characters 0x20 apart that are not letters are different characters.
  EXPECT_FALSE(EqualsIgnoreCase("@", "`"));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));
  EXPECT_FALSE(EqualsIgnoreCase("^", "~"));
  EXPECT_FALSE(EqualsIgnoreCase("a-b", "a\rb"));
  for (int c = 0; c < 256; ++c) {
    for (int d = 0; d < 256; ++d) {
      char x = static_cast<char>(c), y = static_cast<char>(d);
      bool want = c == d || (std::isalpha(c) && std::isalpha(d) && std::tolower(c) == std::tolower(d) && c < 128 && d < 128);
      ASSERT_EQ(EqualsIgnoreCase(std::string_view(&x, 1), std::string_view(&y, 1)), want) << c << " " << d;
    }
  }
}

TEST(MessageTest, HeadersKeepOrderReplaceRefuseLineBreaksAndWriteWhatIsLeft) {
  Headers h;
  h.Add("Server", "up/1");
  h.Add("X-Twice", "first");
  h.Add("Connection", "keep-alive");
  h.Add("X-Twice", "second");
  h.Add("Date", "today");
  // A field that would split the message, or has no name, is not kept.
  h.Add("X-Bad", "a\r\nInjected: 1");
  h.Add("X-Bad\n", "a");
  h.Add("", "no name");
  h.Set("X-Also-Bad", "b\nc");
  EXPECT_FALSE(h.Get("X-Bad"));
  EXPECT_FALSE(h.Get("X-Also-Bad"));
  EXPECT_FALSE(h.Get(""));
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h.Get("x-twice"), "first");  // the first of a repeated field, any case
  EXPECT_FALSE(h.Get("X-Twic"));

  std::string out;
  h.AppendTo(out);
  EXPECT_EQ(out, "Server: up/1\r\nX-Twice: first\r\nConnection: keep-alive\r\nX-Twice: second\r\nDate: today\r\n");

  // Erased fields are skipped by lookups, iteration and the writer, in runs or alone.
  h.EraseIf([](std::string_view n) { return EqualsIgnoreCase(n, "connection") || EqualsIgnoreCase(n, "server"); });
  EXPECT_FALSE(h.Get("Server"));
  h.Set("x-twice", "only");  // replaces both, at the end
  h.Add("X-Request-Id", "r1");
  std::vector<std::string> seen;
  for (auto [name, value] : h.all()) seen.push_back(std::string(name) + "=" + std::string(value));
  EXPECT_EQ(seen, (std::vector<std::string>{"Date=today", "x-twice=only", "X-Request-Id=r1"}));
  EXPECT_EQ(h.size(), 3u);
  out = "HTTP/1.1 200 OK\r\n";
  h.AppendTo(out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nDate: today\r\nx-twice: only\r\nX-Request-Id: r1\r\n");

  // Copies are independent; everything erased writes nothing.
  Headers copy = h;
  h.EraseIf([](std::string_view) { return true; });
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.begin(), h.end());
  out.clear();
  h.AppendTo(out);
  EXPECT_EQ(out, "");
  EXPECT_EQ(copy.Get("Date"), "today");
}

TEST(MessageTest, AppendFieldWritesOneLine) {
  std::string out = "HTTP/1.1 200 OK\r\n";
  AppendField(out, "X-A", "b c");
  AppendField(out, "Empty", "");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-A: b c\r\nEmpty: \r\n");
}

// A loopback listener whose connections a test serves by hand, byte for byte.
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawListener() { ::close(fd_); }
  // A GET of "/" on it.
  ClientRequest Request(std::chrono::milliseconds timeout = 5s) const {
    ClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port_) + "/";
    req.timeout = timeout;
    return req;
  }
  int Accept() const { return ::accept(fd_, nullptr, nullptr); }
  // Reads one request head (up to the blank line).
  static std::string ReadHead(int fd) {
    std::string got;
    char c;
    while (got.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) got += c;
    return got;
  }
  static void Write(int fd, std::string_view data) { ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size())); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(ClientTest, KeptAliveConnectionClosedByTheServerIsRetriedOnAFreshOne) {
  RawListener listener;
  std::thread server([&] {
    int first = listener.Accept();
    RawListener::ReadHead(first);
    RawListener::Write(first, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    ::close(first);  // after saying nothing of closing: the client keeps the connection
    int second = listener.Accept();
    RawListener::ReadHead(second);
    RawListener::Write(second, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    RawListener::ReadHead(second);  // until the client closes it
    ::close(second);
  });
  auto client = std::make_unique<Client>();
  ClientRequest req = listener.Request();
  auto a = client->Send(req);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->body, "a");
  EXPECT_EQ(client->idle_connections(), 1u);
  std::this_thread::sleep_for(50ms);  // the close reaches the client's side
  auto b = client->Send(req);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->body, "b");
  EXPECT_EQ(client->idle_connections(), 1u);
  client.reset();  // closes the pooled connection: the server's last read ends
  server.join();
}

TEST(ClientTest, AnswerEndedByClosingIsReadWholeAndNotKept) {
  RawListener listener;
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the ");
    std::this_thread::sleep_for(20ms);
    RawListener::Write(fd, "end");
    ::close(fd);
  });
  Client client;
  ClientRequest req = listener.Request();
  auto r = client.Send(req);
  server.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "until the end");
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST(ClientTest, InterimAnswersAreSkippedAndAStatusUnder100IsRefused) {
  RawListener listener;
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    std::this_thread::sleep_for(20ms);
    RawListener::Write(fd, "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone");
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 020 OK\r\nContent-Length: 0\r\n\r\n");
    RawListener::ReadHead(fd);  // until the client closes it
    ::close(fd);
  });
  Client client;
  ClientRequest req = listener.Request();
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "done");
  EXPECT_FALSE(r->headers.Get("Link")) << "the interim answer's fields are not the final one's";
  auto bad = client.Send(req);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kUnavailable) << bad.status().ToString();
  EXPECT_EQ(client.idle_connections(), 0u);
  server.join();
}

TEST(ClientTest, AShortTimeoutAfterALongOneOnTheSameConnectionIsKept) {
  RawListener listener;
  std::promise<void> finished;
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    RawListener::ReadHead(fd);  // the second request gets no answer
    finished.get_future().wait();
    ::close(fd);
  });
  Client client;
  ClientRequest req = listener.Request(60s);
  ASSERT_TRUE(client.Send(req).ok());
  ASSERT_EQ(client.idle_connections(), 1u);
  req.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = client.Send(req);
  auto took = std::chrono::steady_clock::now() - start;
  finished.set_value();
  server.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().ToString();
  EXPECT_LT(took, 10s) << "the 60 s deadline of the first request was used";
  EXPECT_EQ(client.idle_connections(), 0u) << "a timed-out connection is not kept";
}

TEST(ClientTest, ACallbackThatThrowsDoesNotEndTheClient) {
  RawListener listener;
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain");
    RawListener::ReadHead(fd);  // until the client closes it
    ::close(fd);
  });
  auto client = std::make_unique<Client>();
  std::promise<void> called;
  client->SendAsync(listener.Request(), [&called](Result<ClientResponse> r) {
    EXPECT_TRUE(r.ok());
    called.set_value();
    throw std::runtime_error("a caller's bug");
  });
  ASSERT_EQ(called.get_future().wait_for(5s), std::future_status::ready);
  auto after = client->Send(listener.Request());  // the client's thread is still there
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->body, "again");
  client.reset();
  server.join();
}

TEST(ClientTest, NoAnswerInTimeIsDeadlineExceeded) {
  // A listening socket nobody accepts on: the kernel completes the handshake and takes the
  // request, and no answer ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  req.timeout = 300ms;
  auto r = client.Send(req);
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().ToString();
}

// A BodyStream that records what it is handed, taking bodies in pieces when `take` says so.
class RecordingBodyStream : public BodyStream {
 public:
  explicit RecordingBodyStream(bool take) : take_(take) {}
  bool OnHead(const ClientResponse& head, std::function<void()> cancel) override {
    std::lock_guard lock(mu);
    heads.push_back(head.status);
    content_type = std::string(head.headers.Get("Content-Type").value_or(""));
    this->cancel = std::move(cancel);
    return take_;
  }
  void OnData(std::string_view piece) override {
    std::lock_guard lock(mu);
    pieces.emplace_back(piece);
    cv.notify_all();
  }
  // Waits until `n` pieces have come.
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return pieces.size() >= n; });
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> heads;
  std::string content_type;
  std::vector<std::string> pieces;
  std::function<void()> cancel;

 private:
  bool take_;
};

// Sends `req` with `sink` offered the answer's head; waits for the exchange's end.
Result<ClientResponse> SendStreamed(Client& client, ClientRequest req, BodyStream& sink) {
  auto shared = std::make_shared<ClientRequest>(std::move(req));
  shared->body_stream = &sink;
  std::promise<Result<ClientResponse>> done;
  client.SendAsync(shared, [&](Result<ClientResponse> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

// An event stream's pieces reach the body stream as they are sent (the second is sent only once
// the first has arrived), past the client's body limit, and the exchange ends with an empty
// body; the head is offered after interim answers, once.
TEST(ClientTest, AStreamedBodyArrivesInPiecesAsItIsSent) {
  RawListener listener;
  RecordingBodyStream sink(/*take=*/true);
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
    std::this_thread::sleep_for(20ms);  // the head arrives in two reads
    RawListener::Write(fd, "Transfer-Encoding: chunked\r\n\r\n10\r\ndata: one-----\n\n\r\n");
    if (sink.WaitFor(1)) RawListener::Write(fd, "10\r\ndata: two-----\n\n\r\n0\r\n\r\n");
    RawListener::ReadHead(fd);  // until the client closes it
    ::close(fd);
  });
  auto client = std::make_unique<Client>(ClientOptions{.max_idle_per_host = 4, .max_response_bytes = 20});
  auto r = SendStreamed(*client, listener.Request(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "") << "the body went to the stream";
  EXPECT_EQ(sink.heads, std::vector<int>{200});
  EXPECT_EQ(sink.content_type, "text/event-stream");
  ASSERT_EQ(sink.pieces.size(), 2u);
  EXPECT_EQ(sink.pieces[0], "data: one-----\n\n");
  EXPECT_EQ(sink.pieces[1], "data: two-----\n\n");
  EXPECT_EQ(client->idle_connections(), 1u) << "a stream read to its end leaves a reusable connection";
  client.reset();
  server.join();
}

// A head the stream declines is read whole, as without one.
TEST(ClientTest, ADeclinedHeadIsReadWhole) {
  RawListener listener;
  RecordingBodyStream sink(/*take=*/false);
  std::thread server([&] {
    int fd = listener.Accept();
    RawListener::ReadHead(fd);
    RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole");
    RawListener::ReadHead(fd);
    ::close(fd);
  });
  auto client = std::make_unique<Client>();
  auto r = SendStreamed(*client, listener.Request(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "whole");
  EXPECT_EQ(sink.heads, std::vector<int>{200});
  EXPECT_TRUE(sink.pieces.empty());
  client.reset();  // closes the pooled connection: the server's last read ends
  server.join();
}

// Cancelling a stream from another thread ends the exchange at once with a failure and closes
// the connection (the server's reads end); a stream that falls silent for longer than the
// timeout fails as a timeout.
TEST(ClientTest, AStreamIsCancelledFromAnotherThreadOrEndsWhenSilent) {
  RawListener listener;
  RecordingBodyStream sink(/*take=*/true);
  std::atomic<bool> server_saw_close{false};
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      int fd = listener.Accept();
      RawListener::ReadHead(fd);
      RawListener::Write(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n");
      char c;
      if (::read(fd, &c, 1) == 0 && i == 0) server_saw_close = true;  // the client closed
      ::close(fd);
    }
  });
  Client client;
  std::chrono::steady_clock::time_point started;
  std::thread canceller([&] {
    ASSERT_TRUE(sink.WaitFor(1));
    started = std::chrono::steady_clock::now();
    sink.cancel();
  });
  auto r = SendStreamed(client, listener.Request(5s), sink);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().ToString();

  auto r2 = SendStreamed(client, listener.Request(300ms), sink);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Code::kDeadlineExceeded) << r2.status().ToString();
  EXPECT_EQ(sink.pieces.size(), 2u);
  server.join();
  EXPECT_TRUE(server_saw_close);
}

// A stream fed from another thread: pieces in order, the end, a client gone before the end
// (OnClose runs once), a failed body.
TEST(PushStreamTest, PiecesEndCloseAndFailure) {
  PushStream s;
  int woken = 0, closes = 0;
  s.SetWake([&] { ++woken; });
  s.OnClose([&] { ++closes; });
  s.Push("a");
  s.Push("b");
  std::string out;
  EXPECT_TRUE(s.Poll(out));
  EXPECT_EQ(out, "ab");
  EXPECT_EQ(woken, 2);
  s.End();
  s.Push("late");
  out.clear();
  EXPECT_FALSE(s.Poll(out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(s.Failed());
  s.Close();
  EXPECT_EQ(closes, 0) << "a stream closed after its end has nobody to stop";

  PushStream gone;
  gone.OnClose([&] { ++closes; });
  gone.Push("x");
  gone.Close();
  gone.Close();
  EXPECT_EQ(closes, 1);
  EXPECT_TRUE(gone.closed());
  gone.Push("y");
  out.clear();
  gone.Poll(out);
  EXPECT_EQ(out, "") << "nothing is kept for a client that is gone";

  PushStream broken;
  broken.Push("part");
  broken.Fail();
  out.clear();
  EXPECT_FALSE(broken.Poll(out));
  EXPECT_EQ(out, "part");
  EXPECT_TRUE(broken.Failed());
}

// The middleware keeps the series it used last per thread: requests alternating over more
// (route, status) pairs than it keeps are each still counted under their own, and a later
// middleware (perhaps at the same address) counts into its own registry.
TEST(MetricsTest, EachRequestIsCountedUnderItsOwnRouteAndStatus) {
  Route a = MakeRoute(Method::kGet, "/a", [](Request&) { return Response{}; });
  Route b = MakeRoute(Method::kGet, "/b", [](Request&) { return Response{}; });
  auto run = [](MetricsMiddleware& m, const Route* route, int status) {
    Request req;
    req.route = route;
    m.Handle(req, [status](Request&) {
      Response r;
      r.status = status;
      return r;
    });
  };
  auto registry = std::make_shared<prometheus::Registry>();
  {
    MetricsMiddleware metrics(registry);
    for (int round = 0; round < 3; ++round) {
      for (int status = 200; status < 240; ++status) {
        for (const Route* route : {&a, &b}) run(metrics, route, status);
      }
    }
  }
  std::string text = RenderMetrics(*registry);
  for (int status = 200; status < 240; ++status) {
    for (const char* route : {"/a", "/b"}) {
      std::string line = "aimass_http_requests_total{method=\"GET\",route=\"" + std::string(route) + "\",status=\"" +
                         std::to_string(status) + "\"} 3\n";
      EXPECT_NE(text.find(line), std::string::npos) << line;
    }
  }
  EXPECT_NE(text.find("aimass_http_request_duration_seconds_count{method=\"GET\",route=\"/a\"} 120\n"), std::string::npos);

  // The pair counted last is still in this thread's cache.
  auto second = std::make_shared<prometheus::Registry>();
  {
    MetricsMiddleware metrics(second);
    run(metrics, &b, 239);
  }
  EXPECT_NE(RenderMetrics(*second).find("aimass_http_requests_total{method=\"GET\",route=\"/b\",status=\"239\"} 1\n"),
            std::string::npos);
  EXPECT_NE(RenderMetrics(*registry).find("route=\"/b\",status=\"239\"} 3\n"), std::string::npos);
}

}  // namespace
}  // namespace aimass::http
