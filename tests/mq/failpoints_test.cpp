// The message log under failpoints: a failed sync fences the partition, a failed append writes nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "mq/partition_log.hpp"
#include "failpoint_support.hpp"

namespace fs = std::filesystem;

namespace aimass {
namespace {

using testing::FailpointTest;
using testing::Hits;
using testing::TempPath;

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

}  // namespace
}  // namespace aimass
