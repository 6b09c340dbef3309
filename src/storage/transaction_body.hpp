// The part of a write transaction both metadata stores share once they have begun one: run the
// caller's function, then commit, or roll back on its error, an exception, or a failed commit;
// the failpoints db.before_commit and db.after_commit sit around the commit.
#pragma once

#include <functional>

#include "common/failpoint.hpp"
#include "storage/db.hpp"

namespace aimass::storage {

// `exec` runs one statement without parameters (COMMIT, ROLLBACK) on the transaction's connection.
inline Status FinishTransaction(Tx& tx, const std::function<Status(Tx&)>& fn,
                                const std::function<Status(const char*)>& exec) {
  Status st;
  try {
    st = fn(tx);
  } catch (...) {
    (void)exec("ROLLBACK");
    throw;
  }
  if (!st.ok()) {
    (void)exec("ROLLBACK");
    return st;
  }
  if (int err = AIMASS_FAILPOINT("db.before_commit")) {
    (void)exec("ROLLBACK");
    return failpoint::IoError("metadata commit", err);
  }
  Status commit = exec("COMMIT");
  if (!commit.ok()) {
    (void)exec("ROLLBACK");
    return commit;
  }
  (void)AIMASS_FAILPOINT("db.after_commit");
  return commit;
}

}  // namespace aimass::storage
