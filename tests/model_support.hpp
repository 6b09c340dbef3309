// Helpers for the tests of modules that hold models (registry, serving): a real XGBoost model
// trained in the test, a caller with given permissions, and a fixture with a registry over a
// metadata store and a blob store in a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "test_db.hpp"
#include "common/principal.hpp"
#include "events/bus.hpp"
#include "registry/registry.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"
#include "test_support.hpp"

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

// A registry over an SQLite file (or a PostgreSQL schema, test_db.hpp) and a blob store in a fresh temporary directory, removed after.
// A test's SetUp calls OpenStores with the migrations its module needs besides the registry's;
// its TearDown calls CloseStores last.
class ModelStoreTest : public ::testing::Test {
 protected:
  void OpenStores(const std::string& name, std::vector<std::vector<storage::Migration>> more = {}) {
    std::string tmpl = "/tmp/aimass-" + name + "-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = OpenTestDb(dir_ + "/meta.db");
    ASSERT_NE(db_, nullptr);
    more.insert(more.begin(), registry::Registry::Migrations());
    for (const auto& migrations : more) {
      Status st = db_->Migrate(migrations);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    auto blobs = storage::OpenLocalBlobStore(dir_ + "/blobs");
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    std::filesystem::create_directories(blobs_->temp_dir());
    registry_ = std::make_unique<registry::Registry>(*db_, *blobs_, &bus_);
  }

  void CloseStores() {
    registry_.reset();
    blobs_.reset();
    db_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // An upload as the API hands it over: spooled under the blob store's temp dir, hashed whole.
  registry::NewVersion Upload(const std::string& bytes, const std::string& framework = "xgboost") {
    std::string path = blobs_->temp_dir() + "/upload-" + std::to_string(uploads_++);
    std::ofstream(path, std::ios::binary) << bytes;
    registry::NewVersion v;
    v.framework = framework;
    v.spooled_path = path;
    v.sha256_hex = ExpectedSha256Hex(bytes);
    v.size = bytes.size();
    v.created_by = "alice";
    return v;
  }

  std::string dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::BlobStore> blobs_;
  events::EventBus bus_;
  std::unique_ptr<registry::Registry> registry_;
  int uploads_ = 0;
};

}  // namespace aimass::testing
