#include "datasets/api.hpp"

#include <charconv>

#include "common/text.hpp"
#include "common/time.hpp"
#include "http/file_response.hpp"
#include "http/json.hpp"

namespace aimass::datasets {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

constexpr uint64_t kMaxRowsPerPage = 10000;

Json DatasetJson(const Dataset& d) {
  return {{"name", d.name},
          {"description", d.description},
          {"kind", KindName(d.kind)},
          {"owner", d.owner},
          {"has_expectations", !d.expectations.empty()},
          {"created_at", Rfc3339Ms(d.created_ms)},
          {"updated_at", Rfc3339Ms(d.updated_ms)}};
}

Json VersionJson(const DatasetVersion& v) {
  Json j = {{"dataset", v.dataset},
            {"version", v.version},
            {"status", v.status},
            {"digest", v.digest},
            {"row_count", v.row_count},
            {"byte_size", v.byte_size},
            {"schema", SchemaJson(v.schema)},
            {"schema_declared", v.schema_declared},
            {"source", {{"format", v.source_format}, {"bytes", v.source_bytes}, {"sha256", v.source_sha256}}},
            {"parent", v.parent ? Json(*v.parent) : Json(nullptr)},
            {"lineage", Json::parse(v.lineage_json, nullptr, false)},
            {"message", v.message},
            {"validation", v.validation_success ? Json(*v.validation_success ? "passed" : "failed") : Json(nullptr)},
            {"created_by", v.created_by},
            {"created_at", Rfc3339Ms(v.created_ms)}};
  if (v.ready_ms) j["ready_at"] = Rfc3339Ms(v.ready_ms);
  if (v.status == "failed") j["status_reason"] = v.status_reason;
  return j;
}

Result<uint64_t> QueryNumber(const Request& req, const char* key, uint64_t fallback, uint64_t max) {
  auto q = req.Query(key);
  if (!q) return fallback;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(q->data(), q->data() + q->size(), v);
  if (ec != std::errc() || p != q->data() + q->size() || v > max) {
    return Status::BadRequest(std::string(key) + " must be an integer from 0 to " + std::to_string(max));
  }
  return v;
}

// X-Dataset-Metadata: {"schema":[…], "lineage":{…}, "message":"…"}
Status ParseMetadata(const Request& req, Upload& u) {
  auto h = req.headers.Get("X-Dataset-Metadata");
  if (!h) return Status::Ok();
  Json j = Json::parse(*h, nullptr, false);
  if (j.is_discarded()) return Status::InvalidJson("X-Dataset-Metadata is not valid JSON");
  if (!j.is_object()) return Status::BadRequest("X-Dataset-Metadata must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "schema" && it.key() != "lineage" && it.key() != "message") {
      return Status::BadRequest("unknown field '" + it.key().substr(0, 64) + "' in X-Dataset-Metadata (schema, lineage, message)");
    }
  }
  if (j.contains("schema")) {
    AIMASS_ASSIGN_OR_RETURN(Schema s, ParseSchema(j["schema"]));
    u.schema = std::move(s);
  }
  if (j.contains("lineage")) {
    if (!j["lineage"].is_object()) return Status::BadRequest("lineage must be an object");
    u.lineage_json = j["lineage"].dump();
  }
  if (j.contains("message")) {
    if (!j["message"].is_string()) return Status::BadRequest("message must be a string");
    u.message = j["message"].get<std::string>().substr(0, 4096);
  }
  return Status::Ok();
}

}  // namespace

Status RegisterRoutes(http::Router& router, Datasets& datasets) {
  Datasets& ds = datasets;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "datasets", std::move(summary), std::move(h)));
    return routes.back();
  };

  add(Method::kPost, "/api/v1/datasets", "datasets:write", "Create a dataset {name, description, kind: table|files}",
      [&ds](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string name, http::RequiredString(body, "name"));
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        HTTP_TRY(auto kind, http::OptionalString(body, "kind"));
        DatasetKind k = DatasetKind::kTable;
        if (kind && *kind == "files") {
          k = DatasetKind::kFiles;
        } else if (kind && *kind != "table") {
          return http::ErrorResponse(Status::BadRequest("kind is table or files"), req.request_id);
        }
        HTTP_TRY(Dataset d, ds.Create(name, description.value_or(""), k, req.principal->username));
        Response r = http::JsonResponse(201, DatasetJson(d));
        r.headers.Set("Location", "/api/v1/datasets/" + d.name);
        return r;
      });
  add(Method::kGet, "/api/v1/datasets", "datasets:read", "List datasets", [&ds](Request& req) -> Response {
    HTTP_TRY(http::PageRequest page, http::ParsePage(req));
    HTTP_TRY(auto list, ds.List(page.size, page.offset));
    Json out = Json::array();
    for (const auto& d : list) {
      Json j = DatasetJson(d);
      auto latest = ds.Resolve(d.name, "latest");
      j["latest_version"] = latest.ok() ? Json(latest->version) : Json(nullptr);
      j["row_count"] = latest.ok() ? Json(latest->row_count) : Json(nullptr);
      out.push_back(std::move(j));
    }
    return http::JsonResponse(200, {{"datasets", out}, {"next_page_token", http::NextPageToken(page, list.size())}});
  });
  add(Method::kGet, "/api/v1/datasets/{name}", "datasets:read", "Show a dataset with its aliases and latest version",
      [&ds](Request& req) -> Response {
        HTTP_TRY(Dataset d, ds.Get(req.Param("name")));
        HTTP_TRY(auto aliases, ds.Aliases(d.name));
        Json j = DatasetJson(d);
        j["aliases"] = Json::object();
        for (const auto& [a, v] : aliases) j["aliases"][a] = v;
        auto latest = ds.Resolve(d.name, "latest");
        j["latest"] = latest.ok() ? VersionJson(*latest) : Json(nullptr);
        return http::JsonResponse(200, j);
      });
  add(Method::kPatch, "/api/v1/datasets/{name}", "datasets:write", "Change a dataset's description",
      [&ds](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        if (description) HTTP_TRY_STATUS(ds.SetDescription(req.Param("name"), *description));
        HTTP_TRY(Dataset d, ds.Get(req.Param("name")));
        return http::JsonResponse(200, DatasetJson(d));
      });
  add(Method::kDelete, "/api/v1/datasets/{name}", "datasets:write",
      "Delete a dataset and its versions (their segments go at the next blob GC)", [&ds](Request& req) -> Response {
        HTTP_TRY_STATUS(ds.Delete(req.Param("name")));
        return http::NoContent();
      });

  add(Method::kPost, "/api/v1/datasets/{name}/versions", "datasets:write",
      "Upload a table version: CSV, TSV or JSON Lines (Content-Type; gzip with Content-Encoding), "
      "?append=VERSION|ALIAS to add rows to one; schema, lineage and message in X-Dataset-Metadata. "
      "201 with status building (profiling follows), 200 when an identical version exists",
      [&ds](Request& req) -> Response {
        Upload u;
        u.body_path = req.body_file;
        u.body_size = req.body_size;
        u.body_sha256 = req.body_sha256;
        u.content_type = std::string(req.headers.Get("Content-Type").value_or(""));
        std::string encoding(TrimSpaces(req.headers.Get("Content-Encoding").value_or("identity")));
        for (char& c : encoding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (encoding == "gzip" || encoding == "x-gzip") {
          u.gzip = true;
        } else if (encoding != "identity") {
          return http::ErrorResponse(Status::BadRequest("Content-Encoding is gzip or identity"), req.request_id);
        }
        u.append = req.Query("append");
        HTTP_TRY_STATUS(ParseMetadata(req, u));
        HTTP_TRY(AddedVersion added, ds.AddVersion(req.Param("name"), u, *req.principal));
        Json j = VersionJson(added.version);
        j["created"] = added.created;
        Response r = http::JsonResponse(added.created ? 201 : 200, j);
        r.headers.Set("Location", "/api/v1/datasets/" + added.version.dataset + "/versions/" +
                                      std::to_string(added.version.version));
        return r;
      })
      .streaming_body = true;
  add(Method::kGet, "/api/v1/datasets/{name}/versions", "datasets:read", "List versions, newest first",
      [&ds](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto versions, ds.Versions(req.Param("name"), page.size, page.offset));
        Json list = Json::array();
        for (const auto& v : versions) list.push_back(VersionJson(v));
        return http::JsonResponse(200, {{"versions", list}, {"next_page_token", http::NextPageToken(page, versions.size())}});
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}", "datasets:read", "Show a version (by number, alias or latest)",
      [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        return http::JsonResponse(200, VersionJson(v));
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/schema", "datasets:read", "A version's schema",
      [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        return http::JsonResponse(200, {{"dataset", v.dataset}, {"version", v.version}, {"declared", v.schema_declared},
                                        {"columns", SchemaJson(v.schema)}});
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/rows", "datasets:read",
      "Rows of a version: ?offset=&limit= (at most 10,000) &columns=a,b", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        HTTP_TRY(uint64_t offset, QueryNumber(req, "offset", 0, uint64_t{1} << 62));
        HTTP_TRY(uint64_t limit, QueryNumber(req, "limit", 100, kMaxRowsPerPage));
        std::vector<std::string> columns;
        if (auto c = req.Query("columns"); c && !c->empty()) columns = SplitCommaList(*c);
        HTTP_TRY(Json rows, ds.Rows(v, offset, limit, columns));
        return http::JsonResponse(200, rows);
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/download", "datasets:read",
      "Download a version as ?format=csv (default) or jsonl; a files dataset's files as tar (Range supported)", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        std::string format = req.Query("format").value_or("csv");
        HTTP_TRY(auto file, ds.Export(v, format));
        const char* type = format == "csv" ? "text/csv" : format == "tar" ? "application/x-tar" : "application/x-ndjson";
        Response r = http::FileResponse(req, file.first, file.second, type);
        r.headers.Set("Content-Disposition", "attachment; filename=\"" + v.dataset + "-v" + std::to_string(v.version) + "." + format + "\"");
        return r;
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/files/{path...}", "datasets:read",
      "One file of a files dataset's version (Range supported)", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        HTTP_TRY(auto file, ds.File(v, req.Param("path")));
        Response r = http::FileResponse(req, file.first, file.second.size, file.second.media_type);
        r.headers.Set("X-Content-Sha256", file.second.digest.substr(7));
        return r;
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/profile", "datasets:read",
      "A version's profile (503 while it is being built)", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        if (v.status == "failed") return http::ErrorResponse(Status::Conflict("version failed: " + v.status_reason), req.request_id);
        if (v.profile_json.empty()) {
          return http::ErrorResponse(Status::Unavailable("version " + std::to_string(v.version) + " is still being profiled"),
                                     req.request_id);
        }
        Json p = Json::parse(v.profile_json, nullptr, false);
        p["dataset"] = v.dataset;
        p["version"] = v.version;
        return http::JsonResponse(200, p);
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/drift", "datasets:read",
      "Drift of a version against ?against=VERSION|ALIAS per column (PSI, Kolmogorov-Smirnov)", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        auto against = req.Query("against");
        if (!against || against->empty()) {
          return http::ErrorResponse(Status::BadRequest("?against= names the version to compare with"), req.request_id);
        }
        HTTP_TRY(DatasetVersion w, ds.Resolve(req.Param("name"), *against));
        HTTP_TRY(Json report, ds.Drift(v, w));
        return http::JsonResponse(200, report);
      });
  add(Method::kGet, "/api/v1/datasets/{name}/versions/{v}/validation", "datasets:read",
      "The expectation suite's results on a version (Great Expectations' shape)", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        if (v.status == "building") {
          return http::ErrorResponse(Status::Unavailable("version " + std::to_string(v.version) + " is still being checked"),
                                     req.request_id);
        }
        if (v.validation_json.empty()) {
          return http::ErrorResponse(Status::NotFound("no expectation suite ran on version " + std::to_string(v.version)),
                                     req.request_id);
        }
        return http::JsonResponse(200, Json::parse(v.validation_json, nullptr, false));
      });
  add(Method::kPost, "/api/v1/datasets/{name}/versions/{v}/validate", "datasets:write",
      "Profile a version and run the current expectation suite on it again", [&ds](Request& req) -> Response {
        HTTP_TRY(DatasetVersion v, ds.Resolve(req.Param("name"), req.Param("v")));
        HTTP_TRY(DatasetVersion done, ds.Reprocess(v));
        Json j = VersionJson(done);
        if (!done.validation_json.empty()) j["validation_result"] = Json::parse(done.validation_json, nullptr, false);
        return http::JsonResponse(200, j);
      });

  add(Method::kPut, "/api/v1/datasets/{name}/expectations", "datasets:write",
      "Set the dataset's expectation suite (Great Expectations' JSON); it runs on every new version",
      [&ds](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY_STATUS(ds.SetExpectations(req.Param("name"), body));
        HTTP_TRY(Dataset d, ds.Get(req.Param("name")));
        return http::JsonResponse(200, Json::parse(d.expectations));
      });
  add(Method::kGet, "/api/v1/datasets/{name}/expectations", "datasets:read", "The dataset's expectation suite",
      [&ds](Request& req) -> Response {
        HTTP_TRY(Dataset d, ds.Get(req.Param("name")));
        if (d.expectations.empty()) {
          return http::ErrorResponse(Status::NotFound("dataset '" + d.name + "' has no expectation suite"), req.request_id);
        }
        return http::JsonResponse(200, Json::parse(d.expectations));
      });
  add(Method::kDelete, "/api/v1/datasets/{name}/expectations", "datasets:write", "Remove the dataset's expectation suite",
      [&ds](Request& req) -> Response {
        HTTP_TRY_STATUS(ds.SetExpectations(req.Param("name"), Json(nullptr)));
        return http::NoContent();
      });

  add(Method::kGet, "/api/v1/datasets/{name}/aliases", "datasets:read", "A dataset's aliases", [&ds](Request& req) -> Response {
    HTTP_TRY(auto aliases, ds.Aliases(req.Param("name")));
    Json j = Json::object();
    for (const auto& [a, v] : aliases) j[a] = v;
    return http::JsonResponse(200, {{"aliases", j}});
  });
  add(Method::kPut, "/api/v1/datasets/{name}/aliases/{alias}", "datasets:write", "Point an alias at a version {version}",
      [&ds](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto version, http::OptionalInt(body, "version"));
        if (!version) return http::ErrorResponse(Status::BadRequest("version is required"), req.request_id);
        HTTP_TRY_STATUS(ds.SetAlias(req.Param("name"), req.Param("alias"), *version, req.principal->username));
        return http::JsonResponse(200, {{"alias", req.Param("alias")}, {"version", *version}});
      });
  add(Method::kDelete, "/api/v1/datasets/{name}/aliases/{alias}", "datasets:write", "Remove an alias",
      [&ds](Request& req) -> Response {
        HTTP_TRY_STATUS(ds.DeleteAlias(req.Param("name"), req.Param("alias")));
        return http::NoContent();
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::datasets
