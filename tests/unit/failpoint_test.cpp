// Failpoints: the action language, counts, pause and crash, and what the stores do when a point
// fails their step (the blob store, the message log, the metadata store). Every point the code
// uses is listed, and every listed point is used.
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

#include "mq/partition_log.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"

namespace fs = std::filesystem;

namespace aimass {
namespace {

class FailpointTest : public ::testing::Test {
 protected:
  void SetUp() override { failpoint::ClearAll(); }
  void TearDown() override { failpoint::ClearAll(); }
};

std::string TempPath(const std::string& what) {
  static std::atomic<int> n{0};
  std::string p = (fs::temp_directory_path() / ("aimass-fp-" + what + "-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(n++)))
                      .string();
  fs::remove_all(p);
  return p;
}

int64_t Hits(const std::string& name) {
  for (const auto& s : failpoint::List()) {
    if (s.name == name) return s.hits;
  }
  return -1;
}

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

TEST_F(FailpointTest, BlobStoreFailuresLeaveNoBlobAndNoTempFile) {
  std::string root = TempPath("blobs");
  auto store = storage::OpenLocalBlobStore(root);
  ASSERT_TRUE(store.ok());
  for (const char* point : {"blob.before_fsync", "blob.before_rename"}) {
    ASSERT_TRUE(failpoint::Set(point, "1*error(EIO)").ok());
    auto w = (*store)->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("some bytes").ok());
    auto info = (*w)->Commit();
    ASSERT_FALSE(info.ok()) << point;
    EXPECT_EQ(info.status().code(), Code::kInternal);
    EXPECT_TRUE(fs::is_empty(root + "/tmp")) << point;
    EXPECT_EQ(Hits(point), 1);
  }
  ASSERT_TRUE(failpoint::Set("blob.write", "1*error(ENOSPC)").ok());
  auto w = (*store)->NewWriter();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Write("x").code(), Code::kInsufficientStorage);
  w->reset();
  EXPECT_TRUE(fs::is_empty(root + "/tmp"));
  // Nothing was stored, and the store still works.
  size_t objects = 0;
  for (const auto& e : fs::recursive_directory_iterator(root + "/objects")) objects += e.is_regular_file();
  EXPECT_EQ(objects, 0u);
  auto ok = (*store)->NewWriter();
  ASSERT_TRUE((*ok)->Write("some bytes").ok());
  EXPECT_TRUE((*ok)->Commit().ok());
  fs::remove_all(root);
}

TEST_F(FailpointTest, AFailedLogSyncStopsWritesUntilReopenedAndKeepsWhatWasAcknowledged) {
  std::string dir = TempPath("mq");
  mq::LogOptions o{dir, mq::FsyncPolicy::kAlways, 1 << 20, {}};
  {
    auto log = mq::PartitionLog::Open(o);
    ASSERT_TRUE(log.ok());
    std::vector<mq::Message> acked(1);
    acked[0].body = "acked";
    ASSERT_TRUE((*log)->Append(acked, 1).ok());
    ASSERT_TRUE(failpoint::Set("mq.before_fsync", "1*error(EIO)").ok());
    std::vector<mq::Message> failed(1);
    failed[0].body = "not acknowledged";
    auto r = (*log)->Append(failed, 2);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("Input/output error"), std::string::npos);
    // The point fired once; the partition still refuses: the kernel may have dropped the pages.
    std::vector<mq::Message> later(1);
    later[0].body = "later";
    auto refused = (*log)->Append(later, 3);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("until the server restarts"), std::string::npos);
    auto read = (*log)->Read(0, 10);  // reads go on
    ASSERT_TRUE(read.ok());
    ASSERT_GE(read->size(), 1u);
    EXPECT_EQ((*read)[0].body, "acked");
  }
  auto log = mq::PartitionLog::Open(o);
  ASSERT_TRUE(log.ok());
  std::vector<mq::Message> again(1);
  again[0].body = "after restart";
  ASSERT_TRUE((*log)->Append(again, 4).ok());
  auto read = (*log)->Read(0, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->front().body, "acked");
  EXPECT_EQ(read->back().body, "after restart");
  fs::remove_all(dir);
}

TEST_F(FailpointTest, AnAppendErrorWritesNothing) {
  std::string dir = TempPath("mq");
  auto log = mq::PartitionLog::Open({dir, mq::FsyncPolicy::kNever, 1 << 20, {}});
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(failpoint::Set("mq.before_append", "1*error(ENOSPC)").ok());
  std::vector<mq::Message> m(1);
  m[0].body = "x";
  auto r = (*log)->Append(m, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInsufficientStorage);
  EXPECT_EQ((*log)->next_offset(), 0u);
  ASSERT_TRUE((*log)->Append(m, 2).ok());  // a write error is not a sync error: writes go on
  EXPECT_EQ((*log)->next_offset(), 1u);
  fs::remove_all(dir);
}

TEST_F(FailpointTest, AFailedCommitRollsTheTransactionBack) {
  auto db = storage::OpenSqlite({":memory:"});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (x INTEGER)", {}).ok());
  ASSERT_TRUE(failpoint::Set("db.before_commit", "1*error(EIO)").ok());
  Status st = (*db)->Transaction([](storage::Tx& tx) { return tx.Exec("INSERT INTO t VALUES (1)", {}).status(); });
  EXPECT_EQ(st.code(), Code::kInternal);
  auto rows = (*db)->Query("SELECT COUNT(*) FROM t", {});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 0);
  ASSERT_TRUE(failpoint::Set("db.before_commit", "1*error(ENOSPC)").ok());
  EXPECT_EQ((*db)->Exec("INSERT INTO t VALUES (2)", {}).status().code(), Code::kInsufficientStorage);
  ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES (3)", {}).ok());
  rows = (*db)->Query("SELECT x FROM t", {});
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Int(0), 3);
}

}  // namespace
}  // namespace aimass
