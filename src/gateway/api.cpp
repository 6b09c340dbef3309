#include "gateway/api.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "auth/jwt.hpp"
#include "common/name.hpp"
#include "http/json.hpp"

namespace aimass::gateway {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Json RouteJson(const RouteSpec& spec, const RouteState& state) {
  Json j = ToJson(spec);
  j["state"] = ToJson(state);
  return j;
}

// The body of PUT …/{name}: the name comes from the URL (a body naming another is refused).
Result<Json> NamedBody(const Request& req) {
  AIMASS_ASSIGN_OR_RETURN(Json body, http::ParseJsonObject(req));
  std::string name = req.Param("name");
  if (auto it = body.find("name"); it != body.end() && (!it->is_string() || it->get<std::string>() != name)) {
    return Status::BadRequest("the body's name differs from the URL's");
  }
  body["name"] = name;
  return body;
}

// degrade: a fallback ({"status","body","content_type"} or {"upstream"}) and a "reason" for
// the record.
Result<RouteState> ParseDegrade(Json body) {
  RouteState s;
  s.mode = RouteMode::kDegraded;
  AIMASS_ASSIGN_OR_RETURN(auto reason, http::OptionalString(body, "reason"));
  s.reason = reason.value_or("");
  body.erase("reason");
  AIMASS_ASSIGN_OR_RETURN(s.fallback, ParseFallback(body));
  return s;
}

// RFC 6749 §5.2: OAuth clients read {"error": "<code>", "error_description": "…"}.
Response OAuthError(int status, const std::string& code, const std::string& description) {
  Response r = http::JsonResponse(status, {{"error", code}, {"error_description", description}});
  r.headers.Set("Cache-Control", "no-store");
  if (status == 401) r.headers.Set("WWW-Authenticate", "Basic realm=\"aimass\"");
  return r;
}

// application/x-www-form-urlencoded: name=value&… (also accepts a JSON object).
std::map<std::string, std::string> FormFields(const Request& req) {
  std::map<std::string, std::string> out;
  std::string_view type = req.headers.Get("Content-Type").value_or("");
  if (type.starts_with("application/json")) {
    Json j = Json::parse(req.body, nullptr, false);
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) {
        if (v.is_string()) out[k] = v.get<std::string>();
      }
    }
    return out;
  }
  std::string_view body = req.body;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq)), value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    for (auto* s : {&name, &value}) std::replace(s->begin(), s->end(), '+', ' ');
    auto n = http::PercentDecode(name), v = http::PercentDecode(value);
    if (n && v) out[*n] = *v;
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

Status RegisterRoutes(http::Router& router, Gateway& gateway) {
  Gateway& g = gateway;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "gateway", std::move(summary), std::move(h)));
  };

  // -- upstreams --------------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/gateway/upstreams", "gateway:write", "Create an upstream (weighted targets, balancing rule)",
      [&g](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(UpstreamSpec spec, ParseUpstream(body));
        HTTP_TRY(UpstreamSpec stored, g.PutUpstream(std::move(spec), true));
        Response r = http::JsonResponse(201, ToJson(stored));
        r.headers.Set("Location", "/api/v1/gateway/upstreams/" + stored.name);
        return r;
      });
  add(Method::kGet, "/api/v1/gateway/upstreams", "gateway:read", "List upstreams", [&g](Request& req) -> Response {
    HTTP_TRY(auto all, g.Upstreams());
    Json list = Json::array();
    for (const auto& u : all) list.push_back(ToJson(u));
    return http::JsonResponse(200, {{"upstreams", list}});
  });
  add(Method::kGet, "/api/v1/gateway/upstreams/{name}", "gateway:read", "Show an upstream", [&g](Request& req) -> Response {
    HTTP_TRY(UpstreamSpec u, g.Upstream(req.Param("name")));
    return http::JsonResponse(200, ToJson(u));
  });
  add(Method::kPut, "/api/v1/gateway/upstreams/{name}", "gateway:write", "Create or replace an upstream; takes effect at once",
      [&g](Request& req) -> Response {
        HTTP_TRY(Json body, NamedBody(req));
        HTTP_TRY(UpstreamSpec spec, ParseUpstream(body));
        HTTP_TRY(UpstreamSpec stored, g.PutUpstream(std::move(spec), false));
        return http::JsonResponse(200, ToJson(stored));
      });
  add(Method::kDelete, "/api/v1/gateway/upstreams/{name}", "gateway:write", "Delete an upstream no route uses",
      [&g](Request& req) -> Response {
        HTTP_TRY_STATUS(g.DeleteUpstream(req.Param("name")));
        return http::NoContent();
      });
  add(Method::kGet, "/api/v1/gateway/upstreams/{name}/health", "gateway:read",
      "Per target: requests in flight, latency average, passive ejection", [&g](Request& req) -> Response {
        HTTP_TRY(Json health, g.UpstreamHealth(req.Param("name")));
        health["name"] = req.Param("name");
        return http::JsonResponse(200, health);
      });

  // -- routes -----------------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/gateway/routes", "gateway:write", "Create a route (hosts, paths, methods, headers → upstream)",
      [&g](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(RouteSpec spec, ParseRoute(body));
        HTTP_TRY(RouteSpec stored, g.PutRoute(std::move(spec), true));
        Response r = http::JsonResponse(201, RouteJson(stored, RouteState{}));
        r.headers.Set("Location", "/api/v1/gateway/routes/" + stored.name);
        return r;
      });
  add(Method::kGet, "/api/v1/gateway/routes", "gateway:read", "List routes with their state", [&g](Request& req) -> Response {
    HTTP_TRY(auto all, g.Routes());
    Json list = Json::array();
    for (const auto& [spec, state] : all) list.push_back(RouteJson(spec, state));
    return http::JsonResponse(200, {{"routes", list}});
  });
  add(Method::kGet, "/api/v1/gateway/routes/{name}", "gateway:read", "Show a route and its state", [&g](Request& req) -> Response {
    HTTP_TRY(auto r, g.Route(req.Param("name")));
    return http::JsonResponse(200, RouteJson(r.first, r.second));
  });
  add(Method::kPut, "/api/v1/gateway/routes/{name}", "gateway:write", "Create or replace a route; takes effect at once",
      [&g](Request& req) -> Response {
        HTTP_TRY(Json body, NamedBody(req));
        HTTP_TRY(RouteSpec spec, ParseRoute(body));
        HTTP_TRY(RouteSpec stored, g.PutRoute(std::move(spec), false));
        HTTP_TRY(auto now, g.Route(stored.name));
        return http::JsonResponse(200, RouteJson(now.first, now.second));
      });
  add(Method::kDelete, "/api/v1/gateway/routes/{name}", "gateway:write", "Delete a route", [&g](Request& req) -> Response {
    HTTP_TRY_STATUS(g.DeleteRoute(req.Param("name")));
    return http::NoContent();
  });
  add(Method::kPost, "/api/v1/gateway/routes/{name}/pause", "gateway:write",
      "Pause a route: 503 with Retry-After until resumed ({\"retry_after_s\", \"reason\"})", [&g](Request& req) -> Response {
        Json body = Json::object();
        if (!req.body.empty()) {
          HTTP_TRY(body, http::ParseJsonObject(req));
        }
        HTTP_TRY(auto retry, http::OptionalInt(body, "retry_after_s"));
        HTTP_TRY(auto reason, http::OptionalString(body, "reason"));
        RouteState s;
        s.mode = RouteMode::kPaused;
        s.retry_after_s = retry.value_or(30);
        if (s.retry_after_s < 1 || s.retry_after_s > 86400) {
          return http::ErrorResponse(Status::BadRequest("'retry_after_s' must be 1..86400"), req.request_id);
        }
        s.reason = reason.value_or("");
        HTTP_TRY(RouteState st, g.SetRouteState(req.Param("name"), s));
        return http::JsonResponse(200, ToJson(st));
      });
  add(Method::kPost, "/api/v1/gateway/routes/{name}/resume", "gateway:write", "Resume a paused or degraded route",
      [&g](Request& req) -> Response {
        HTTP_TRY(RouteState st, g.SetRouteState(req.Param("name"), RouteState{}));
        return http::JsonResponse(200, ToJson(st));
      });
  add(Method::kPost, "/api/v1/gateway/routes/{name}/degrade", "gateway:write",
      "Degrade a route to a static answer ({\"status\",\"body\",\"content_type\"}) or another upstream ({\"upstream\"})",
      [&g](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(RouteState s, ParseDegrade(body));
        HTTP_TRY(RouteState st, g.SetRouteState(req.Param("name"), s));
        return http::JsonResponse(200, ToJson(st));
      });

  // -- service discovery ------------------------------------------------------------------------
  auto parse_instance = [](const Request& req) -> Result<Instance> {
    AIMASS_ASSIGN_OR_RETURN(Json body, http::ParseJsonObject(req));
    for (const auto& [k, _] : body.items()) {
      if (k != "url" && k != "weight" && k != "ttl_s") return Status::BadRequest("instance: unknown member '" + k.substr(0, 64) + "'");
    }
    Instance in;
    in.service = req.Param("name");
    AIMASS_RETURN_IF_ERROR(ValidateName("service", in.service, 128));
    // The same checks as an upstream's target.
    AIMASS_ASSIGN_OR_RETURN(in.url, http::RequiredString(body, "url"));
    AIMASS_ASSIGN_OR_RETURN(auto weight, http::OptionalInt(body, "weight"));
    AIMASS_ASSIGN_OR_RETURN(auto ttl, http::OptionalInt(body, "ttl_s"));
    Json probe = {{"name", "probe"}, {"targets", {{{"url", in.url}, {"weight", weight.value_or(100)}}}}};
    AIMASS_ASSIGN_OR_RETURN(UpstreamSpec checked, ParseUpstream(probe));
    in.url = checked.targets[0].url;
    in.weight = checked.targets[0].weight;
    in.ttl_s = ttl.value_or(30);
    if (in.ttl_s < 1 || in.ttl_s > 86400) return Status::BadRequest("'ttl_s' must be 1..86400");
    return in;
  };
  add(Method::kPost, "/api/v1/gateway/services/{name}/instances", "gateway:register",
      "Register an instance of a service ({\"url\", \"weight\", \"ttl_s\"}); renew it with heartbeats",
      [&g, parse_instance](Request& req) -> Response {
        HTTP_TRY(Instance in, parse_instance(req));
        HTTP_TRY(Instance stored, g.RegisterInstance(std::move(in)));
        return http::JsonResponse(201, ToJson(stored));
      });
  add(Method::kPut, "/api/v1/gateway/services/{name}/instances/{id}", "gateway:register",
      "Heartbeat: renew an instance's TTL (optionally {\"ttl_s\"}); 404 once it has expired", [&g](Request& req) -> Response {
        Json body = Json::object();
        if (!req.body.empty()) {
          HTTP_TRY(body, http::ParseJsonObject(req));
        }
        HTTP_TRY(auto ttl, http::OptionalInt(body, "ttl_s"));
        if (ttl && (*ttl < 1 || *ttl > 86400)) {
          return http::ErrorResponse(Status::BadRequest("'ttl_s' must be 1..86400"), req.request_id);
        }
        HTTP_TRY(Instance in, g.Heartbeat(req.Param("name"), req.Param("id"), ttl));
        return http::JsonResponse(200, ToJson(in));
      });
  add(Method::kDelete, "/api/v1/gateway/services/{name}/instances/{id}", "gateway:register", "Deregister an instance",
      [&g](Request& req) -> Response {
        HTTP_TRY_STATUS(g.Deregister(req.Param("name"), req.Param("id")));
        return http::NoContent();
      });
  add(Method::kGet, "/api/v1/gateway/services", "gateway:read", "Services with their live instances", [&g](Request& req) -> Response {
    HTTP_TRY(auto all, g.Instances(std::nullopt));
    std::map<std::string, Json> by_service;
    for (const auto& in : all) by_service[in.service].push_back(ToJson(in));
    Json list = Json::array();
    for (auto& [name, instances] : by_service) list.push_back({{"name", name}, {"instances", instances}});
    return http::JsonResponse(200, {{"services", list}});
  });
  add(Method::kGet, "/api/v1/gateway/services/{name}", "gateway:read", "A service's live instances", [&g](Request& req) -> Response {
    HTTP_TRY(auto all, g.Instances(req.Param("name")));
    Json instances = Json::array();
    for (const auto& in : all) instances.push_back(ToJson(in));
    return http::JsonResponse(200, {{"name", req.Param("name")}, {"instances", instances}});
  });

  // -- response cache -----------------------------------------------------------------------
  add(Method::kGet, "/api/v1/gateway/cache", "gateway:read", "Response cache counters", [&g](Request&) {
    return http::JsonResponse(200, g.CacheStats());
  });
  add(Method::kDelete, "/api/v1/gateway/cache", "gateway:write", "Purge the whole response cache", [&g](Request& req) -> Response {
    HTTP_TRY(Json purged, g.PurgeCache(std::nullopt));
    return http::JsonResponse(200, purged);
  });
  add(Method::kDelete, "/api/v1/gateway/routes/{name}/cache", "gateway:write", "Purge a route's cached responses",
      [&g](Request& req) -> Response {
        HTTP_TRY(Json purged, g.PurgeCache(req.Param("name")));
        return http::JsonResponse(200, purged);
      });

  // -- consumers ------------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/gateway/consumers", "gateway:write",
      "Create a consumer (roles, JWT credentials); secrets are never shown back", [&g](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(ConsumerSpec spec, ParseConsumer(body));
        HTTP_TRY(ConsumerSpec stored, g.PutConsumer(std::move(spec), true));
        Response r = http::JsonResponse(201, ToJson(stored, false));
        r.headers.Set("Location", "/api/v1/gateway/consumers/" + stored.name);
        return r;
      });
  add(Method::kGet, "/api/v1/gateway/consumers", "gateway:read", "List consumers", [&g](Request& req) -> Response {
    HTTP_TRY(auto all, g.Consumers());
    Json list = Json::array();
    for (const auto& c : all) list.push_back(ToJson(c, false));
    return http::JsonResponse(200, {{"consumers", list}});
  });
  add(Method::kGet, "/api/v1/gateway/consumers/{name}", "gateway:read", "Show a consumer and its key and client ids",
      [&g](Request& req) -> Response {
        HTTP_TRY(ConsumerSpec c, g.Consumer(req.Param("name")));
        HTTP_TRY(Json secrets, g.Secrets(c.name));
        Json j = ToJson(c, false);
        j.update(secrets);
        return http::JsonResponse(200, j);
      });
  add(Method::kPut, "/api/v1/gateway/consumers/{name}", "gateway:write", "Create or replace a consumer",
      [&g](Request& req) -> Response {
        HTTP_TRY(Json body, NamedBody(req));
        HTTP_TRY(ConsumerSpec spec, ParseConsumer(body));
        HTTP_TRY(ConsumerSpec stored, g.PutConsumer(std::move(spec), false));
        return http::JsonResponse(200, ToJson(stored, false));
      });
  add(Method::kDelete, "/api/v1/gateway/consumers/{name}", "gateway:write", "Delete a consumer with its keys and clients",
      [&g](Request& req) -> Response {
        HTTP_TRY_STATUS(g.DeleteConsumer(req.Param("name")));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/gateway/consumers/{name}/keys", "gateway:write",
      "Make an API key for a consumer (shown once; send it as `apikey` or `X-API-Key`)", [&g](Request& req) -> Response {
        HTTP_TRY(Gateway::NewSecret k, g.CreateApiKey(req.Param("name")));
        return http::JsonResponse(201, {{"id", k.id}, {"key", k.secret}, {"created_at", k.created_at}});
      });
  add(Method::kDelete, "/api/v1/gateway/consumers/{name}/keys/{id}", "gateway:write", "Revoke a consumer's API key",
      [&g](Request& req) -> Response {
        HTTP_TRY_STATUS(g.DeleteSecret(req.Param("name"), req.Param("id")));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/gateway/consumers/{name}/oauth-clients", "gateway:write",
      "Make an OAuth 2.0 client for a consumer (client_secret shown once)", [&g](Request& req) -> Response {
        HTTP_TRY(Gateway::NewSecret k, g.CreateOAuthClient(req.Param("name")));
        return http::JsonResponse(201, {{"client_id", k.id}, {"client_secret", k.secret}, {"created_at", k.created_at}});
      });
  add(Method::kDelete, "/api/v1/gateway/consumers/{name}/oauth-clients/{id}", "gateway:write",
      "Delete an OAuth client (its tokens stop working)", [&g](Request& req) -> Response {
        HTTP_TRY_STATUS(g.DeleteSecret(req.Param("name"), req.Param("id")));
        return http::NoContent();
      });

  // -- OAuth 2.0 token endpoint (RFC 6749 §4.4, client credentials) ------------------------------
  http::Route token = http::MakeRoute(
      Method::kPost, "/oauth/token", "", "gateway",
      "OAuth 2.0 client-credentials grant: client_id and client_secret (form or HTTP Basic) → access_token",
      [&g](Request& req) -> Response {
        auto form = FormFields(req);
        std::string id = form["client_id"], secret = form["client_secret"];
        if (auto basic = req.headers.Get("Authorization"); basic && basic->size() > 6 && basic->substr(0, 6) == "Basic ") {
          auto decoded = auth::Base64UrlDecode([&] {
            std::string b(basic->substr(6));
            for (auto& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
            while (!b.empty() && b.back() == '=') b.pop_back();
            return b;
          }());
          if (!decoded || decoded->find(':') == std::string::npos) return OAuthError(400, "invalid_request", "malformed Basic credentials");
          size_t colon = decoded->find(':');
          id = http::PercentDecode(decoded->substr(0, colon)).value_or("");
          secret = http::PercentDecode(decoded->substr(colon + 1)).value_or("");
        }
        if (form["grant_type"] != "client_credentials") {
          return OAuthError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported");
        }
        if (id.empty() || secret.empty()) return OAuthError(400, "invalid_request", "client_id and client_secret are required");
        auto issued = g.IssueOAuthToken(id, secret);
        if (!issued.ok()) {
          if (issued.status().code() == Code::kUnauthenticated) return OAuthError(401, "invalid_client", "unknown client or wrong secret");
          return OAuthError(HttpStatus(issued.status().code()), "server_error", issued.status().message());
        }
        Response r = http::JsonResponse(200, {{"access_token", issued->access_token},
                                              {"token_type", "Bearer"},
                                              {"expires_in", issued->expires_in}});
        r.headers.Set("Cache-Control", "no-store");
        return r;
      });
  token.anonymous = true;
  routes.push_back(std::move(token));

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::gateway
