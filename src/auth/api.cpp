#include "auth/api.hpp"

#include "common/time.hpp"
#include "http/json.hpp"

namespace aimass::auth {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Json UserJson(const User& u) {
  return {{"username", u.username}, {"roles", u.roles}, {"created_at", Rfc3339(u.created_at)}};
}

Json RoleJson(const Role& r) {
  return {{"name", r.name}, {"permissions", r.permissions}, {"builtin", r.builtin}};
}

Json KeyJson(const ApiKeyRecord& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"prefix", "amk_" + k.id},
          {"owner", k.owner},
          {"created_at", Rfc3339(k.created_at)},
          {"expires_at", Rfc3339(k.expires_at)},
          {"last_used_at", Rfc3339(k.last_used_at)},
          {"revoked", k.revoked_at != 0}};
}


}  // namespace

Status RegisterRoutes(http::Router& router, AuthService& auth) {
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary,
                 http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "auth",
                                     std::move(summary), std::move(h)));
  };

  add(Method::kPost, "/api/v1/auth/login", "", "Log in with username and password; returns a JWT",
      [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string username, http::RequiredString(body, "username"));
        HTTP_TRY(std::string password, http::RequiredString(body, "password"));
        req.audit_actor = username.substr(0, 64);
        HTTP_TRY(LoginResult login, auth.Login(username, password));
        return http::JsonResponse(200, {{"access_token", login.access_token},
                                        {"token_type", "Bearer"},
                                        {"expires_in", login.expires_in}});
      });
  routes.back().anonymous = true;

  add(Method::kGet, "/api/v1/auth/whoami", "", "The caller's identity, roles and permissions",
      [](Request& req) -> Response {
        const Principal& p = *req.principal;
        return http::JsonResponse(200, {{"username", p.username},
                                        {"roles", p.roles},
                                        {"permissions", p.permissions},
                                        {"auth", p.method}});
      });

  add(Method::kPost, "/api/v1/auth/logout", "", "Revoke the JWT used for this call",
      [&auth](Request& req) -> Response {
        HTTP_TRY_STATUS(auth.Logout(*req.principal));
        return http::JsonResponse(200, {{"revoked", true}});
      });

  add(Method::kGet, "/api/v1/users", "users:read", "List users", [&auth](Request& req) -> Response {
    HTTP_TRY(http::PageRequest page, http::ParsePage(req));
    HTTP_TRY(std::vector<User> users, auth.ListUsers(page.offset, page.size));
    Json list = Json::array();
    for (const auto& u : users) list.push_back(UserJson(u));
    return http::JsonResponse(200, {{"users", list},
                                    {"next_page_token", http::NextPageToken(page, users.size())}});
  });

  add(Method::kPost, "/api/v1/users", "users:write", "Create a user",
      [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string username, http::RequiredString(body, "username"));
        HTTP_TRY(std::string password, http::RequiredString(body, "password"));
        HTTP_TRY(auto roles, http::OptionalStringArray(body, "roles"));
        HTTP_TRY(User user, auth.CreateUser(username, password, roles.value_or(std::vector<std::string>{})));
        return http::JsonResponse(201, UserJson(user));
      });

  add(Method::kGet, "/api/v1/users/{username}", "users:read", "Show a user",
      [&auth](Request& req) -> Response {
        HTTP_TRY(User user, auth.GetUser(req.Param("username")));
        return http::JsonResponse(200, UserJson(user));
      });

  add(Method::kPatch, "/api/v1/users/{username}", "users:write",
      "Change a user's password or roles", [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto password, http::OptionalString(body, "password"));
        HTTP_TRY(auto roles, http::OptionalStringArray(body, "roles"));
        HTTP_TRY(User user, auth.UpdateUser(req.Param("username"), password, roles));
        return http::JsonResponse(200, UserJson(user));
      });

  add(Method::kDelete, "/api/v1/users/{username}", "users:write", "Delete a user",
      [&auth](Request& req) -> Response {
        HTTP_TRY_STATUS(auth.DeleteUser(req.Param("username")));
        return http::NoContent();
      });

  add(Method::kPost, "/api/v1/users/{username}/revoke-tokens", "users:write",
      "Invalidate every login token issued to a user so far", [&auth](Request& req) -> Response {
        HTTP_TRY_STATUS(auth.RevokeUserTokens(req.Param("username")));
        return http::JsonResponse(200, {{"revoked", true}});
      });

  add(Method::kGet, "/api/v1/roles", "roles:read", "List roles", [&auth](Request& req) -> Response {
    HTTP_TRY(std::vector<Role> roles, auth.ListRoles());
    Json list = Json::array();
    for (const auto& r : roles) list.push_back(RoleJson(r));
    return http::JsonResponse(200, {{"roles", list}, {"next_page_token", ""}});
  });

  add(Method::kPost, "/api/v1/roles", "roles:write", "Create a custom role",
      [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string name, http::RequiredString(body, "name"));
        HTTP_TRY(auto perms, http::OptionalStringArray(body, "permissions"));
        HTTP_TRY(Role role, auth.CreateRole(name, perms.value_or(std::vector<std::string>{})));
        return http::JsonResponse(201, RoleJson(role));
      });

  add(Method::kGet, "/api/v1/roles/{name}", "roles:read", "Show a role",
      [&auth](Request& req) -> Response {
        HTTP_TRY(Role role, auth.GetRole(req.Param("name")));
        return http::JsonResponse(200, RoleJson(role));
      });

  add(Method::kPut, "/api/v1/roles/{name}", "roles:write", "Replace a custom role's permissions",
      [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto perms, http::OptionalStringArray(body, "permissions"));
        if (!perms) return http::ErrorResponse(req.request_id, Status::BadRequest("'permissions' is required"));
        HTTP_TRY(Role role, auth.UpdateRole(req.Param("name"), *perms));
        return http::JsonResponse(200, RoleJson(role));
      });

  add(Method::kDelete, "/api/v1/roles/{name}", "roles:write", "Delete a custom role",
      [&auth](Request& req) -> Response {
        HTTP_TRY_STATUS(auth.DeleteRole(req.Param("name")));
        return http::NoContent();
      });

  add(Method::kPost, "/api/v1/apikeys", "apikeys:write",
      "Create an API key for the caller; the key is shown only in this answer",
      [&auth](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string name, http::RequiredString(body, "name"));
        HTTP_TRY(auto days, http::OptionalInt(body, "expires_in_days"));
        HTTP_TRY(NewApiKey key, auth.CreateApiKey(*req.principal, name, days));
        Json j = KeyJson(key.record);
        j["key"] = key.key;
        return http::JsonResponse(201, j);
      });

  add(Method::kGet, "/api/v1/apikeys", "apikeys:read",
      "List API keys: the caller's own, or everyone's with users:read",
      [&auth](Request& req) -> Response {
        std::optional<int64_t> owner = req.principal->user_id;
        if (auth.Authorize(*req.principal, "users:read")) owner.reset();
        HTTP_TRY(std::vector<ApiKeyRecord> keys, auth.ListApiKeys(owner));
        Json list = Json::array();
        for (const auto& k : keys) list.push_back(KeyJson(k));
        return http::JsonResponse(200, {{"apikeys", list}, {"next_page_token", ""}});
      });

  add(Method::kDelete, "/api/v1/apikeys/{id}", "apikeys:write", "Revoke an API key",
      [&auth](Request& req) -> Response {
        HTTP_TRY_STATUS(auth.RevokeApiKey(*req.principal, req.Param("id")));
        return http::NoContent();
      });

  add(Method::kGet, "/api/v1/audit", "audit:read", "The audit log, newest first",
      [&auth](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(std::vector<AuditEntry> entries, auth.ListAudit(req.Query("actor"), page.offset, page.size));
        Json list = Json::array();
        for (const auto& e : entries) {
          list.push_back({{"id", e.id},
                          {"time", Rfc3339Ms(e.time_ms)},
                          {"actor", e.actor},
                          {"method", e.method},
                          {"path", e.path},
                          {"route", e.route},
                          {"status", e.status},
                          {"request_id", e.request_id},
                          {"remote", e.remote}});
        }
        return http::JsonResponse(200, {{"entries", list},
                                        {"next_page_token", http::NextPageToken(page, entries.size())}});
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::auth
