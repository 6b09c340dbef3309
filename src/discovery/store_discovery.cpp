#include "discovery/discovery.hpp"

#include <nlohmann/json.hpp>

#include "common/random.hpp"
#include "common/time.hpp"

namespace aimass::discovery {

std::vector<storage::Migration> Discovery::Migrations() {
  return {{"gateway", 3, R"sql(
CREATE TABLE gateway_instances (
  service TEXT NOT NULL,
  id TEXT NOT NULL,
  url TEXT NOT NULL,
  weight INTEGER NOT NULL,
  ttl_s INTEGER NOT NULL,
  registered_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (service, id)
);
CREATE UNIQUE INDEX gateway_instances_url ON gateway_instances (service, url);
CREATE INDEX gateway_instances_expiry ON gateway_instances (expires_at);
)sql"}};
}

nlohmann::json ToJson(const Instance& i) {
  return {{"service", i.service}, {"id", i.id},       {"url", i.url},
          {"weight", i.weight},   {"ttl_s", i.ttl_s}, {"registered_at", i.registered_at},
          {"expires_at", i.expires_at}};
}

namespace {

constexpr const char* kColumns = "service, id, url, weight, ttl_s, registered_at, expires_at";

Instance FromRow(const storage::Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), static_cast<int>(r.Int(3)), r.Int(4), r.Int(5), r.Int(6)};
}

class StoreDiscovery : public Discovery {
 public:
  explicit StoreDiscovery(storage::Db& db) : db_(db) {}

  Result<Instance> Register(Instance in) override {
    int64_t now = UnixNowMs();
    in.expires_at = now + in.ttl_s * 1000;
    Status st = db_.Transaction([&](storage::Tx& tx) -> Status {
      AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query(std::string("SELECT ") + kColumns +
                                                      " FROM gateway_instances WHERE service = ? AND url = ?",
                                                  {in.service, in.url}));
      if (!rows.empty()) {
        // The same instance registering again (a restart): keep its id, renew it.
        in.id = rows[0].Text(1);
        in.registered_at = rows[0].Int(5);
        return tx.Exec("UPDATE gateway_instances SET weight = ?, ttl_s = ?, expires_at = ? WHERE service = ? AND id = ?",
                       {int64_t{in.weight}, in.ttl_s, in.expires_at, in.service, in.id})
            .status();
      }
      in.id = "i-" + RandomHex(8);
      in.registered_at = now;
      return tx.Exec(std::string("INSERT INTO gateway_instances (") + kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {in.service, in.id, in.url, int64_t{in.weight}, in.ttl_s, in.registered_at, in.expires_at})
          .status();
    });
    if (!st.ok()) return st;
    return in;
  }

  Result<Instance> Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s) override {
    int64_t now = UnixNowMs();
    Instance out;
    Status st = db_.Transaction([&](storage::Tx& tx) -> Status {
      AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query(std::string("SELECT ") + kColumns +
                                                      " FROM gateway_instances WHERE service = ? AND id = ? AND expires_at > ?",
                                                  {service, id, now}));
      if (rows.empty()) return Status::NotFound("instance '" + id + "' of service '" + service + "' is not registered (or expired)");
      out = FromRow(rows[0]);
      if (ttl_s) out.ttl_s = *ttl_s;
      out.expires_at = now + out.ttl_s * 1000;
      return tx.Exec("UPDATE gateway_instances SET ttl_s = ?, expires_at = ? WHERE service = ? AND id = ?",
                     {out.ttl_s, out.expires_at, service, id})
          .status();
    });
    if (!st.ok()) return st;
    return out;
  }

  Status Deregister(const std::string& service, const std::string& id) override {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM gateway_instances WHERE service = ? AND id = ?", {service, id}));
    if (n == 0) return Status::NotFound("instance '" + id + "' of service '" + service + "' is not registered");
    return Status::Ok();
  }

  Result<std::vector<Instance>> Instances(const std::optional<std::string>& service) override {
    int64_t now = UnixNowMs();
    std::string sql = std::string("SELECT ") + kColumns + " FROM gateway_instances WHERE expires_at > ?";
    std::vector<storage::Value> params = {now};
    if (service) {
      sql += " AND service = ?";
      params.emplace_back(*service);
    }
    AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql + " ORDER BY service, registered_at, id", params));
    std::vector<Instance> out;
    for (const auto& r : rows) out.push_back(FromRow(r));
    return out;
  }

  Result<bool> Expire(int64_t now_ms) override {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM gateway_instances WHERE expires_at <= ?", {now_ms}));
    return n > 0;
  }

  std::string name() const override { return "store"; }

 private:
  storage::Db& db_;
};

}  // namespace

std::unique_ptr<Discovery> MakeStoreDiscovery(storage::Db& db) { return std::make_unique<StoreDiscovery>(db); }

}  // namespace aimass::discovery
