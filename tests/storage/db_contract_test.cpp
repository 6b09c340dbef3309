// What every metadata store promises the modules, run on SQLite and (in the `_pg` run) on a
// real PostgreSQL: the same SQL, the same results, the same error codes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "storage/db.hpp"
#include "test_db.hpp"
#include "test_support.hpp"

namespace aimass::storage {
namespace {

const std::vector<Migration> kSchema = {
    {"things", 1, R"sql(
CREATE TABLE things (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  score REAL NOT NULL DEFAULT 0,
  count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE labels (
  thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  PRIMARY KEY (thing_id, label)
) WITHOUT ROWID;
)sql"},
};

class DbContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenTestDb(dir_.file("meta.db"));
    ASSERT_NE(db_, nullptr);
    Status st = db_->Migrate(kSchema);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  int64_t Insert(const std::string& name) {
    int64_t id = -1;
    Status st = db_->Transaction([&](Tx& tx) -> Status {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO things (name, score) VALUES (?, ?)", {name, 1.5}).status());
      id = tx.LastInsertId();
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return id;
  }

  testing::TempDir dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(DbContractTest, MigrationsApplyOnceAndAgainIsANoOp) {
  ASSERT_TRUE(db_->Migrate(kSchema).ok());
  auto rows = db_->Query("SELECT module, version FROM schema_migrations WHERE module = ?", {"things"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Int(1), 1);
}

TEST_F(DbContractTest, IdsValuesAndTypesComeBackAsWritten) {
  int64_t a = Insert("a"), b = Insert("b");
  EXPECT_GT(a, 0);
  EXPECT_EQ(b, a + 1);
  auto rows = db_->Query("SELECT id, name, score, count, NULL FROM things WHERE name = ?", {"b"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  const Row& r = (*rows)[0];
  EXPECT_EQ(r.Int(0), b);
  EXPECT_EQ(r.Text(1), "b");
  EXPECT_DOUBLE_EQ(r.Double(2), 1.5);
  EXPECT_TRUE(std::holds_alternative<int64_t>(r.at(3)));
  EXPECT_TRUE(r.IsNull(4));
  // Aggregates are numbers on both.
  auto sum = db_->Query("SELECT COUNT(*), SUM(count), COALESCE(MAX(id), 0) FROM things");
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ((*sum)[0].Int(0), 2);
  EXPECT_EQ((*sum)[0].Int(1), 0);
  EXPECT_EQ((*sum)[0].Int(2), b);
  // A 64-bit integer survives (times are in milliseconds).
  ASSERT_TRUE(db_->Exec("UPDATE things SET count = ? WHERE id = ?", {int64_t{1} << 53, a}).ok());
  auto big = db_->Query("SELECT count FROM things WHERE id = ?", {a});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ((*big)[0].Int(0), int64_t{1} << 53);
}

TEST_F(DbContractTest, UniqueAndForeignKeyViolationsAreConflicts) {
  Insert("a");
  auto dup = db_->Exec("INSERT INTO things (name) VALUES (?)", {"a"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), Code::kConflict) << dup.status().ToString();
  auto orphan = db_->Exec("INSERT INTO labels (thing_id, label) VALUES (?, ?)", {int64_t{999}, "x"});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.status().code(), Code::kConflict) << orphan.status().ToString();
}

// A value the store cannot hold is the caller's mistake on both drivers, never a 500: SQLite
// keeps any bytes; PostgreSQL refuses text that is not UTF-8 with a bad request.
TEST_F(DbContractTest, TextThatIsNotUtf8IsKeptOrRefusedAsBadInput) {
  auto r = db_->Exec("INSERT INTO things (name) VALUES (?)", {std::string("bad \xff\xfe text")});
  if (db_->driver() == "postgres") {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << r.status().ToString();
  } else {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
}

TEST_F(DbContractTest, InsertOrIgnoreUpsertPagingAndCascade) {
  int64_t a = Insert("a");
  for (int i = 0; i < 2; ++i) {
    auto n = db_->Exec("INSERT OR IGNORE INTO labels (thing_id, label) VALUES (?, ?)", {a, "red"});
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, i == 0 ? 1 : 0);
  }
  ASSERT_TRUE(db_->Exec("INSERT INTO things (name, count) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                        "count = excluded.count",
                        {"a", int64_t{7}})
                  .ok());
  auto c = db_->Query("SELECT count FROM things WHERE name = 'a'");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)[0].Int(0), 7);
  for (const char* n : {"b", "c", "d"}) Insert(n);
  auto page = db_->Query("SELECT name FROM things ORDER BY name LIMIT ? OFFSET ?", {int64_t{2}, int64_t{1}});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].Text(0), "b");
  EXPECT_EQ((*page)[1].Text(0), "c");
  auto prefix = db_->Query("SELECT name FROM things WHERE substr(name, 1, ?) = ?", {int64_t{1}, "d"});
  ASSERT_TRUE(prefix.ok()) << prefix.status().ToString();
  EXPECT_EQ(prefix->size(), 1u);
  ASSERT_TRUE(db_->Exec("DELETE FROM things WHERE id = ?", {a}).ok());
  auto left = db_->Query("SELECT COUNT(*) FROM labels");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)[0].Int(0), 0);
}

TEST_F(DbContractTest, AFailedTransactionChangesNothing) {
  Status st = db_->Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO things (name) VALUES ('x')").status());
    return Status::Conflict("changed my mind");
  });
  EXPECT_EQ(st.code(), Code::kConflict);
  auto rows = db_->Query("SELECT COUNT(*) FROM things");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 0);
}

// Read-check-write in a transaction from many threads (on PostgreSQL, many connections, as
// several processes would be): every increment lands, none is lost to an interleaving.
TEST_F(DbContractTest, ConcurrentReadModifyWriteLosesNothing) {
  int64_t id = Insert("counter");
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        Status st = db_->Transaction([&](Tx& tx) -> Status {
          AIMASS_ASSIGN_OR_RETURN(Rows r, tx.Query("SELECT count FROM things WHERE id = ?", {id}));
          return tx.Exec("UPDATE things SET count = ? WHERE id = ?", {r[0].Int(0) + 1, id}).status();
        });
        if (!st.ok()) failed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  auto rows = db_->Query("SELECT count FROM things WHERE id = ?", {id});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), kThreads * kEach);
}

TEST_F(DbContractTest, FullTextMatchFindsAllWords) {
  std::vector<Migration> fts = {{"things", 2,
                                 R"sql(
CREATE VIRTUAL TABLE things_fts USING fts5(name, content='things', content_rowid='id');
INSERT INTO things_fts(rowid, name) SELECT id, name FROM things;
)sql",
                                 R"sql(
CREATE VIEW things_fts AS SELECT id AS rowid, to_tsvector('simple', name) AS doc FROM things;
)sql"}};
  Insert("red apple");
  Insert("green apple");
  Insert("red car");
  ASSERT_TRUE(db_->Migrate(fts).ok());
  std::vector<Value> params;
  std::string cond = db_->FullTextMatch("things_fts", "id", "  apple  red ", &params);
  ASSERT_FALSE(cond.empty());
  auto rows = db_->Query("SELECT name FROM things WHERE " + cond, params);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "red apple");
  std::vector<Value> none;
  EXPECT_EQ(db_->FullTextMatch("things_fts", "id", " \t", &none), "");
  EXPECT_TRUE(none.empty());
  // The user's text is never syntax.
  std::vector<Value> odd;
  std::string c2 = db_->FullTextMatch("things_fts", "id", "\"apple\" OR * NEAR(", &odd);
  EXPECT_TRUE(db_->Query("SELECT name FROM things WHERE " + c2, odd).ok());
}

}  // namespace
}  // namespace aimass::storage
