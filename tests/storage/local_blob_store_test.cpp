#include "test_support.hpp"
#include "storage/blob_store.hpp"
#include "common/failpoint.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aimass::storage {
namespace {

namespace fs = std::filesystem;

using testing::ExpectedSha256Hex;
using testing::ReadAll;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Regular files anywhere under `dir`.
std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    root_ = fs::temp_directory_path() /
            ("aimass-blob-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(root_);
    auto store = OpenLocalBlobStore(root_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  BlobInfo Put(const std::string& data) {
    auto w = store_->NewWriter();
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return {};
    // Several writes, to exercise streaming.
    size_t half = data.size() / 2;
    EXPECT_TRUE((*w)->Write(std::string_view(data).substr(0, half)).ok());
    EXPECT_TRUE((*w)->Write(std::string_view(data).substr(half)).ok());
    auto info = (*w)->Commit();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : BlobInfo{};
  }

  fs::path objects() const { return root_ / "objects"; }
  fs::path tmp() const { return root_ / "tmp"; }

  fs::path root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, CommitGivesSha256Digest) {
  std::string data = RandomBytes(300 * 1024 + 7, 1);
  BlobInfo info = Put(data);
  EXPECT_EQ(info.digest, "sha256:" + ExpectedSha256Hex(data));
  EXPECT_EQ(info.size, data.size());

  auto st = store_->Stat(info.digest);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->digest, info.digest);
  EXPECT_EQ(st->size, data.size());

  auto path = store_->LocalPath(info.digest);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(ReadAll(*path), data);
  // Stored under objects/, not left in tmp/.
  EXPECT_EQ(fs::path(*path).string().rfind(objects().string(), 0), 0u) << *path;
  EXPECT_TRUE(FilesUnder(tmp()).empty());
}

TEST_F(BlobStoreTest, EmptyBlob) {
  BlobInfo info = Put("");
  EXPECT_EQ(info.digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(info.size, 0u);
  EXPECT_TRUE(store_->Stat(info.digest).ok());
}

TEST_F(BlobStoreTest, SameBytesStoredOnce) {
  std::string data = RandomBytes(4096, 2);
  BlobInfo a = Put(data);
  BlobInfo b = Put(data);
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(FilesUnder(objects()).size(), 1u);
  EXPECT_TRUE(FilesUnder(tmp()).empty()) << "the duplicate's temp file must be removed";

  BlobInfo c = Put(data + "x");
  EXPECT_NE(c.digest, a.digest);
  EXPECT_EQ(FilesUnder(objects()).size(), 2u);
}

TEST_F(BlobStoreTest, StatAndLocalPathOfMissingBlob) {
  std::string digest = "sha256:" + ExpectedSha256Hex("never stored");
  auto st = store_->Stat(digest);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kNotFound);
  auto p = store_->LocalPath(digest);
  EXPECT_EQ(p.status().code(), Code::kNotFound);
  // A malformed digest is bad_request, never a path lookup.
  EXPECT_EQ(store_->Stat("sha256:../../etc/passwd").status().code(), Code::kBadRequest);
  EXPECT_EQ(store_->LocalPath("../objects").status().code(), Code::kBadRequest);
}

TEST(ParseDigestTest, AcceptsCanonicalForm) {
  std::string hex = ExpectedSha256Hex("abc");
  auto r = ParseDigest("sha256:" + hex);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, hex);
}

TEST(ParseDigestTest, RejectsEverythingElse) {
  std::string hex = ExpectedSha256Hex("abc");
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_NE(upper, hex);
  std::vector<std::string> bad = {
      hex,                                      // bare hex
      "sha256:" + upper,                        // upper case
      "SHA256:" + hex,                          // upper-case algorithm
      "sha256:" + hex.substr(0, 63),            // too short
      "sha256:" + hex + "0",                    // too long
      "sha512:" + hex,                          // other algorithm
      "sha256:",                                // empty
      "",                                       //
      "sha256:../" + hex.substr(0, 61),         // path traversal, right length
      "sha256:" + hex.substr(0, 62) + "/.",     //
      "sha256:" + hex.substr(0, 63) + "g",      // non-hex
      "sha256: " + hex.substr(0, 63),           //
      "sha256:" + hex.substr(0, 63) + std::string(1, '\0'),
  };
  for (const auto& d : bad) {
    auto r = ParseDigest(d);
    EXPECT_FALSE(r.ok()) << "accepted '" << d << "'";
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << d;
  }
}

TEST_F(BlobStoreTest, UncommittedWriterLeavesNothing) {
  std::string data = RandomBytes(10000, 3);
  {
    auto w = store_->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(data).ok());
    EXPECT_EQ(FilesUnder(tmp()).size(), 1u) << "the writer streams into tmp/";
  }
  EXPECT_TRUE(FilesUnder(tmp()).empty());
  EXPECT_TRUE(FilesUnder(objects()).empty());
  EXPECT_EQ(store_->Stat("sha256:" + ExpectedSha256Hex(data)).status().code(), Code::kNotFound);
}

TEST_F(BlobStoreTest, WriterIsClosedAfterCommit) {
  auto w = store_->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("abc").ok());
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_FALSE((*w)->Write("more").ok());
  EXPECT_FALSE((*w)->Commit().ok());
  w->reset();
  // Destroying a committed writer keeps the blob.
  EXPECT_TRUE(store_->Stat("sha256:" + ExpectedSha256Hex("abc")).ok());
}

// Runs `child` in a forked process (its return value is the exit code) and returns its pid once
// it has called `ready` (or -1 when the fork failed or the child ended before).
pid_t ForkUntilReady(const std::function<int(const std::function<void()>& ready)>& child) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::_exit(child([&] { (void)!::write(pipe_fds[1], "x", 1); }));
  }
  ::close(pipe_fds[1]);
  char c = 0;
  bool ready = pid > 0 && ::read(pipe_fds[0], &c, 1) == 1;
  ::close(pipe_fds[0]);
  return ready ? pid : -1;
}

// Two processes on one blob directory (a shared mount): a process that starts while another is
// writing leaves that upload alone; once the writer is gone, the next start sweeps it.
TEST_F(BlobStoreTest, AStartingProcessSweepsOnlyTheTempFilesOfWritersThatAreGone) {
  // Child: another process with its own store on the same root, mid-upload.
  pid_t pid = ForkUntilReady([&](const std::function<void()>& ready) {
    auto mine = OpenLocalBlobStore(root_.string());
    if (!mine.ok()) return 10;
    auto w = (*mine)->NewWriter();
    if (!w.ok() || !(*w)->Write("half of an upload").ok()) return 11;
    ready();
    ::pause();
    return 12;
  });
  ASSERT_GT(pid, 0);
  ASSERT_EQ(FilesUnder(tmp()).size(), 1u);

  // This process starts again on the same root: the live upload stays.
  auto second = OpenLocalBlobStore(root_.string());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(FilesUnder(tmp()).size(), 1u) << "another process's upload in progress was swept";

  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  auto third = OpenLocalBlobStore(root_.string());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_TRUE(FilesUnder(tmp()).empty()) << "a dead writer's temp file was kept";
}

// GC in one process waits for another process's Adopt on the same root (gc.lock): the other
// process stands still inside Adopt (a failpoint sleeps before its rename, the lock held), and
// a collection started meanwhile cannot finish before it does.
TEST_F(BlobStoreTest, GcWaitsForAnAdoptInAnotherProcess) {
  BlobInfo old_unref = Put("old unreferenced blob");
  fs::last_write_time(store_->LocalPath(old_unref.digest).value(),
                      fs::file_time_type::clock::now() - std::chrono::hours(2));
  pid_t pid = ForkUntilReady([&](const std::function<void()>& ready) {
    auto mine = OpenLocalBlobStore(root_.string());
    if (!mine.ok() || !failpoint::Configure("blob.before_rename=sleep(3000)").ok()) return 10;
    auto w = (*mine)->NewWriter();
    if (!w.ok() || !(*w)->Write("uploaded by the other process").ok()) return 11;
    ready();
    return (*w)->Commit().ok() ? 0 : 12;
  });
  ASSERT_GT(pid, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the child is inside Adopt now
  auto started = std::chrono::steady_clock::now();
  auto g = store_->Gc([](const std::string&) { return false; }, std::chrono::hours(1));
  auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(1000)) << "GC did not wait for the other process's Adopt";
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child status " << wstatus;
  EXPECT_EQ(store_->Stat(old_unref.digest).status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->Stat("sha256:" + ExpectedSha256Hex("uploaded by the other process")).ok());
}

TEST_F(BlobStoreTest, WriterKilledMidWriteLeavesNoBlob) {
  std::string data = RandomBytes(1 << 20, 4);
  std::string digest = "sha256:" + ExpectedSha256Hex(data);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    // Child: start a write, get half-way, die without any cleanup.
    auto w = store_->NewWriter();
    if (!w.ok()) ::_exit(10);
    if (!(*w)->Write(std::string_view(data).substr(0, data.size() / 2)).ok()) ::_exit(11);
    ::raise(SIGKILL);
    ::_exit(12);  // not reached
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  ASSERT_EQ(WTERMSIG(wstatus), SIGKILL);

  // The partial write is only a temp file: no blob, nothing under objects/.
  EXPECT_EQ(store_->Stat(digest).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Stat("sha256:" + ExpectedSha256Hex(data.substr(0, data.size() / 2))).status().code(),
            Code::kNotFound);
  EXPECT_TRUE(FilesUnder(objects()).empty());
  auto leftovers = FilesUnder(tmp());
  ASSERT_EQ(leftovers.size(), 1u) << "the killed writer's temp file should be there";
  EXPECT_EQ(fs::file_size(leftovers[0]), data.size() / 2);

  // A blob committed meanwhile must survive the sweep. It is written by this (parent) process
  // right after the fork: temp names must not repeat the child's, which a PRNG state copied
  // by fork() would do.
  std::string kept_data = "committed before the restart";
  auto kept_writer = store_->NewWriter();
  ASSERT_TRUE(kept_writer.ok()) << kept_writer.status().ToString();
  ASSERT_TRUE((*kept_writer)->Write(kept_data).ok());
  auto kept = (*kept_writer)->Commit();
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->digest, "sha256:" + ExpectedSha256Hex(kept_data));

  // Reopening the store sweeps tmp/ and keeps committed blobs.
  store_.reset();
  auto reopened = OpenLocalBlobStore(root_.string());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  EXPECT_TRUE(FilesUnder(tmp()).empty());
  EXPECT_TRUE(store_->Stat(kept->digest).ok());
  EXPECT_EQ(store_->Stat(digest).status().code(), Code::kNotFound);

  // And the same content can be written whole afterwards.
  EXPECT_EQ(Put(data).digest, digest);
}

TEST_F(BlobStoreTest, AdoptMovesASpooledFile) {
  std::string data = "spooled upload body";
  std::string temp = store_->temp_dir() + "/upload-test.part";
  {
    std::ofstream out(temp, std::ios::binary);
    out << data;
  }
  auto bad = store_->Adopt(temp, "not-hex");
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  auto info = store_->Adopt(temp, ExpectedSha256Hex(data));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->digest, "sha256:" + ExpectedSha256Hex(data));
  EXPECT_EQ(info->size, data.size());
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(ReadAll(store_->LocalPath(info->digest).value()), data);
}

TEST_F(BlobStoreTest, GcDeletesOnlyOldUnreferencedBlobs) {
  BlobInfo keep = Put("referenced blob");
  BlobInfo old_unref = Put("old unreferenced blob");
  BlobInfo young_unref = Put("young unreferenced blob");
  std::set<std::string> refs = {keep.digest};
  auto referenced = [&](const std::string& d) { return refs.count(d) > 0; };

  // Everything is young: a 1h grace keeps all three.
  auto g1 = store_->Gc(referenced, std::chrono::hours(1));
  ASSERT_TRUE(g1.ok()) << g1.status().ToString();
  EXPECT_EQ(g1->scanned, 3u);
  EXPECT_EQ(g1->deleted, 0u);
  EXPECT_EQ(g1->bytes_freed, 0u);

  // Age two of them by two hours, including the referenced one.
  auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(store_->LocalPath(keep.digest).value(), two_hours_ago);
  fs::last_write_time(store_->LocalPath(old_unref.digest).value(), two_hours_ago);

  auto g2 = store_->Gc(referenced, std::chrono::hours(1));
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ(g2->scanned, 3u);
  EXPECT_EQ(g2->deleted, 1u);
  EXPECT_EQ(g2->bytes_freed, old_unref.size);
  EXPECT_TRUE(store_->Stat(keep.digest).ok()) << "referenced blobs are never collected";
  EXPECT_EQ(store_->Stat(old_unref.digest).status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->Stat(young_unref.digest).ok()) << "young blobs survive the grace period";

  // Grace 0: every unreferenced blob goes, referenced ones stay.
  auto g3 = store_->Gc(referenced, std::chrono::seconds(0));
  ASSERT_TRUE(g3.ok());
  EXPECT_EQ(g3->scanned, 2u);
  EXPECT_EQ(g3->deleted, 1u);
  EXPECT_EQ(g3->bytes_freed, young_unref.size);
  EXPECT_TRUE(store_->Stat(keep.digest).ok());
  EXPECT_EQ(store_->Stat(young_unref.digest).status().code(), Code::kNotFound);
  EXPECT_EQ(FilesUnder(objects()).size(), 1u);
}

TEST_F(BlobStoreTest, DedupRefreshesAgeSoGcSparesAReupload) {
  BlobInfo a = Put("uploaded long ago, then again just now");
  std::string path = store_->LocalPath(a.digest).value();
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(2));
  // Uploaded again: the bytes are deduplicated, and the upload counts as fresh.
  BlobInfo again = Put("uploaded long ago, then again just now");
  ASSERT_EQ(again.digest, a.digest);
  auto g = store_->Gc([](const std::string&) { return false; }, std::chrono::hours(1));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->deleted, 0u) << "a blob just uploaded (deduplicated) is within the grace period";
  EXPECT_TRUE(store_->Stat(a.digest).ok());
}

TEST_F(BlobStoreTest, GcPassesDigestsInCanonicalForm) {
  BlobInfo a = Put("a");
  std::vector<std::string> seen;
  auto g = store_->Gc(
      [&](const std::string& d) {
        seen.push_back(d);
        return true;
      },
      std::chrono::seconds(0));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(seen, std::vector<std::string>{a.digest});
  EXPECT_EQ(g->deleted, 0u);
}

}  // namespace
}  // namespace aimass::storage
