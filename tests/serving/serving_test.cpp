// Serving over a real registry (SQLite file, local blob store) with XGBoost versions trained here
// through XGBoost's C API: the smallest model a test can make whose runtime serving really loads,
// so deployments are created, answer requests, change version, take a canary, follow an alias,
// and come back after a restart (a new Serving over the same metadata store). Also the errors a
// client gets: unknown model, version or deployment (not_found), a version that is not ready
// (conflict), no access (forbidden), a bad spec, patch or input (bad_request).
#include "serving/serving.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <prometheus/registry.h>

#include "common/failpoint.hpp"
#include "events/bus.hpp"
#include "registry/registry.hpp"
#include "serving/deployment.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"
#include "failpoint_support.hpp"
#include "model_support.hpp"
#include "test_support.hpp"

namespace aimass::serving {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::Who;
using testing::XgboostModel;

// Two rows: feature 0 high (class 1), then low (class 0).
Tensor TwoRows() {
  std::vector<float> v = {0.9f, 0.25f, 0.75f, 0.1f, 0.25f, 0.75f};
  Tensor t{"input", DataType::kFp32, {2, 3}, ""};
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
  return v;
}

std::vector<std::string> Actions(const DeploymentView& v) {
  std::vector<std::string> a;
  for (const auto& e : v.history) a.push_back(e.action);
  return a;
}

// (version, role, weight) of what a view serves.
std::vector<std::tuple<int64_t, std::string, int>> Served(const DeploymentView& v) {
  std::vector<std::tuple<int64_t, std::string, int>> s;
  for (const auto& x : v.serving) s.emplace_back(x.version, x.role, x.weight);
  return s;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class ServingTest : public testing::ModelStoreTest {
 protected:
  void SetUp() override {
    OpenStores("serving", {Serving::Migrations()});
    subscription_ = bus_.Subscribe("serving.>", [this](const events::Event& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(e.topic);
    });

    registry::NewModel m;
    m.name = "iris";
    m.owner = "alice";
    ASSERT_TRUE(registry_->CreateModel(m).ok());
    ASSERT_EQ(AddVersion(XgboostModel(2)), registry::VersionStatus::kReady);  // 1
    ASSERT_EQ(AddVersion(XgboostModel(3)), registry::VersionStatus::kReady);  // 2
    ASSERT_EQ(AddVersion("not a booster"), registry::VersionStatus::kFailed);  // 3
    Restart();
  }

  void TearDown() override {
    failpoint::ClearAll();  // a test that failed with a point armed must not stall the next
    serving_.reset();
    bus_.Unsubscribe(subscription_);
    CloseStores();
  }

  // A new process over the same metadata store and blobs: the old Serving is stopped first.
  void Restart() {
    serving_.reset();
    serving_ = std::make_unique<Serving>(*db_, *registry_, &bus_, metrics_);
    serving_->Start();
  }

  registry::VersionStatus AddVersion(const std::string& bytes) {
    auto r = registry_->CreateVersion("iris", Upload(bytes));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->status : registry::VersionStatus::kPending;
  }

  // What the API does with a create body: parse it, then create.
  Result<DeploymentView> Deploy(const Json& body, const Principal& who = Who("alice")) {
    DeploymentSpec spec;
    AIMASS_RETURN_IF_ERROR(ParseDeploymentSpec(body, false, spec));
    return serving_->Create(who, spec);
  }

  std::vector<std::string> Events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  uint64_t subscription_ = 0;
  std::mutex events_mu_;
  std::vector<std::string> events_;
  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<Serving> serving_;
};

TEST_F(ServingTest, ADeploymentLoadsItsVersionAndAnswersRequests) {
  auto created = Deploy({{"name", "scorer"}, {"model", "iris"}, {"version", 1}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->state, "ready");
  EXPECT_EQ(Served(*created), (std::vector<std::tuple<int64_t, std::string, int>>{{1, "stable", 100}}));
  EXPECT_EQ(Actions(*created), std::vector<std::string>{"created"});
  EXPECT_EQ(created->spec.created_by, "alice");
  EXPECT_GT(created->spec.created_at, 0);
  EXPECT_TRUE(serving_->Ready("scorer", std::nullopt).ok());
  EXPECT_TRUE(serving_->Ready("scorer", 1).ok());
  EXPECT_TRUE(serving_->AllReady());

  auto answer = serving_->Infer("scorer", std::nullopt, {TwoRows()});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->version, 1);
  ASSERT_EQ(answer->outputs.size(), 1u);
  EXPECT_EQ(answer->outputs[0].shape, std::vector<int64_t>{2});
  std::vector<float> p = Floats(answer->outputs[0]);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_GT(p[0], 0.5f) << "the model learned feature 0 > 0.5 means class 1";
  EXPECT_LT(p[1], 0.5f);

  auto meta = serving_->Metadata("scorer", std::nullopt);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->name, "scorer");
  EXPECT_EQ(meta->platform, "xgboost");
  EXPECT_EQ(meta->versions, std::vector<int64_t>{1});
  ASSERT_FALSE(meta->signature.inputs.empty());
  EXPECT_EQ(meta->signature.inputs[0].name, "input");
  EXPECT_EQ(meta->signature.inputs[0].shape, (std::vector<int64_t>{-1, 3}));

  // List and Stats: one deployment, one loaded version that answered one request.
  auto all = serving_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].spec.name, "scorer");
  EXPECT_EQ(all[0].spec.model, "iris");
  EXPECT_EQ(all[0].spec.version, std::optional<int64_t>(1));
  EXPECT_FALSE(all[0].spec.alias.has_value());
  Json view = ViewToJson(all[0]);
  EXPECT_EQ(view["state"], "ready");
  EXPECT_EQ(view["serving"], Json::parse(R"([{"version": 1, "role": "stable", "weight": 100}])"));
  EXPECT_EQ(view["traffic"]["history"].size(), 1u);
  auto stats = serving_->Stats(std::nullopt, std::nullopt);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].name, "scorer");
  EXPECT_EQ((*stats)[0].version, 1);
  EXPECT_EQ((*stats)[0].stats.inference_count, 1u);
  EXPECT_EQ((*stats)[0].stats.success.count, 1u);
  EXPECT_EQ((*stats)[0].stats.execution_count, 1u);
  EXPECT_EQ((*stats)[0].stats.pending, 0u);
  auto one = serving_->Stats(std::string("scorer"), 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  EXPECT_EQ(Events(), std::vector<std::string>{"serving.deployment.created"});
}

TEST_F(ServingTest, MayInvokeNeedsInferenceInvokeOverAllOrThisDeployment) {
  EXPECT_TRUE(Serving::MayInvoke(Who("a", {"inference:invoke"}), "scorer"));
  EXPECT_TRUE(Serving::MayInvoke(Who("a", {"inference.scorer:invoke"}), "scorer"));
  EXPECT_FALSE(Serving::MayInvoke(Who("a", {"inference.other:invoke"}), "scorer"));
  EXPECT_FALSE(Serving::MayInvoke(Who("a", {"models:read", "deployments:write"}), "scorer"));
}

TEST_F(ServingTest, CreateRefusesWhatCannotBeServedAndKeepsNoTrace) {
  auto code = [&](const Json& body, const Principal& who = Who("alice")) { return Deploy(body, who).status().code(); };
  EXPECT_EQ(code({{"name", "d"}, {"model", "nope"}, {"version", 1}}), Code::kNotFound);
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 9}}), Code::kNotFound);
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"alias", "production"}}), Code::kNotFound);
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 3}}), Code::kConflict) << "version 3 failed";
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 1}, {"traffic", {{"candidate", {{"version", 9}}}}}}),
            Code::kNotFound);
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 1}, {"traffic", {{"candidate", {{"version", 1}}}}}}),
            Code::kBadRequest)
      << "the candidate is the stable version";
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 1}}, Who("mallory")), Code::kForbidden);
  EXPECT_TRUE(serving_->List().empty()) << "a refused create leaves nothing behind";
  EXPECT_EQ(serving_->Get("d").status().code(), Code::kNotFound);

  // A reader of the model may deploy it; the name is free again after the refusals.
  auto ok = Deploy({{"name", "d"}, {"model", "iris"}, {"version", 1}}, Who("bob", {"models:read"}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->spec.created_by, "bob");
  EXPECT_EQ(code({{"name", "d"}, {"model", "iris"}, {"version", 2}}), Code::kConflict) << "the name is taken";
  EXPECT_EQ(serving_->Get("d")->spec.version, std::optional<int64_t>(1));
}

TEST_F(ServingTest, BadSpecsPatchesAndInputsAreBadRequest) {
  for (const Json& body : {Json{{"model", "iris"}, {"version", 1}},
                           Json{{"name", "d"}, {"version", 1}},
                           Json{{"name", "Bad Name"}, {"model", "iris"}, {"version", 1}},
                           Json{{"name", "d"}, {"model", "iris"}},
                           Json{{"name", "d"}, {"model", "iris"}, {"version", 0}},
                           Json{{"name", "d"}, {"model", "iris"}, {"version", 1}, {"alias", "production"}},
                           Json{{"name", "d"}, {"model", "iris"}, {"version", 1}, {"instances", 0}},
                           Json{{"name", "d"}, {"model", "iris"}, {"version", 1}, {"colour", "red"}},
                           Json{{"name", "d"}, {"model", "iris"}, {"version", 1}, {"traffic", {{"weight", 10}}}},
                           Json::array()}) {
    auto r = Deploy(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << body.dump();
  }
  EXPECT_TRUE(serving_->List().empty());

  ASSERT_TRUE(Deploy({{"name", "d"}, {"model", "iris"}, {"version", 1}}).ok());
  for (const Json& patch : {Json{{"model", "other"}}, Json{{"name", "e"}}, Json{{"colour", "red"}},
                            Json{{"version", 2}, {"alias", "production"}}, Json{{"threads", 0}},
                            Json{{"traffic", {{"weight", 10}}}},
                            Json{{"traffic", {{"candidate", {{"version", 1}}}}}}}) {
    auto r = serving_->Update(Who("alice"), "d", patch);
    ASSERT_FALSE(r.ok()) << patch.dump();
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << patch.dump();
  }
  EXPECT_EQ(serving_->Update(Who("alice"), "d", {{"version", 9}}).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Update(Who("mallory"), "d", {{"version", 2}}).status().code(), Code::kForbidden);
  auto unchanged = serving_->Get("d");
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->spec.version, std::optional<int64_t>(1));
  EXPECT_EQ(Served(*unchanged), (std::vector<std::tuple<int64_t, std::string, int>>{{1, "stable", 100}}));
  EXPECT_EQ(Actions(*unchanged), std::vector<std::string>{"created"});

  // Inputs that do not fit the signature (FP32 [-1, 3]).
  Tensor wide{"input", DataType::kFp32, {1, 4}, std::string(16, '\0')};
  EXPECT_EQ(serving_->Infer("d", std::nullopt, {wide}).status().code(), Code::kBadRequest);
  Tensor ints{"input", DataType::kInt64, {1, 3}, std::string(24, '\0')};
  EXPECT_EQ(serving_->Infer("d", std::nullopt, {ints}).status().code(), Code::kBadRequest);
  EXPECT_EQ(serving_->Stats(std::nullopt, 1).status().code(), Code::kBadRequest) << "a version needs a name";
}

TEST_F(ServingTest, UnknownDeploymentsAndUnloadedVersionsAreNotFound) {
  ASSERT_TRUE(Deploy({{"name", "d"}, {"model", "iris"}, {"version", 1}}).ok());
  EXPECT_EQ(serving_->Get("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Update(Who("alice"), "nope", {{"version", 2}}).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Delete("nope").code(), Code::kNotFound);
  EXPECT_EQ(serving_->Unload("nope").code(), Code::kNotFound);
  EXPECT_EQ(serving_->Load("nope").code(), Code::kNotFound);
  EXPECT_EQ(serving_->Infer("nope", std::nullopt, {TwoRows()}).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Metadata("nope", std::nullopt).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Stats(std::string("nope"), std::nullopt).status().code(), Code::kNotFound);
  // Version 2 exists in the registry but this deployment does not serve it.
  EXPECT_EQ(serving_->Infer("d", 2, {TwoRows()}).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Metadata("d", 2).status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Ready("d", 2).code(), Code::kNotFound);
  EXPECT_EQ(serving_->Stats(std::string("d"), 2).status().code(), Code::kNotFound);
}

TEST_F(ServingTest, UpdateChangesTheVersionAndAddsOrRemovesACanary) {
  ASSERT_TRUE(Deploy({{"name", "d"}, {"model", "iris"}, {"version", 1}}).ok());
  auto moved = serving_->Update(Who("alice"), "d", {{"version", 2}});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(Served(*moved), (std::vector<std::tuple<int64_t, std::string, int>>{{2, "stable", 100}}));
  EXPECT_EQ(Actions(*moved), (std::vector<std::string>{"created", "version_set"}));
  ASSERT_EQ(moved->history.size(), 2u);
  EXPECT_EQ(moved->history[1].from_version, std::optional<int64_t>(1));
  EXPECT_EQ(moved->history[1].to_version, std::optional<int64_t>(2));
  EXPECT_EQ(serving_->Infer("d", std::nullopt, {TwoRows()})->version, 2);

  // A canary at weight 0 takes no routed traffic but answers when asked for by version.
  auto canary = serving_->Update(Who("alice"), "d", {{"traffic", {{"candidate", {{"version", 1}}}, {"weight", 0}}}});
  ASSERT_TRUE(canary.ok()) << canary.status().ToString();
  EXPECT_EQ(Served(*canary),
            (std::vector<std::tuple<int64_t, std::string, int>>{{2, "stable", 100}, {1, "candidate", 0}}));
  EXPECT_EQ(Actions(*canary).back(), "canary");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(serving_->Infer("d", std::nullopt, {TwoRows()})->version, 2);
  EXPECT_EQ(serving_->Infer("d", 1, {TwoRows()})->version, 1);
  EXPECT_EQ(serving_->Metadata("d", std::nullopt)->versions, (std::vector<int64_t>{2, 1}));
  auto stats = serving_->Stats(std::string("d"), std::nullopt);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 2u);
  auto candidate_stats = serving_->Stats(std::string("d"), 1);
  ASSERT_TRUE(candidate_stats.ok());
  ASSERT_EQ(candidate_stats->size(), 1u);
  EXPECT_EQ((*candidate_stats)[0].stats.inference_count, 1u);

  auto dropped = serving_->Update(Who("alice"), "d", {{"traffic", {{"candidate", nullptr}}}});
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(Served(*dropped), (std::vector<std::tuple<int64_t, std::string, int>>{{2, "stable", 100}}));
  EXPECT_EQ(serving_->Infer("d", 1, {TwoRows()}).status().code(), Code::kNotFound);

  ASSERT_TRUE(serving_->Delete("d").ok());
  EXPECT_EQ(serving_->Get("d").status().code(), Code::kNotFound);
  EXPECT_EQ(serving_->Infer("d", std::nullopt, {TwoRows()}).status().code(), Code::kNotFound);
  EXPECT_TRUE(serving_->List().empty());
  EXPECT_EQ(Events(), (std::vector<std::string>{"serving.deployment.created", "serving.deployment.updated",
                                                "serving.deployment.updated", "serving.deployment.updated",
                                                "serving.deployment.deleted"}));
}

TEST_F(ServingTest, AMissingArtifactIsFetchedAndALoadThatFailedForWantOfItIsTriedAgain) {
  ASSERT_TRUE(Deploy({{"name", "scorer"}, {"model", "iris"}, {"version", 1}}).ok());
  auto v = registry_->GetVersion("iris", 1);
  ASSERT_TRUE(v.ok());
  auto path = registry_->ArtifactPath(*v);
  ASSERT_TRUE(path.ok());
  std::string bytes;
  {
    std::ifstream in(*path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // A process whose blob store lacks the artifact (the registry's is elsewhere), started while
  // the registry is away: the first fetch fails as unavailable, the next one brings it.
  serving_.reset();
  ASSERT_TRUE(std::filesystem::remove(*path));
  std::atomic<int> calls{0};
  serving_ = std::make_unique<Serving>(*db_, *registry_, &bus_, metrics_);
  serving_->FetchMissingWith([&](const MissingArtifact& a) -> Status {
    EXPECT_EQ(a.model, "iris");
    EXPECT_EQ(a.version, 1);
    EXPECT_EQ(a.file, "");
    EXPECT_EQ(a.digest, v->digest);
    EXPECT_EQ(a.size, bytes.size());
    EXPECT_EQ(a.owner, "alice") << "read on behalf of the deployment's creator";
    if (calls++ == 0) return Status::Unavailable("the registry is away");
    auto w = blobs_->NewWriter();
    if (!w.ok()) return w.status();
    AIMASS_RETURN_IF_ERROR((*w)->Write(bytes));
    return (*w)->Commit().status();
  });
  serving_->Start();
  ASSERT_TRUE(WaitFor([&] {
    auto d = serving_->Get("scorer");
    return d.ok() && d->state == "failed" && d->reason.find("the registry is away") != std::string::npos;
  })) << serving_->Get("scorer")->reason;
  ASSERT_TRUE(WaitFor([&] { return serving_->Get("scorer")->state == "ready"; }, std::chrono::seconds(10)))
      << "the load was not tried again: " << serving_->Get("scorer")->reason;
  EXPECT_EQ(calls.load(), 2);
  auto answer = serving_->Infer("scorer", std::nullopt, {TwoRows()});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();

  // What the fetch cannot find is not tried again: a not-found stays failed.
  ASSERT_TRUE(Deploy({{"name", "second"}, {"model", "iris"}, {"version", 2}}).ok());
  auto v2 = registry_->GetVersion("iris", 2);
  serving_.reset();
  ASSERT_TRUE(std::filesystem::remove(*registry_->ArtifactPath(*v2)));
  calls = 0;
  serving_ = std::make_unique<Serving>(*db_, *registry_, &bus_, metrics_);
  serving_->FetchMissingWith([&](const MissingArtifact&) -> Status {
    ++calls;
    return Status::NotFound("the registry has no such file");
  });
  serving_->Start();
  ASSERT_TRUE(WaitFor([&] { return serving_->Get("second")->state == "failed"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(serving_->Get("scorer")->state, "ready") << "its copy is here now";
}

TEST_F(ServingTest, WhileANewDeploymentIsStoredTheOthersServeAndADeleteWaitsForIt) {
  ASSERT_TRUE(Deploy({{"name", "other"}, {"model", "iris"}, {"version", 1}}).ok());
  // The row write of the next create stalls (a slow or absent database).
  ASSERT_TRUE(failpoint::Set("serving.before_persist", "pause").ok());
  std::thread create([&] {
    auto made = Deploy({{"name", "fresh"}, {"model", "iris"}, {"version", 2}});
    EXPECT_TRUE(made.ok()) << made.status().ToString();
  });
  ASSERT_TRUE(WaitFor([] { return aimass::testing::Hits("serving.before_persist") > 0; }));
  // Nothing the stalled write does not touch waits for it.
  auto answer = serving_->Infer("other", std::nullopt, {TwoRows()});
  EXPECT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(serving_->Get("other").ok());
  std::atomic<bool> deleted{false};
  std::thread remove([&] {
    EXPECT_TRUE(serving_->Delete("fresh").ok());
    deleted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(deleted.load()) << "the delete did not wait for the row it deletes";
  EXPECT_TRUE(serving_->Infer("other", std::nullopt, {TwoRows()}).ok()) << "a waiting delete held up the others";
  ASSERT_TRUE(failpoint::Set("serving.before_persist", "off").ok());
  create.join();
  remove.join();
  EXPECT_EQ(serving_->Get("fresh").status().code(), Code::kNotFound);
  Restart();
  ASSERT_TRUE(WaitFor([&] { return serving_->AllReady(); }));
  EXPECT_EQ(serving_->List().size(), 1u) << "the deleted deployment's row is gone";
}

TEST_F(ServingTest, DeploymentsComeBackAfterARestartAsLastWritten) {
  ASSERT_TRUE(Deploy({{"name", "scorer"}, {"model", "iris"}, {"version", 1}}).ok());
  auto updated = serving_->Update(Who("alice"), "scorer", {{"version", 2}, {"timeout_ms", 5000}, {"max_batch_size", 4}});
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  ASSERT_TRUE(Deploy({{"name", "gone"}, {"model", "iris"}, {"version", 1}}).ok());
  ASSERT_TRUE(serving_->Delete("gone").ok());
  ASSERT_TRUE(Deploy({{"name", "parked"}, {"model", "iris"}, {"version", 1}}).ok());
  ASSERT_TRUE(serving_->Unload("parked").ok());
  EXPECT_EQ(serving_->Infer("parked", std::nullopt, {TwoRows()}).status().code(), Code::kUnavailable);

  Restart();
  ASSERT_TRUE(WaitFor([&] { return serving_->AllReady(); })) << "the stored deployments did not load";
  auto all = serving_->List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(serving_->Get("gone").status().code(), Code::kNotFound) << "a deleted deployment came back";

  auto scorer = serving_->Get("scorer");
  ASSERT_TRUE(scorer.ok());
  EXPECT_EQ(scorer->state, "ready") << scorer->reason;
  EXPECT_EQ(scorer->spec.model, "iris");
  EXPECT_EQ(scorer->spec.version, std::optional<int64_t>(2));
  EXPECT_EQ(scorer->spec.timeout_ms, 5000);
  EXPECT_EQ(scorer->spec.runner.max_batch_size, 4);
  EXPECT_EQ(scorer->spec.created_by, "alice");
  EXPECT_EQ(scorer->spec.created_at, updated->spec.created_at);
  EXPECT_EQ(Actions(*scorer), (std::vector<std::string>{"created", "version_set"}));
  EXPECT_EQ(Served(*scorer), (std::vector<std::tuple<int64_t, std::string, int>>{{2, "stable", 100}}));
  auto answer = serving_->Infer("scorer", std::nullopt, {TwoRows()});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->version, 2);

  // Unloaded stays unloaded until loaded again.
  auto parked = serving_->Get("parked");
  ASSERT_TRUE(parked.ok());
  EXPECT_EQ(parked->state, "unloaded");
  EXPECT_TRUE(parked->serving.empty());
  EXPECT_EQ(serving_->Infer("parked", std::nullopt, {TwoRows()}).status().code(), Code::kUnavailable);
  ASSERT_TRUE(serving_->Load("parked").ok());
  EXPECT_EQ(serving_->Get("parked")->state, "ready");
  EXPECT_EQ(serving_->Infer("parked", std::nullopt, {TwoRows()})->version, 1);

  // A delete is durable too.
  ASSERT_TRUE(serving_->Delete("scorer").ok());
  Restart();
  ASSERT_TRUE(WaitFor([&] { return serving_->AllReady(); }));
  all = serving_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].spec.name, "parked");
  EXPECT_EQ(all[0].state, "ready") << "loaded again before the restart";
}

TEST_F(ServingTest, AnAliasDeploymentFollowsTheAliasWhenTheRegistryMovesIt) {
  ASSERT_TRUE(registry_->MoveAlias("iris", "production", 1, "alice").ok());
  auto created = Deploy({{"name", "prod"}, {"model", "iris"}, {"alias", "production"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(Served(*created), (std::vector<std::tuple<int64_t, std::string, int>>{{1, "stable", 100}}));

  ASSERT_TRUE(registry_->MoveAlias("iris", "production", 2, "alice").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto v = serving_->Get("prod");
    return v.ok() && !v->serving.empty() && v->serving[0].version == 2;
  })) << "the deployment did not follow the alias";
  auto after = serving_->Get("prod");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->spec.alias, std::optional<std::string>("production"));
  EXPECT_FALSE(after->spec.version.has_value());
  ASSERT_EQ(after->history.size(), 2u);
  EXPECT_EQ(after->history[1].action, "alias_moved");
  EXPECT_EQ(after->history[1].from_version, std::optional<int64_t>(1));
  EXPECT_EQ(after->history[1].to_version, std::optional<int64_t>(2));
  EXPECT_EQ(serving_->Infer("prod", std::nullopt, {TwoRows()})->version, 2);
  ASSERT_TRUE(WaitFor([&] {
    auto e = Events();
    return std::find(e.begin(), e.end(), "serving.version.swapped") != e.end();
  }));
}

}  // namespace
}  // namespace aimass::serving
