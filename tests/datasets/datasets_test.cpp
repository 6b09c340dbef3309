// The Datasets service over a real metadata store (SQLite, or PostgreSQL in the _pg runs) and
// a blob store on disk: versions, identical uploads, appends, aliases, recovery.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/sha256.hpp"
#include "datasets/datasets.hpp"
#include "storage/blob_store.hpp"
#include "test_db.hpp"
#include "test_support.hpp"

namespace aimass::datasets {
namespace {

using nlohmann::json;

class DatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenTestDb();
    ASSERT_TRUE(db_);
    ASSERT_TRUE(db_->Migrate(Datasets::Migrations()).ok());
    auto blobs = storage::OpenLocalBlobStore(dir_.file("blobs"));
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
    Reopen();
    who_.username = "ana";
  }
  void Reopen() {
    if (ds_) ds_->Stop();
    DatasetsOptions o;
    o.segment_rows = 3;
    o.threads = 2;
    ds_ = std::make_unique<Datasets>(*db_, *blobs_, o);
    ASSERT_TRUE(ds_->Open().ok());
    ds_->Start();
  }
  Upload Body(const std::string& text, const std::string& type = "text/csv") {
    static int n = 0;
    Upload u;
    u.body_path = dir_.file("body" + std::to_string(n++));
    std::ofstream(u.body_path, std::ios::binary) << text;
    u.body_size = text.size();
    u.body_sha256 = Sha256Hex(text);
    u.content_type = type;
    return u;
  }
  AddedVersion Add(const std::string& name, Upload u) {
    auto r = ds_->AddVersion(name, u, who_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AddedVersion{};
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<Datasets> ds_;
  Principal who_;
};

TEST_F(DatasetsTest, VersionsAreContentAddressedAndAppendsShareSegments) {
  ASSERT_TRUE(ds_->Create("sales", "", DatasetKind::kTable, "ana").ok());
  EXPECT_EQ(ds_->Create("sales", "", DatasetKind::kTable, "ana").status().code(), Code::kConflict);
  const std::string csv = "k,v\na,1\nb,2\nc,3\nd,4\n";
  AddedVersion v1 = Add("sales", Body(csv));
  EXPECT_TRUE(v1.created);
  EXPECT_EQ(v1.version.version, 1);
  EXPECT_EQ(v1.version.row_count, 4u);
  // The same bytes again, and the same rows sent as JSON Lines: the same version.
  AddedVersion again = Add("sales", Body(csv));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.version.version, 1);
  ds_->WaitIdle();
  auto latest = ds_->Resolve("sales", "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->status, "ready");
  EXPECT_FALSE(latest->profile_json.empty());

  Upload more = Body("k,v\ne,5\n");
  more.append = "latest";
  AddedVersion v2 = Add("sales", more);
  ASSERT_TRUE(v2.created);
  EXPECT_EQ(v2.version.version, 2);
  EXPECT_EQ(v2.version.parent, 1);
  EXPECT_EQ(v2.version.row_count, 5u);
  DatasetStore store(*db_);
  auto s1 = store.Segments(v1.version.id), s2 = store.Segments(v2.version.id);
  ASSERT_TRUE(s1.ok() && s2.ok());
  ASSERT_EQ(s1->size(), 2u);  // 3 + 1 rows
  ASSERT_EQ(s2->size(), 3u);
  EXPECT_EQ((*s2)[0].digest, (*s1)[0].digest);
  EXPECT_EQ((*s2)[1].digest, (*s1)[1].digest);
  ds_->WaitIdle();
  auto rows = ds_->Rows(*ds_->Resolve("sales", "2"), 2, 10, {"v"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)["rows"], json({{{"v", 3}}, {{"v", 4}}, {{"v", 5}}}));
  EXPECT_EQ((*rows)["total"], 5);

  // An append must fit its parent's schema; a refused upload leaves no version behind.
  Upload wrong = Body("k,v\nf,not-a-number\n");
  wrong.append = "2";
  auto r = ds_->AddVersion("sales", wrong, who_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  auto versions = ds_->Versions("sales", 10, 0);
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
  AddedVersion v3 = Add("sales", Body("k,v\nz,9\n"));
  EXPECT_EQ(v3.version.version, 3);
}

TEST_F(DatasetsTest, AliasesExportsAndGcReferences) {
  ASSERT_TRUE(ds_->Create("t", "", DatasetKind::kTable, "ana").ok());
  AddedVersion v1 = Add("t", Body("{\"a\":1,\"s\":\"x,y\"}\n{\"a\":2,\"s\":null}\n", "application/x-ndjson"));
  Add("t", Body("a\n3\n"));
  ds_->WaitIdle();
  ASSERT_TRUE(ds_->SetAlias("t", "train", 1, "ana").ok());
  EXPECT_EQ(ds_->SetAlias("t", "12", 1, "ana").code(), Code::kBadRequest);
  EXPECT_EQ(ds_->SetAlias("t", "x", 9, "ana").code(), Code::kNotFound);
  auto train = ds_->Resolve("t", "train");
  ASSERT_TRUE(train.ok());
  EXPECT_EQ(train->version, 1);
  EXPECT_EQ(ds_->Resolve("t", "latest")->version, 2);
  EXPECT_EQ(ds_->Resolve("t", "nope").status().code(), Code::kNotFound);

  auto csv = ds_->Export(*train, "csv");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(testing::ReadAll(csv->first), "a,s\n1,\"x,y\"\n2,\n");
  auto jsonl = ds_->Export(*train, "jsonl");
  ASSERT_TRUE(jsonl.ok());
  EXPECT_EQ(testing::ReadAll(jsonl->first), "{\"a\":1,\"s\":\"x,y\"}\n{\"a\":2,\"s\":null}\n");
  EXPECT_EQ(ds_->Export(*train, "xml").status().code(), Code::kBadRequest);

  DatasetStore store(*db_);
  auto segs = store.Segments(v1.version.id);
  ASSERT_TRUE(segs.ok() && !segs->empty());
  EXPECT_TRUE(*ds_->BlobReferenced((*segs)[0].digest));
  ASSERT_TRUE(ds_->Delete("t").ok());
  EXPECT_FALSE(*ds_->BlobReferenced((*segs)[0].digest));
}

TEST_F(DatasetsTest, ExpectationsRunOnEveryNewVersion) {
  ASSERT_TRUE(ds_->Create("q", "", DatasetKind::kTable, "ana").ok());
  json suite = {{"expectations", {{{"expectation_type", "expect_column_values_to_not_be_null"}, {"kwargs", {{"column", "v"}}}}}}};
  ASSERT_TRUE(ds_->SetExpectations("q", suite).ok());
  EXPECT_EQ(ds_->SetExpectations("q", {{"expectations", {{{"expectation_type", "nope"}}}}}).code(), Code::kBadRequest);
  Add("q", Body("v\n1\n2\n"));
  Add("q", Body("v\n1\n\n3\n"));  // a blank line is skipped, not a missing value
  Add("q", Body("v,w\n1,\n,2\n"));
  ds_->WaitIdle();
  EXPECT_EQ(ds_->Resolve("q", "1")->validation_success, true);
  EXPECT_EQ(ds_->Resolve("q", "2")->validation_success, true);
  auto v3 = ds_->Resolve("q", "3");
  EXPECT_EQ(v3->validation_success, false);
  json result = json::parse(v3->validation_json);
  EXPECT_EQ(result["results"][0]["result"]["partial_unexpected_index_list"], json({1}));
}

TEST_F(DatasetsTest, AVersionCutShortIsFailedAndAPendingProfileResumes) {
  ASSERT_TRUE(ds_->Create("r", "", DatasetKind::kTable, "ana").ok());
  DatasetStore store(*db_);
  auto d = store.Get("r");
  ASSERT_TRUE(d.ok());
  // As a crash leaves them: one version mid-write, one written but not yet profiled.
  DatasetVersion writing;
  writing.dataset_id = d->id;
  writing.created_by = "ana";
  auto w = store.InsertVersion(writing);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store.AddSegment(w->id, {0, "sha256:" + std::string(64, 'a'), 1, 10}).ok());
  ds_->Stop();
  AddedVersion v = Add("r", Body("x\n1\n"));  // queued, never processed: the worker is stopped
  ASSERT_EQ(store.GetVersionById(v.version.id)->stage, "profiling");
  // A restart: the writer of version 1 (this process, before the new store) is gone.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Reopen();
  ds_->WaitIdle();
  auto failed = store.GetVersionById(w->id);
  EXPECT_EQ(failed->status, "failed");
  EXPECT_NE(failed->status_reason.find("interrupted"), std::string::npos);
  EXPECT_TRUE(store.Segments(w->id)->empty());
  EXPECT_EQ(store.GetVersionById(v.version.id)->status, "ready");
}

}  // namespace
}  // namespace aimass::datasets
