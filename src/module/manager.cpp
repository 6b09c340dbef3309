#include "module/manager.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace aimass::module {

Result<std::unique_ptr<ModuleManager>> ModuleManager::Create(std::vector<std::unique_ptr<Module>> modules,
                                                            const std::vector<std::string>& target) {
  std::map<std::string, Module*, std::less<>> by_name;
  for (const auto& m : modules) {
    if (!by_name.emplace(std::string(m->name()), m.get()).second) {
      return Status::Internal("module " + std::string(m->name()) + " is listed twice");
    }
  }
  for (const auto& m : modules) {
    for (std::string_view need : m->needs()) {
      if (!by_name.contains(need)) {
        return Status::BadRequest("module " + std::string(m->name()) + " needs " + std::string(need) +
                                  ", which this process does not run");
      }
    }
  }
  std::set<std::string, std::less<>> served;
  for (const std::string& t : target) {
    if (!by_name.contains(t)) {
      std::string known;
      for (const auto& [name, _] : by_name) known += (known.empty() ? "" : ", ") + name;
      return Status::BadRequest("target names no module '" + t.substr(0, 64) + "' (modules: " + known + ")");
    }
    served.insert(t);
  }
  if (target.empty()) {
    for (const auto& [name, _] : by_name) served.insert(name);
  }
  for (const auto& [name, m] : by_name) {
    if (m->core()) served.insert(name);
  }
  // What is opened: the served modules and, transitively, what they need.
  std::set<std::string, std::less<>> opened;
  std::function<void(std::string_view)> open = [&](std::string_view name) {
    if (!opened.emplace(name).second) return;
    for (std::string_view need : by_name.find(name)->second->needs()) open(need);
  };
  for (const std::string& name : served) open(name);

  // Depth-first, keeping the list's order among modules that do not depend on each other, so
  // that the order (and so the start-up log) is the same every run.
  std::unique_ptr<ModuleManager> mgr(new ModuleManager());
  std::vector<std::unique_ptr<Module>> all = std::move(modules);
  modules.clear();
  for (auto& m : all) {
    if (!opened.contains(m->name())) {
      mgr->absent_.push_back(std::move(m));
    } else {
      modules.push_back(std::move(m));
    }
  }
  std::map<std::string, int, std::less<>> mark;  // 1: on the path, 2: placed
  std::vector<std::unique_ptr<Module>> pool = std::move(modules);
  std::map<std::string, size_t, std::less<>> index;
  for (size_t i = 0; i < pool.size(); ++i) index[std::string(pool[i]->name())] = i;
  std::function<Status(size_t, std::string)> visit = [&](size_t i, std::string path) -> Status {
    if (!pool[i]) return Status::Ok();  // placed already
    std::string name(pool[i]->name());
    if (mark[name] == 1) return Status::Internal("modules need each other in a cycle: " + path + " -> " + name);
    mark[name] = 1;
    for (std::string_view need : pool[i]->needs()) {
      AIMASS_RETURN_IF_ERROR(visit(index.find(need)->second, path.empty() ? name : path + " -> " + name));
    }
    auto e = std::make_unique<Entry>();
    e->served = served.contains(name);
    e->module = std::move(pool[i]);
    mgr->entries_.push_back(std::move(e));
    mark[name] = 2;
    return Status::Ok();
  };
  for (size_t i = 0; i < pool.size(); ++i) AIMASS_RETURN_IF_ERROR(visit(i, ""));
  return mgr;
}

ModuleManager::~ModuleManager() {
  Stop();
  // Reverse order: a module goes before the modules it uses.
  while (!entries_.empty()) entries_.pop_back();
}

std::vector<Module*> ModuleManager::modules() const {
  std::vector<Module*> out;
  for (const auto& e : entries_) {
    if (e->served) out.push_back(e->module.get());
  }
  return out;
}

std::vector<std::string> ModuleManager::libraries() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (!e->served) out.emplace_back(e->module->name());
  }
  return out;
}

std::vector<std::string> ModuleManager::AbsentBlobKeepers() const {
  std::vector<std::string> out;
  for (const auto& m : absent_) {
    if (m->keeps_blobs()) out.emplace_back(m->name());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ModuleManager::RemotePaths() const {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const Module& m) {
    for (std::string_view p : m.paths()) out.emplace_back(std::string(p), std::string(m.name()));
  };
  for (const auto& m : absent_) add(*m);
  for (const auto& e : entries_) {
    if (!e->served) add(*e->module);
  }
  return out;
}

std::vector<storage::Migration> ModuleManager::Migrations() const {
  std::vector<storage::Migration> out;
  for (const auto& e : entries_) {
    for (auto& m : e->module->Migrations()) out.push_back(std::move(m));
  }
  return out;
}

Module* ModuleManager::Find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e->module->name() == name) return e->module.get();
  }
  return nullptr;
}

Status ModuleManager::Open(const config::Config& config, storage::Db& db, std::shared_ptr<prometheus::Registry> metrics,
                           Hooks& hooks) {
  for (const auto& e : entries_) {
    Module* self = e->module.get();
    std::vector<std::string_view> needs = self->needs();
    Context ctx(config, db, metrics, hooks, [this, needs](std::string_view name) -> Module* {
      if (std::find(needs.begin(), needs.end(), name) == needs.end()) return nullptr;
      return Find(name);
    });
    Status st = self->Open(ctx);
    if (!st.ok()) return Status(st.code(), std::string(self->name()) + ": " + st.message());
    e->state = kOpen;
  }
  return Status::Ok();
}

Status ModuleManager::RegisterRoutes(http::Router& router) {
  for (const auto& e : entries_) {
    if (e->served) AIMASS_RETURN_IF_ERROR(e->module->RegisterRoutes(router));
  }
  return Status::Ok();
}

Status ModuleManager::Start() {
  for (const auto& e : entries_) {
    Status st = e->served ? e->module->Start() : Status::Ok();  // a library does no background work
    if (!st.ok()) return Status(st.code(), std::string(e->module->name()) + ": " + st.message());
    e->state = kStarted;
  }
  return Status::Ok();
}

void ModuleManager::Drain() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    int state = (*it)->state.load();
    if (state != kOpen && state != kStarted) continue;
    (*it)->module->Drain();
    (*it)->state = kDraining;
  }
}

void ModuleManager::Stop() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    int state = (*it)->state.load();
    if (state == kNew || state == kStopped) continue;
    (*it)->module->Stop();
    (*it)->state = kStopped;
  }
}

std::vector<std::pair<std::string, std::string>> ModuleManager::Readiness(bool* all_ready) const {
  std::vector<std::pair<std::string, std::string>> out;
  bool all = true;
  for (const auto& e : entries_) {
    std::string state;
    switch (e->state.load()) {
      case kNew:
      case kOpen: state = "starting"; break;
      case kDraining: state = "stopping"; break;
      case kStopped: state = "stopped"; break;
      default: {
        Status health = e->module->Health();
        state = health.ok() ? "ready" : health.message();
      }
    }
    if (state != "ready") all = false;
    out.emplace_back(std::string(e->module->name()), std::move(state));
  }
  if (all_ready) *all_ready = all;
  return out;
}

}  // namespace aimass::module
