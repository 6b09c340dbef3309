#include "serving/api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"
#include "serving/infer_codec.hpp"

namespace aimass::serving {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

constexpr const char* kServerVersion = "0.1.0";

// The Open Inference Protocol answers errors as {"error": "<message>"}; its clients read that
// string. The platform's code and request id ride along as extra members.
// OIP clients read {"error": "<message>"}; code and request_id ride along for ours.
Response OipErrorResponse(const Status& st, std::string_view request_id) {
  Response r = http::JsonResponse(HttpStatus(st.code()), {{"error", st.message()},
                                                          {"code", CodeName(st.code())},
                                                          {"request_id", request_id}});
  if (st.code() == Code::kUnavailable || st.code() == Code::kRateLimited) r.headers.Set("Retry-After", "1");
  return r;
}

Response OipError(const Status& st, const Request& req) { return OipErrorResponse(st, req.request_id); }

#define OIP_TRY(lhs, expr) OIP_TRY_IMPL(AIMASS_CONCAT(_oip_try_, __LINE__), lhs, expr)
#define OIP_TRY_IMPL(tmp, lhs, expr)              \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return OipError(tmp.status(), req); \
  lhs = std::move(tmp).value()
#define OIP_TRY_STATUS(expr) \
  if (::aimass::Status _oip_st = (expr); !_oip_st.ok()) return OipError(_oip_st, req)

Result<std::optional<int64_t>> VersionParam(const Request& req) {
  std::string v = req.Param("version");
  if (v.empty()) return std::optional<int64_t>();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 1) {
    return Status::BadRequest("model version must be a positive integer");
  }
  return std::optional<int64_t>(n);
}

Status MayInvoke(const Request& req) {
  if (Serving::MayInvoke(*req.principal, req.Param("name"))) return Status::Ok();
  return Status::Forbidden("inference:invoke on deployment '" + req.Param("name") + "' is required");
}

Json SpecsJson(const std::vector<registry::TensorSpec>& specs) {
  Json a = Json::array();
  for (const auto& s : specs) a.push_back({{"name", s.name}, {"datatype", s.datatype}, {"shape", s.shape}});
  return a;
}

Json DurationJson(const Duration& d) { return {{"count", d.count}, {"ns", d.ns}}; }

Json StatsJson(const std::vector<Serving::VersionStats>& all) {
  Json list = Json::array();
  for (const auto& v : all) {
    const StatsSnapshot& s = v.stats;
    Json batches = Json::array();
    for (const auto& [size, d] : s.batches) {
      batches.push_back({{"batch_size", size},
                         {"compute_infer", DurationJson(d)}});
    }
    list.push_back({{"name", v.name},
                    {"version", std::to_string(v.version)},
                    {"last_inference", s.last_inference_ms},
                    {"inference_count", s.inference_count},
                    {"execution_count", s.execution_count},
                    {"inference_stats",
                     {{"success", DurationJson(s.success)},
                      {"fail", DurationJson(s.fail)},
                      {"queue", DurationJson(s.queue)},
                      {"compute_input", DurationJson(s.compute_input)},
                      {"compute_infer", DurationJson(s.compute_infer)},
                      {"compute_output", DurationJson(s.compute_output)}}},
                    {"batch_stats", batches},
                    {"failures", s.failures},
                    {"pending", s.pending},
                    {"busy_seconds", s.busy_seconds}});
  }
  return {{"model_stats", list}};
}

Response InferAnswer(const std::string& name, const InferRequest& parsed, Result<InferResult> result,
                     std::string_view request_id) {
  if (!result.ok()) return OipErrorResponse(result.status(), request_id);
  InferResponse answer{name, std::to_string(result->version), parsed.id, std::move(result->outputs)};
  auto encoded = EncodeInferResponse(answer, parsed.outputs, parsed.binary_default);
  if (!encoded.ok()) return OipErrorResponse(encoded.status(), request_id);
  Response r;
  r.body = std::move(encoded->body);
  if (encoded->json_header_length) {
    r.headers.Set("Content-Type", "application/octet-stream");
    r.headers.Set("Inference-Header-Content-Length", std::to_string(*encoded->json_header_length));
  } else {
    r.headers.Set("Content-Type", "application/json");
  }
  return r;
}

// The answer is deferred: the handler's thread goes back to the pool as soon as the request
// is queued, and the executor that computed the batch completes the response.
Response Infer(Serving& serving, Request& req) {
  OIP_TRY_STATUS(MayInvoke(req));
  OIP_TRY(std::optional<int64_t> version, VersionParam(req));
  std::optional<size_t> header_length;
  if (auto h = req.headers.Get("Inference-Header-Content-Length")) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), n);
    if (ec != std::errc() || p != h->data() + h->size()) {
      return OipError(Status::BadRequest("Inference-Header-Content-Length must be a byte count"), req);
    }
    header_length = n;
  }
  OIP_TRY(InferRequest parsed, ParseInferRequest(req.body, header_length));
  auto inputs = std::move(parsed.inputs);
  auto deferred = std::make_shared<http::DeferredResponse>();
  auto done = [deferred, name = req.Param("name"), parsed = std::move(parsed),
               request_id = req.request_id](Result<InferResult> result) {
    deferred->Complete(InferAnswer(name, parsed, std::move(result), request_id));
  };
  OIP_TRY(PendingInfer pending, serving.InferAsync(req.Param("name"), version, std::move(inputs), std::move(done)));
  deferred->SetDeadline(pending.deadline, std::move(pending.cancel));
  Response r;
  r.deferred = std::move(deferred);
  return r;
}

Response Metadata(Serving& serving, Request& req) {
  OIP_TRY_STATUS(MayInvoke(req));
  OIP_TRY(std::optional<int64_t> version, VersionParam(req));
  OIP_TRY(ModelMetadata m, serving.Metadata(req.Param("name"), version));
  Json versions = Json::array();
  for (int64_t v : m.versions) versions.push_back(std::to_string(v));
  return http::JsonResponse(200, {{"name", m.name},
                                  {"versions", versions},
                                  {"platform", m.platform},
                                  {"inputs", SpecsJson(m.signature.inputs)},
                                  {"outputs", SpecsJson(m.signature.outputs)}});
}

Response ModelReady(Serving& serving, Request& req) {
  OIP_TRY_STATUS(MayInvoke(req));
  OIP_TRY(std::optional<int64_t> version, VersionParam(req));
  OIP_TRY_STATUS(serving.Ready(req.Param("name"), version));
  return http::JsonResponse(200, {{"name", req.Param("name")}, {"ready", true}});
}

Response ModelStats(Serving& serving, Request& req) {
  std::optional<std::string> name;
  if (!req.Param("name").empty()) {
    OIP_TRY_STATUS(MayInvoke(req));
    name = req.Param("name");
  }
  OIP_TRY(std::optional<int64_t> version, VersionParam(req));
  OIP_TRY(auto stats, serving.Stats(name, version));
  // Without a name: only the deployments the caller may invoke.
  if (!name) {
    std::erase_if(stats, [&](const auto& s) { return !Serving::MayInvoke(*req.principal, s.name); });
  }
  return http::JsonResponse(200, StatsJson(stats));
}

Response Predict(Serving& serving, Request& req) {
  OIP_TRY_STATUS(MayInvoke(req));
  std::string name = req.Param("name");
  OIP_TRY(ModelMetadata m, serving.Metadata(name, std::nullopt));
  std::vector<std::pair<std::string, DataType>> inputs;
  for (const auto& in : m.signature.inputs) {
    inputs.emplace_back(in.name, ParseDataType(in.datatype).value_or(DataType::kFp32));
  }
  OIP_TRY(std::vector<Tensor> tensors, ParsePredictRequest(req.body, inputs));
  OIP_TRY(InferResult result, serving.Infer(name, std::nullopt, std::move(tensors)));
  OIP_TRY(std::string body, EncodePredictResponse(result.outputs));
  Response r;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

}  // namespace

Status RegisterRoutes(http::Router& router, Serving& serving, const ApiOptions& options) {
  Serving& s = serving;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary,
                 http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "serving", std::move(summary),
                                     std::move(h)));
    return routes.back();
  };

  // -- deployments ----------------------------------------------------------------------------
  add(Method::kPost, "/api/v1/deployments", "deployments:write",
      "Deploy a registry model version or alias; 201 once loaded and warmed", [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        DeploymentSpec spec;
        HTTP_TRY_STATUS(ParseDeploymentSpec(body, false, spec));
        HTTP_TRY(DeploymentView v, s.Create(*req.principal, std::move(spec)));
        Response r = http::JsonResponse(201, ViewToJson(v));
        r.headers.Set("Location", "/api/v1/deployments/" + v.spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/deployments", "deployments:read", "List deployments", [&s](Request&) {
    Json list = Json::array();
    for (const auto& v : s.List()) list.push_back(ViewToJson(v));
    return http::JsonResponse(200, {{"deployments", list}});
  });
  add(Method::kGet, "/api/v1/deployments/{name}", "deployments:read", "Show a deployment, its versions and traffic",
      [&s](Request& req) -> Response {
        HTTP_TRY(DeploymentView v, s.Get(req.Param("name")));
        return http::JsonResponse(200, ViewToJson(v));
      });
  add(Method::kGet, "/api/v1/deployments/{name}/metrics", "deployments:read",
      "Each served version's counters since it loaded and its last window_s seconds (1-3600, default 10): "
      "requests, errors, p50_ms, p99_ms",
      [&s](Request& req) -> Response {
        int64_t window = 10;
        if (auto w = req.Query("window_s")) {
          auto [p, ec] = std::from_chars(w->data(), w->data() + w->size(), window);
          if (ec != std::errc() || p != w->data() + w->size() || window < 1 || window > 3600) {
            return http::ErrorResponse(Status::BadRequest("window_s must be an integer from 1 to 3600"), req.request_id);
          }
        }
        HTTP_TRY(auto stats, s.Stats(req.Param("name"), std::nullopt, std::chrono::seconds(window)));
        Json list = Json::array();
        for (const auto& v : stats) {
          const StatsSnapshot& c = v.stats;
          list.push_back({{"version", v.version},
                          {"role", v.role},
                          {"success", DurationJson(c.success)},
                          {"fail", DurationJson(c.fail)},
                          {"queue", DurationJson(c.queue)},
                          {"inference_count", c.inference_count},
                          {"execution_count", c.execution_count},
                          {"pending", c.pending},
                          {"window", {{"seconds", window},
                                      {"requests", v.recent.requests},
                                      {"errors", v.recent.errors},
                                      {"p50_ms", v.recent.p50_ms},
                                      {"p99_ms", v.recent.p99_ms}}}});
          if (v.llm) {
            const LlmSnapshot& l = *v.llm;
            list.back()["llm"] = {{"prompt_tokens", l.prompt_tokens},     {"generated_tokens", l.generated_tokens},
                                  {"running", l.running},                 {"waiting", l.waiting},
                                  {"kv_blocks_used", l.kv_blocks_used},   {"kv_blocks_total", l.kv_blocks_total},
                                  {"ttft_p50_ms", l.ttft_p50_ms},         {"ttft_p99_ms", l.ttft_p99_ms},
                                  {"itl_p50_ms", l.itl_p50_ms},           {"itl_p99_ms", l.itl_p99_ms},
                                  {"tokens_per_s", l.tokens_per_s}};
          }
        }
        return http::JsonResponse(200, {{"at", UnixNowMs()}, {"versions", list}});
      });
  add(Method::kPatch, "/api/v1/deployments/{name}", "deployments:write",
      "Change a deployment (version, alias, batching, traffic); new versions load before they take traffic",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(DeploymentView v, s.Update(*req.principal, req.Param("name"), body));
        return http::JsonResponse(200, ViewToJson(v));
      });
  add(Method::kDelete, "/api/v1/deployments/{name}", "deployments:write",
      "Delete a deployment (queued requests finish first)", [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Delete(req.Param("name")));
        return http::NoContent();
      });

  // -- Open Inference Protocol v2 -------------------------------------------------------------
  add(Method::kGet, "/v2/health/live", "", "OIP: the server is live", [](Request&) {
    return http::JsonResponse(200, {{"live", true}});
  }).anonymous = true;
  add(Method::kGet, "/v2/health/ready", "", "OIP: every deployment is loaded", [&s](Request& req) -> Response {
    if (!s.AllReady()) return OipError(Status::Unavailable("deployments are loading"), req);
    return http::JsonResponse(200, {{"ready", true}});
  }).anonymous = true;
  add(Method::kGet, "/v2", "", "OIP: server metadata", [](Request&) {
    return http::JsonResponse(200, {{"name", "aimass"},
                                    {"version", kServerVersion},
                                    {"extensions", {"binary_tensor_data", "model_repository", "statistics"}}});
  });
  for (std::string prefix : {"/v2/models/{name}", "/v2/models/{name}/versions/{version}"}) {
    add(Method::kGet, prefix, "", "OIP: model metadata", [&s](Request& req) { return Metadata(s, req); });
    add(Method::kGet, prefix + "/ready", "", "OIP: model readiness", [&s](Request& req) { return ModelReady(s, req); });
    add(Method::kPost, prefix + "/infer", "", "OIP: inference (JSON or binary tensor extension)",
        [&s](Request& req) { return Infer(s, req); });
    routes.back().max_body_bytes = options.max_request_bytes;
    routes.back().audited = false;
    // The handler parses, queues and returns (the answer is deferred): small requests are
    // handled on the I/O thread that read them, without a trip through the worker pool.
    routes.back().inline_max_body_bytes = 64 * 1024;
    add(Method::kGet, prefix + "/stats", "", "OIP statistics extension: one deployment",
        [&s](Request& req) { return ModelStats(s, req); });
  }
  add(Method::kGet, "/v2/models/stats", "", "OIP statistics extension: every deployment the caller may invoke",
      [&s](Request& req) { return ModelStats(s, req); });
  add(Method::kPost, "/v2/repository/index", "deployments:read", "OIP repository extension: deployments and states",
      [&s](Request&) {
        Json list = Json::array();
        for (const auto& v : s.List()) {
          Json e = {{"name", v.spec.name}, {"state", v.state == "ready" ? "READY" : v.state == "loading" ? "LOADING" : "UNAVAILABLE"}};
          if (!v.serving.empty()) e["version"] = std::to_string(v.serving[0].version);
          if (!v.reason.empty()) e["reason"] = v.reason;
          list.push_back(e);
        }
        return http::JsonResponse(200, list);
      });
  add(Method::kPost, "/v2/repository/models/{name}/load", "deployments:write", "OIP repository extension: load",
      [&s](Request& req) -> Response {
        OIP_TRY_STATUS(s.Load(req.Param("name")));
        return http::JsonResponse(200, Json::object());
      });
  add(Method::kPost, "/v2/repository/models/{name}/unload", "deployments:write", "OIP repository extension: unload",
      [&s](Request& req) -> Response {
        OIP_TRY_STATUS(s.Unload(req.Param("name")));
        return http::JsonResponse(200, Json::object());
      });
  add(Method::kPost, "/v1/models/{name}:predict", "", "v1 predict: {\"instances\": [...]} → {\"predictions\": [...]}",
      [&s](Request& req) { return Predict(s, req); });
  routes.back().max_body_bytes = options.max_request_bytes;
  routes.back().audited = false;

  for (auto& r : routes) {
    if (!r.pattern.starts_with("/api/")) r.error_response = OipErrorResponse;
    AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  }
  return Status::Ok();
}

}  // namespace aimass::serving
