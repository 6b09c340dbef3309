// /openapi.json is generated from the route table, so it lists exactly what is served.
#include <nlohmann/json.hpp>

#include "common/text.hpp"
#include "server/core_api.hpp"

namespace aimass::server {

namespace {

std::vector<std::string> PathParams(const std::string& pattern) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string::npos) {
    size_t end = pattern.find('}', pos);
    std::string name = pattern.substr(pos + 1, end - pos - 1);
    if (name.ends_with("...")) name.resize(name.size() - 3);
    out.push_back(name);
    pos = end;
  }
  return out;
}

std::string OpenApiPath(const std::string& pattern) {
  std::string out = pattern;
  size_t pos;
  while ((pos = out.find("...}")) != std::string::npos) out.erase(pos, 3);
  return out;
}

}  // namespace

std::string OpenApiDocument(const http::Router& router) {
  using nlohmann::json;
  json error_schema = {
      {"type", "object"},
      {"properties",
       {{"error",
         {{"type", "object"},
          {"properties",
           {{"code", {{"type", "string"}}},
            {"message", {{"type", "string"}}},
            {"request_id", {{"type", "string"}}}}},
          {"required", {"code", "message", "request_id"}}}}}}};
  json paths = json::object();
  for (const http::Route* r : router.routes()) {
    json op = {{"summary", r->summary},
               {"tags", {r->tag.empty() ? "other" : r->tag}},
               {"operationId", AsciiLower(http::MethodName(r->method)) + r->pattern}};
    json params = json::array();
    for (const auto& p : PathParams(r->pattern)) {
      params.push_back({{"name", p}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    if (!params.empty()) op["parameters"] = params;
    json responses = {{"default", {{"description", "Error",
                                    {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}}}}};
    responses["2XX"] = {{"description", "Success"}};
    op["responses"] = responses;
    if (r->anonymous) {
      op["security"] = json::array();
    } else {
      op["security"] = json::array({{{"bearer", json::array()}}});
      if (!r->permission.empty()) op["x-required-permission"] = r->permission;
    }
    if (r->streaming_body) {
      op["requestBody"] = {{"content", {{"application/octet-stream", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
    } else if (r->method == http::Method::kPost || r->method == http::Method::kPut ||
               r->method == http::Method::kPatch) {
      op["requestBody"] = {{"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    }
    paths[OpenApiPath(r->pattern)][AsciiLower(http::MethodName(r->method))] = op;
  }
  json doc = {{"openapi", "3.0.3"},
              {"info", {{"title", "AI Mass"}, {"version", "0.1.0"},
                        {"description", "Self-hosted AI platform. Errors follow the model in components.schemas.Error."}}},
              {"paths", paths},
              {"components",
               {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"},
                                                 {"description", "A login JWT or an API key (amk_…)"}}}}},
                {"schemas", {{"Error", error_schema}}}}}};
  return doc.dump(2);
}

}  // namespace aimass::server
