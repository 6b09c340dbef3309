// Failpoints: the action language, counts, pause and crash, the errors a failing point maps to,
// and that every point the code uses is listed and every listed point is used. What the stores
// do when a point fails is tested with each store (tests/storage, tests/mq).
#include "common/failpoint.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "failpoint_support.hpp"

namespace fs = std::filesystem;

namespace aimass {
namespace {

using testing::FailpointTest;
using testing::Hits;

TEST_F(FailpointTest, OffCostsNothingAndReturnsZero) {
  EXPECT_FALSE(failpoint::internal::g_armed.load());
  EXPECT_EQ(AIMASS_FAILPOINT("blob.write"), 0);
  EXPECT_EQ(Hits("blob.write"), 0);  // not counted while off
}

TEST_F(FailpointTest, ErrorReturnsItsErrnoAndACountDisarmsThePoint) {
  ASSERT_TRUE(failpoint::Set("blob.write", "2*error(ENOSPC)").ok());
  EXPECT_TRUE(failpoint::internal::g_armed.load());
  EXPECT_EQ(AIMASS_FAILPOINT("blob.write"), ENOSPC);
  EXPECT_EQ(AIMASS_FAILPOINT("blob.write"), ENOSPC);
  EXPECT_EQ(AIMASS_FAILPOINT("blob.write"), 0);
  EXPECT_FALSE(failpoint::internal::g_armed.load());
  EXPECT_EQ(Hits("blob.write"), 2);
  ASSERT_TRUE(failpoint::Set("blob.write", "error").ok());
  EXPECT_EQ(AIMASS_FAILPOINT("blob.write"), EIO);  // EIO when none is named
  // Another point is not touched.
  EXPECT_EQ(AIMASS_FAILPOINT("blob.before_fsync"), 0);
}

TEST_F(FailpointTest, BadActionsAndUnknownPointsAreRefusedAndArmNothing) {
  for (const char* bad : {"crsh", "error(EWHAT)", "0*crash", "x*crash", "sleep", "sleep(-1)", "crash(1)", "error(EIO"}) {
    Status st = failpoint::Set("blob.write", bad);
    EXPECT_EQ(st.code(), Code::kBadRequest) << bad;
  }
  EXPECT_EQ(failpoint::Set("no.such.point", "crash").code(), Code::kNotFound);
  // A spec with one typo arms none of its points.
  EXPECT_EQ(failpoint::Configure("blob.write=error;blob.writ=crash").code(), Code::kBadRequest);
  EXPECT_EQ(failpoint::Configure("blob.write").code(), Code::kBadRequest);
  EXPECT_FALSE(failpoint::internal::g_armed.load());
  ASSERT_TRUE(failpoint::Configure(" blob.write = 1*error(EIO) ; mq.before_fsync=sleep(1) ").ok());
  std::set<std::string> armed;
  for (const auto& s : failpoint::List()) {
    if (s.action != "off") armed.insert(s.name + "=" + s.action);
  }
  EXPECT_EQ(armed, (std::set<std::string>{"blob.write=1*error(EIO)", "mq.before_fsync=sleep(1)"}));
}

TEST_F(FailpointTest, PauseHoldsTheThreadUntilThePointChanges) {
  ASSERT_TRUE(failpoint::Set("scheduler.after_fire", "pause").ok());
  std::atomic<bool> passed{false};
  std::thread t([&] {
    (void)AIMASS_FAILPOINT("scheduler.after_fire");
    passed = true;
  });
  while (Hits("scheduler.after_fire") < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(passed.load());
  ASSERT_TRUE(failpoint::Clear("scheduler.after_fire").ok());
  t.join();
  EXPECT_TRUE(passed.load());
}

TEST_F(FailpointTest, CrashKillsTheProcessWithSigkill) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    (void)failpoint::Set("db.after_commit", "crash");
    (void)AIMASS_FAILPOINT("db.after_commit");
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(FailpointTest, DiskFullIsInsufficientStorageAndOtherErrorsInternal) {
  EXPECT_EQ(failpoint::IoError("x", ENOSPC).code(), Code::kInsufficientStorage);
  EXPECT_EQ(HttpStatus(Code::kInsufficientStorage), 507);
  EXPECT_EQ(CodeName(Code::kInsufficientStorage), "insufficient_storage");
  EXPECT_EQ(failpoint::IoError("x", EIO).code(), Code::kInternal);
  EXPECT_NE(failpoint::IoError("cannot sync", EIO).message().find("Input/output error"), std::string::npos);
}

// Every AIMASS_FAILPOINT("…") in src/ names a listed point, and every listed point is placed
// somewhere: a point the code lost would leave its crash test testing nothing.
TEST_F(FailpointTest, EveryPointIsPlacedAndEveryPlacedPointIsListed) {
  std::set<std::string> used;
  std::regex call(R"re(AIMASS_FAILPOINT\("([a-z_.]+)"\))re");
  for (const auto& e : fs::recursive_directory_iterator(std::string(AIMASS_SOURCE_DIR) + "/src")) {
    if (!e.is_regular_file() || e.path().extension() != ".cpp") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), call), end; it != end; ++it) used.insert((*it)[1].str());
  }
  std::set<std::string> listed;
  for (const auto& p : failpoint::Points()) listed.insert(std::string(p.name));
  EXPECT_EQ(used, listed);
  EXPECT_GE(listed.size(), 20u);
}

}  // namespace
}  // namespace aimass
