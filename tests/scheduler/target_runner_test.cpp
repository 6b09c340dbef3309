// The target runner on real processes, a real embedded message queue, a real AuthService (SQLite
// file) and a real HTTP server on a loopback port: shell commands (output, exit status, signals,
// timeout, cancel, environment and work directory, background processes), messages published
// with the job's headers, HTTP calls made with a token of the job's owner, and the owner's
// rights checked again at every firing (cron:shell, mq:publish or mq.<topic>:publish).
#include "test_db.hpp"
#include "test_http_server.hpp"
#include "scheduler/target_runner.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "auth/auth.hpp"
#include "auth/jwt.hpp"
#include "http/message.hpp"
#include "http/pipeline.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "mq/broker.hpp"
#include "mq/json.hpp"
#include "storage/db.hpp"

namespace aimass::scheduler {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kScheduledMs = 1700000000123;
constexpr char kScheduledText[] = "2023-11-14T22:13:20.123Z";
constexpr char kSecret[] = "target-runner-test-secret-0123456789abcdef";

Run MakeRun() {
  Run r;
  r.id = 42;
  r.job = "nightly";
  r.scheduled_ms = kScheduledMs;
  r.trigger = "schedule";
  r.status = "running";
  return r;
}

Job MakeJob(Target::Type type, const std::string& owner = "sam") {
  Job j;
  j.spec.name = "nightly";
  j.spec.schedule = "@daily";
  j.spec.target.type = type;
  j.owner = owner;
  return j;
}

Job ShellJob(const std::string& command, const std::string& owner = "sam") {
  Job j = MakeJob(Target::Type::kShell, owner);
  j.spec.target.command = command;
  return j;
}

Job MqJob(const std::string& topic, const std::string& owner) {
  Job j = MakeJob(Target::Type::kMq, owner);
  j.spec.target.topic = topic;
  j.spec.target.key = "k1";
  j.spec.target.body = R"({"report":"daily"})";
  j.spec.target.headers = {{"x-source", "test"}};
  return j;
}

// Whether a process has ended: no longer in /proc, or a zombie nobody reaped yet (in a container
// whose init does not reap, an orphan stays one).
bool Ended(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return true;
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && (stat[close + 2] == 'Z' || stat[close + 2] == 'X');
}

class TargetRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aimass-target-runner-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    work_ = dir_ + "/work";
    fs::create_directories(work_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::unique_ptr<TargetRunner> Runner(size_t output_bytes = 4096) {
    TargetRunnerOptions o;
    o.work_dir = work_;
    o.output_bytes = output_bytes;
    return MakeTargetRunner(std::move(o));
  }

  static Outcome Fire(TargetRunner& runner, const Job& job, std::chrono::milliseconds timeout = 5s) {
    CancelToken cancel;
    return runner.Fire(job, MakeRun(), timeout, cancel);
  }

  std::string dir_, work_;
};

TEST_F(TargetRunnerTest, ASucceedingCommandIsOkWithWhatItPrinted) {
  auto runner = Runner();
  Outcome out = Fire(*runner, ShellJob("echo out; echo err >&2"));
  EXPECT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.output, "out\nerr\n") << "stdout and stderr are both kept, in order";
  EXPECT_FALSE(out.timed_out);
  EXPECT_FALSE(out.cancelled);
}

TEST_F(TargetRunnerTest, ACommandRunsInTheWorkDirectoryWithAMinimalEnvironment) {
  ASSERT_EQ(::setenv("AIMASS_TEST_SECRET", "s3cret", 1), 0);
  auto runner = Runner();
  Outcome out = Fire(*runner, ShellJob("echo \"job=$AIMASS_CRON_JOB run=$AIMASS_CRON_RUN_ID at=$AIMASS_CRON_SCHEDULED_AT\"; "
                                       "echo \"home=$HOME pwd=$(pwd -P)\"; echo \"secret=[$AIMASS_TEST_SECRET]\""));
  ::unsetenv("AIMASS_TEST_SECRET");
  ASSERT_TRUE(out.status.ok()) << out.status.ToString() << "\n" << out.output;
  std::string real_work = fs::canonical(work_).string();
  EXPECT_EQ(out.output, "job=nightly run=42 at=" + std::string(kScheduledText) + "\n" +
                            "home=" + work_ + " pwd=" + real_work + "\n" +
                            "secret=[]\n")
      << "the server's environment (and its secrets) must not reach the command";
}

TEST_F(TargetRunnerTest, AFailingCommandReportsItsExitStatusAndOutput) {
  auto runner = Runner();
  Outcome out = Fire(*runner, ShellJob("echo partial; exit 3"));
  EXPECT_EQ(out.status.code(), Code::kUnprocessable);
  EXPECT_NE(out.status.message().find("exit status 3"), std::string::npos) << out.status.message();
  EXPECT_EQ(out.output, "partial\n");
  EXPECT_FALSE(out.timed_out);

  Outcome killed = Fire(*runner, ShellJob("echo dying; kill -KILL $$"));
  EXPECT_EQ(killed.status.code(), Code::kUnprocessable);
  EXPECT_NE(killed.status.message().find("killed by signal 9"), std::string::npos) << killed.status.message();
  EXPECT_EQ(killed.output, "dying\n");
}

TEST_F(TargetRunnerTest, ACommandThatOutlivesItsTimeoutIsStopped) {
  auto runner = Runner();
  auto start = Clock::now();
  Outcome out = Fire(*runner, ShellJob("echo started; sleep 30"), 300ms);
  auto took = Clock::now() - start;
  EXPECT_EQ(out.status.code(), Code::kDeadlineExceeded) << out.status.ToString();
  EXPECT_TRUE(out.timed_out);
  EXPECT_FALSE(out.cancelled);
  EXPECT_EQ(out.output, "started\n") << "what it printed before the timeout is kept";
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s) << "SIGTERM to the group should stop sh and its sleep at once";
}

TEST_F(TargetRunnerTest, WhatACommandLeftRunningInTheBackgroundIsStoppedWithIt) {
  auto runner = Runner();
  auto start = Clock::now();
  Outcome out = Fire(*runner, ShellJob("sleep 30 & echo $!"));
  EXPECT_LT(Clock::now() - start, 2s) << "the background child held the run";
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  pid_t child = static_cast<pid_t>(std::stol(out.output));
  ASSERT_GT(child, 0);
  bool ended = false;
  for (int i = 0; i < 100 && !(ended = Ended(child)); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(ended) << "sleep " << child << " outlived its run";
  if (!ended) ::kill(child, SIGKILL);
}

TEST_F(TargetRunnerTest, ACancelledRunStopsAtOnce) {
  auto runner = Runner();
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel.Cancel();
  });
  auto start = Clock::now();
  Outcome out = runner->Fire(ShellJob("echo waiting; sleep 30"), MakeRun(), 20s, cancel);
  auto took = Clock::now() - start;
  canceller.join();
  EXPECT_TRUE(out.cancelled);
  EXPECT_FALSE(out.timed_out);
  EXPECT_EQ(out.status.code(), Code::kUnavailable);
  EXPECT_EQ(out.output, "waiting\n");
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_TRUE(cancel.WaitFor(1ms)) << "a cancelled token answers at once";
}

TEST_F(TargetRunnerTest, OutputIsCutToItsFirstAndLastBytes) {
  auto runner = Runner(64);
  Outcome out = Fire(*runner, ShellJob("printf HEAD; head -c 5000 /dev/zero | tr '\\000' x; printf TAIL"));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  const std::string cut = "\n…\n";
  EXPECT_EQ(out.output.size(), 64 + cut.size());
  EXPECT_EQ(out.output.substr(0, 4), "HEAD");
  EXPECT_EQ(out.output.substr(out.output.size() - 4), "TAIL");
  EXPECT_NE(out.output.find(cut), std::string::npos);

  EXPECT_EQ(Excerpt("short", 64), "short");
  std::string excerpt = Excerpt(std::string(100, 'a') + std::string(100, 'b'), 10 + cut.size() + 10);
  EXPECT_EQ(excerpt, std::string(10, 'a') + cut + std::string(10, 'b'));
}

TEST_F(TargetRunnerTest, TargetsWithoutTheirServiceAreUnavailable) {
  auto runner = Runner();  // no broker, no auth service, no platform URL
  Outcome mq = Fire(*runner, MqJob("jobs", "sam"));
  EXPECT_EQ(mq.status.code(), Code::kUnavailable);
  Job http = MakeJob(Target::Type::kHttp);
  http.spec.target.path = "/api/v1/models";
  Outcome call = Fire(*runner, http);
  EXPECT_EQ(call.status.code(), Code::kUnavailable);
}

// With an AuthService (over SQLite) and an embedded broker: the owner's rights decide.
class OwnedTargetTest : public TargetRunnerTest {
 protected:
  void SetUp() override {
    TargetRunnerTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    db_ = aimass::testing::OpenTestDb(dir_ + "/meta.db");
    ASSERT_NE(db_, nullptr);
    Status migrated = db_->Migrate(auth::AuthService::Migrations());
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    auth::AuthOptions ao;
    ao.keys = {"HS256", kSecret, "", ""};
    ao.admin_password = "admin-password-1";
    auto jwt = auth::Jwt::Create(ao.keys, ao.issuer);
    ASSERT_TRUE(jwt.ok()) << jwt.status().ToString();
    auth_ = std::make_unique<auth::AuthService>(*db_, std::move(jwt).value(), ao);
    auto boot = auth_->Bootstrap();
    ASSERT_TRUE(boot.ok()) << boot.status().ToString();
    ASSERT_TRUE(auth_->CreateRole("publisher", {"mq:publish"}).ok());
    ASSERT_TRUE(auth_->CreateRole("jobs-publisher", {"mq.jobs:publish"}).ok());
    ASSERT_TRUE(auth_->CreateRole("shell", {"cron:shell"}).ok());

    mq::EmbeddedBrokerOptions bo;
    bo.dir = dir_ + "/mq";
    bo.fsync = mq::FsyncPolicy::kNever;
    auto broker = mq::OpenEmbeddedBroker(bo);
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    for (const char* name : {"jobs", "other"}) {
      mq::TopicSpec t;
      t.name = name;
      auto created = broker_->CreateTopic(t);
      ASSERT_TRUE(created.ok()) << created.status().ToString();
    }
    mq::SubscriptionSpec s;
    s.name = "watch";
    s.topic = "jobs";
    s.from_earliest = true;
    auto sub = broker_->CreateSubscription(s);
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  }

  void TearDown() override {
    broker_.reset();
    auth_.reset();
    db_.reset();
    TargetRunnerTest::TearDown();
  }

  void MakeUser(const std::string& name, const std::vector<std::string>& roles) {
    auto u = auth_->CreateUser(name, "password-123", roles);
    ASSERT_TRUE(u.ok()) << name << ": " << u.status().ToString();
  }

  std::unique_ptr<TargetRunner> OwnedRunner(std::function<Result<std::string>(std::string_view)> url_for = nullptr) {
    TargetRunnerOptions o;
    o.auth = auth_.get();
    o.broker = broker_.get();
    o.url_for = std::move(url_for);
    o.work_dir = work_;
    return MakeTargetRunner(std::move(o));
  }

  uint64_t Messages(const std::string& topic) {
    auto t = broker_->GetTopic(topic);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->messages : 0;
  }

  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<auth::AuthService> auth_;
  std::unique_ptr<mq::Broker> broker_;
};

TEST_F(OwnedTargetTest, AnMqTargetPublishesTheBodyWithTheJobsHeaders) {
  MakeUser("pub", {"publisher"});
  auto runner = OwnedRunner();
  Outcome out = Fire(*runner, MqJob("jobs", "pub"));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.output, "published to jobs partition 0 offset 0");
  Outcome again = Fire(*runner, MqJob("jobs", "pub"));
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.output, "published to jobs partition 0 offset 1");

  EXPECT_EQ(Messages("jobs"), 2u);

  // Both have key k1, so a consumer gets the first one first.
  auto got = broker_->Fetch("watch", 10, 2s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_FALSE(got->empty());
  const mq::Message& m = (*got)[0].message;
  EXPECT_EQ(m.topic, "jobs");
  EXPECT_EQ(m.offset, 0u);
  EXPECT_EQ(m.key, "k1");
  EXPECT_EQ(m.body, R"({"report":"daily"})");
  auto header = [&](const std::string& name) -> std::string {
    for (const auto& [k, v] : m.headers) {
      if (k == name) return v;
    }
    return "<absent>";
  };
  EXPECT_EQ(header("x-source"), "test") << "the job's own headers are sent";
  EXPECT_EQ(header("x-cron-job"), "nightly");
  EXPECT_EQ(header("x-cron-scheduled"), kScheduledText);
}

TEST_F(OwnedTargetTest, PublishingNeedsMqPublishOverAllTopicsOrThatOne) {
  MakeUser("reader", {"viewer"});             // mq:read only
  MakeUser("narrow", {"jobs-publisher"});     // mq.jobs:publish
  auto runner = OwnedRunner();

  Outcome refused = Fire(*runner, MqJob("jobs", "reader"));
  EXPECT_EQ(refused.status.code(), Code::kForbidden) << refused.status.ToString();
  EXPECT_NE(refused.status.message().find("mq:publish"), std::string::npos) << refused.status.message();
  EXPECT_EQ(Messages("jobs"), 0u) << "a refused job published anyway";

  EXPECT_TRUE(Fire(*runner, MqJob("jobs", "narrow")).status.ok());
  EXPECT_EQ(Fire(*runner, MqJob("other", "narrow")).status.code(), Code::kForbidden);
  EXPECT_EQ(Messages("jobs"), 1u);
  EXPECT_EQ(Messages("other"), 0u);

  Outcome ghost = Fire(*runner, MqJob("jobs", "ghost"));
  EXPECT_EQ(ghost.status.code(), Code::kForbidden);
  EXPECT_NE(ghost.status.message().find("no longer exists"), std::string::npos) << ghost.status.message();

  // Allowed, but the topic is not there: the broker's answer.
  MakeUser("pub", {"publisher"});
  EXPECT_EQ(Fire(*runner, MqJob("missing", "pub")).status.code(), Code::kNotFound);
}

TEST_F(OwnedTargetTest, TakingARoleAwayStopsTheOwnersJobsAtTheNextFiring) {
  MakeUser("pub", {"publisher"});
  auto runner = OwnedRunner();
  ASSERT_TRUE(Fire(*runner, MqJob("jobs", "pub")).status.ok());
  ASSERT_TRUE(auth_->UpdateUser("pub", std::nullopt, std::vector<std::string>{"viewer"}).ok());
  EXPECT_EQ(Fire(*runner, MqJob("jobs", "pub")).status.code(), Code::kForbidden);
  EXPECT_EQ(Messages("jobs"), 1u);
}

TEST_F(OwnedTargetTest, ShellCommandsNeedCronShell) {
  MakeUser("pub", {"publisher"});
  MakeUser("sheller", {"shell"});
  auto runner = OwnedRunner();
  Outcome refused = Fire(*runner, ShellJob("touch ran-as-pub", "pub"));
  EXPECT_EQ(refused.status.code(), Code::kForbidden);
  EXPECT_NE(refused.status.message().find("cron:shell"), std::string::npos) << refused.status.message();
  EXPECT_FALSE(fs::exists(work_ + "/ran-as-pub")) << "the refused command ran";

  Outcome ran = Fire(*runner, ShellJob("touch ran-as-sheller", "sheller"));
  EXPECT_TRUE(ran.status.ok()) << ran.status.ToString();
  EXPECT_TRUE(fs::exists(work_ + "/ran-as-sheller"));
}

// HTTP targets against a server on a loopback port that records what it was sent.
class HttpTargetTest : public OwnedTargetTest {
 protected:
  struct Seen {
    std::string authorization, request_id, content_type, custom, body;
    int count = 0;
  };

  void SetUp() override {
    OwnedTargetTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    MakeUser("pub", {"publisher"});
    Add(http::Method::kPost, "/api/hook", [this](http::Request& req) {
      std::lock_guard lock(mu_);
      auto header = [&](const char* name) {
        auto v = req.headers.Get(name);
        return v ? std::string(*v) : std::string("<absent>");
      };
      seen_.authorization = header("Authorization");
      seen_.request_id = header("X-Request-Id");
      seen_.content_type = header("Content-Type");
      seen_.custom = header("X-Custom");
      seen_.body = req.body;
      ++seen_.count;
      return Text(200, "accepted");
    });
    Add(http::Method::kPost, "/api/broken", [](http::Request&) { return Text(500, "boom"); });
    // The queue's publish route as the mq process answers it, on the real parser and broker.
    Add(http::Method::kPost, "/api/v1/mq/topics/{topic}/messages", [this](http::Request& req) {
      {
        std::lock_guard lock(mu_);
        seen_.authorization = std::string(req.headers.Get("Authorization").value_or("<absent>"));
        ++seen_.count;
      }
      auto parsed = mq::ParseOutgoing(nlohmann::json::parse(req.body, nullptr, false), 10);
      if (!parsed.ok()) return Text(400, parsed.status().message());
      auto res = broker_->Publish(req.Param("topic"), std::move(*parsed));
      if (!res.ok()) return Text(404, res.status().message());
      nlohmann::json results = nlohmann::json::array();
      for (const auto& r : *res) results.push_back({{"partition", r.partition}, {"offset", r.offset}, {"duplicate", r.duplicate}});
      http::Response r = Text(200, nlohmann::json{{"results", results}}.dump());
      r.headers.Set("Content-Type", "application/json");
      return r;
    });
    Add(http::Method::kGet, "/api/slow", [](http::Request&) {
      std::this_thread::sleep_for(2s);
      return Text(200, "late");
    });
    Status st = server_.Start(dir_ + "/spool");
    ASSERT_TRUE(st.ok()) << st.ToString();
    url_ = server_.url();
  }

  void TearDown() override {
    server_.Stop();
    OwnedTargetTest::TearDown();
  }

  static http::Response Text(int status, std::string body) { return aimass::testing::TestHttpServer::Text(status, std::move(body)); }

  void Add(http::Method m, std::string pattern, http::Handler h) {
    Status st = server_.Add(m, std::move(pattern), std::move(h));
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  Job HttpJob(const std::string& method, const std::string& path) {
    Job j = MakeJob(Target::Type::kHttp, "pub");
    j.spec.target.method = method;
    j.spec.target.path = path;
    return j;
  }

  std::unique_ptr<TargetRunner> PlatformRunner() {
    return OwnedRunner([this](std::string_view) -> Result<std::string> { return url_; });
  }

  std::mutex mu_;
  Seen seen_;
  aimass::testing::TestHttpServer server_;
  std::string url_;
};

TEST_F(HttpTargetTest, AnHttpTargetCallsThePlatformWithATokenOfTheOwner) {
  auto runner = PlatformRunner();
  Job job = HttpJob("POST", "/api/hook");
  job.spec.target.body = R"({"a":1})";
  job.spec.target.headers = {{"X-Custom", "yes"}, {"Authorization", "Bearer forged"}};
  Outcome out = Fire(*runner, job);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.output, "accepted");

  std::lock_guard lock(mu_);
  ASSERT_EQ(seen_.count, 1);
  EXPECT_EQ(seen_.body, R"({"a":1})");
  EXPECT_EQ(seen_.custom, "yes");
  EXPECT_EQ(seen_.content_type, "application/json") << "a body without a type is sent as JSON";
  EXPECT_EQ(seen_.request_id, "cron-nightly-42");
  ASSERT_EQ(seen_.authorization.rfind("Bearer ", 0), 0u) << seen_.authorization;
  EXPECT_NE(seen_.authorization, "Bearer forged") << "a job must not choose its own credentials";
  auto who = auth_->Authenticate(seen_.authorization.substr(7));
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ((*who)->username, "pub");
}

TEST_F(HttpTargetTest, AnErrorStatusIsABadGatewayWithTheAnswer) {
  auto runner = PlatformRunner();
  Outcome out = Fire(*runner, HttpJob("POST", "/api/broken"));
  EXPECT_EQ(out.status.code(), Code::kBadGateway);
  EXPECT_NE(out.status.message().find("answered 500"), std::string::npos) << out.status.message();
  EXPECT_EQ(out.output, "boom");
  EXPECT_FALSE(out.timed_out);
}

TEST_F(HttpTargetTest, AnAnswerThatComesTooLateIsATimeout) {
  auto runner = PlatformRunner();
  auto start = Clock::now();
  Outcome out = Fire(*runner, HttpJob("GET", "/api/slow"), 150ms);
  EXPECT_LT(Clock::now() - start, 1500ms) << "the run waited for the answer";
  EXPECT_EQ(out.status.code(), Code::kDeadlineExceeded) << out.status.ToString();
  EXPECT_TRUE(out.timed_out);
}

TEST_F(HttpTargetTest, AnOwnerWhoIsGoneCannotCall) {
  auto runner = PlatformRunner();
  Job job = HttpJob("POST", "/api/hook");
  job.owner = "ghost";
  EXPECT_EQ(Fire(*runner, job).status.code(), Code::kForbidden);
  std::lock_guard lock(mu_);
  EXPECT_EQ(seen_.count, 0);
}

TEST_F(HttpTargetTest, WithTheQueueInAnotherProcessAnMqTargetIsPublishedThroughItsApiOncePerRun) {
  TargetRunnerOptions o;
  o.auth = auth_.get();
  o.broker = nullptr;  // the embedded log lives in the mq process
  std::vector<std::string> asked;
  o.url_for = [&](std::string_view path) -> Result<std::string> {
    asked.emplace_back(path);
    return url_;
  };
  o.work_dir = work_;
  auto runner = MakeTargetRunner(std::move(o));
  Job job = MqJob("jobs", "pub");
  job.spec.target.body = "bytes \x01\xff and text";
  Outcome out = Fire(*runner, job);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.output.rfind("published to jobs partition 0 offset 0 (at " + url_, 0), 0u) << out.output;
  ASSERT_EQ(asked, std::vector<std::string>{"/api/v1/mq/topics/jobs/messages"});
  {
    std::lock_guard lock(mu_);
    auto who = auth_->Authenticate(seen_.authorization.substr(7));
    ASSERT_TRUE(who.ok()) << who.status().ToString();
    EXPECT_EQ((*who)->username, "pub") << "published as the job's owner";
  }
  // The same run fired again (its answer lost, say) lands once: the run is the dedup id.
  Outcome again = Fire(*runner, job);
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(Messages("jobs"), 1u);

  auto got = broker_->Fetch("watch", 10, 2s);
  ASSERT_TRUE(got.ok() && got->size() == 1) << got.status().ToString();
  const mq::Message& m = (*got)[0].message;
  EXPECT_EQ(m.key, "k1");
  EXPECT_EQ(m.body, job.spec.target.body) << "any bytes travel (base64 on the wire)";
  std::map<std::string, std::string> headers(m.headers.begin(), m.headers.end());
  EXPECT_EQ(headers["x-source"], "test");
  EXPECT_EQ(headers["x-cron-job"], "nightly");
  EXPECT_EQ(headers.count("x-cron-scheduled"), 1u);

  // A topic the mq process does not have: its answer is the run's error.
  Outcome missing = Fire(*runner, MqJob("absent", "pub"));
  EXPECT_EQ(missing.status.code(), Code::kBadGateway) << missing.status.ToString();
  EXPECT_NE(missing.status.message().find("answered 404"), std::string::npos) << missing.status.message();
}

TEST_F(HttpTargetTest, WithoutAPlatformUrlHttpTargetsAreUnavailable) {
  auto runner = OwnedRunner([](std::string_view) -> Result<std::string> { return std::string(); });  // the server is not listening yet
  EXPECT_EQ(Fire(*runner, HttpJob("POST", "/api/hook")).status.code(), Code::kUnavailable);
}

}  // namespace
}  // namespace aimass::scheduler
