#include "assist/api.hpp"

#include "common/time.hpp"
#include "http/json.hpp"

namespace aimass::assist {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

Status RegisterRoutes(http::Router& router, AssistService& service) {
  AssistService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "assist", std::move(summary), std::move(h)));
  };
  const std::string bot = "/api/v1/assist/bots/{bot}";
  const std::string conv = bot + "/conversations/{id}";

  add(Method::kPost, "/api/v1/assist/bots", "assist:write",
      "Create a bot {name, language, intents: [{name, examples}], entities: [{name, lookup | regex}], responses, forms, "
      "faq: {index | dataset, question, answer}, fallback: {threshold, handoff_after}, handoff: {intents, rules, topic}, "
      "conversation: {ttl_s}, training: {kinds, holdout}}: version 1, not yet trained",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Create(body, *req.principal));
        Response r = http::JsonResponse(201, b);
        r.headers.Set("Location", "/api/v1/assist/bots/" + b["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, "/api/v1/assist/bots", "assist:read", "List the bots with their state", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.List());
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, bot, "assist:read",
      "Show a bot: its latest definition, state (draft, training, trained, failed), the held-out evaluation of its newest "
      "trained version, and the version serving now",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Get(std::string(req.Param("bot"))));
        return http::JsonResponse(200, b);
      });
  add(Method::kPut, bot, "assist:write", "Store a new version of a bot's definition (train it to serve it)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Update(std::string(req.Param("bot")), body, *req.principal));
        return http::JsonResponse(200, b);
      });
  add(Method::kDelete, bot, "assist:write", "Delete a bot, its versions, conversations, deployment and pipeline",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Delete(std::string(req.Param("bot"))));
        return http::NoContent();
      });
  add(Method::kGet, bot + "/versions", "assist:read", "A bot's versions with their training state and held-out accuracy",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Versions(std::string(req.Param("bot"))));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, bot + "/versions/{version}", "assist:read", "One version: its definition, state and evaluation",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t v, http::PathInt(req, "version"));
        HTTP_TRY(Json b, s.Version(std::string(req.Param("bot")), v));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, bot + "/train", "assist:write",
      "Train a version {version} (the latest when absent): a pipeline run (train.assist, register, deploy)",
      [&s](Request& req) -> Response {
        Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return http::ErrorFor(req, Status::InvalidJson("the body is a JSON object"));
        HTTP_TRY(auto v, http::OptionalInt(body, "version"));
        HTTP_TRY(Json b, s.Train(std::string(req.Param("bot")), v, *req.principal));
        return http::JsonResponse(202, b);
      });
  add(Method::kPost, bot + "/rollback", "assist:write", "Serve an earlier trained version {version} again",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto v, http::OptionalInt(body, "version"));
        if (!v) return http::ErrorFor(req, Status::BadRequest("version is required"));
        HTTP_TRY(Json b, s.Rollback(std::string(req.Param("bot")), *v, *req.principal));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, bot + "/predict", "assist:chat",
      "Understand texts without a conversation {texts} → {predictions: [{intent, confidence, entities, ranking}]}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto texts, http::OptionalStringArray(body, "texts"));
        if (!texts) return http::ErrorFor(req, Status::BadRequest("texts is a list of strings"));
        HTTP_TRY(Json b, s.Predict(std::string(req.Param("bot")), *texts));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, bot + "/messages", "assist:chat",
      "A customer's message {conversation_id, text} → {replies, intent, entities, slots, state}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string text, http::RequiredString(body, "text"));
        HTTP_TRY(auto id, http::OptionalString(body, "conversation_id"));
        IncomingMessage m;
        m.text = std::move(text);
        m.conversation_id = id.value_or("");
        HTTP_TRY(Json b, s.Message(std::string(req.Param("bot")), m));
        return http::JsonResponse(200, b);
      });
  routes.push_back(http::MakeRoute(
      Method::kPost, bot + "/messages/audio", "assist:chat", "assist",
      "A customer's spoken message: the body a WAV file (16 kHz mono, or any PCM rate and channels), "
      "?conversation_id=&speak=true → the text answer with its transcript {text, search}, and the replies as "
      "audio {content_type, bytes, data: base64 WAV} when speak is true; Accept: audio/wav answers the WAV itself",
      [&s](Request& req) -> Response {
        const bool wav_only = req.headers.Get("Accept").value_or("").find("audio/wav") != std::string_view::npos;
        const std::string speak = std::string(req.Query("speak").value_or(""));
        if (!speak.empty() && speak != "true" && speak != "false" && speak != "1" && speak != "0") {
          return http::ErrorFor(req, Status::BadRequest("speak is true or false"));
        }
        HTTP_TRY(AudioAnswer a, s.AudioMessage(std::string(req.Param("bot")), std::string(req.Query("conversation_id").value_or("")),
                                                req.body, wav_only || speak == "true" || speak == "1"));
        if (!wav_only) return http::JsonResponse(200, a.body);
        // The WAV alone, with what was heard and understood in headers (ASCII: the recogniser's
        // words are the dictionary's).
        Response r;
        r.status = a.wav.empty() ? 204 : 200;
        r.headers.Set("Content-Type", "audio/wav");
        r.headers.Set("X-Conversation-Id", a.body.value("conversation_id", ""));
        r.headers.Set("X-Transcript", a.body["transcript"].value("text", ""));
        if (a.body.contains("intent")) r.headers.Set("X-Intent", a.body["intent"].value("name", ""));
        if (!a.wav.empty()) r.body = std::move(a.wav);
        return r;
      }));
  routes.back().max_body_bytes = 20u << 20;  // a minute of 48 kHz stereo 24-bit is 17 MB
  add(Method::kGet, bot + "/conversations", "assist:read", "A bot's conversations, most recent first (?status=&limit=)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
        HTTP_TRY(Json b, s.Conversations(std::string(req.Param("bot")), req.Query("status").value_or(""), limit));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, conv, "assist:read", "A conversation: its state and turns (?after=<turn id> for the newer ones)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t after, http::QueryInt(req, "after", 0, 0, INT64_MAX));
        HTTP_TRY(Json b, s.Conversation(std::string(req.Param("bot")), std::string(req.Param("id")), after));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, "/api/v1/assist/handoffs", "assist:agent",
      "Conversations handed to people (?bot=&state=waiting|active|released|closed), with their recent history",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
        HTTP_TRY(Json b, s.Handoffs(req.Query("bot").value_or(""), req.Query("state").value_or(""), limit));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, "/api/v1/assist/handoffs/next", "assist:agent",
      "Take the next waiting conversation from the agents' queue {bot} (404 when none waits)",
      [&s](Request& req) -> Response {
        Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return http::ErrorFor(req, Status::InvalidJson("the body is a JSON object"));
        HTTP_TRY(auto b, http::OptionalString(body, "bot"));
        HTTP_TRY(Json c, s.NextHandoff(b.value_or(""), *req.principal));
        return http::JsonResponse(200, c);
      });
  add(Method::kPost, conv + "/claim", "assist:agent", "Take a waiting conversation", [&s](Request& req) -> Response {
    HTTP_TRY(Json c, s.Claim(std::string(req.Param("bot")), std::string(req.Param("id")), *req.principal));
    return http::JsonResponse(200, c);
  });
  add(Method::kPost, conv + "/agent-messages", "assist:agent", "An agent's answer in a handed-off conversation {text}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string text, http::RequiredString(body, "text"));
        HTTP_TRY(Json t, s.AgentMessage(std::string(req.Param("bot")), std::string(req.Param("id")), text, *req.principal));
        return http::JsonResponse(201, t);
      });
  add(Method::kPost, conv + "/release", "assist:agent",
      "Hand a conversation back to the bot {close: false}, or close it {close: true}", [&s](Request& req) -> Response {
        Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return http::ErrorFor(req, Status::InvalidJson("the body is a JSON object"));
        const bool close = body.contains("close") && body["close"].is_boolean() && body["close"].get<bool>();
        HTTP_TRY(Json c, s.EndHandoff(std::string(req.Param("bot")), std::string(req.Param("id")), close, *req.principal));
        return http::JsonResponse(200, c);
      });
  add(Method::kGet, bot + "/analytics", "assist:read",
      "Intents over time, containment, fallback rate, handoff reasons, turns per conversation (?from_ms=&to_ms=&interval_s=)",
      [&s](Request& req) -> Response {
        const int64_t now = UnixNowMs();
        HTTP_TRY(int64_t to, http::QueryInt(req, "to_ms", now + 1, 0, INT64_MAX / 2));
        HTTP_TRY(int64_t from, http::QueryInt(req, "from_ms", to - 7 * 86400000LL, 0, INT64_MAX / 2));
        HTTP_TRY(int64_t interval, http::QueryInt(req, "interval_s", 3600, 60, 366 * 86400));
        HTTP_TRY(Json b, s.Analytics(std::string(req.Param("bot")), from, to, interval * 1000));
        return http::JsonResponse(200, b);
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::assist
