#include "blobs/upload_store.hpp"

#include "common/time.hpp"

namespace aimass::blobs {

std::vector<storage::Migration> UploadStore::Migrations() {
  return {{"blobs", 1, R"sql(
CREATE TABLE blob_uploads (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql"}};
}

Result<int64_t> UploadStore::Insert(const std::string& digest, int64_t size, const std::string& user) {
  return db_.Exec(
      "INSERT INTO blob_uploads (digest, size, created_by, created_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(digest) DO NOTHING",
      {digest, size, user, UnixNow()});
}

Result<int64_t> UploadStore::Delete(const std::string& digest) {
  return db_.Exec("DELETE FROM blob_uploads WHERE digest = ?", {digest});
}

Result<bool> UploadStore::Referenced(const std::string& digest) {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows, db_.Query("SELECT 1 FROM blob_uploads WHERE digest = ?", {digest}));
  return !rows.empty();
}

Result<int64_t> UploadStore::DropDangling(storage::BlobStore& blobs) {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows, db_.Query("SELECT digest FROM blob_uploads"));
  int64_t dropped = 0;
  for (const auto& r : rows) {
    auto st = blobs.Stat(r.Text(0));
    if (st.ok() || st.status().code() != Code::kNotFound) continue;
    AIMASS_ASSIGN_OR_RETURN(int64_t n, Delete(r.Text(0)));
    dropped += n;
  }
  return dropped;
}

}  // namespace aimass::blobs
