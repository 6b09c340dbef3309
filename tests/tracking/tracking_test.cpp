// Experiment tracking's parts: metric chunks, the run filter language, and the Tracking
// service over a real metadata store (SQLite, or PostgreSQL in the _pg runs) and a blob store
// on disk: batches, histories across chunks, search, comparison, artifacts and their recovery.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <functional>
#include <optional>
#include <cmath>
#include <fstream>
#include <limits>

#include "common/sha256.hpp"
#include "storage/blob_store.hpp"
#include "test_db.hpp"
#include "test_support.hpp"
#include "tracking/metric_chunk.hpp"
#include "tracking/run_search.hpp"
#include "tracking/tracking.hpp"

namespace aimass::tracking {
namespace {

TEST(MetricChunkTest, PointsRoundTripBitForBit) {
  std::vector<ChunkPoint> in = {{0, 0, 0.0},
                                {-5, 1700000000000, -0.0},
                                {std::numeric_limits<int64_t>::max(), 1, DBL_MIN},
                                {std::numeric_limits<int64_t>::min(), 2, 1e308},
                                {7, 3, 0.1 + 0.2},
                                {8, 4, -123456.789e-300}};
  std::string text;
  for (const auto& p : in) AppendChunkPoint(text, p);
  auto out = DecodeChunk(text);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].step, in[i].step);
    EXPECT_EQ((*out)[i].timestamp_ms, in[i].timestamp_ms);
    EXPECT_EQ(std::signbit((*out)[i].value), std::signbit(in[i].value));
    EXPECT_EQ((*out)[i].value, in[i].value);
  }
  for (const char* bad : {"1 2", "1 2 3", "x 2 3\n", "1 2 3\n4", "1  2 3\n"}) EXPECT_FALSE(DecodeChunk(bad).ok()) << bad;
  EXPECT_TRUE(DecodeChunk("")->empty());
}

TEST(MetricChunkTest, LatestIsTheHighestStepThenTheLatestTime) {
  LatestMetric m;
  Accumulate(m, {5, 100, 0.5});
  Accumulate(m, {2, 900, 0.9});   // an earlier step, logged later: not the latest
  EXPECT_EQ(m.value, 0.5);
  Accumulate(m, {5, 200, 0.1});   // same step, later time
  EXPECT_EQ(m.value, 0.1);
  Accumulate(m, {5, 200, 0.3});   // same step and time: the larger value
  EXPECT_EQ(m.value, 0.3);
  EXPECT_EQ(m.min, 0.1);
  EXPECT_EQ(m.max, 0.9);
  EXPECT_EQ(m.count, 4);
}

TEST(RunSearchTest, ValuesAndKeysAreBoundNeverSpliced) {
  auto f = CompileRunFilter("params.`learning rate` = 'x'' OR 1=1' AND metrics.acc >= 0.5");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->where,
            "(r.id IN (SELECT run_id FROM tracking_params WHERE key = ? AND value = ?) AND "
            "r.id IN (SELECT run_id FROM tracking_latest_metrics WHERE key = ? AND value >= ?))");
  ASSERT_EQ(f->params.size(), 4u);
  EXPECT_EQ(std::get<std::string>(f->params[0]), "learning rate");
  EXPECT_EQ(std::get<std::string>(f->params[1]), "x' OR 1=1");
  EXPECT_EQ(std::get<std::string>(f->params[2]), "acc");
  EXPECT_EQ(std::get<double>(f->params[3]), 0.5);
  EXPECT_FALSE(CompileRunFilter("params.`lr'; DROP` = 'x'").ok());  // not a key anything could have logged
}

TEST(RunSearchTest, FieldsOperatorsAndTheirRefusals) {
  auto f = CompileRunFilter("attributes.status = 'FINISHED' AND start_time > '2026-01-01' AND id != 3 AND "
                            "tags.team LIKE 'v%' AND dataset = 'mnist' AND experiment = 'e'");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(std::get<std::string>(f->params[0]), "succeeded");  // MLflow's name, normalised
  EXPECT_EQ(std::get<int64_t>(f->params[1]), int64_t{1767225600} * 1000);
  for (const char* bad : {"params.lr > '1'", "metrics.acc LIKE '1%'", "metrics.acc > 'x'", "status < 'a'",
                          "nosuch = 1", "metrics.a*b > 1", "params.`open = 1", "id = 1.5", "start_time > 'soon'"}) {
    EXPECT_FALSE(CompileRunFilter(bad).ok()) << bad;
  }
}

TEST(RunSearchTest, Orders) {
  auto m = CompileRunOrder("metrics.`val loss` asc");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->join, " LEFT JOIN tracking_latest_metrics o ON o.run_id = r.id AND o.key = ?");
  EXPECT_EQ(std::get<std::string>(m->params[0]), "val loss");
  EXPECT_EQ(m->order, "o.value ASC NULLS LAST, r.id ASC");
  EXPECT_EQ(CompileRunOrder("")->order, "r.start_time DESC, r.id DESC");
  EXPECT_EQ(CompileRunOrder("name")->order, "r.name DESC, r.id DESC");
  for (const char* bad : {"random()", "metrics.", "params.a;b", "start_time sideways x"}) {
    EXPECT_FALSE(CompileRunOrder(bad).ok()) << bad;
  }
}

// A metadata store with tracking's tables and a blob store on disk.
class StoresTest : public ::testing::Test {
 protected:
  void OpenStores() {
    db_ = testing::OpenTestDb();
    ASSERT_TRUE(db_);
    ASSERT_TRUE(db_->Migrate(Tracking::Migrations()).ok());
    auto blobs = storage::OpenLocalBlobStore(dir_.file("blobs"));
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::BlobStore> blobs_;
};

class TrackingTest : public StoresTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    t_ = std::make_unique<Tracking>(*db_, *blobs_, TrackingOptions{});
    ASSERT_TRUE(t_->Open().ok());
    ASSERT_TRUE(t_->CreateExperiment("exp", "", "ana").ok());
  }
  int64_t NewRunId(std::map<std::string, std::string> params = {}) {
    NewRun n;
    n.experiment = "exp";
    n.params = std::move(params);
    auto r = t_->CreateRun(n, "ana");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id : 0;
  }
  // A file in the blob store's temp dir, as the HTTP server spools an upload.
  std::pair<std::string, std::string> Spool(const std::string& bytes) {
    static int n = 0;
    std::string path = blobs_->temp_dir() + "/spool" + std::to_string(n++);
    std::ofstream(path, std::ios::binary) << bytes;
    return {path, Sha256Hex(bytes)};
  }

  std::unique_ptr<Tracking> t_;
};

TEST_F(TrackingTest, HistoriesPageAcrossChunksInTheOrderLogged) {
  int64_t id = NewRunId();
  std::vector<double> values;
  for (int call = 0; call < 7; ++call) {
    LogBatch b;
    for (int i = 0; i < 13; ++i) {
      double v = call * 100 + i + 0.25;
      values.push_back(v);
      b.metrics.push_back({"loss", v, call * 13 + i, 1000 + call});
      b.metrics.push_back({"acc", -v, call * 13 + i, 1000 + call});
    }
    ASSERT_TRUE(t_->Log(id, b).ok());
  }
  for (int64_t page : {1, 5, 13, 14, 91, 1000}) {
    std::vector<double> got;
    for (int64_t offset = 0;; offset += page) {
      auto h = t_->MetricHistory(id, "loss", offset, page);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      for (const auto& p : *h) got.push_back(p.value);
      if (static_cast<int64_t>(h->size()) < page) break;
    }
    EXPECT_EQ(got, values) << "page " << page;
  }
  auto r = t_->GetRun(id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->metrics["loss"].count, 91);
  EXPECT_EQ(r->metrics["loss"].value, values.back());
  EXPECT_EQ(r->metrics["acc"].min, -values.back());
  EXPECT_EQ(t_->MetricHistory(id, "none", 0, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(t_->MetricHistory(id + 1000, "loss", 0, 10).status().code(), Code::kNotFound);
}

TEST_F(TrackingTest, ABatchIsAllOrNothing) {
  int64_t id = NewRunId({{"lr", "0.1"}});
  LogBatch b;
  b.params = {{"lr", "0.2"}};
  b.metrics = {{"acc", 1.0, 0, 0}};
  b.tags = {{"t", "x"}};
  EXPECT_EQ(t_->Log(id, b).code(), Code::kConflict);
  auto r = t_->GetRun(id);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->metrics.empty());
  EXPECT_TRUE(r->tags.empty());
  b.params = {{"lr", "0.1"}};  // the same value again is fine
  EXPECT_TRUE(t_->Log(id, b).ok());
  LogBatch nan;
  nan.metrics = {{"acc", std::nan(""), 0, 0}};
  EXPECT_EQ(t_->Log(id, nan).code(), Code::kBadRequest);
}

TEST_F(TrackingTest, SearchAndCompare) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 9; ++i) {
    int64_t id = NewRunId({{"lr", i % 3 == 0 ? "0.1" : "0.01"}});
    LogBatch b;
    b.metrics = {{"accuracy", i / 10.0, 1, 0}, {"loss", 1 - i / 10.0, 1, 0}};
    ASSERT_TRUE(t_->Log(id, b).ok());
    ids.push_back(id);
  }
  auto runs = t_->SearchRuns({"exp"}, "params.lr = '0.1' AND metrics.accuracy > 0.05", "metrics.accuracy asc", 100, 0);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].id, ids[3]);
  EXPECT_EQ((*runs)[1].id, ids[6]);
  EXPECT_EQ((*runs)[0].params.at("lr"), "0.1");
  auto c = t_->Compare({ids[0], ids[4], ids[8]}, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->params.size(), 1u);
  EXPECT_TRUE(c->params[0].differs);
  ASSERT_EQ(c->metrics.size(), 2u);
  EXPECT_EQ(c->metrics[0].key, "accuracy");
  EXPECT_EQ(c->metrics[0].best_run, 2u);
  EXPECT_EQ(c->metrics[1].goal, "min");
  EXPECT_EQ(c->metrics[1].best_run, 2u);
  EXPECT_EQ(t_->Compare({ids[0], 99999}, {}).status().code(), Code::kNotFound);
  EXPECT_EQ(t_->SearchRuns({"nope"}, "", "", 10, 0).status().code(), Code::kNotFound);
}

TEST_F(TrackingTest, ArtifactsAreReferencedUntilTheirRunGoes) {
  int64_t id = NewRunId();
  auto [path, hex] = Spool("weights");
  auto a = t_->PutArtifact(id, "./model//w.bin", path, 7, hex);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->path, "model/w.bin");
  EXPECT_TRUE(*t_->BlobReferenced("sha256:" + hex));
  auto [p2, h2] = Spool("x");
  EXPECT_EQ(t_->PutArtifact(id, "../x", p2, 1, h2).status().code(), Code::kBadRequest);
  ASSERT_TRUE(t_->DeleteRun(id).ok());
  EXPECT_FALSE(*t_->BlobReferenced("sha256:" + hex));
  EXPECT_EQ(t_->GetRun(id).status().code(), Code::kNotFound);
}

TEST_F(TrackingTest, PendingArtifactsAreSettledAtOpen) {
  int64_t id = NewRunId();
  TrackingStore store(*db_);
  // The bytes made it before the crash: the artifact completes.
  auto [path, hex] = Spool("arrived");
  ASSERT_TRUE(blobs_->Adopt(path, hex).ok());
  ASSERT_TRUE(store.AddPendingArtifact({id, "a.txt", "sha256:" + hex, 7}).ok());
  // They did not: the reference goes.
  std::string lost = "sha256:" + Sha256Hex("lost");
  ASSERT_TRUE(store.AddPendingArtifact({id, "b.txt", lost, 4}).ok());
  EXPECT_TRUE(*t_->BlobReferenced(lost));
  Tracking reopened(*db_, *blobs_, TrackingOptions{});
  ASSERT_TRUE(reopened.Open().ok());
  auto list = reopened.Artifacts(id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].path, "a.txt");
  EXPECT_FALSE(*reopened.BlobReferenced(lost));
  EXPECT_TRUE(store.PendingArtifacts()->empty());
}

}  // namespace
}  // namespace aimass::tracking

namespace aimass::tracking {
namespace {

// The search planner (store.cpp) has four shapes; whichever it picks, a search must give the
// runs a plain evaluation gives, in the same order, page after page.
class SearchPlanTest : public StoresTest {
 protected:
  struct Truth {
    int64_t id;
    std::string experiment, lr, opt;
    std::optional<double> acc;
    double loss;
  };

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    Tracking t(*db_, *blobs_, TrackingOptions{});
    for (const char* e : {"a", "b", "c"}) ASSERT_TRUE(t.CreateExperiment(e, "", "ana").ok());
    for (int i = 0; i < 120; ++i) {
      Truth r;
      r.experiment = std::string(1, static_cast<char>('a' + i % 3));
      r.lr = std::vector<std::string>{"0.1", "0.01", "0.001"}[(i / 3) % 3];
      r.opt = i % 4 == 0 ? "adam" : "sgd";
      if (i % 5) r.acc = ((i * 37) % 101) / 100.0;  // every fifth run has no accuracy
      r.loss = ((i * 53) % 97) / 97.0;
      NewRun n;
      n.experiment = r.experiment;
      n.params = {{"lr", r.lr}, {"opt", r.opt}};
      auto run = t.CreateRun(n, "ana");
      ASSERT_TRUE(run.ok());
      r.id = run->id;
      LogBatch b;
      if (r.acc) b.metrics.push_back({"acc", *r.acc, 1, 1});
      b.metrics.push_back({"loss", r.loss, 1, 1});
      ASSERT_TRUE(t.Log(r.id, b).ok());
      truth_.push_back(r);
    }
  }

  // Every page of `page` runs, joined.
  std::vector<int64_t> Search(int64_t selective, int64_t window, const std::vector<std::string>& exps,
                              const std::string& filter, const std::string& order, int64_t page) {
    TrackingOptions o;
    o.selective_runs = selective;
    o.search_window = window;
    Tracking t(*db_, *blobs_, o);
    std::vector<int64_t> ids;
    for (int64_t offset = 0;; offset += page) {
      auto runs = t.SearchRuns(exps, filter, order, page, offset);
      EXPECT_TRUE(runs.ok()) << runs.status().ToString();
      if (!runs.ok()) return ids;
      for (const auto& r : *runs) ids.push_back(r.id);
      if (static_cast<int64_t>(runs->size()) < page) return ids;
    }
  }

  std::vector<Truth> truth_;
};

TEST_F(SearchPlanTest, EveryPlanGivesThePlainAnswer) {
  struct Case {
    std::vector<std::string> exps;
    std::string filter, order;
    std::function<bool(const Truth&)> match;
    // Sort key: runs with the key first by it (then id), the others by id; `desc` flips both.
    std::function<std::optional<double>(const Truth&)> key;
    bool desc;
  };
  auto none = [](const Truth&) { return std::optional<double>(); };
  auto acc = [](const Truth& r) { return r.acc; };
  std::vector<Case> cases = {
      {{}, "", "", [](const Truth&) { return true; }, none, true},
      {{}, "params.lr = '0.1' AND metrics.acc > 0.3", "metrics.acc desc",
       [](const Truth& r) { return r.lr == "0.1" && r.acc && *r.acc > 0.3; }, acc, true},
      {{"a", "c"}, "params.opt = 'sgd'", "metrics.acc asc", [](const Truth& r) { return r.opt == "sgd" && r.experiment != "b"; },
       acc, false},
      {{}, "metrics.loss < 0.5", "metrics.acc", [](const Truth& r) { return r.loss < 0.5; }, acc, true},
      {{"b"}, "params.lr != '0.01' AND metrics.loss >= 0.2 AND status = 'running'", "",
       [](const Truth& r) { return r.experiment == "b" && r.lr != "0.01" && r.loss >= 0.2; }, none, true},
      {{}, "params.lr = '0.001' OR metrics.acc > 0.9", "metrics.acc desc",
       [](const Truth& r) { return r.lr == "0.001" || (r.acc && *r.acc > 0.9); }, acc, true},
      {{}, "metrics.acc > 2", "metrics.acc desc", [](const Truth&) { return false; }, acc, true},
      {{"c"}, "params.opt = 'sgd' AND metrics.loss < 0.7", "start_time asc",
       [](const Truth& r) { return r.experiment == "c" && r.opt == "sgd" && r.loss < 0.7; }, none, false},
      {{"a", "b"}, "params.lr = '0.1'", "", [](const Truth& r) { return r.experiment != "c" && r.lr == "0.1"; }, none, true},
      {{}, "status = 'running'", "params.lr asc", [](const Truth&) { return true; },
       [](const Truth& r) { return std::optional<double>(r.lr == "0.001" ? 0 : r.lr == "0.01" ? 1 : 2); }, false},
  };
  for (const auto& c : cases) {
    std::vector<Truth> want;
    for (const auto& r : truth_) {
      if (c.match(r)) want.push_back(r);
    }
    std::sort(want.begin(), want.end(), [&](const Truth& x, const Truth& y) {
      auto kx = c.key(x), ky = c.key(y);
      if (kx.has_value() != ky.has_value()) return kx.has_value();  // without the key: last
      if (kx && *kx != *ky) return c.desc ? *kx > *ky : *kx < *ky;
      return c.desc ? x.id > y.id : x.id < y.id;  // start_time ties (same ms) fall to the id
    });
    std::vector<int64_t> want_ids;
    for (const auto& r : want) want_ids.push_back(r.id);
    // Drive always; never (walks of 3 and of every run); and the defaults.
    for (auto [selective, window] : {std::pair<int64_t, int64_t>{1000000, 5000}, {1, 3}, {1, 5000}, {5000, 5000}}) {
      for (int64_t page : {int64_t{7}, int64_t{1000}}) {
        EXPECT_EQ(Search(selective, window, c.exps, c.filter, c.order, page), want_ids)
            << c.filter << " | " << c.order << " | selective " << selective << " | window " << window << " | page " << page;
      }
    }
  }
}

}  // namespace
}  // namespace aimass::tracking
