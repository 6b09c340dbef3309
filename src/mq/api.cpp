#include "mq/api.hpp"

#include <charconv>

#include "auth/rbac.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"
#include "mq/json.hpp"
#include "mq/long_poll.hpp"

namespace aimass::mq {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {


Result<std::vector<std::string>> Ids(const Json& body) {
  auto it = body.find("ids");
  if (it == body.end() || !it->is_array()) return Status::BadRequest("ids must be an array of message ids");
  std::vector<std::string> ids;
  for (const auto& v : *it) {
    if (!v.is_string()) return Status::BadRequest("ids must be an array of message ids");
    ids.push_back(v.get<std::string>());
  }
  return ids;
}

Result<std::vector<uint64_t>> DeadLetterIds(const Json& body) {
  std::vector<uint64_t> ids;
  auto it = body.find("ids");
  if (it == body.end()) return ids;
  if (!it->is_array()) return Status::BadRequest("ids must be an array of dead-letter ids");
  // No `ids` means all of them; an empty list is refused, not read as "all": a client that
  // filtered its selection down to nothing must not replay or purge the whole queue.
  if (it->empty()) return Status::BadRequest("ids is empty: leave it out to mean every dead letter");
  for (const auto& v : *it) {
    if (!v.is_number_unsigned()) return Status::BadRequest("ids must be an array of dead-letter ids");
    ids.push_back(v.get<uint64_t>());
  }
  return ids;
}

Response Messages(const std::vector<Delivery>& got) {
  Json list = Json::array();
  for (const auto& d : got) list.push_back(ToJson(d));
  return http::JsonResponse(200, {{"messages", list}});
}

// The body of dlq/replay and dlq/purge may be empty: all of them.
Result<Json> OptionalBody(const Request& req) {
  if (req.body.empty()) return Json::object();
  return http::ParseJsonObject(req);
}

}  // namespace

Status RegisterRoutes(http::Router& router, Broker& broker, std::shared_ptr<LongPoller> poller, ApiLimits limits) {
  Broker& b = broker;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "mq", std::move(summary), std::move(h)));
  };

  // -- topics -------------------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/mq/topics", "mq:write", "Create a topic (partitions, fsync policy, retention, dedup window)",
      [&b](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(TopicSpec spec, ParseTopicSpec(body));
        HTTP_TRY(TopicInfo info, b.CreateTopic(spec));
        Response r = http::JsonResponse(201, ToJson(info));
        r.headers.Set("Location", "/api/v1/mq/topics/" + info.spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/mq/topics", "mq:read", "List topics", [&b](Request& req) -> Response {
    HTTP_TRY(auto all, b.ListTopics());
    Json list = Json::array();
    for (const auto& t : all) list.push_back(ToJson(t));
    return http::JsonResponse(200, {{"topics", list}});
  });
  add(Method::kGet, "/api/v1/mq/topics/{topic}", "mq:read", "Show a topic: partitions, offsets, size",
      [&b](Request& req) -> Response {
        HTTP_TRY(TopicInfo info, b.GetTopic(req.Param("topic")));
        return http::JsonResponse(200, ToJson(info));
      });
  add(Method::kDelete, "/api/v1/mq/topics/{topic}", "mq:write", "Delete a topic and its messages",
      [&b](Request& req) -> Response {
        HTTP_TRY_STATUS(b.DeleteTopic(req.Param("topic")));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/mq/topics/{topic}/messages", "",
      "Publish messages (key, headers, body, delay_ms, ttl_ms, dedup_id); answered once durable per the topic's fsync policy",
      [&b, limits](Request& req) -> Response {
        std::string topic = req.Param("topic");
        HTTP_TRY_STATUS(auth::MayActOnTopic(*req.principal, topic, "publish"));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::vector<OutgoingMessage> messages, ParseOutgoing(body, limits.max_publish));
        HTTP_TRY(auto results, b.Publish(topic, std::move(messages)));
        Json list = Json::array();
        for (const auto& r : results) {
          list.push_back({{"partition", r.partition}, {"offset", r.offset}, {"duplicate", r.duplicate}});
        }
        return http::JsonResponse(200, {{"topic", topic}, {"results", list}});
      });

  // -- subscriptions ------------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/mq/subscriptions", "mq:write",
      "Create a subscription on a topic or pattern (max_deliveries, ack_timeout_ms, backoff_ms, start)",
      [&b](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(SubscriptionSpec spec, ParseSubscriptionSpec(body));
        HTTP_TRY_STATUS(auth::MayActOnTopic(*req.principal, spec.topic, "consume"));
        HTTP_TRY(SubscriptionInfo info, b.CreateSubscription(spec));
        Response r = http::JsonResponse(201, ToJson(info));
        r.headers.Set("Location", "/api/v1/mq/subscriptions/" + info.spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/mq/subscriptions", "mq:read", "List subscriptions with backlog, in flight and dead letters",
      [&b](Request& req) -> Response {
        HTTP_TRY(auto all, b.ListSubscriptions());
        Json list = Json::array();
        for (const auto& s : all) list.push_back(ToJson(s));
        return http::JsonResponse(200, {{"subscriptions", list}});
      });
  add(Method::kGet, "/api/v1/mq/subscriptions/{name}", "mq:read", "Show a subscription", [&b](Request& req) -> Response {
    HTTP_TRY(SubscriptionInfo info, b.GetSubscription(req.Param("name")));
    return http::JsonResponse(200, ToJson(info));
  });
  add(Method::kDelete, "/api/v1/mq/subscriptions/{name}", "mq:write", "Delete a subscription, its state and dead letters",
      [&b](Request& req) -> Response {
        HTTP_TRY_STATUS(b.DeleteSubscription(req.Param("name")));
        return http::NoContent();
      });
  // Long polls wait in the poller, not on a worker thread; the routes share it, so it goes
  // with the router, before the broker.
  // Consumer calls: the subscription's topic pattern decides who may make them.
  auto consumer = [&b](Request& req) -> Result<SubscriptionInfo> {
    AIMASS_ASSIGN_OR_RETURN(SubscriptionInfo info, b.GetSubscription(req.Param("name")));
    AIMASS_RETURN_IF_ERROR(auth::MayActOnTopic(*req.principal, info.spec.topic, "consume"));
    return info;
  };
  add(Method::kGet, "/api/v1/mq/subscriptions/{name}/messages", "",
      "Fetch up to max messages, waiting up to wait_ms for the first (long poll)",
      [&b, consumer, limits, poller](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_TRY(int64_t max, http::QueryInt(req, "max", 10, 1, static_cast<int64_t>(limits.max_fetch)));
        HTTP_TRY(int64_t wait, http::QueryInt(req, "wait_ms", 0, 0, limits.max_wait_ms));
        HTTP_TRY(auto got, b.Fetch(info.spec.name, static_cast<size_t>(max), std::chrono::milliseconds(0)));
        if (!got.empty() || wait == 0) return Messages(got);
        // Nothing yet: the answer is deferred and the worker thread goes back to the pool.
        auto deferred = std::make_shared<http::DeferredResponse>();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
        poller->Add(info.spec.name, static_cast<size_t>(max), deadline,
                    [deferred, request_id = req.request_id](Result<std::vector<Delivery>> r) {
                      deferred->Complete(r.ok() ? Messages(*r) : http::ErrorResponse(r.status(), request_id));
                    });
        // The poller answers at the deadline; the server's own expiry is only a backstop.
        std::weak_ptr<http::DeferredResponse> weak = deferred;  // not itself: no cycle if never completed
        deferred->SetDeadline(deadline + std::chrono::seconds(5), [weak] {
          if (auto d = weak.lock()) d->Complete(Messages({}));
        });
        Response r;
        r.deferred = std::move(deferred);
        return r;
      });
  add(Method::kPost, "/api/v1/mq/subscriptions/{name}/ack", "", "Acknowledge messages by id",
      [&b, consumer](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto ids, Ids(body));
        HTTP_TRY(AckResult r, b.Ack(info.spec.name, ids));
        return http::JsonResponse(200, {{"acked", r.done}, {"unknown", r.unknown}});
      });
  add(Method::kPost, "/api/v1/mq/subscriptions/{name}/nack", "",
      "Give messages back, visible again after delay_ms (dead-lettered after max_deliveries)",
      [&b, consumer](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto ids, Ids(body));
        HTTP_TRY(auto delay, http::OptionalInt(body, "delay_ms"));
        if (delay && (*delay < 0 || *delay > 86400000)) {
          return http::ErrorResponse(Status::BadRequest("delay_ms must be 0 to 86400000"), req.request_id);
        }
        HTTP_TRY(AckResult r, b.Nack(info.spec.name, ids, std::chrono::milliseconds(delay.value_or(0))));
        return http::JsonResponse(200, {{"nacked", r.done}, {"unknown", r.unknown}});
      });
  add(Method::kPost, "/api/v1/mq/subscriptions/{name}/seek", "",
      "Replay or skip: move to an offset of a partition, a time, or the earliest / latest message",
      [&b, consumer](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(SeekTarget target, ParseSeekTarget(body));
        HTTP_TRY_STATUS(b.Seek(info.spec.name, target));
        HTTP_TRY(SubscriptionInfo now, b.GetSubscription(info.spec.name));
        return http::JsonResponse(200, ToJson(now));
      });

  // -- dead letters -------------------------------------------------------------------------------
  add(Method::kGet, "/api/v1/mq/subscriptions/{name}/dlq", "",
      "Dead letters with their reason and delivery count (from, max)", [&b, consumer, limits](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_TRY(int64_t from, http::QueryInt(req, "from", 0, 0, INT64_MAX));
        HTTP_TRY(int64_t max, http::QueryInt(req, "max", 100, 1, static_cast<int64_t>(limits.max_fetch)));
        HTTP_TRY(auto got, b.DeadLetters(info.spec.name, static_cast<uint64_t>(from), static_cast<size_t>(max)));
        Json list = Json::array();
        for (const auto& d : got) list.push_back(ToJson(d));
        return http::JsonResponse(200, {{"dead_letters", list}});
      });
  add(Method::kPost, "/api/v1/mq/subscriptions/{name}/dlq/replay", "",
      "Send dead letters (ids, or all) back to the subscription", [&b, consumer](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_TRY(Json body, OptionalBody(req));
        HTTP_TRY(auto ids, DeadLetterIds(body));
        HTTP_TRY(size_t n, b.ReplayDeadLetters(info.spec.name, ids));
        return http::JsonResponse(200, {{"replayed", n}});
      });
  add(Method::kPost, "/api/v1/mq/subscriptions/{name}/dlq/purge", "", "Drop dead letters (ids, or all)",
      [&b, consumer](Request& req) -> Response {
        HTTP_TRY(SubscriptionInfo info, consumer(req));
        HTTP_TRY(Json body, OptionalBody(req));
        HTTP_TRY(auto ids, DeadLetterIds(body));
        HTTP_TRY(size_t n, b.PurgeDeadLetters(info.spec.name, ids));
        return http::JsonResponse(200, {{"purged", n}});
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::mq
