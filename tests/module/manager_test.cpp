// ModuleManager: dependency order, refusals (unknown need, cycle, duplicate), each module sees
// only what it declared, reverse-order drain and stop, and the states /readyz reports.
#include "test_db.hpp"
#include "module/manager.hpp"

#include <gtest/gtest.h>

#include <prometheus/registry.h>

#include <string>
#include <vector>

namespace aimass::module {
namespace {

// A module that records what happens to it in a shared log.
class Probe : public Module {
 public:
  Probe(std::string name, std::vector<std::string_view> needs, std::vector<std::string>* log)
      : name_(std::move(name)), needs_(std::move(needs)), log_(log) {}
  std::string_view name() const override { return name_; }
  std::vector<std::string_view> needs() const override { return needs_; }
  std::vector<storage::Migration> Migrations() const override { return {{name_, 1, "CREATE TABLE " + name_ + " (x INTEGER)"}}; }
  Status Open(Context& ctx) override {
    log_->push_back("open " + name_);
    return open_status;
  }
  Status Start() override {
    log_->push_back("start " + name_);
    return Status::Ok();
  }
  void Drain() override { log_->push_back("drain " + name_); }
  void Stop() override { log_->push_back("stop " + name_); }
  Status Health() const override { return health; }
  bool core() const override { return is_core; }
  std::vector<std::string_view> paths() const override { return prefixes; }

  Status open_status;
  Status health;
  bool is_core = false;
  std::vector<std::string_view> prefixes;

 private:
  std::string name_;
  std::vector<std::string_view> needs_;
  std::vector<std::string>* log_;
};

// Looks up other modules while it opens, to test what Context lets it see.
class Looker : public Module {
 public:
  static constexpr std::string_view kName = "looker";
  explicit Looker(std::vector<std::string_view> needs) : needs_(std::move(needs)) {}
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> needs() const override { return needs_; }
  Status Open(Context& ctx) override {
    auto self = ctx.Need<Looker>();  // not declared: refused
    saw_self = self.ok();
    auto b = ctx.Need<Target>();
    saw_target = b.ok();
    return Status::Ok();
  }
  class Target : public Module {
   public:
    static constexpr std::string_view kName = "target";
    std::string_view name() const override { return kName; }
    Status Open(Context&) override { return Status::Ok(); }
  };
  bool saw_self = true;
  bool saw_target = false;

 private:
  std::vector<std::string_view> needs_;
};

struct Fixture {
  config::Config cfg;
  std::unique_ptr<storage::Db> db;
  std::shared_ptr<prometheus::Registry> metrics = std::make_shared<prometheus::Registry>();
  Hooks hooks;
  Fixture() {
    db = aimass::testing::OpenTestDb();
  }
};

TEST(ModuleManagerTest, OrdersByNeedsKeepingListOrderOtherwise) {
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Module>> list;
  list.push_back(std::make_unique<Probe>("serving", std::vector<std::string_view>{"registry", "auth"}, &log));
  list.push_back(std::make_unique<Probe>("gateway", std::vector<std::string_view>{"auth"}, &log));
  list.push_back(std::make_unique<Probe>("registry", std::vector<std::string_view>{"blobs"}, &log));
  list.push_back(std::make_unique<Probe>("blobs", std::vector<std::string_view>{}, &log));
  list.push_back(std::make_unique<Probe>("auth", std::vector<std::string_view>{}, &log));
  auto mgr = ModuleManager::Create(std::move(list));
  ASSERT_TRUE(mgr.ok()) << mgr.status().message();
  std::vector<std::string> order;
  for (Module* m : (*mgr)->modules()) order.emplace_back(m->name());
  EXPECT_EQ(order, (std::vector<std::string>{"blobs", "registry", "auth", "serving", "gateway"}));
  // Migrations follow the same order.
  std::vector<std::string> components;
  for (const auto& m : (*mgr)->Migrations()) components.push_back(m.module);
  EXPECT_EQ(components, order);
}

// --target: the named modules and the core ones are served; what they need is opened as a
// library (no routes, no background work); the rest is not opened, its paths are remote.
TEST(ModuleManagerTest, ATargetServesItsModulesOpensTheirNeedsAndRoutesTheRestElsewhere) {
  std::vector<std::string> log;
  Fixture f;
  std::vector<std::unique_ptr<Module>> list;
  auto add = [&](std::string name, std::vector<std::string_view> needs, std::vector<std::string_view> paths,
                 bool core = false) {
    auto p = std::make_unique<Probe>(std::move(name), std::move(needs), &log);
    p->prefixes = std::move(paths);
    p->is_core = core;
    list.push_back(std::move(p));
  };
  add("auth", {}, {"/api/v1/users"}, true);
  add("registry", {"auth"}, {"/api/v1/models"});
  add("serving", {"auth", "registry"}, {"/api/v1/deployments", "/v2"});
  add("gateway", {"auth"}, {"/api/v1/gateway"});
  auto mgr = ModuleManager::Create(std::move(list), {"serving"});
  ASSERT_TRUE(mgr.ok()) << mgr.status().message();
  std::vector<std::string> served;
  for (Module* m : (*mgr)->modules()) served.emplace_back(m->name());
  EXPECT_EQ(served, (std::vector<std::string>{"auth", "serving"}));
  EXPECT_EQ((*mgr)->libraries(), std::vector<std::string>{"registry"});
  auto remote = (*mgr)->RemotePaths();
  EXPECT_EQ(remote, (std::vector<std::pair<std::string, std::string>>{{"/api/v1/gateway", "gateway"},
                                                                       {"/api/v1/models", "registry"}}));
  ASSERT_TRUE(f.db->Migrate((*mgr)->Migrations()).ok());
  ASSERT_TRUE((*mgr)->Open(f.cfg, *f.db, f.metrics, f.hooks).ok());
  ASSERT_TRUE((*mgr)->Start().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"open auth", "open registry", "open serving", "start auth", "start serving"}))
      << "a library opens but does no background work; an absent module does not open";
  bool all_ready = false;
  auto states = (*mgr)->Readiness(&all_ready);
  EXPECT_TRUE(all_ready);
  EXPECT_EQ(states.size(), 3u);

  std::vector<std::unique_ptr<Module>> again;
  again.push_back(std::make_unique<Probe>("auth", std::vector<std::string_view>{}, &log));
  auto bad = ModuleManager::Create(std::move(again), {"nosuch"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("target names no module 'nosuch' (modules: auth)"), std::string::npos)
      << bad.status().message();
}

TEST(ModuleManagerTest, RefusesUnknownNeedsCyclesAndDuplicates) {
  std::vector<std::string> log;
  {
    std::vector<std::unique_ptr<Module>> list;
    list.push_back(std::make_unique<Probe>("serving", std::vector<std::string_view>{"registry"}, &log));
    auto mgr = ModuleManager::Create(std::move(list));
    ASSERT_FALSE(mgr.ok());
    EXPECT_NE(mgr.status().message().find("serving needs registry"), std::string::npos) << mgr.status().message();
  }
  {
    std::vector<std::unique_ptr<Module>> list;
    list.push_back(std::make_unique<Probe>("a", std::vector<std::string_view>{"b"}, &log));
    list.push_back(std::make_unique<Probe>("b", std::vector<std::string_view>{"c"}, &log));
    list.push_back(std::make_unique<Probe>("c", std::vector<std::string_view>{"a"}, &log));
    auto mgr = ModuleManager::Create(std::move(list));
    ASSERT_FALSE(mgr.ok());
    EXPECT_NE(mgr.status().message().find("cycle: a -> b -> c -> a"), std::string::npos) << mgr.status().message();
  }
  {
    std::vector<std::unique_ptr<Module>> list;
    list.push_back(std::make_unique<Probe>("a", std::vector<std::string_view>{}, &log));
    list.push_back(std::make_unique<Probe>("a", std::vector<std::string_view>{}, &log));
    EXPECT_FALSE(ModuleManager::Create(std::move(list)).ok());
  }
  EXPECT_TRUE(log.empty());  // nothing was opened
}

TEST(ModuleManagerTest, OpensStartsInOrderDrainsAndStopsInReverse) {
  Fixture f;
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Module>> list;
  list.push_back(std::make_unique<Probe>("top", std::vector<std::string_view>{"base"}, &log));
  list.push_back(std::make_unique<Probe>("base", std::vector<std::string_view>{}, &log));
  auto mgr = ModuleManager::Create(std::move(list));
  ASSERT_TRUE(mgr.ok());
  ASSERT_TRUE(f.db->Migrate((*mgr)->Migrations()).ok());
  bool all = true;
  auto states = (*mgr)->Readiness(&all);
  EXPECT_FALSE(all);
  EXPECT_EQ(states[0], (std::pair<std::string, std::string>{"base", "starting"}));
  ASSERT_TRUE((*mgr)->Open(f.cfg, *f.db, f.metrics, f.hooks).ok());
  ASSERT_TRUE((*mgr)->Start().ok());
  states = (*mgr)->Readiness(&all);
  EXPECT_TRUE(all);
  EXPECT_EQ(states[1], (std::pair<std::string, std::string>{"top", "ready"}));

  auto* top = dynamic_cast<Probe*>((*mgr)->Find("top"));
  ASSERT_NE(top, nullptr);
  top->health = Status::Unavailable("upstream store unreachable");
  states = (*mgr)->Readiness(&all);
  EXPECT_FALSE(all);
  EXPECT_EQ(states[1].second, "upstream store unreachable");

  (*mgr)->Drain();
  EXPECT_EQ((*mgr)->Readiness(&all)[0].second, "stopping");
  mgr->reset();  // stops and destroys
  EXPECT_EQ(log, (std::vector<std::string>{"open base", "open top", "start base", "start top", "drain top",
                                           "drain base", "stop top", "stop base"}));
}

TEST(ModuleManagerTest, AFailedOpenNamesTheModuleAndStopsOnlyWhatOpened) {
  Fixture f;
  std::vector<std::string> log;
  auto base = std::make_unique<Probe>("base", std::vector<std::string_view>{}, &log);
  auto top = std::make_unique<Probe>("top", std::vector<std::string_view>{"base"}, &log);
  auto late = std::make_unique<Probe>("late", std::vector<std::string_view>{"top"}, &log);
  top->open_status = Status::BadRequest("bad key file");
  std::vector<std::unique_ptr<Module>> list;
  list.push_back(std::move(late));
  list.push_back(std::move(top));
  list.push_back(std::move(base));
  auto mgr = ModuleManager::Create(std::move(list));
  ASSERT_TRUE(mgr.ok());
  Status st = (*mgr)->Open(f.cfg, *f.db, f.metrics, f.hooks);
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_EQ(st.message(), "top: bad key file");
  mgr->reset();
  EXPECT_EQ(log, (std::vector<std::string>{"open base", "open top", "stop base"}));
}

TEST(ModuleManagerTest, AModuleSeesOnlyTheModulesItDeclared) {
  Fixture f;
  for (bool declared : {false, true}) {
    std::vector<std::unique_ptr<Module>> list;
    auto looker = std::make_unique<Looker>(declared ? std::vector<std::string_view>{"target"}
                                                    : std::vector<std::string_view>{});
    Looker* l = looker.get();
    list.push_back(std::move(looker));
    list.push_back(std::make_unique<Looker::Target>());
    auto mgr = ModuleManager::Create(std::move(list));
    ASSERT_TRUE(mgr.ok());
    ASSERT_TRUE((*mgr)->Open(f.cfg, *f.db, f.metrics, f.hooks).ok());
    EXPECT_FALSE(l->saw_self);
    EXPECT_EQ(l->saw_target, declared);
    EXPECT_NE((*mgr)->Find<Looker::Target>(), nullptr);
  }
}

}  // namespace
}  // namespace aimass::module
