#include "gateway/gateway_impl.hpp"

namespace aimass::gateway {

std::shared_ptr<const Principal> Gateway::Impl::ConsumerPrincipal(const Live& live, const std::string& consumer,
                                                                        std::string_view method) const {
  if (auto it = live.consumers.find(consumer); it != live.consumers.end()) {
    const auto& c = it->second;
    return method == kConsumerJwt ? c.jwt : method == kConsumerKey ? c.key : c.oauth;
  }
  // A consumer deleted since its token was verified: its name, and no permissions.
  auto p = std::make_shared<Principal>();
  p->username = consumer;
  p->method = method;
  return p;
}

// A route's consumer credentials, in the route's order. A credential that is presented for a
// method and fails is refused (no falling through to a weaker method); a platform token is
// left to AccessControl.
Status Gateway::Impl::AuthenticateConsumer(const Live& live, const RouteSpec& route, http::Request& req) {
  auto bearer = auth::BearerToken(req);
  const int64_t now = UnixNowMs() / 1000;
  std::optional<std::string> issuer;
  bool peeked = false;
  for (const auto& method : route.auth) {
    if (method == "jwt" && bearer) {
      if (auto consumer = live.verifier->Cached(*bearer, now)) {
        req.principal = ConsumerPrincipal(live, *consumer, kConsumerJwt);
        return Status::Ok();
      }
    }
    if (!peeked && bearer && (method == "jwt" || method == "oauth")) {
      issuer = PeekIssuer(*bearer);
      peeked = true;
    }
    if (method == "key") {
      auto key = req.headers.Get("apikey");
      if (!key) key = req.headers.Get("X-API-Key");
      if (!key) continue;
      auto it = live.api_keys.find(Sha256Hex(*key));
      if (it == live.api_keys.end()) return Status::Unauthenticated("unknown API key");
      req.principal = ConsumerPrincipal(live, it->second, kConsumerKey);
      return Status::Ok();
    }
    if (method == "jwt" && issuer && live.verifier->HasIssuer(*issuer)) {
      AIMASS_ASSIGN_OR_RETURN(std::string consumer, live.verifier->Verify(*bearer, now));
      req.principal = ConsumerPrincipal(live, consumer, kConsumerJwt);
      return Status::Ok();
    }
    if (method == "oauth" && issuer && *issuer == kOAuthIssuer) {
      if (!oauth_jwt) return Status::Unauthenticated("this gateway issues no OAuth tokens");
      AIMASS_ASSIGN_OR_RETURN(Json claims, oauth_jwt->Verify(*bearer, now));
      std::string consumer = claims.value("sub", "");
      std::string client = claims.value("client_id", "");
      auto c = live.oauth_clients.find(client);
      if (c == live.oauth_clients.end() || c->second.first != consumer) {
        return Status::Unauthenticated("the token's OAuth client no longer exists");
      }
      req.principal = ConsumerPrincipal(live, consumer, kConsumerOAuth);
      return Status::Ok();
    }
    if (method == "platform" && bearer) return Status::Ok();  // AccessControl verifies it
  }
  if (std::find(route.auth.begin(), route.auth.end(), "platform") != route.auth.end()) return Status::Ok();
  std::string accepted;
  for (const auto& m : route.auth) accepted += (accepted.empty() ? "" : ", ") + m;
  return Status::Unauthenticated("route '" + route.name + "' needs a credential: " + accepted);
}

}  // namespace aimass::gateway
