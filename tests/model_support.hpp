// Helpers for the tests of modules that hold models (registry, serving): a real XGBoost model
// trained in the test, and a caller with given permissions.
#pragma once

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "common/principal.hpp"

namespace aimass::testing {

// A binary classifier over 3 features (label: feature 0 > 0.5), trained for `rounds` rounds and
// saved as XGBoost JSON. The same rounds give the same bytes; other rounds, other bytes (and so
// another digest). Cached: each takes a few milliseconds.
inline std::string XgboostModel(int rounds) {
  static std::map<int, std::string> cache;
  if (auto it = cache.find(rounds); it != cache.end()) return it->second;
  constexpr int kRows = 16, kCols = 3;
  std::vector<float> data, labels;
  for (int i = 0; i < kRows; ++i) {
    float x0 = (static_cast<float>(i) + 0.5f) / kRows;
    data.insert(data.end(), {x0, 0.25f, 0.75f});
    labels.push_back(x0 > 0.5f ? 1.0f : 0.0f);
  }
  DMatrixHandle matrix = nullptr;
  BoosterHandle booster = nullptr;
  std::string out;
  if (XGDMatrixCreateFromMat(data.data(), kRows, kCols, NAN, &matrix) == 0 &&
      XGDMatrixSetFloatInfo(matrix, "label", labels.data(), kRows) == 0 &&
      XGBoosterCreate(&matrix, 1, &booster) == 0 &&
      XGBoosterSetParam(booster, "objective", "binary:logistic") == 0 &&
      XGBoosterSetParam(booster, "nthread", "1") == 0) {
    bool trained = true;
    for (int i = 0; i < rounds && trained; ++i) trained = XGBoosterUpdateOneIter(booster, i, matrix) == 0;
    bst_ulong len = 0;
    const char* bytes = nullptr;
    if (trained && XGBoosterSaveModelToBuffer(booster, R"({"format": "json"})", &len, &bytes) == 0) {
      out.assign(bytes, len);
    }
  }
  EXPECT_FALSE(out.empty()) << "XGBoost: " << XGBGetLastError();
  if (booster) XGBoosterFree(booster);
  if (matrix) XGDMatrixFree(matrix);
  cache[rounds] = out;
  return out;
}

inline Principal Who(const std::string& name, std::vector<std::string> permissions = {},
              std::vector<std::string> roles = {}) {
  Principal p;
  p.username = name;
  p.permissions = std::move(permissions);
  p.roles = std::move(roles);
  return p;
}

}  // namespace aimass::testing
