#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/db.hpp"

namespace aimass::storage {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Db> OpenMemory() {
  auto db = OpenSqlite({":memory:"});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

int64_t Count(Db& db, const std::string& table) {
  auto rows = db.Query("SELECT COUNT(*) FROM " + table);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? (*rows)[0].Int(0) : -1;
}

const std::vector<Migration> kV1 = {
    {"widgets", 1,
     "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, owner INTEGER "
     "REFERENCES owners(id));"
     "CREATE TABLE owners (id INTEGER PRIMARY KEY);"
     "INSERT INTO owners (id) VALUES (1);"},
};

TEST(SqliteDbTest, MigrationsApplyOnce) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->driver(), "sqlite");
  ASSERT_TRUE(db->Migrate(kV1).ok());
  // Run again: the INSERT in the migration would add a second row (or fail) if re-applied.
  Status again = db->Migrate(kV1);
  ASSERT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(Count(*db, "owners"), 1);

  auto recorded = db->Query("SELECT module, version FROM schema_migrations");
  ASSERT_TRUE(recorded.ok());
  ASSERT_EQ(recorded->size(), 1u);
  EXPECT_EQ((*recorded)[0].Text(0), "widgets");
  EXPECT_EQ((*recorded)[0].Int(1), 1);

  // A later version applies on top, once.
  std::vector<Migration> v2 = kV1;
  v2.push_back({"widgets", 2, "INSERT INTO owners (id) VALUES (2);"});
  ASSERT_TRUE(db->Migrate(v2).ok());
  ASSERT_TRUE(db->Migrate(v2).ok());
  EXPECT_EQ(Count(*db, "owners"), 2);
  EXPECT_EQ(Count(*db, "schema_migrations"), 2);
}

TEST(SqliteDbTest, FailedMigrationIsRolledBackAndNotRecorded) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  std::vector<Migration> bad = {
      {"broken", 1, "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);"}};
  Status st = db->Migrate(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("broken"), std::string::npos) << st.ToString();
  // Neither the first statement nor the record survived.
  EXPECT_FALSE(db->Query("SELECT * FROM half_done").ok());
  EXPECT_EQ(Count(*db, "schema_migrations"), 0);

  // Fixing the migration lets it apply.
  bad[0].sql = "CREATE TABLE half_done (x INTEGER);";
  EXPECT_TRUE(db->Migrate(bad).ok());
  EXPECT_TRUE(db->Query("SELECT * FROM half_done").ok());
}

TEST(SqliteDbTest, TransactionRollsBackOnErrorStatus) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Migrate(kV1).ok());
  Status st = db->Transaction([](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO widgets (name) VALUES (?)", {std::string("a")}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO widgets (name) VALUES (?)", {std::string("b")}).status());
    // Visible inside the transaction…
    auto rows = tx.Query("SELECT COUNT(*) FROM widgets");
    if (!rows.ok() || (*rows)[0].Int(0) != 2) return Status::Internal("not visible inside tx");
    return Status::Conflict("changed my mind");
  });
  EXPECT_EQ(st.code(), Code::kConflict) << "the function's status is returned";
  EXPECT_EQ(st.message(), "changed my mind");
  // …and gone after the rollback.
  EXPECT_EQ(Count(*db, "widgets"), 0);

  // The connection is usable afterwards (no transaction left open).
  Status ok = db->Transaction([](Tx& tx) -> Status {
    return tx.Exec("INSERT INTO widgets (name) VALUES ('c')").status();
  });
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_EQ(Count(*db, "widgets"), 1);
}

TEST(SqliteDbTest, TransactionRollsBackOnException) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Migrate(kV1).ok());
  EXPECT_THROW(db->Transaction([](Tx& tx) -> Status {
    (void)tx.Exec("INSERT INTO widgets (name) VALUES ('x')");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(Count(*db, "widgets"), 0);
  EXPECT_TRUE(db->Exec("INSERT INTO widgets (name) VALUES ('y')").ok());
  EXPECT_EQ(Count(*db, "widgets"), 1);
}

TEST(SqliteDbTest, ConstraintViolationIsConflict) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Migrate(kV1).ok());
  ASSERT_TRUE(db->Exec("INSERT INTO widgets (name) VALUES (?)", {std::string("dup")}).ok());

  auto unique = db->Exec("INSERT INTO widgets (name) VALUES (?)", {std::string("dup")});
  EXPECT_FALSE(unique.ok());
  EXPECT_EQ(unique.status().code(), Code::kConflict) << unique.status().ToString();

  auto not_null = db->Exec("INSERT INTO widgets (name) VALUES (?)", {nullptr});
  EXPECT_EQ(not_null.status().code(), Code::kConflict) << not_null.status().ToString();

  // Foreign keys are enforced.
  auto fk = db->Exec("INSERT INTO widgets (name, owner) VALUES ('w', 999)");
  EXPECT_EQ(fk.status().code(), Code::kConflict) << fk.status().ToString();
  EXPECT_TRUE(db->Exec("INSERT INTO widgets (name, owner) VALUES ('w', 1)").ok());

  // Inside a transaction: the conflict comes back and the earlier insert is rolled back.
  Status st = db->Transaction([](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO widgets (name) VALUES ('fresh')").status());
    return tx.Exec("INSERT INTO widgets (name) VALUES ('dup')").status();
  });
  EXPECT_EQ(st.code(), Code::kConflict);
  auto fresh = db->Query("SELECT 1 FROM widgets WHERE name = 'fresh'");
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->empty());

  // Other errors are not conflicts.
  auto syntax = db->Exec("INSERT INTO nowhere VALUES (1)");
  EXPECT_EQ(syntax.status().code(), Code::kInternal);
}

TEST(SqliteDbTest, ValuesRoundTrip) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE v (i INTEGER, d REAL, t TEXT, n TEXT)").ok());
  std::string with_nul("a\0b", 3);
  auto n = db->Exec("INSERT INTO v VALUES (?, ?, ?, ?)",
                    {int64_t{-9007199254740993}, 2.5, with_nul, nullptr});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  auto rows = db->Query("SELECT i, d, t, n FROM v");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  const Row& r = (*rows)[0];
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r.Int(0), -9007199254740993);
  EXPECT_DOUBLE_EQ(r.Double(1), 2.5);
  EXPECT_EQ(r.Text(2), with_nul);
  EXPECT_TRUE(r.IsNull(3));
  EXPECT_EQ(r.Text(3), "");
  EXPECT_EQ(r.Int(3), 0);

  // Exec reports the rows it changed; LastInsertId the new rowid.
  int64_t id = 0;
  ASSERT_TRUE(db->Transaction([&](Tx& tx) -> Status {
                  AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO v (i) VALUES (1)").status());
                  id = tx.LastInsertId();
                  return Status::Ok();
                }).ok());
  EXPECT_EQ(id, 2);
  auto changed = db->Exec("UPDATE v SET t = 'x'");
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 2);
}

class SqliteFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("aimass-sqlite-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "metadata.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteFileTest, ReadersSeeCommittedWrites) {
  SqliteOptions o;
  o.path = path_;
  o.readers = 2;
  auto opened = OpenSqlite(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Db& db = **opened;
  ASSERT_TRUE(db.Migrate(kV1).ok());
  EXPECT_TRUE(fs::exists(path_));

  ASSERT_TRUE(db.Exec("INSERT INTO widgets (name) VALUES ('one')").ok());
  auto rows = db.Query("SELECT name FROM widgets ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "one");

  ASSERT_TRUE(db.Transaction([](Tx& tx) -> Status {
                  return tx.Exec("INSERT INTO widgets (name) VALUES ('two')").status();
                }).ok());
  EXPECT_EQ(Count(db, "widgets"), 2);

  // Rolled back writes never reach the readers.
  (void)db.Transaction([](Tx& tx) -> Status {
    (void)tx.Exec("INSERT INTO widgets (name) VALUES ('three')");
    return Status::Internal("abort");
  });
  EXPECT_EQ(Count(db, "widgets"), 2);

  // Readers are read-only connections.
  EXPECT_FALSE(db.Query("INSERT INTO widgets (name) VALUES ('via reader')").ok());
  EXPECT_EQ(Count(db, "widgets"), 2);

  // Many concurrent readers (more threads than reader connections) all see the data.
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = db.Query("SELECT COUNT(*) FROM widgets");
        if (r.ok() && (*r)[0].Int(0) == 2) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 6 * 20);
}

TEST_F(SqliteFileTest, DataPersistsAcrossReopen) {
  {
    auto db = OpenSqlite({path_});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate(kV1).ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO widgets (name) VALUES ('kept')").ok());
  }
  auto db = OpenSqlite({path_});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Migrate(kV1).ok()) << "already applied: a no-op";
  auto rows = (*db)->Query("SELECT name FROM widgets");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "kept");
  EXPECT_EQ(Count(**db, "owners"), 1);
}

}  // namespace
}  // namespace aimass::storage
