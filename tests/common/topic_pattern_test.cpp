#include "common/topic_pattern.hpp"

#include <gtest/gtest.h>

namespace aimass {
namespace {

TEST(TopicMatchesTest, Wildcards) {
  EXPECT_TRUE(TopicMatches("registry.alias.moved", "registry.alias.moved"));
  EXPECT_TRUE(TopicMatches("registry.*.moved", "registry.alias.moved"));
  EXPECT_FALSE(TopicMatches("registry.*", "registry.alias.moved"));
  EXPECT_TRUE(TopicMatches("registry.*", "registry.alias"));
  EXPECT_TRUE(TopicMatches("registry.>", "registry.alias.moved"));
  EXPECT_FALSE(TopicMatches("registry.>", "registry"));
  EXPECT_TRUE(TopicMatches(">", "anything.at.all"));
  EXPECT_FALSE(TopicMatches("registry.alias", "registry.alias.moved"));
  EXPECT_FALSE(TopicMatches("serving.>", "registry.alias.moved"));
}

TEST(TopicMatchesTest, ValidPatterns) {
  for (const char* ok : {"registry.*", "registry.>", ">", "a.b-c.d_e", "*.*"}) EXPECT_TRUE(ValidPattern(ok)) << ok;
  for (const char* bad : {"", "a..b", ".a", "a.", "a.>.b", "A.b", "a b", "a/b"}) EXPECT_FALSE(ValidPattern(bad)) << bad;
}

}  // namespace
}  // namespace aimass
