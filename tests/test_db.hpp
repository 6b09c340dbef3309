// The metadata store a unit test runs on: SQLite (in memory, or the file given) by default; a
// fresh schema of the PostgreSQL server that CTest's `postgres` fixture started when
// AIMASS_TEST_PG_DSN_FILE names the file holding its DSN (the `*_pg` runs of the store tests).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "common/random.hpp"
#include "storage/db.hpp"

namespace aimass::testing {

inline std::string TestPostgresDsn() {
  const char* file = std::getenv("AIMASS_TEST_PG_DSN_FILE");
  if (!file || !*file) return "";
  std::ifstream in(file);
  std::string dsn;
  std::getline(in, dsn);
  return dsn;
}

inline std::unique_ptr<storage::Db> OpenTestDb(const std::string& sqlite_path = ":memory:") {
  std::string dsn = TestPostgresDsn();
  if (dsn.empty()) {
    storage::SqliteOptions o;
    o.path = sqlite_path;
    auto db = storage::OpenSqlite(o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
  // A schema per test: the tests of a binary share one server, never each other's tables.
  std::string schema = "t" + RandomHex(8);
  {
    auto admin = storage::OpenPostgres({dsn, 1});
    EXPECT_TRUE(admin.ok()) << admin.status().ToString();
    if (!admin.ok()) return nullptr;
    Status st = (*admin)->Exec("CREATE SCHEMA " + schema).status();
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  auto db = storage::OpenPostgres({dsn + " options=-csearch_path=" + schema});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

}  // namespace aimass::testing
