#include "search/api.hpp"

#include <chrono>

#include "common/text.hpp"
#include "common/time.hpp"
#include "http/json.hpp"
#include "search/search_request.hpp"

namespace aimass::search {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

constexpr size_t kMaxBatch = 100000;
constexpr size_t kMaxFeedback = 10000;

Json InfoJson(const IndexInfo& i) {
  Json j = i.spec.ToJson();
  j["owner"] = i.row.owner;
  j["documents"] = i.documents;
  j["terms"] = i.terms;
  j["created_at"] = Rfc3339Ms(i.row.created_ms);
  j["updated_at"] = Rfc3339Ms(i.row.updated_ms);
  if (i.spec.source) {
    j["source"]["synced_version"] = i.row.synced_version ? Json(i.row.synced_version) : Json(nullptr);
    j["source"]["state"] = i.row.sync_state.empty() ? "pending" : i.row.sync_state;
    if (!i.row.sync_error.empty()) j["source"]["error"] = i.row.sync_error;
  }
  return j;
}

Json ResultJson(const SearchResult& r, double took_ms) {
  Json hits = Json::array();
  for (const auto& h : r.hits) {
    hits.push_back({{"id", h.id}, {"score", h.score}, {"document", h.document}, {"highlights", h.highlights}});
  }
  return {{"hits", hits}, {"total", r.total}, {"total_exact", r.total_exact}, {"facets", r.facets}, {"took_ms", took_ms}};
}

// The documents of a request: a JSON array of objects, one object, {"documents": [...]}, or
// JSON lines (application/x-ndjson, application/jsonl, or a body that is not one JSON value).
Result<std::vector<Json>> ParseDocuments(const Request& req) {
  std::string_view ct = req.headers.Get("Content-Type").value_or("");
  const bool lines = ct.find("ndjson") != std::string_view::npos || ct.find("jsonl") != std::string_view::npos;
  std::vector<Json> docs;
  if (!lines) {
    Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_discarded()) {
      if (body.is_object() && body.contains("documents")) body = body["documents"];
      if (body.is_array()) {
        if (body.size() > kMaxBatch) return Status::TooLarge("at most 100000 documents in one request");
        for (auto& d : body) docs.push_back(std::move(d));
      } else if (body.is_object()) {
        docs.push_back(std::move(body));
      } else {
        return Status::BadRequest("documents are a JSON array of objects, an object, or JSON lines");
      }
      return docs;
    }
  }
  size_t line = 0;
  for (size_t at = 0; at < req.body.size();) {
    size_t e = req.body.find('\n', at);
    if (e == std::string::npos) e = req.body.size();
    std::string_view l = TrimSpaces(std::string_view(req.body).substr(at, e - at));
    at = e + 1;
    ++line;
    if (l.empty()) continue;
    Json d = Json::parse(l, nullptr, false);
    if (d.is_discarded() || !d.is_object()) {
      return Status::InvalidJson("line " + std::to_string(line) + " is not a JSON object");
    }
    if (docs.size() >= kMaxBatch) return Status::TooLarge("at most 100000 documents in one request");
    docs.push_back(std::move(d));
  }
  if (docs.empty()) return Status::BadRequest("no documents in the body");
  return docs;
}

Response WriteAnswer(SearchService& s, Request& req, bool update) {
  HTTP_TRY(auto docs, ParseDocuments(req));
  HTTP_TRY(WriteResult r, s.Write(std::string(req.Param("name")), std::move(docs), update));
  return http::JsonResponse(200, {{"added", r.added}, {"replaced", r.replaced}, {"indexed", r.added + r.replaced}});
}

Response SearchAnswer(SearchService& s, Request& req, const Json& body) {
  const auto start = std::chrono::steady_clock::now();
  HTTP_TRY(SearchRequest r, ParseSearchRequest(body));
  HTTP_TRY(SearchResult res, s.Search(std::string(req.Param("name")), std::move(r)));
  const double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return http::JsonResponse(200, ResultJson(res, std::round(took * 1000) / 1000));
}

}  // namespace

Status RegisterRoutes(http::Router& router, SearchService& service, uint64_t max_batch_bytes) {
  SearchService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "search", std::move(summary), std::move(h)));
    return routes.back();
  };
  const std::string ix = "/api/v1/search/indexes/{name}";

  add(Method::kPost, "/api/v1/search/indexes", "search:write",
      "Create an index {name, fields: {f: {type: text|keyword|number, weight, facet, sortable}}, language, synonyms, "
      "stop_words, typo_tolerance, prefix_search, matching, ranking: {k1, b}, vector: {dims, source, fields, metric}, "
      "source: {dataset, version, id_column}}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(IndexInfo i, s.Create(body, req.principal->username));
        Response r = http::JsonResponse(201, InfoJson(i));
        r.headers.Set("Location", "/api/v1/search/indexes/" + i.spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/search/indexes", "search:read", "List the indexes with their document counts",
      [&s](Request& req) -> Response {
        HTTP_TRY(auto list, s.List());
        Json out = Json::array();
        for (const auto& i : list) out.push_back(InfoJson(i));
        return http::JsonResponse(200, {{"indexes", out}});
      });
  add(Method::kGet, ix, "search:read", "Show an index: its settings, documents, terms and dataset sync",
      [&s](Request& req) -> Response {
        HTTP_TRY(IndexInfo i, s.Get(std::string(req.Param("name"))));
        return http::JsonResponse(200, InfoJson(i));
      });
  add(Method::kPatch, ix, "search:write",
      "Change an index's settings; new fields, language or vector reindex its documents", [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(IndexInfo i, s.Update(std::string(req.Param("name")), body));
        return http::JsonResponse(200, InfoJson(i));
      });
  add(Method::kDelete, ix, "search:write", "Delete an index, its documents and feedback", [&s](Request& req) -> Response {
    HTTP_TRY_STATUS(s.Delete(std::string(req.Param("name"))));
    return http::NoContent();
  });

  add(Method::kPost, ix + "/documents", "search:write",
      "Add or replace documents (a JSON array, an object, or JSON lines; each with an id); ?mode=update merges "
      "them into the stored ones. Durable and searchable when answered",
      [&s](Request& req) -> Response {
        const std::string mode = req.Query("mode").value_or("replace");
        if (mode != "replace" && mode != "update") {
          return http::ErrorResponse(Status::BadRequest("mode is replace or update"), req.request_id);
        }
        return WriteAnswer(s, req, mode == "update");
      }).max_body_bytes = max_batch_bytes;
  add(Method::kPut, ix + "/documents", "search:write",
      "Add or partially update documents: each one's members replace the stored document's",
      [&s](Request& req) -> Response { return WriteAnswer(s, req, true); }).max_body_bytes = max_batch_bytes;
  add(Method::kGet, ix + "/documents", "search:read", "List documents by id (?offset, ?limit)", [&s](Request& req) -> Response {
    HTTP_TRY(http::PageRequest page, http::ParsePage(req, 20, 1000));
    HTTP_TRY(auto docs, s.Documents(std::string(req.Param("name")), static_cast<size_t>(page.offset), static_cast<size_t>(page.size)));
    return http::JsonResponse(200, {{"documents", docs}, {"next_page_token", http::NextPageToken(page, docs.size())}});
  });
  add(Method::kGet, ix + "/documents/{id}", "search:read", "Show a document", [&s](Request& req) -> Response {
    HTTP_TRY(Json d, s.Document(std::string(req.Param("name")), std::string(req.Param("id"))));
    return http::JsonResponse(200, d);
  });
  add(Method::kDelete, ix + "/documents/{id}", "search:write", "Delete a document", [&s](Request& req) -> Response {
    HTTP_TRY(int64_t n, s.DeleteDocuments(std::string(req.Param("name")), {std::string(req.Param("id"))}));
    if (n == 0) return http::ErrorResponse(Status::NotFound("no document '" + std::string(req.Param("id")) + "'"), req.request_id);
    return http::NoContent();
  });
  add(Method::kPost, ix + "/documents/delete", "search:write", "Delete documents {ids: [...]}", [&s](Request& req) -> Response {
    HTTP_PARSE_BODY(body);
    HTTP_TRY(auto ids, http::OptionalStringArray(body, "ids"));
    if (!ids) return http::ErrorResponse(Status::BadRequest("ids is a list of document ids"), req.request_id);
    HTTP_TRY(int64_t n, s.DeleteDocuments(std::string(req.Param("name")), *ids));
    return http::JsonResponse(200, {{"deleted", n}});
  });

  add(Method::kPost, ix + "/search", "search:read",
      "Search {q, filter, facets, sort, limit, offset, highlight, matching, typo_tolerance, prefix_search, hybrid: "
      "{ratio}, vector} → {hits: [{id, score, document, highlights}], total, facets, took_ms}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        return SearchAnswer(s, req, body);
      });
  add(Method::kGet, ix + "/search", "search:read", "Search with ?q= &filter= &limit= &offset=", [&s](Request& req) -> Response {
    Json body = Json::object();
    if (auto q = req.Query("q")) body["q"] = *q;
    if (auto f = req.Query("filter")) body["filter"] = *f;
    for (const char* k : {"limit", "offset"}) {
      if (auto v = req.Query(k)) {
        char* end = nullptr;
        long long n = std::strtoll(v->c_str(), &end, 10);
        if (v->empty() || *end) return http::ErrorResponse(Status::BadRequest(std::string(k) + " is a whole number"), req.request_id);
        body[k] = n;
      }
    }
    return SearchAnswer(s, req, body);
  });
  add(Method::kPost, ix + "/evaluate", "search:read",
      "Measure relevance {queries: [{id, q, judgements: {doc id: grade}}], k, search: {options}} → ndcg@k, map, p@k, "
      "recall@100, per_query",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json out, s.Evaluate(std::string(req.Param("name")), body));
        return http::JsonResponse(200, out);
      }).max_body_bytes = max_batch_bytes;
  add(Method::kPost, ix + "/feedback", "search:read",
      "Record clicks {events: [{query, id, position, kind: click|purchase|…}]} for later learning to rank",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        if (!body.contains("events") || !body["events"].is_array() || body["events"].empty() ||
            body["events"].size() > kMaxFeedback) {
          return http::ErrorResponse(Status::BadRequest("events is a list of 1-10000 {query, id, position, kind}"), req.request_id);
        }
        std::vector<FeedbackRow> rows;
        const int64_t now = UnixNowMs();
        for (const auto& e : body["events"]) {
          if (!e.is_object() || !e.contains("query") || !e["query"].is_string() || !e.contains("id") ||
              !(e["id"].is_string() || e["id"].is_number_integer())) {
            return http::ErrorResponse(Status::BadRequest("each event is {query, id, position, kind}"), req.request_id);
          }
          FeedbackRow r;
          r.query = e["query"].get<std::string>().substr(0, 4096);
          r.doc_id = e["id"].is_string() ? e["id"].get<std::string>() : e["id"].dump();
          if (r.doc_id.size() > 200) return http::ErrorResponse(Status::BadRequest("an id is at most 200 bytes"), req.request_id);
          if (e.contains("position")) {
            if (!e["position"].is_number_integer() || e["position"].get<int64_t>() < 0) {
              return http::ErrorResponse(Status::BadRequest("position is a whole number, 0 or more"), req.request_id);
            }
            r.position = e["position"].get<int64_t>();
          }
          r.kind = "click";
          if (e.contains("kind")) {
            if (!e["kind"].is_string() || e["kind"].get<std::string>().empty() || e["kind"].get<std::string>().size() > 64) {
              return http::ErrorResponse(Status::BadRequest("kind is a word such as click or purchase"), req.request_id);
            }
            r.kind = e["kind"].get<std::string>();
          }
          r.user = req.principal->username;
          r.created_ms = now;
          rows.push_back(std::move(r));
        }
        HTTP_TRY_STATUS(s.AddFeedback(std::string(req.Param("name")), std::move(rows)));
        return http::JsonResponse(202, {{"recorded", body["events"].size()}});
      });
  add(Method::kGet, ix + "/feedback", "search:read", "The feedback recorded, newest first", [&s](Request& req) -> Response {
    HTTP_TRY(http::PageRequest page, http::ParsePage(req, 100, 10000));
    HTTP_TRY(auto rows, s.Feedback(std::string(req.Param("name")), page.size, page.offset));
    Json out = Json::array();
    for (const auto& r : rows) {
      out.push_back({{"id", r.doc_id}, {"query", r.query}, {"position", r.position}, {"kind", r.kind}, {"user", r.user},
                     {"created_at", Rfc3339Ms(r.created_ms)}});
    }
    return http::JsonResponse(200, {{"events", out}, {"next_page_token", http::NextPageToken(page, rows.size())}});
  });
  add(Method::kPost, ix + "/sync", "search:write", "Read the source dataset's version into the index now",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Sync(std::string(req.Param("name"))));
        HTTP_TRY(IndexInfo i, s.Get(std::string(req.Param("name"))));
        return http::JsonResponse(200, InfoJson(i));
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::search
