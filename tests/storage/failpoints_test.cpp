// The storage layer under failpoints: a failed blob write or commit leaves nothing behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "storage/blob_store.hpp"
#include "storage/db.hpp"
#include "failpoint_support.hpp"

namespace fs = std::filesystem;

namespace aimass {
namespace {

using testing::FailpointTest;
using testing::Hits;
using testing::TempPath;

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
