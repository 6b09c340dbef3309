// Registry over a real SQLite file and a local blob store: models and their cards, versions
// validated by their runtime (a tiny XGBoost model trained here through XGBoost's C API, the
// cheapest framework whose artifact a test can make: every framework is validated, there is no
// "custom" one), aliases with their history, the start-up decision on versions a crash left
// pending (docs/registry.md, "Version states"), blob references for GC, names and error codes.
#include "registry/registry.hpp"

#include <thread>
#include <atomic>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"
#include "model_support.hpp"
#include "test_support.hpp"

namespace aimass::registry {
namespace {

namespace fs = std::filesystem;
using testing::Who;
using testing::XgboostModel;

class RegistryTest : public testing::ModelStoreTest {
 protected:
  void SetUp() override {
    OpenStores("registry");
    subscription_ = bus_.Subscribe("registry.>", [this](const events::Event& e) { events_.push_back(e); });
  }

  void TearDown() override {
    bus_.Unsubscribe(subscription_);
    CloseStores();
  }

  Model MakeModel(const std::string& name, const std::string& owner = "alice") {
    NewModel m;
    m.name = name;
    m.owner = owner;
    auto r = registry_->CreateModel(m);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    return r.ok() ? *r : Model{};
  }

  TreeFile Spool(const std::string& path, const std::string& bytes) {
    TreeFile f;
    f.path = path;
    f.size = bytes.size();
    f.sha256_hex = testing::ExpectedSha256Hex(bytes);
    f.temp_path = blobs_->temp_dir() + "/tree-" + std::to_string(uploads_++);
    std::ofstream(f.temp_path, std::ios::binary) << bytes;
    return f;
  }

  ModelVersion AddVersion(const std::string& model, const std::string& bytes) {
    auto v = registry_->CreateVersion(model, Upload(bytes));
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : ModelVersion{};
  }

  // What a crash between the version's row and its status commit leaves: the row pending, no
  // reason, and no inferred signature yet.
  void MarkPending(const std::string& model, int64_t version) {
    auto n = db_->Exec("UPDATE registry_versions SET status = 'pending', status_reason = '', signature = '{}' "
                       "WHERE version = ? AND model_id = (SELECT id FROM registry_models WHERE name = ?)",
                       {version, model});
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, 1);
  }

  std::string BlobFile(const std::string& digest) {
    auto p = blobs_->LocalPath(digest);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : "";
  }

  std::vector<std::string> Topics() const {
    std::vector<std::string> t;
    for (const auto& e : events_) t.push_back(e.topic);
    return t;
  }

  uint64_t subscription_ = 0;
  std::vector<events::Event> events_;  // delivered synchronously on the publisher's thread
};

TEST_F(RegistryTest, CreateModelTakesTaskAndTagsFromItsCard) {
  NewModel m;
  m.name = "sentiment";
  m.owner = "alice";
  m.tags = {"english"};
  m.description = "---\nlicense: mit\ntask: text-classification\ntags: [nlp, english]\nmetrics:\n  accuracy: 0.93\n---\n# Sentiment\n";
  auto created = registry_->CreateModel(m);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_GT(created->id, 0);
  EXPECT_EQ(created->task, "text-classification");
  EXPECT_EQ(created->tags, (std::vector<std::string>{"english", "nlp"}));  // the card's, without repeats
  EXPECT_EQ(created->owner, "alice");
  EXPECT_FALSE(created->archived);
  auto card = nlohmann::json::parse(created->card_json);
  EXPECT_EQ(card["license"], "mit");
  EXPECT_DOUBLE_EQ(card["metrics"]["accuracy"].get<double>(), 0.93);

  // An explicit task wins over the card's; no card and no task: "other".
  m.name = "explicit";
  m.task = "summarization";
  EXPECT_EQ(registry_->CreateModel(m)->task, "summarization");
  EXPECT_EQ(MakeModel("plain").task, "other");

  auto got = registry_->GetModel("sentiment");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, created->id);
  EXPECT_EQ(got->description, m.description);
  EXPECT_EQ(Topics(), (std::vector<std::string>(3, "registry.model.created")));

  auto listed = registry_->ListModels(std::nullopt, false, 0, 100);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].name, "explicit");  // by name
  auto prefixed = registry_->ListModels(std::string("sen"), false, 0, 100);
  ASSERT_TRUE(prefixed.ok());
  ASSERT_EQ(prefixed->size(), 1u);
  EXPECT_EQ((*prefixed)[0].name, "sentiment");
}

TEST_F(RegistryTest, DuplicateModelOrRenameOntoATakenNameIsAConflict) {
  MakeModel("a");
  MakeModel("b");
  NewModel again;
  again.name = "a";
  again.owner = "bob";
  auto dup = registry_->CreateModel(again);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), Code::kConflict);
  EXPECT_EQ(registry_->GetModel("a")->owner, "alice") << "the first one is untouched";

  EXPECT_EQ(registry_->RenameModel("a", "b").code(), Code::kConflict);
  ASSERT_TRUE(registry_->RenameModel("a", "c").ok());
  EXPECT_EQ(registry_->GetModel("a").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->GetModel("c")->owner, "alice");
}

TEST_F(RegistryTest, BadNamesTasksTagsAndCardsAreBadRequest) {
  for (const std::string& bad : {std::string(""), std::string("Upper"), std::string("-lead"), std::string(".dot"),
                                 std::string("with space"), std::string("a/b"), std::string("a:b"),
                                 std::string(129, 'a')}) {
    NewModel m;
    m.name = bad;
    m.owner = "alice";
    auto r = registry_->CreateModel(m);
    ASSERT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << bad;
    EXPECT_EQ(registry_->GetModel(bad).status().code(), Code::kBadRequest) << bad;
  }
  MakeModel(std::string(128, 'a'));  // the longest name there is
  MakeModel("m-1.v_2");

  NewModel m;
  m.name = "m";
  m.owner = "alice";
  m.task = "astrology";
  EXPECT_EQ(registry_->CreateModel(m).status().code(), Code::kBadRequest);
  m.task.reset();
  m.tags = {"Bad Tag"};
  EXPECT_EQ(registry_->CreateModel(m).status().code(), Code::kBadRequest);
  m.tags.clear();
  m.description = "---\ntask: ner\n# never closed\n";
  EXPECT_EQ(registry_->CreateModel(m).status().code(), Code::kBadRequest);
  EXPECT_EQ(registry_->GetModel("m").status().code(), Code::kNotFound) << "nothing was created";

  MakeModel("m");
  EXPECT_EQ(registry_->RenameModel("m", "Not Ok").code(), Code::kBadRequest);
  ModelChange change;
  change.task = "astrology";
  EXPECT_EQ(registry_->UpdateModel("m", change).status().code(), Code::kBadRequest);
  EXPECT_EQ(registry_->GetByAlias("m", "Prod!").status().code(), Code::kBadRequest);
  EXPECT_EQ(registry_->MoveAlias("m", "Prod!", 1, "alice").status().code(), Code::kBadRequest);
  EXPECT_EQ(registry_->DeleteAlias("m", "", "alice").code(), Code::kBadRequest);
}

TEST_F(RegistryTest, UnknownModelsVersionsAndAliasesAreNotFound) {
  EXPECT_EQ(registry_->GetModel("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->ListVersions("nope", 0, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->CreateVersion("nope", Upload(XgboostModel(1))).status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->RenameModel("nope", "other").code(), Code::kNotFound);
  EXPECT_EQ(registry_->UpdateModel("nope", ModelChange{}).status().code(), Code::kNotFound);
  MakeModel("m");
  EXPECT_EQ(registry_->GetVersion("m", 1).status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->DeleteVersion("m", 1).code(), Code::kNotFound);
  EXPECT_EQ(registry_->GetByAlias("m", "production").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->MoveAlias("m", "production", 1, "alice").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->DeleteAlias("m", "production", "alice").code(), Code::kNotFound);
  auto none = registry_->ListVersions("m", 0, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(RegistryTest, AValidArtifactBecomesAReadyVersionWithTheInferredSignature) {
  MakeModel("m");
  events_.clear();
  std::string bytes = XgboostModel(2);
  auto v = registry_->CreateVersion("m", Upload(bytes));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->version, 1);
  EXPECT_EQ(v->status, VersionStatus::kReady) << v->status_reason;
  EXPECT_EQ(v->status_reason, "");
  EXPECT_EQ(v->framework, "xgboost");
  EXPECT_EQ(v->kind, ArtifactKind::kFile);
  EXPECT_EQ(v->digest, "sha256:" + testing::ExpectedSha256Hex(bytes));
  EXPECT_EQ(v->size, bytes.size());
  EXPECT_EQ(v->created_by, "alice");
  // XGBoost's feature matrix: unnamed in the artifact, stored as "input".
  ASSERT_EQ(v->signature.inputs.size(), 1u);
  EXPECT_EQ(v->signature.inputs[0].name, "input");
  EXPECT_EQ(v->signature.inputs[0].datatype, "FP32");
  EXPECT_EQ(v->signature.inputs[0].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(Topics(), (std::vector<std::string>{"registry.version.created", "registry.version.ready"}));

  // The stored bytes are the upload's, and the spool file was moved, not copied.
  auto path = registry_->ArtifactPath(*v);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(testing::ReadAll(*path), bytes);
  EXPECT_TRUE(fs::is_empty(blobs_->temp_dir()));

  auto second = registry_->CreateVersion("m", Upload(XgboostModel(3)));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->version, 2);
  auto listed = registry_->ListVersions("m", 0, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].version, 2);  // newest first
  EXPECT_EQ((*listed)[1].version, 1);
  auto again = registry_->GetVersion("m", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->digest, v->digest);
  EXPECT_EQ(again->status, VersionStatus::kReady);
}

TEST_F(RegistryTest, AnArtifactItsRuntimeCannotLoadIsAFailedVersionNotAnError) {
  MakeModel("m");
  events_.clear();
  auto v = registry_->CreateVersion("m", Upload("this is not a model"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->status, VersionStatus::kFailed);
  EXPECT_NE(v->status_reason.find("not a loadable XGBoost model"), std::string::npos) << v->status_reason;
  EXPECT_EQ(v->status_reason.find(dir_), std::string::npos) << "the data directory leaked: " << v->status_reason;
  EXPECT_EQ(Topics(), (std::vector<std::string>{"registry.version.created", "registry.version.failed"}));
  auto stored = registry_->GetVersion("m", 1);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, VersionStatus::kFailed);
  EXPECT_EQ(stored->status_reason, v->status_reason);
  // Only a ready version can carry an alias.
  auto moved = registry_->MoveAlias("m", "staging", 1, "alice");
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), Code::kConflict);
}

TEST_F(RegistryTest, AnUnknownFrameworkIsRefusedBeforeAnythingIsStored) {
  MakeModel("m");
  std::string bytes = XgboostModel(1);
  for (const char* framework : {"custom", "other", "", "XGBoost"}) {
    auto v = registry_->CreateVersion("m", Upload(bytes, framework));
    ASSERT_FALSE(v.ok()) << framework;
    EXPECT_EQ(v.status().code(), Code::kBadRequest) << framework;
  }
  EXPECT_TRUE(registry_->ListVersions("m", 0, 10)->empty());
  EXPECT_EQ(blobs_->Stat("sha256:" + testing::ExpectedSha256Hex(bytes)).status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, ADeclaredSignatureIsKeptWhenItAgreesAndFailsTheVersionWhenNot) {
  MakeModel("m");
  NewVersion agrees = Upload(XgboostModel(1));
  agrees.declared.inputs.push_back({"features", "FP32", {-1, 3}});
  agrees.declared.outputs.push_back({"probability", "FP32", {-1}});
  auto ok = registry_->CreateVersion("m", agrees);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->status, VersionStatus::kReady) << ok->status_reason;
  ASSERT_EQ(ok->signature.inputs.size(), 1u);
  EXPECT_EQ(ok->signature.inputs[0].name, "features");
  ASSERT_EQ(ok->signature.outputs.size(), 1u);
  EXPECT_EQ(ok->signature.outputs[0].name, "probability");

  NewVersion disagrees = Upload(XgboostModel(2));
  disagrees.declared.inputs.push_back({"features", "FP32", {-1, 4}});
  auto bad = registry_->CreateVersion("m", disagrees);
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_EQ(bad->status, VersionStatus::kFailed);
  EXPECT_NE(bad->status_reason.find("signature mismatch"), std::string::npos) << bad->status_reason;
}

// A move from an expected version is a compare-and-set: of two moves made from the same
// state, threads standing in for two processes, exactly one lands.
TEST_F(RegistryTest, AMoveFromAnExpectedVersionLandsOnlyFromThatVersion) {
  MakeModel("m");
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(AddVersion("m", XgboostModel(i)).status, VersionStatus::kReady);
  EXPECT_EQ(registry_->MoveAlias("m", "production", 1, "alice", 2).status().code(), Code::kConflict)
      << "the alias does not exist yet";
  ASSERT_TRUE(registry_->MoveAlias("m", "production", 1, "alice", 0).ok());
  EXPECT_EQ(registry_->MoveAlias("m", "production", 2, "alice", 0).status().code(), Code::kConflict)
      << "0 means: only if absent";

  std::atomic<int> won{0}, conflicts{0};
  std::vector<std::thread> racers;
  for (int to : {2, 3}) {
    racers.emplace_back([&, to] {
      auto r = registry_->MoveAlias("m", "production", to, "user" + std::to_string(to), 1);
      if (r.ok()) won++;
      else if (r.status().code() == Code::kConflict) conflicts++;
    });
  }
  for (auto& t : racers) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(conflicts.load(), 1);
  auto history = registry_->AliasHistory("m", 10);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u) << "the loser left no trace";
}

TEST_F(RegistryTest, AliasesAreSetMovedAndDeletedWithTheirHistory) {
  MakeModel("m");
  ASSERT_EQ(AddVersion("m", XgboostModel(1)).status, VersionStatus::kReady);
  ASSERT_EQ(AddVersion("m", XgboostModel(2)).status, VersionStatus::kReady);
  events_.clear();

  auto set = registry_->MoveAlias("m", "production", 1, "alice");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->alias, "production");
  EXPECT_FALSE(set->from_version.has_value());
  EXPECT_EQ(set->to_version, 1);
  EXPECT_EQ(set->moved_by, "alice");
  EXPECT_EQ(registry_->GetByAlias("m", "production")->version, 1);

  auto moved = registry_->MoveAlias("m", "production", 2, "bob");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  ASSERT_TRUE(moved->from_version.has_value());
  EXPECT_EQ(*moved->from_version, 1);
  EXPECT_EQ(moved->to_version, 2);
  EXPECT_EQ(registry_->GetByAlias("m", "production")->version, 2);
  ASSERT_TRUE(registry_->MoveAlias("m", "staging", 1, "bob").ok());

  auto aliases = registry_->Aliases("m");
  ASSERT_TRUE(aliases.ok());
  EXPECT_EQ(*aliases, (std::vector<std::pair<std::string, int64_t>>{{"production", 2}, {"staging", 1}}));

  // A version an alias points at cannot be deleted until the alias moves away.
  EXPECT_EQ(registry_->DeleteVersion("m", 1).code(), Code::kConflict);
  EXPECT_TRUE(registry_->GetVersion("m", 1).ok());

  ASSERT_TRUE(registry_->DeleteAlias("m", "staging", "carol").ok());
  EXPECT_EQ(registry_->GetByAlias("m", "staging").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->DeleteAlias("m", "staging", "carol").code(), Code::kNotFound);
  EXPECT_EQ(registry_->Aliases("m")->size(), 1u);
  ASSERT_TRUE(registry_->DeleteVersion("m", 1).ok());
  EXPECT_EQ(registry_->GetVersion("m", 1).status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->MoveAlias("m", "staging", 1, "carol").status().code(), Code::kNotFound)
      << "a deleted version takes no alias";

  auto history = registry_->AliasHistory("m", 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 4u);  // newest first
  EXPECT_EQ((*history)[0].alias, "staging");
  EXPECT_EQ((*history)[0].from_version, std::optional<int64_t>(1));
  EXPECT_EQ((*history)[0].to_version, 0) << "a deletion moves the alias to nothing";
  EXPECT_EQ((*history)[0].moved_by, "carol");
  EXPECT_EQ((*history)[2].alias, "production");
  EXPECT_EQ((*history)[2].from_version, std::optional<int64_t>(1));
  EXPECT_EQ((*history)[2].to_version, 2);
  EXPECT_EQ((*history)[3].from_version, std::nullopt);
  EXPECT_EQ(registry_->AliasHistory("m", 1)->size(), 1u);

  EXPECT_EQ(Topics(), (std::vector<std::string>{"registry.alias.moved", "registry.alias.moved", "registry.alias.moved",
                                                "registry.alias.deleted", "registry.version.deleted"}));
  auto first = nlohmann::json::parse(events_[0].data);
  EXPECT_TRUE(first["from_version"].is_null());
  EXPECT_EQ(first["to_version"], 1);
  EXPECT_EQ(nlohmann::json::parse(events_[1].data)["from_version"], 1);
}

TEST_F(RegistryTest, AnArchivedModelTakesNoNewVersions) {
  MakeModel("m");
  ModelChange archive;
  archive.archived = true;
  auto archived = registry_->UpdateModel("m", archive);
  ASSERT_TRUE(archived.ok()) << archived.status().ToString();
  EXPECT_TRUE(archived->archived);
  auto v = registry_->CreateVersion("m", Upload(XgboostModel(1)));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kConflict);
  EXPECT_TRUE(registry_->ListModels(std::nullopt, false, 0, 10)->empty());
  EXPECT_EQ(registry_->ListModels(std::nullopt, true, 0, 10)->size(), 1u);
}

// The row was committed and the blob adopted, then the process died before the status write:
// the version is validated now, as if the request had finished.
TEST_F(RegistryTest, ResolvePendingCompletesAVersionWhoseArtifactWasStored) {
  MakeModel("m");
  ModelVersion v = AddVersion("m", XgboostModel(1));
  ASSERT_EQ(v.status, VersionStatus::kReady);
  MarkPending("m", 1);
  ASSERT_EQ(registry_->GetVersion("m", 1)->status, VersionStatus::kPending);
  events_.clear();

  auto stats = registry_->ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->ready, 1);
  EXPECT_EQ(stats->failed, 0);
  auto after = registry_->GetVersion("m", 1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, VersionStatus::kReady);
  ASSERT_EQ(after->signature.inputs.size(), 1u) << "the inferred signature is recorded";
  EXPECT_EQ(after->signature.inputs[0].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(Topics(), (std::vector<std::string>{"registry.version.ready"}));

  // Nothing is left pending: a second start decides nothing.
  auto again = registry_->ResolvePending();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ready + again->failed, 0);
}

TEST_F(RegistryTest, ResolvePendingFailsAVersionWhoseBlobIsMissingOrDamaged) {
  MakeModel("m");
  ModelVersion missing = AddVersion("m", XgboostModel(1));
  ModelVersion damaged = AddVersion("m", XgboostModel(2));
  ModelVersion intact = AddVersion("m", XgboostModel(3));
  // The crash came before the blob was renamed into place: it is not there.
  ASSERT_TRUE(fs::remove(BlobFile(missing.digest)));
  // Or the bytes under the digest's name are not the artifact's (a torn or damaged file).
  std::string file = BlobFile(damaged.digest);
  fs::remove(file);
  std::ofstream(file, std::ios::binary) << XgboostModel(2).substr(0, 100);
  for (int64_t n : {1, 2, 3}) MarkPending("m", n);
  events_.clear();

  auto stats = registry_->ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->failed, 2);
  EXPECT_EQ(stats->ready, 1);
  for (int64_t n : {1, 2}) {
    auto v = registry_->GetVersion("m", n);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->status, VersionStatus::kFailed) << "version " << n;
    EXPECT_EQ(v->status_reason, kInterrupted) << "version " << n;
  }
  EXPECT_EQ(registry_->GetVersion("m", 3)->status, VersionStatus::kReady);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[0].topic, "registry.version.failed");
  EXPECT_EQ(nlohmann::json::parse(events_[0].data)["reason"], kInterrupted);
  // Their blobs are GC's now.
  EXPECT_FALSE(*registry_->BlobReferenced(missing.digest));
  EXPECT_FALSE(*registry_->BlobReferenced(damaged.digest));
  EXPECT_TRUE(*registry_->BlobReferenced(intact.digest));
}

// Two processes on one database: a version another process is still storing (its worker is
// listed alive) is left to it; once that worker is gone, it is decided like any crash's.
TEST_F(RegistryTest, ResolvePendingLeavesTheVersionsOfALiveWorkerAlone) {
  MakeModel("m");
  AddVersion("m", XgboostModel(1));
  MarkPending("m", 1);
  ASSERT_TRUE(registry_->RenewWorker(30000).ok());  // this "process" is alive and storing it
  Registry other(*db_, *blobs_, nullptr);            // another process on the same stores
  auto stats = other.ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->ready + stats->failed, 0);
  EXPECT_EQ(registry_->GetVersion("m", 1)->status, VersionStatus::kPending);

  ASSERT_TRUE(registry_->RemoveWorker().ok());  // it stopped (or its listing expired)
  stats = other.ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->ready, 1);
  EXPECT_EQ(registry_->GetVersion("m", 1)->status, VersionStatus::kReady);
}

// Stored whole but not loadable: decided by the runtime, like a finished request, so the reason
// is the runtime's and not "interrupted".
TEST_F(RegistryTest, ResolvePendingGivesAStoredInvalidArtifactTheRuntimesReason) {
  MakeModel("m");
  ModelVersion v = AddVersion("m", "garbage, not a booster");
  ASSERT_EQ(v.status, VersionStatus::kFailed);
  MarkPending("m", 1);
  auto stats = registry_->ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->failed, 1);
  EXPECT_EQ(stats->ready, 0);
  auto after = registry_->GetVersion("m", 1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, VersionStatus::kFailed);
  EXPECT_NE(after->status_reason, kInterrupted);
  EXPECT_NE(after->status_reason.find("not a loadable XGBoost model"), std::string::npos) << after->status_reason;
}

// A directory version names one blob per file: all of them must be there, not only the entry.
TEST_F(RegistryTest, ResolvePendingChecksEveryFileOfADirectoryVersion) {
  MakeModel("m");
  auto make = [&](const std::string& readme) {
    NewVersion nv;
    nv.framework = "xgboost";
    nv.created_by = "alice";
    nv.tree = {Spool("README.md", readme), Spool("model.json", XgboostModel(1))};  // sorted by path
    auto v = registry_->CreateVersion("m", nv);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : ModelVersion{};
  };
  ModelVersion whole = make("# whole\n");
  ModelVersion torn = make("# torn\n");
  ASSERT_EQ(whole.status, VersionStatus::kReady) << whole.status_reason;
  EXPECT_EQ(whole.kind, ArtifactKind::kDirectory);
  EXPECT_EQ(whole.entry, "model.json");
  auto files = registry_->Files("m", 2);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, "README.md");
  // The README of version 2 is gone; the entry (shared with version 1) is still there.
  auto readme = registry_->FilePath((*files)[0]);
  ASSERT_TRUE(readme.ok());
  ASSERT_TRUE(fs::remove(*readme));
  MarkPending("m", 1);
  MarkPending("m", 2);

  auto stats = registry_->ResolvePending();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->ready, 1);
  EXPECT_EQ(stats->failed, 1);
  EXPECT_EQ(registry_->GetVersion("m", 1)->status, VersionStatus::kReady);
  auto after = registry_->GetVersion("m", 2);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, VersionStatus::kFailed);
  EXPECT_EQ(after->status_reason, kInterrupted);
}

TEST_F(RegistryTest, BlobReferencedCountsLiveVersionsThatHaveNotFailed) {
  MakeModel("m");
  std::string bytes = XgboostModel(1);
  ModelVersion a = AddVersion("m", bytes);
  ModelVersion b = AddVersion("m", bytes);  // the same bytes: one blob, two versions
  ASSERT_EQ(a.digest, b.digest);
  ModelVersion failed = AddVersion("m", "not a model");
  ASSERT_EQ(failed.status, VersionStatus::kFailed);

  EXPECT_TRUE(*registry_->BlobReferenced(a.digest));
  EXPECT_FALSE(*registry_->BlobReferenced(failed.digest)) << "a failed version's blob is GC's";
  EXPECT_FALSE(*registry_->BlobReferenced("sha256:" + std::string(64, '0')));

  ASSERT_TRUE(registry_->DeleteVersion("m", 1).ok());
  EXPECT_TRUE(*registry_->BlobReferenced(a.digest)) << "version 2 still uses it";
  ASSERT_TRUE(registry_->DeleteVersion("m", 2).ok());
  EXPECT_FALSE(*registry_->BlobReferenced(a.digest)) << "a deleted version's blob is GC's";

  // A pending version's digest is a reference: it is recorded before the bytes are adopted,
  // so that GC never sweeps a blob a version is about to claim.
  ModelVersion c = AddVersion("m", XgboostModel(2));
  MarkPending("m", c.version);
  EXPECT_TRUE(*registry_->BlobReferenced(c.digest));
}

TEST_F(RegistryTest, AuthorizeCombinesRolesOwnershipAndGrants) {
  MakeModel("m", "alice");
  EXPECT_TRUE(registry_->Authorize(Who("alice"), "m", Access::kManage).ok()) << "the owner manages";
  Principal reader = Who("bob", {"models:read"});
  EXPECT_TRUE(registry_->Authorize(reader, "m", Access::kRead).ok());
  EXPECT_EQ(registry_->Authorize(reader, "m", Access::kWrite).code(), Code::kForbidden);
  Principal nobody = Who("carol", {}, {"vision"});
  EXPECT_EQ(registry_->Authorize(nobody, "m", Access::kRead).code(), Code::kForbidden);
  EXPECT_EQ(registry_->Authorize(reader, "nope", Access::kRead).code(), Code::kNotFound);

  ASSERT_TRUE(registry_->PutGrant("m", "user:bob", Access::kWrite, "alice").ok());
  ASSERT_TRUE(registry_->PutGrant("m", "role:vision", Access::kRead, "alice").ok());
  EXPECT_TRUE(registry_->Authorize(reader, "m", Access::kWrite).ok());
  EXPECT_EQ(registry_->Authorize(reader, "m", Access::kManage).code(), Code::kForbidden);
  EXPECT_TRUE(registry_->Authorize(nobody, "m", Access::kRead).ok());
  EXPECT_EQ(registry_->Grants("m")->size(), 2u);

  EXPECT_EQ(registry_->PutGrant("m", "bob", Access::kRead, "alice").code(), Code::kBadRequest);
  EXPECT_EQ(registry_->PutGrant("m", "user:bob", Access::kNone, "alice").code(), Code::kBadRequest);
  ASSERT_TRUE(registry_->DeleteGrant("m", "role:vision").ok());
  EXPECT_EQ(registry_->DeleteGrant("m", "role:vision").code(), Code::kNotFound);
  EXPECT_EQ(registry_->Authorize(nobody, "m", Access::kRead).code(), Code::kForbidden);
}

}  // namespace
}  // namespace aimass::registry

namespace aimass::registry {
namespace {

// Model selection: each model of a task with its best ready version on a metric, best first.
TEST_F(RegistryTest, RankModelsGivesEachModelItsBestVersionBestFirst) {
  auto model = [&](const std::string& name, const std::string& task) {
    NewModel m;
    m.name = name;
    m.owner = "alice";
    m.task = task;
    ASSERT_TRUE(registry_->CreateModel(m).ok());
  };
  auto version = [&](const std::string& name, int rounds, const std::string& metrics) {
    NewVersion v = Upload(XgboostModel(rounds));
    v.metrics_json = metrics;
    ASSERT_TRUE(registry_->CreateVersion(name, v).ok());
  };
  model("cnn", "image-classification");
  model("mlp", "image-classification");
  model("rf", "image-classification");
  model("bert", "text-classification");
  version("cnn", 1, R"({"accuracy": 0.91, "loss": 0.3})");
  version("cnn", 2, R"({"accuracy": 0.93, "loss": 0.25})");
  version("cnn", 3, R"({"accuracy": 0.90})");
  version("mlp", 4, R"({"accuracy": 0.95, "loss": 0.4})");
  version("rf", 5, R"({"loss": 0.1})");                       // no accuracy: not ranked by it
  version("bert", 6, R"({"accuracy": 0.99})");                // another task
  auto best = registry_->RankModels(std::string("image-classification"), "metrics.accuracy DESC", 0, 10);
  ASSERT_TRUE(best.ok()) << best.status().ToString();
  ASSERT_EQ(best->size(), 2u);
  EXPECT_EQ((*best)[0].model.name, "mlp");
  EXPECT_EQ((*best)[0].best_version, 1);
  EXPECT_DOUBLE_EQ((*best)[0].best_value, 0.95);
  EXPECT_EQ((*best)[1].model.name, "cnn");
  EXPECT_EQ((*best)[1].best_version, 2);
  auto lowest = registry_->RankModels(std::nullopt, "metrics.loss asc", 0, 10);
  ASSERT_TRUE(lowest.ok());
  ASSERT_EQ(lowest->size(), 3u);
  EXPECT_EQ((*lowest)[0].model.name, "rf");
  EXPECT_EQ((*lowest)[1].model.name, "cnn");
  EXPECT_EQ((*lowest)[1].best_version, 2);
  for (const char* bad : {"accuracy", "metrics.", "metrics.a'b", "metrics.accuracy sideways"}) {
    EXPECT_FALSE(registry_->RankModels(std::nullopt, bad, 0, 10).ok()) << bad;
  }
  EXPECT_FALSE(registry_->RankModels(std::string("no-such-task"), "metrics.accuracy", 0, 10).ok());
  auto listed = registry_->ListModels(std::nullopt, false, 0, 10, std::string("text-classification"));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "bert");
}

}  // namespace
}  // namespace aimass::registry
