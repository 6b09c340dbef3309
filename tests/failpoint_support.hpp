// Helpers for tests that arm failpoints: a fixture that disarms every point around each test,
// unique temporary paths, and a point's hit count.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "common/failpoint.hpp"

namespace aimass::testing {

class FailpointTest : public ::testing::Test {
 protected:
  void SetUp() override { failpoint::ClearAll(); }
  void TearDown() override { failpoint::ClearAll(); }
};

inline std::string TempPath(const std::string& what) {
  static std::atomic<int> n{0};
  namespace fs = std::filesystem;
  std::string p = (fs::temp_directory_path() /
                   ("aimass-fp-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++)))
                      .string();
  fs::remove_all(p);
  return p;
}

inline int64_t Hits(const std::string& name) {
  for (const auto& s : failpoint::List()) {
    if (s.name == name) return s.hits;
  }
  return -1;
}

}  // namespace aimass::testing
