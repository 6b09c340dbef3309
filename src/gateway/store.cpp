#include "gateway/store.hpp"

#include <nlohmann/json.hpp>

#include "common/time.hpp"

namespace aimass::gateway {

using Json = nlohmann::json;

std::vector<storage::Migration> GatewayStore::Migrations() {
  return {{"gateway", 1, R"sql(
CREATE TABLE gateway_upstreams (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE gateway_routes (
  name TEXT PRIMARY KEY,
  upstream TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX gateway_routes_upstream ON gateway_routes (upstream);
)sql"},
          {"gateway", 2, R"sql(
CREATE TABLE gateway_consumers (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE gateway_consumer_secrets (
  id TEXT PRIMARY KEY,
  consumer TEXT NOT NULL,
  kind TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE INDEX gateway_consumer_secrets_consumer ON gateway_consumer_secrets (consumer);
)sql"}};
}

std::string_view Name(RouteMode v) {
  switch (v) {
    case RouteMode::kActive: return "active";
    case RouteMode::kPaused: return "paused";
    case RouteMode::kDegraded: return "degraded";
  }
  return "";
}

Json ToJson(const RouteState& s) {
  Json j = {{"mode", Name(s.mode)}, {"changed_at", s.changed_at}, {"reason", s.reason}};
  if (s.mode == RouteMode::kPaused) j["retry_after_s"] = s.retry_after_s;
  if (s.mode == RouteMode::kDegraded) j["fallback"] = ToJson(s.fallback);
  return j;
}

Result<RouteState> ParseRouteState(const Json& j) {
  RouteState s;
  if (!j.is_object()) return s;
  std::string mode = j.value("mode", "active");
  s.mode = mode == "paused" ? RouteMode::kPaused : mode == "degraded" ? RouteMode::kDegraded : RouteMode::kActive;
  s.retry_after_s = j.value("retry_after_s", int64_t{30});
  s.reason = j.value("reason", "");
  s.changed_at = j.value("changed_at", int64_t{0});
  if (auto f = j.find("fallback"); f != j.end() && f->is_object()) {
    AIMASS_ASSIGN_OR_RETURN(s.fallback, ParseFallback(*f));
  }
  return s;
}

namespace {

// Inserts `o` into `table` (as its JSON spec, with `extra` columns beside it) or, unless
// `must_create`, replaces the row of its name; sets its created_at (kept on replace) and
// updated_at. `kind` names it in the conflict message.
template <typename T, typename Render>
Status Upsert(storage::Tx& tx, const std::string& table, const char* kind, T& o, bool must_create, Render render,
              const std::vector<std::pair<std::string, storage::Value>>& extra = {}) {
  int64_t now = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT created_at FROM " + table + " WHERE name = ?", {o.name}));
  if (!rows.empty() && must_create) return Status::Conflict(std::string(kind) + " '" + o.name + "' exists");
  o.created_at = rows.empty() ? now : rows[0].Int(0);
  o.updated_at = now;
  Json spec = render(o);
  spec.erase("created_at");
  spec.erase("updated_at");
  std::vector<storage::Value> values;
  std::string columns, marks, sets;
  for (const auto& [column, value] : extra) {
    columns += ", " + column;
    marks += ", ?";
    sets += column + " = ?, ";
    values.push_back(value);
  }
  if (rows.empty()) {
    values.insert(values.begin(), o.name);
    for (storage::Value v : {storage::Value(spec.dump()), storage::Value(now), storage::Value(now)}) values.push_back(v);
    return tx.Exec("INSERT INTO " + table + " (name" + columns + ", spec, created_at, updated_at) VALUES (?" + marks +
                       ", ?, ?, ?)",
                   values)
        .status();
  }
  for (storage::Value v : {storage::Value(spec.dump()), storage::Value(now), storage::Value(o.name)}) values.push_back(v);
  return tx.Exec("UPDATE " + table + " SET " + sets + "spec = ?, updated_at = ? WHERE name = ?", values).status();
}

}  // namespace

Result<std::vector<UpstreamSpec>> GatewayStore::Upstreams() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT spec, created_at, updated_at FROM gateway_upstreams ORDER BY name"));
  std::vector<UpstreamSpec> out;
  for (const auto& r : rows) {
    auto parsed = ParseUpstream(Json::parse(r.Text(0), nullptr, false));
    if (!parsed.ok()) return Status::Internal("stored upstream is unreadable: " + parsed.status().message());
    parsed->created_at = r.Int(1);
    parsed->updated_at = r.Int(2);
    out.push_back(std::move(*parsed));
  }
  return out;
}

Result<std::vector<std::pair<RouteSpec, RouteState>>> GatewayStore::Routes() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT spec, state, created_at, updated_at FROM gateway_routes ORDER BY name"));
  std::vector<std::pair<RouteSpec, RouteState>> out;
  for (const auto& r : rows) {
    auto parsed = ParseRoute(Json::parse(r.Text(0), nullptr, false));
    if (!parsed.ok()) return Status::Internal("stored route is unreadable: " + parsed.status().message());
    parsed->created_at = r.Int(2);
    parsed->updated_at = r.Int(3);
    AIMASS_ASSIGN_OR_RETURN(auto state, ParseRouteState(Json::parse(r.Text(1), nullptr, false)));
    out.emplace_back(std::move(*parsed), std::move(state));
  }
  return out;
}

Result<UpstreamSpec> GatewayStore::PutUpstream(UpstreamSpec u, bool must_create) {
  Status st = db_.Transaction([&](storage::Tx& tx) {
    return Upsert(tx, "gateway_upstreams", "upstream", u, must_create, [](const UpstreamSpec& x) { return ToJson(x); });
  });
  if (!st.ok()) return st;
  return u;
}

Status GatewayStore::DeleteUpstream(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto users, tx.Query("SELECT name FROM gateway_routes WHERE upstream = ? LIMIT 1", {name}));
    if (!users.empty()) {
      return Status::Conflict("upstream '" + name + "' is used by route '" + users[0].Text(0) + "'");
    }
    AIMASS_ASSIGN_OR_RETURN(auto state_users, tx.Query("SELECT name, state, spec FROM gateway_routes"));
    for (const auto& r : state_users) {
      auto state = ParseRouteState(Json::parse(r.Text(1), nullptr, false));
      Json spec = Json::parse(r.Text(2), nullptr, false);
      bool circuit_fallback = spec.is_object() && spec.contains("fallback") && spec["fallback"].is_object() &&
                              spec["fallback"].value("upstream", "") == name;
      if ((state.ok() && state->mode == RouteMode::kDegraded && state->fallback.upstream == name) || circuit_fallback) {
        return Status::Conflict("upstream '" + name + "' is the fallback of route '" + r.Text(0) + "'");
      }
    }
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM gateway_upstreams WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("upstream '" + name + "' not found");
    return Status::Ok();
  });
}

Result<RouteSpec> GatewayStore::PutRoute(RouteSpec r, bool must_create) {
  Status st = db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const std::string* name : {&r.upstream, r.fallback ? &r.fallback->upstream : nullptr}) {
      if (!name || name->empty()) continue;
      AIMASS_ASSIGN_OR_RETURN(auto up, tx.Query("SELECT 1 FROM gateway_upstreams WHERE name = ?", {*name}));
      if (up.empty()) return Status::BadRequest("upstream '" + *name + "' does not exist");
    }
    return Upsert(tx, "gateway_routes", "route", r, must_create, [](const RouteSpec& x) { return ToJson(x); },
                  {{"upstream", r.upstream}});
  });
  if (!st.ok()) return st;
  return r;
}

Status GatewayStore::DeleteRoute(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM gateway_routes WHERE name = ?", {name}));
  if (n == 0) return Status::NotFound("route '" + name + "' not found");
  return Status::Ok();
}

Status GatewayStore::SetRouteState(const std::string& name, const RouteState& state) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    if (!state.fallback.upstream.empty()) {
      AIMASS_ASSIGN_OR_RETURN(auto up, tx.Query("SELECT 1 FROM gateway_upstreams WHERE name = ?", {state.fallback.upstream}));
      if (up.empty()) return Status::BadRequest("fallback upstream '" + state.fallback.upstream + "' does not exist");
    }
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE gateway_routes SET state = ? WHERE name = ?", {ToJson(state).dump(), name}));
    if (n == 0) return Status::NotFound("route '" + name + "' not found");
    return Status::Ok();
  });
}

Result<std::vector<ConsumerSpec>> GatewayStore::Consumers() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT spec, created_at, updated_at FROM gateway_consumers ORDER BY name"));
  std::vector<ConsumerSpec> out;
  for (const auto& r : rows) {
    auto parsed = ParseConsumer(Json::parse(r.Text(0), nullptr, false));
    if (!parsed.ok()) return Status::Internal("stored consumer is unreadable: " + parsed.status().message());
    parsed->created_at = r.Int(1);
    parsed->updated_at = r.Int(2);
    out.push_back(std::move(*parsed));
  }
  return out;
}

Result<ConsumerSpec> GatewayStore::PutConsumer(ConsumerSpec c, bool must_create) {
  Status st = db_.Transaction([&](storage::Tx& tx) {
    return Upsert(tx, "gateway_consumers", "consumer", c, must_create, [](const ConsumerSpec& x) { return ToJson(x, true); });
  });
  if (!st.ok()) return st;
  return c;
}

Status GatewayStore::DeleteConsumer(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM gateway_consumers WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("consumer '" + name + "' not found");
    return tx.Exec("DELETE FROM gateway_consumer_secrets WHERE consumer = ?", {name}).status();
  });
}

Status GatewayStore::AddSecret(const SecretRecord& r) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto c, tx.Query("SELECT 1 FROM gateway_consumers WHERE name = ?", {r.consumer}));
    if (c.empty()) return Status::NotFound("consumer '" + r.consumer + "' not found");
    return tx.Exec("INSERT INTO gateway_consumer_secrets (id, consumer, kind, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                   {r.id, r.consumer, r.kind, r.hash, r.created_at})
        .status();
  });
}

Result<std::vector<GatewayStore::SecretRecord>> GatewayStore::Secrets() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, consumer, kind, hash, created_at FROM gateway_consumer_secrets ORDER BY created_at, id"));
  std::vector<SecretRecord> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
  return out;
}

Status GatewayStore::DeleteSecret(const std::string& consumer, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM gateway_consumer_secrets WHERE consumer = ? AND id = ?", {consumer, id}));
  if (n == 0) return Status::NotFound("no key or client '" + id + "' for consumer '" + consumer + "'");
  return Status::Ok();
}

}  // namespace aimass::gateway
