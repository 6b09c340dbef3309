// StaticAssets: a Vite build read into memory, with the cache rules and gzip copies.
#include "console/static_assets.hpp"
#include "console/module.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"

namespace aimass::console {
namespace {

void Write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

TEST(StaticAssetsTest, ABuildIsServedWithItsCacheRulesAndGzipCopies) {
  aimass::testing::TempDir dir;
  const std::string js = "export const x = 1;\n" + std::string(5000, ' ') + "// padding\n";
  Write(std::filesystem::path(dir.path()) / "index.html", "<!doctype html><title>AI Mass</title>");
  Write(std::filesystem::path(dir.path()) / "assets/index-abc123.js", js);
  Write(std::filesystem::path(dir.path()) / "favicon.svg", "<svg/>");
  auto assets = StaticAssets::Load(dir.path());
  ASSERT_TRUE(assets.ok()) << assets.status().ToString();
  EXPECT_EQ(assets->size(), 3u);

  const Asset* index = assets->Find("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index, assets->Find("/index.html"));
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-store") << "a new build must show at the next load";
  EXPECT_TRUE(index->gzip.empty()) << "too small to be worth compressing";

  const Asset* script = assets->Find("/assets/index-abc123.js");
  ASSERT_NE(script, nullptr);
  EXPECT_EQ(script->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(script->cache_control, "public, max-age=31536000, immutable");
  ASSERT_FALSE(script->gzip.empty());
  EXPECT_LT(script->gzip.size(), js.size());
  EXPECT_EQ(Gunzip(script->gzip), js);
  EXPECT_EQ(script->etag.size(), 34u);

  EXPECT_EQ(assets->Find("/favicon.svg")->content_type, "image/svg+xml");
  for (const char* missing : {"/assets/other.js", "/assets/../index.html", "/nope", "", "/assets/"}) {
    EXPECT_EQ(assets->Find(missing), nullptr) << missing;
  }
}

TEST(StaticAssetsTest, GzipIsSentOnlyToWhoAcceptsIt) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, gzip;q=0.8"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.0, identity"));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
  EXPECT_FALSE(AcceptsGzip("xgzip"));
  EXPECT_FALSE(AcceptsGzip(std::nullopt));
}

TEST(StaticAssetsTest, ADirectoryWithoutIndexIsNotABuild) {
  aimass::testing::TempDir dir;
  EXPECT_EQ(StaticAssets::Load(dir.path()).status().code(), Code::kNotFound);
  EXPECT_EQ(StaticAssets::Load(dir.path() + "/absent").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace aimass::console
