// Discovery on etcd v3 through its HTTP/JSON gateway (/v3/kv/*, /v3/lease/*), so that no etcd
// client library is needed. An instance is the key <prefix><service>/<id> holding its JSON,
// attached to a lease of its TTL: a heartbeat is a lease keep-alive, and when a process dies
// etcd revokes the lease and the key with it. Keys and values travel base64-encoded, as the
// gateway's JSON mapping of bytes fields wants.
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>

#include "common/random.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "discovery/discovery.hpp"
#include "http/client.hpp"

namespace aimass::discovery {
namespace {

using Json = nlohmann::json;

// The end of the key range that holds every key starting with `prefix` (etcd's range_end).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// etcd's JSON renders 64-bit integers as strings.
int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) return std::atoll(it->get<std::string>().c_str());
  return 0;
}

class EtcdDiscovery : public Discovery {
 public:
  explicit EtcdDiscovery(EtcdOptions o) : options_(std::move(o)) {}

  // One call to the first endpoint that answers; the next one is tried when it cannot be
  // reached, and the one that answered is tried first next time.
  Result<Json> Call(const std::string& path, const Json& body) {
    Status last = Status::Unavailable("no etcd endpoint configured");
    size_t n = options_.endpoints.size();
    size_t first = preferred_.load();
    for (size_t k = 0; k < n; ++k) {
      size_t i = (first + k) % n;
      http::ClientRequest req;
      req.method = http::Method::kPost;
      req.url = options_.endpoints[i] + path;
      req.headers = {{"Content-Type", "application/json"}};
      req.body = body.dump();
      req.timeout = std::chrono::milliseconds(options_.timeout_ms);
      auto resp = client_.Send(req);
      if (!resp.ok()) {
        last = Status::Unavailable("etcd " + options_.endpoints[i] + ": " + resp.status().message());
        continue;
      }
      preferred_ = i;
      Json j = Json::parse(resp->body, nullptr, false);
      if (resp->status != 200 || j.is_discarded()) {
        std::string msg = j.is_object() ? j.value("message", j.value("error", std::string())) : std::string();
        if (msg.find("requested lease not found") != std::string::npos) return Status::NotFound("lease expired");
        return Status::Unavailable("etcd " + path + " answered " + std::to_string(resp->status) + ": " +
                                   msg.substr(0, 200));
      }
      return j;
    }
    return last;
  }

  std::string Key(const std::string& service, const std::string& id) const {
    return options_.prefix + service + "/" + id;
  }

  Result<Instance> Register(Instance in) override {
    if (in.service.empty() || in.url.empty()) return Status::BadRequest("an instance needs a service and a url");
    if (in.ttl_s < 1) in.ttl_s = 30;
    // The same URL registered again renews its instance, as the store's discovery does.
    AIMASS_ASSIGN_OR_RETURN(auto existing, Instances(in.service));
    for (const auto& e : existing) {
      if (e.url == in.url) {
        in.id = e.id;
        in.registered_at = e.registered_at;
      }
    }
    if (in.id.empty()) in.id = RandomHex(8);
    if (in.registered_at == 0) in.registered_at = UnixNowMs();
    AIMASS_ASSIGN_OR_RETURN(Json grant, Call("/v3/lease/grant", {{"TTL", in.ttl_s}}));
    std::string lease = std::to_string(Int(grant, "ID"));
    in.expires_at = UnixNowMs() + in.ttl_s * 1000;
    Json value = ToJson(in);
    value["lease"] = lease;
    AIMASS_RETURN_IF_ERROR(
        Call("/v3/kv/put", {{"key", Base64Encode(Key(in.service, in.id))}, {"value", Base64Encode(value.dump())}, {"lease", lease}})
            .status());
    return in;
  }

  Result<Instance> Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s) override {
    AIMASS_ASSIGN_OR_RETURN(auto found, Get(service, id));
    if (!found) return Status::NotFound("no instance '" + id + "' of service '" + service + "'");
    auto& [in, lease] = *found;
    if (ttl_s && *ttl_s != in.ttl_s) {
      // A new TTL is a new lease: register again under the same id.
      in.ttl_s = *ttl_s;
      return Register(in);
    }
    AIMASS_ASSIGN_OR_RETURN(Json kept, Call("/v3/lease/keepalive", {{"ID", lease}}));
    const Json& result = kept.contains("result") ? kept["result"] : kept;
    if (Int(result, "TTL") <= 0) return Status::NotFound("instance '" + id + "' of service '" + service + "' expired");
    in.expires_at = UnixNowMs() + in.ttl_s * 1000;
    return in;
  }

  Status Deregister(const std::string& service, const std::string& id) override {
    AIMASS_ASSIGN_OR_RETURN(auto found, Get(service, id));
    if (!found) return Status::NotFound("no instance '" + id + "' of service '" + service + "'");
    AIMASS_RETURN_IF_ERROR(Call("/v3/kv/deleterange", {{"key", Base64Encode(Key(service, id))}}).status());
    (void)Call("/v3/lease/revoke", {{"ID", found->second}});
    return Status::Ok();
  }

  Result<std::vector<Instance>> Instances(const std::optional<std::string>& service) override {
    std::string prefix = service ? options_.prefix + *service + "/" : options_.prefix;
    AIMASS_ASSIGN_OR_RETURN(Json r, Call("/v3/kv/range", {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}}));
    std::vector<Instance> out;
    if (!r.contains("kvs") || !r["kvs"].is_array()) return out;
    for (const auto& kv : r["kvs"]) {
      Json v = Json::parse(Base64Decode(kv.value("value", std::string())).value_or(""), nullptr, false);
      if (!v.is_object()) continue;
      auto in = FromJson(v);
      if (in) out.push_back(std::move(*in));
    }
    return out;
  }

  // etcd expires leases itself.
  Result<bool> Expire(int64_t) override { return false; }
  std::string name() const override { return "etcd"; }

 private:
  static std::optional<Instance> FromJson(const Json& v) {
    Instance in;
    in.service = v.value("service", std::string());
    in.id = v.value("id", std::string());
    in.url = v.value("url", std::string());
    in.weight = v.value("weight", 100);
    in.ttl_s = v.value("ttl_s", int64_t{30});
    in.registered_at = v.value("registered_at", int64_t{0});
    in.expires_at = v.value("expires_at", int64_t{0});
    if (in.service.empty() || in.id.empty() || in.url.empty()) return std::nullopt;
    return in;
  }

  // The instance and its lease id, or nothing.
  Result<std::optional<std::pair<Instance, std::string>>> Get(const std::string& service, const std::string& id) {
    AIMASS_ASSIGN_OR_RETURN(Json r, Call("/v3/kv/range", {{"key", Base64Encode(Key(service, id))}}));
    if (!r.contains("kvs") || !r["kvs"].is_array() || r["kvs"].empty()) {
      return std::optional<std::pair<Instance, std::string>>();
    }
    Json v = Json::parse(Base64Decode(r["kvs"][0].value("value", std::string())).value_or(""), nullptr, false);
    if (!v.is_object()) return std::optional<std::pair<Instance, std::string>>();
    auto in = FromJson(v);
    if (!in) return std::optional<std::pair<Instance, std::string>>();
    std::string lease = std::to_string(Int(r["kvs"][0], "lease"));
    return std::optional<std::pair<Instance, std::string>>(std::make_pair(*in, lease));
  }

  EtcdOptions options_;
  http::Client client_;
  std::atomic<size_t> preferred_{0};
};

}  // namespace

Result<std::unique_ptr<Discovery>> MakeEtcdDiscovery(EtcdOptions options) {
  if (options.endpoints.empty()) return Status::BadRequest("cluster.etcd_endpoints is empty");
  for (auto& e : options.endpoints) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    AIMASS_RETURN_IF_ERROR(http::ParseUrl(e + "/").status());
  }
  auto d = std::make_unique<EtcdDiscovery>(std::move(options));
  // Reachable now, or the process says so at start rather than at its first heartbeat.
  AIMASS_RETURN_IF_ERROR(d->Instances(std::nullopt).status());
  return std::unique_ptr<Discovery>(std::move(d));
}

}  // namespace aimass::discovery
