// UTF-8 validity and base64 (RFC 4648 test vectors): the checks that decide how a message body
// is written into JSON and read back from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/random.hpp"
#include "common/text.hpp"
#include "common/words.hpp"

namespace aimass {
namespace {

TEST(TextTest, Base64MatchesTheRfcVectorsAndRoundTripsEveryByte) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(Base64Decode(Base64Encode(all)), std::optional<std::string>(all));
}

TEST(TextTest, PercentEncodingKeepsOnlyUnreservedBytesAndSlashesWhenAsked) {
  EXPECT_EQ(PercentEncode("a-b_c.d~e09AZ"), "a-b_c.d~e09AZ");
  EXPECT_EQ(PercentEncode("sub dir/m\xc3\xa9?.pt"), "sub%20dir%2Fm%C3%A9%3F.pt");
  EXPECT_EQ(PercentEncode("sub dir/m\xc3\xa9?.pt", true), "sub%20dir/m%C3%A9%3F.pt");
  EXPECT_EQ(PercentEncode(std::string("\0%", 2)), "%00%25");
}

TEST(TextTest, Base64RefusesWhatIsNotBase64) {
  for (const char* bad : {"Zg=", "Zm9v!A==", "Z=9v", "Zg==Zg==", "Zm9vYg=a", "Zm 9v"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(TextTest, Utf8ValidityFollowsRfc3629) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // cut short
}

// Ids for requests and traces: appended, 2 digits a byte for any length (not only whole 64-bit
// words), lower-case hex, and not repeating.
TEST(RandomTest, AppendUniqueHexAppendsLowerCaseHexThatDoesNotRepeat) {
  std::set<std::string> seen;
  for (size_t bytes : {1u, 3u, 8u, 13u, 16u, 24u}) {
    for (int i = 0; i < 200; ++i) {
      std::string s = "id-";
      AppendUniqueHex(s, bytes);
      ASSERT_EQ(s.size(), 3 + 2 * bytes);
      EXPECT_EQ(s.substr(0, 3), "id-");
      EXPECT_EQ(s.find_first_not_of("0123456789abcdef", 3), std::string::npos) << s;
      if (bytes >= 8) {
        EXPECT_TRUE(seen.insert(s).second) << s;
      }
    }
  }
  // Every digit turns up in a long run about as often as any other (a table or shift error
  // would leave some out or favour some): 8,192 digits, 512 of each expected, sd ~22.
  std::string run;
  AppendUniqueHex(run, 4096);
  for (char c : std::string_view("0123456789abcdef")) {
    auto n = std::count(run.begin(), run.end(), c);
    EXPECT_GT(n, 400) << c;
    EXPECT_LT(n, 624) << c;
  }
}

}  // namespace
TEST(TextTest, CommaListsAreSplitTrimmedAndWithoutEmptyItems) {
  EXPECT_EQ(SplitCommaList(" registry, serving,,mq "), (std::vector<std::string>{"registry", "serving", "mq"}));
  EXPECT_EQ(SplitCommaList("all"), (std::vector<std::string>{"all"}));
  EXPECT_TRUE(SplitCommaList(" , ,").empty());
  EXPECT_TRUE(SplitCommaList("").empty());
}

}  // namespace aimass

TEST(WordsTest, LowerCasePunctuationAndSpacesCollapsed) {
  EXPECT_EQ(aimass::NormalizeWords("  What's my BALANCE?!\tNow\n"), "what s my balance now");
  EXPECT_EQ(aimass::NormalizeWords("Größe: ÜBER-alles"), "größe Über alles");  // ASCII only
  EXPECT_EQ(aimass::NormalizeWords(" ,.; "), "");
}
