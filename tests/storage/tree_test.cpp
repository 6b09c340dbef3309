// Directory artifacts: path normalisation, the tree digest, and the tar writer read back by the
// unpacker (the two ends a download and an upload go through).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "storage/tar_unpack.hpp"
#include "storage/tar_writer.hpp"
#include "storage/tree.hpp"
#include "test_support.hpp"

namespace aimass::storage {
namespace {

namespace fs = std::filesystem;

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tree-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "src");
    fs::create_directories(dir_ / "tmp");
  }
  void TearDown() override { fs::remove_all(dir_); }

  TarMember Member(const std::string& path, const std::string& data, bool exec = false) {
    std::string source = (dir_ / "src" / std::to_string(n_++)).string();
    std::ofstream(source, std::ios::binary) << data;
    return {path, data.size(), exec, source};
  }

  std::string WriteAll(TarWriter& w, size_t chunk) {
    std::string out;
    for (;;) {
      auto more = w.Next(out, chunk);
      EXPECT_TRUE(more.ok()) << more.status().message();
      if (!more.ok() || !*more) return out;
    }
  }

  fs::path dir_;
  int n_ = 0;
};

TEST(TreePath, NormalisesHarmlessForms) {
  EXPECT_EQ(*NormalizeTreePath("./model.pt"), "model.pt");
  EXPECT_EQ(*NormalizeTreePath("a//b/./c.json"), "a/b/c.json");
  EXPECT_EQ(*NormalizeTreePath("weights/v1.0/net..bin"), "weights/v1.0/net..bin");
}

TEST(TreePath, RefusesWhatCouldEscapeOrMislead) {
  for (const std::string& bad : std::vector<std::string>{"", ".", "./", "/etc/passwd", "../x", "a/../../x", "a/..", "dir/",
                          "a\\b", std::string("a\nb"), std::string("nul\0x", 5),
                          std::string(1100, 'a')}) {
    auto r = NormalizeTreePath(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) EXPECT_EQ(r.status().code(), Code::kBadRequest);
  }
}

TEST(TreeDigestTest, IsTheSha256OfTheSha256sumManifest) {
  std::vector<TreeFile> files = {{"a.txt", 1, std::string(64, '1'), false, ""},
                                 {"b/c.bin", 2, std::string(64, '2'), false, ""}};
  std::string manifest = std::string(64, '1') + "  a.txt\n" + std::string(64, '2') + "  b/c.bin\n";
  EXPECT_EQ(TreeDigest(files), "sha256:" + testing::ExpectedSha256Hex(manifest));
}

TEST(TarContentType, KnowsTheTarAndGzipNames) {
  EXPECT_TRUE(IsTarContentType("application/x-tar"));
  EXPECT_TRUE(IsTarContentType("Application/GZIP; charset=binary"));
  EXPECT_FALSE(IsTarContentType("application/octet-stream"));
  EXPECT_FALSE(IsTarContentType("application/x-tarball"));
}

TEST_F(TreeTest, WrittenTarUnpacksToTheSameFiles) {
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(i);
  std::string long_path = std::string(150, 'd') + "/" + std::string(120, 'e') + ".bin";
  std::vector<TarMember> members = {Member("bin/run.sh", "#!/bin/sh\n", true), Member("empty", ""),
                                    Member(long_path, "long"), Member("model.pt", big)};
  TarWriter writer(members, 1700000000);
  std::string tar = WriteAll(writer, 64 * 1024);
  EXPECT_EQ(tar.size() % 512, 0u);

  TarWriter again(members, 1700000000);
  EXPECT_EQ(WriteAll(again, 1 << 20), tar) << "the bytes depend on the chunk size";

  auto tree = UnpackTarMemory(tar, (dir_ / "tmp").string(), TarLimits{});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  ASSERT_EQ(tree->files.size(), 4u);
  std::map<std::string, const TreeFile*> by_path;
  for (const auto& f : tree->files) by_path[f.path] = &f;
  EXPECT_EQ(by_path.at("model.pt")->sha256_hex, testing::ExpectedSha256Hex(big));
  EXPECT_EQ(testing::ReadAll(by_path.at("model.pt")->temp_path), big);
  EXPECT_EQ(by_path.at(long_path)->size, 4u);
  EXPECT_EQ(by_path.at("empty")->size, 0u);
  EXPECT_TRUE(by_path.at("bin/run.sh")->executable);
  EXPECT_FALSE(by_path.at("model.pt")->executable);
}

TEST_F(TreeTest, TempFilesGoWithTheTree) {
  std::string tar;
  {
    TarWriter writer({Member("a", "1"), Member("b", "2")}, 0);
    tar = WriteAll(writer, 1 << 20);
  }
  {
    auto tree = UnpackTarMemory(tar, (dir_ / "tmp").string(), TarLimits{});
    ASSERT_TRUE(tree.ok());
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "tmp"), fs::directory_iterator()), 2);
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
  // A refusal half-way leaves nothing behind either.
  auto refused = UnpackTarMemory(tar, (dir_ / "tmp").string(), TarLimits{1, 1 << 20});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kBadRequest);
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
}

TEST_F(TreeTest, UnpackedBytesAreBounded) {
  TarWriter writer({Member("a", std::string(5000, 'a')), Member("b", std::string(5000, 'b'))}, 0);
  std::string tar = WriteAll(writer, 1 << 20);
  auto r = UnpackTarMemory(tar, (dir_ / "tmp").string(), TarLimits{10, 9000});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPayloadTooLarge);
}

TEST_F(TreeTest, AMissingSourceFailsTheDownload) {
  TarMember gone = Member("gone", "data");
  fs::remove(gone.source);
  TarWriter writer({Member("a", "1"), gone}, 0);
  std::string out;
  Status failure = Status::Ok();
  for (int i = 0; i < 10 && failure.ok(); ++i) {
    auto more = writer.Next(out, 16);
    if (!more.ok()) failure = more.status();
    else if (!*more) break;
  }
  EXPECT_EQ(failure.code(), Code::kInternal);
}

}  // namespace
}  // namespace aimass::storage
