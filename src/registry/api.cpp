#include "registry/api.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <charconv>

#include <spdlog/spdlog.h>

#include "auth/rbac.hpp"
#include "common/time.hpp"
#include "common/file.hpp"
#include "common/sha256.hpp"
#include "http/file_response.hpp"
#include "http/multipart.hpp"
#include "http/json.hpp"
#include "registry/signature_json.hpp"
#include "storage/tar_writer.hpp"

namespace aimass::registry {

using storage::TarMember;
using storage::TarWriter;

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Json ModelJson(const Model& m) {
  return {{"name", m.name},
          {"description", m.description},
          {"task", m.task},
          {"owner", m.owner},
          {"tags", m.tags},
          {"card", Json::parse(m.card_json, nullptr, false)},
          {"archived", m.archived},
          {"created_at", Rfc3339(m.created_at)},
          {"updated_at", Rfc3339(m.updated_at)}};
}

Json VersionJson(const ModelVersion& v) {
  Json j = {{"model", v.model},
            {"version", v.version},
            {"framework", v.framework},
            {"digest", v.digest},
            {"size", v.size},
            {"signature", SignatureToJson(v.signature)},
            {"metrics", Json::parse(v.metrics_json, nullptr, false)},
            {"params", Json::parse(v.params_json, nullptr, false)},
            {"lineage", Json::parse(v.lineage_json, nullptr, false)},
            {"dependencies", Json::parse(v.dependencies_json, nullptr, false)},
            {"artifact", v.kind == ArtifactKind::kDirectory
                             ? Json{{"kind", "directory"}, {"entry", v.entry}}
                             : Json{{"kind", "file"}}},
            {"status", StatusName(v.status)},
            {"created_by", v.created_by},
            {"created_at", Rfc3339(v.created_at)}};
  if (v.status == VersionStatus::kFailed) j["status_reason"] = v.status_reason;
  return j;
}

Json MoveJson(const AliasMove& m) {
  Json j = {{"alias", m.alias}, {"moved_by", m.moved_by}, {"moved_at", Rfc3339(m.moved_at)}};
  j["from_version"] = m.from_version ? Json(*m.from_version) : Json(nullptr);
  j["to_version"] = m.to_version ? Json(m.to_version) : Json(nullptr);
  return j;
}

Result<int64_t> ParseVersion(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1) {
    return Status::BadRequest("version must be a positive integer");
  }
  return v;
}

const std::vector<std::string> kOpenInferenceTypes = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                                      "INT8", "INT16", "INT32", "INT64", "FP16",
                                                      "FP32", "FP64", "BYTES"};

Result<std::vector<TensorSpec>> ParseSpecs(const Json& a, const char* side) {
  std::vector<TensorSpec> out;
  Status bad = Status::BadRequest(std::string("signature.") + side +
                                  " must be a list of {name, datatype, shape}");
  if (!a.is_array()) return bad;
  for (const auto& t : a) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) return bad;
    TensorSpec s;
    s.name = t["name"].get<std::string>();
    if (s.name.empty() || s.name.size() > 256) return bad;
    if (t.contains("datatype")) {
      if (!t["datatype"].is_string()) return bad;
      s.datatype = t["datatype"].get<std::string>();
      if (std::find(kOpenInferenceTypes.begin(), kOpenInferenceTypes.end(), s.datatype) ==
          kOpenInferenceTypes.end()) {
        return Status::BadRequest("unknown datatype '" + s.datatype.substr(0, 32) + "'");
      }
    }
    if (t.contains("shape")) {
      if (!t["shape"].is_array()) return bad;
      for (const auto& d : t["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < -1) return bad;
        s.shape.push_back(d.get<int64_t>());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Version metadata travels in the X-Model-Metadata header as a JSON object, because the body
// is the raw artifact: {"signature":{"inputs":[…],"outputs":[…]},"metrics":{…},"params":{…},
// "lineage":{…},"dependencies":[…]}.
Status ParseMetadataJson(std::string_view text, NewVersion& v) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::InvalidJson("the version metadata is not valid JSON");
  if (!j.is_object()) return Status::BadRequest("the version metadata must be a JSON object");
  if (j.contains("signature")) {
    const Json& s = j["signature"];
    if (!s.is_object()) return Status::BadRequest("signature must be an object");
    if (s.contains("inputs")) {
      auto in = ParseSpecs(s["inputs"], "inputs");
      if (!in.ok()) return in.status();
      v.declared.inputs = std::move(*in);
    }
    if (s.contains("outputs")) {
      auto out = ParseSpecs(s["outputs"], "outputs");
      if (!out.ok()) return out.status();
      v.declared.outputs = std::move(*out);
    }
  }
  if (j.contains("metrics")) {
    if (!j["metrics"].is_object()) return Status::BadRequest("metrics must be an object of numbers");
    for (const auto& [k, val] : j["metrics"].items()) {
      if (!val.is_number()) return Status::BadRequest("metric '" + k.substr(0, 64) + "' must be a number");
    }
    v.metrics_json = j["metrics"].dump();
  }
  for (auto [key, target] : {std::pair{"params", &v.params_json}, std::pair{"lineage", &v.lineage_json}}) {
    if (j.contains(key)) {
      if (!j[key].is_object()) return Status::BadRequest(std::string(key) + " must be an object");
      *target = j[key].dump();
    }
  }
  if (j.contains("dependencies")) {
    if (!j["dependencies"].is_array()) return Status::BadRequest("dependencies must be an array");
    v.dependencies_json = j["dependencies"].dump();
  }
  if (j.contains("entry")) {
    if (!j["entry"].is_string()) return Status::BadRequest("entry must be a path in the archive");
    v.entry = j["entry"].get<std::string>();
  }
  return Status::Ok();
}

Status ParseMetadata(const Request& req, NewVersion& v) {
  auto h = req.headers.Get("X-Model-Metadata");
  if (!h) return Status::Ok();
  return ParseMetadataJson(*h, v);
}

// multipart/form-data with a `file` part (the artifact) and an optional `metadata` part (the
// same JSON as X-Model-Metadata). The spool is mapped, not read; the file part is copied into
// its own temp file beside it, hashed on the way, and becomes the upload.
Status SplitMultipart(const Request& req, std::string_view content_type, NewVersion& v,
                      std::string& artifact_path, std::string& file_type) {
  AIMASS_ASSIGN_OR_RETURN(std::string boundary, http::MultipartBoundary(content_type));
  int fd = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot read the upload");
  size_t size = req.body_size;
  void* map = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  ::close(fd);
  if (size && map == MAP_FAILED) return Status::Internal("cannot map the upload");
  std::string_view body(static_cast<const char*>(map), size);
  Status st = [&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto parts, http::ParseMultipart(body, boundary));
    const http::MultipartPart* file = nullptr;
    for (const auto& p : parts) {
      if (p.name == "file") file = &p;
      if (p.name == "metadata") AIMASS_RETURN_IF_ERROR(ParseMetadataJson(body.substr(p.offset, p.length), v));
    }
    if (!file) return Status::BadRequest("multipart upload needs a part named 'file'");
    file_type = file->content_type;
    artifact_path = req.body_file + ".file";
    int out = ::open(artifact_path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (out < 0) return Status::Internal("cannot write the artifact");
    Sha256 hash;
    std::string_view data = body.substr(file->offset, file->length);
    bool ok = true;
    for (size_t off = 0; ok && off < data.size(); off += 1 << 20) {
      std::string_view slice = data.substr(off, 1 << 20);
      hash.Update(slice);
      ok = WriteAll(out, slice);
    }
    ::close(out);
    if (!ok) return Status::Internal("cannot write the artifact");
    v.spooled_path = artifact_path;
    v.sha256_hex = hash.FinishHex();
    v.size = data.size();
    return Status::Ok();
  }();
  if (map && map != MAP_FAILED) ::munmap(map, size);
  return st;
}

// Protected aliases (production) need manage access to the model on top of write.
Status CheckAliasPermission(Registry& reg, const Request& req, const std::string& alias) {
  if (!IsProtectedAlias(alias)) return Status::Ok();
  Status st = reg.Authorize(*req.principal, req.Param("name"), Access::kManage);
  if (st.code() == Code::kForbidden) {
    return Status::Forbidden("alias '" + alias + "' is protected: 'manage' access to the model is required");
  }
  return st;
}

Result<Access> ParseAccess(const std::string& s) {
  if (s == "read") return Access::kRead;
  if (s == "write") return Access::kWrite;
  if (s == "manage") return Access::kManage;
  return Status::BadRequest("level must be read, write or manage");
}

// A directory version downloads as a tar, written while it is sent.
class TarStream : public http::ResponseStream {
 public:
  explicit TarStream(std::vector<TarMember> members, int64_t mtime)
      : writer_(std::move(members), mtime) {}
  bool Poll(std::string& out) override {
    if (failed_) return false;
    auto more = writer_.Next(out, 1 << 20);
    if (!more.ok()) {
      spdlog::error("tar download stopped: {}", more.status().message());
      failed_ = true;
      return false;
    }
    return *more;
  }
  void SetWake(std::function<void()>) override {}  // always ready
  void Close() override {}
  bool Bulk() const override { return true; }
  bool Failed() const override { return failed_; }

 private:
  TarWriter writer_;
  bool failed_ = false;
};

Response TarResponse(Registry& registry, const Request& req, const ModelVersion& v) {
  HTTP_TRY(auto files, registry.Files(v.model, v.version));
  std::vector<TarMember> members;
  for (const auto& f : files) {
    HTTP_TRY(std::string source, registry.FilePath(f));
    members.push_back({f.path, f.size, f.executable, std::move(source)});
  }
  Response r;
  r.headers.Set("Content-Type", "application/x-tar");
  r.headers.Set("ETag", "\"" + v.digest + "\"");
  r.headers.Set("X-Tree-Sha256", v.digest.substr(7));
  r.headers.Set("X-Model-Version", std::to_string(v.version));
  r.stream = std::make_shared<TarStream>(std::move(members), v.created_at);
  return r;
}

Response ArtifactResponse(Registry& registry, const Request& req, const ModelVersion& v) {
  if (v.status != VersionStatus::kReady) {
    return http::ErrorResponse(Status::Conflict("version " + std::to_string(v.version) + " is " +
                                                std::string(StatusName(v.status))),
                               req.request_id);
  }
  if (v.kind == ArtifactKind::kDirectory) return TarResponse(registry, req, v);
  auto path = registry.ArtifactPath(v);
  if (!path.ok()) return http::ErrorResponse(path.status(), req.request_id);
  Response r = http::FileResponse(req, *path, v.size, "application/octet-stream");
  r.headers.Set("ETag", "\"" + v.digest + "\"");
  r.headers.Set("X-Content-Sha256", v.digest.substr(7));
  r.headers.Set("X-Model-Version", std::to_string(v.version));
  return r;
}

Json FilesJson(const ModelVersion& v, const std::vector<TreeFile>& files) {
  Json list = Json::array();
  for (const auto& f : files) {
    list.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256_hex},
                    {"executable", f.executable}});
  }
  Json j = {{"model", v.model}, {"version", v.version}, {"digest", v.digest}, {"files", list}};
  j["kind"] = v.kind == ArtifactKind::kDirectory ? "directory" : "file";
  if (v.kind == ArtifactKind::kDirectory) j["entry"] = v.entry;
  return j;
}

// One file of a directory version, with Range like a whole artifact.
Response TreeFileResponse(Registry& registry, const Request& req, const ModelVersion& v) {
  if (v.status != VersionStatus::kReady) {
    return http::ErrorResponse(Status::Conflict("version " + std::to_string(v.version) + " is " +
                                                std::string(StatusName(v.status))),
                               req.request_id);
  }
  HTTP_TRY(std::string wanted, NormalizeTreePath(req.Param("path")));
  HTTP_TRY(auto files, registry.Files(v.model, v.version));
  for (const auto& f : files) {
    if (f.path != wanted) continue;
    HTTP_TRY(std::string path, registry.FilePath(f));
    Response r = http::FileResponse(req, path, f.size, "application/octet-stream");
    r.headers.Set("ETag", "\"sha256:" + f.sha256_hex + "\"");
    r.headers.Set("X-Content-Sha256", f.sha256_hex);
    r.headers.Set("X-Model-Version", std::to_string(v.version));
    return r;
  }
  return http::ErrorResponse(Status::NotFound("no file '" + wanted.substr(0, 200) + "' in version " +
                                              std::to_string(v.version)),
                             req.request_id);
}

}  // namespace

Status RegisterRoutes(http::Router& router, Registry& registry, const TarLimits& limits) {
  std::vector<http::Route> routes;
  Registry& reg = registry;
  // Routes about one model ({name} in the path) are open to any authenticated caller at the
  // route level and decide access per model (Registry::Authorize: roles, owner, grants), so a
  // grant can let someone without the role in. The declared models:* permission gives the
  // level needed.
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary,
                 http::Handler h) -> http::Route& {
    if (pattern.find("{name}") != std::string::npos) {
      Access needed = permission == "models:read" ? Access::kRead
                      : permission == "models:manage" ? Access::kManage : Access::kWrite;
      summary += " (model access: " + std::string(AccessName(needed)) + ")";
      permission.clear();
      h = [&reg, needed, inner = std::move(h)](Request& req) -> Response {
        HTTP_TRY_STATUS(reg.Authorize(*req.principal, req.Param("name"), needed));
        return inner(req);
      };
    }
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "registry",
                                     std::move(summary), std::move(h)));
    return routes.back();
  };

  add(Method::kPost, "/api/v1/models", "models:write", "Register a model",
      [&reg](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        NewModel m;
        HTTP_TRY(m.name, http::RequiredString(body, "name"));
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        HTTP_TRY(m.task, http::OptionalString(body, "task"));
        HTTP_TRY(auto tags, http::OptionalStringArray(body, "tags"));
        m.description = description.value_or("");
        m.tags = tags.value_or(std::vector<std::string>{});
        m.owner = req.principal->username;
        HTTP_TRY(Model model, reg.CreateModel(m));
        return http::JsonResponse(201, ModelJson(model));
      });

  add(Method::kGet, "/api/v1/models", "models:read",
      "List models (prefix=, task=, archived=true); with order_by=metrics.<key> [desc|asc], the best models on "
      "that metric, each with its best version",
      [&reg](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        std::optional<std::string> task;
        if (auto t = req.Query("task"); t && !t->empty()) task = std::string(*t);
        if (auto order = req.Query("order_by"); order && !order->empty()) {
          HTTP_TRY(auto ranked, reg.RankModels(task, std::string(*order), page.offset, page.size));
          Json list = Json::array();
          for (const auto& r : ranked) {
            Json j = ModelJson(r.model);
            j["best"] = {{"version", r.best_version}, {"metrics", {{r.metric, r.best_value}}}};
            list.push_back(std::move(j));
          }
          return http::JsonResponse(200, {{"models", list}, {"next_page_token", http::NextPageToken(page, ranked.size())}});
        }
        HTTP_TRY(auto models, reg.ListModels(req.Query("prefix"), req.Query("archived") == "true",
                                             page.offset, page.size, task));
        Json list = Json::array();
        for (const auto& m : models) list.push_back(ModelJson(m));
        return http::JsonResponse(200, {{"models", list},
                                        {"next_page_token", http::NextPageToken(page, models.size())}});
      });

  add(Method::kGet, "/api/v1/model-versions/search", "models:read",
      "Search versions: filter= (see registry.md), q= full text, order_by=, page_size=, page_token=",
      [&reg](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto versions, reg.SearchVersions(req.Query("filter").value_or(""), req.Query("q"),
                                                   req.Query("order_by").value_or("created"),
                                                   page.offset, page.size));
        Json list = Json::array();
        for (const auto& v : versions) list.push_back(VersionJson(v));
        return http::JsonResponse(200, {{"versions", list},
                                        {"next_page_token", http::NextPageToken(page, versions.size())}});
      });

  add(Method::kGet, "/api/v1/models/{name}", "models:read", "Show a model with its aliases",
      [&reg](Request& req) -> Response {
        HTTP_TRY(Model m, reg.GetModel(req.Param("name")));
        HTTP_TRY(auto aliases, reg.Aliases(m.name));
        Json j = ModelJson(m);
        j["aliases"] = Json::object();
        for (const auto& [alias, version] : aliases) j["aliases"][alias] = version;
        return http::JsonResponse(200, j);
      });

  add(Method::kPatch, "/api/v1/models/{name}", "models:write",
      "Change description, task, tags or archive a model", [&reg](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        ModelChange c;
        HTTP_TRY(c.description, http::OptionalString(body, "description"));
        HTTP_TRY(c.task, http::OptionalString(body, "task"));
        HTTP_TRY(c.tags, http::OptionalStringArray(body, "tags"));
        if (body.contains("archived")) {
          if (!body["archived"].is_boolean()) {
            return http::ErrorResponse(Status::BadRequest("'archived' must be a boolean"), req.request_id);
          }
          c.archived = body["archived"].get<bool>();
        }
        HTTP_TRY(Model m, reg.UpdateModel(req.Param("name"), c));
        return http::JsonResponse(200, ModelJson(m));
      });

  add(Method::kPost, "/api/v1/models/{name}/rename", "models:write", "Rename a model",
      [&reg](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string to, http::RequiredString(body, "name"));
        HTTP_TRY_STATUS(reg.RenameModel(req.Param("name"), to));
        HTTP_TRY(Model m, reg.GetModel(to));
        return http::JsonResponse(200, ModelJson(m));
      });

  add(Method::kPost, "/api/v1/models/{name}/versions", "models:write",
      "Upload an artifact (a file, or a tar of a directory) as a new version "
      "(?framework=torchscript|onnx|xgboost|fasttext|nlu|recommend|llm; metadata in "
      "X-Model-Metadata); 201 when ready, 422 when its runtime cannot load it",
      [&reg, limits](Request& req) -> Response {
        NewVersion v;
        v.framework = req.Query("framework").value_or("");
        v.spooled_path = req.body_file;
        v.sha256_hex = req.body_sha256;
        v.size = req.body_size;
        v.created_by = req.principal->username;
        HTTP_TRY_STATUS(ParseMetadata(req, v));
        std::string content_type(req.headers.Get("Content-Type").value_or(""));
        std::string extracted;  // the file part of a multipart upload, removed unless adopted
        struct Cleanup {
          std::string& path;
          ~Cleanup() {
            if (!path.empty()) ::unlink(path.c_str());
          }
        } cleanup{extracted};
        std::string artifact_type = content_type;
        if (content_type.starts_with("multipart/")) {
          HTTP_TRY_STATUS(SplitMultipart(req, content_type, v, extracted, artifact_type));
        }
        if (v.size == 0) {
          return http::ErrorResponse(Status::BadRequest("the artifact is empty"), req.request_id);
        }
        // A tar is a directory artifact: its files are unpacked now (a malformed archive or a
        // path trick is refused before any version exists) and stored one blob each.
        std::optional<UnpackedTree> tree;  // removes the files that were not adopted
        if (IsTarContentType(artifact_type)) {
          HTTP_TRY(UnpackedTree unpacked, UnpackTar(v.spooled_path, reg.TempDir(), limits));
          tree.emplace(std::move(unpacked));
          v.tree = tree->files;
        } else if (!v.entry.empty()) {
          return http::ErrorResponse(Status::BadRequest("'entry' applies to tar uploads only"),
                                     req.request_id);
        }
        HTTP_TRY(ModelVersion created, reg.CreateVersion(req.Param("name"), v));
        if (created.status == VersionStatus::kFailed) {
          Response r = http::ErrorResponse(Status::Unprocessable(created.status_reason), req.request_id);
          Json body = Json::parse(r.body);
          body["error"]["version"] = VersionJson(created);
          return http::JsonResponse(422, body);
        }
        Response r = http::JsonResponse(201, VersionJson(created));
        r.headers.Set("Location", "/api/v1/models/" + created.model + "/versions/" +
                                      std::to_string(created.version));
        return r;
      })
      .streaming_body = true;

  add(Method::kGet, "/api/v1/models/{name}/versions", "models:read", "List versions, newest first",
      [&reg](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto versions, reg.ListVersions(req.Param("name"), page.offset, page.size));
        Json list = Json::array();
        for (const auto& v : versions) list.push_back(VersionJson(v));
        return http::JsonResponse(200, {{"versions", list},
                                        {"next_page_token", http::NextPageToken(page, versions.size())}});
      });

  add(Method::kGet, "/api/v1/models/{name}/versions/{version}", "models:read", "Show a version",
      [&reg](Request& req) -> Response {
        HTTP_TRY(int64_t number, ParseVersion(req.Param("version")));
        HTTP_TRY(ModelVersion v, reg.GetVersion(req.Param("name"), number));
        return http::JsonResponse(200, VersionJson(v));
      });

  add(Method::kDelete, "/api/v1/models/{name}/versions/{version}", "models:write",
      "Delete a version (soft; its blob goes at GC when nothing else uses it)",
      [&reg](Request& req) -> Response {
        HTTP_TRY(int64_t number, ParseVersion(req.Param("version")));
        HTTP_TRY_STATUS(reg.DeleteVersion(req.Param("name"), number));
        return http::NoContent();
      });

  add(Method::kGet, "/api/v1/models/{name}/versions/{version}/artifact", "models:read",
      "Download a version's artifact (Range, HEAD, X-Content-Sha256)",
      [&reg](Request& req) -> Response {
        HTTP_TRY(int64_t number, ParseVersion(req.Param("version")));
        HTTP_TRY(ModelVersion v, reg.GetVersion(req.Param("name"), number));
        return ArtifactResponse(reg, req, v);
      });

  add(Method::kGet, "/api/v1/models/{name}@{alias}/artifact", "models:read",
      "Download the artifact an alias points at", [&reg](Request& req) -> Response {
        HTTP_TRY(ModelVersion v, reg.GetByAlias(req.Param("name"), req.Param("alias")));
        return ArtifactResponse(reg, req, v);
      });

  add(Method::kGet, "/api/v1/models/{name}/versions/{version}/files", "models:read",
      "A directory version's files with size and sha256", [&reg](Request& req) -> Response {
        HTTP_TRY(int64_t number, ParseVersion(req.Param("version")));
        HTTP_TRY(ModelVersion v, reg.GetVersion(req.Param("name"), number));
        HTTP_TRY(auto files, reg.Files(v.model, v.version));
        return http::JsonResponse(200, FilesJson(v, files));
      });

  add(Method::kGet, "/api/v1/models/{name}@{alias}/files", "models:read",
      "The files of the version an alias points at", [&reg](Request& req) -> Response {
        HTTP_TRY(ModelVersion v, reg.GetByAlias(req.Param("name"), req.Param("alias")));
        HTTP_TRY(auto files, reg.Files(v.model, v.version));
        return http::JsonResponse(200, FilesJson(v, files));
      });

  add(Method::kGet, "/api/v1/models/{name}/versions/{version}/files/{path...}", "models:read",
      "Download one file of a directory version (Range, HEAD, X-Content-Sha256)",
      [&reg](Request& req) -> Response {
        HTTP_TRY(int64_t number, ParseVersion(req.Param("version")));
        HTTP_TRY(ModelVersion v, reg.GetVersion(req.Param("name"), number));
        return TreeFileResponse(reg, req, v);
      });

  add(Method::kGet, "/api/v1/models/{name}@{alias}/files/{path...}", "models:read",
      "Download one file of the version an alias points at", [&reg](Request& req) -> Response {
        HTTP_TRY(ModelVersion v, reg.GetByAlias(req.Param("name"), req.Param("alias")));
        return TreeFileResponse(reg, req, v);
      });

  add(Method::kGet, "/api/v1/models/{name}/aliases", "models:read",
      "Aliases and their recent moves", [&reg](Request& req) -> Response {
        HTTP_TRY(auto aliases, reg.Aliases(req.Param("name")));
        HTTP_TRY(auto history, reg.AliasHistory(req.Param("name"), 100));
        Json a = Json::object();
        for (const auto& [alias, version] : aliases) a[alias] = version;
        Json h = Json::array();
        for (const auto& m : history) h.push_back(MoveJson(m));
        return http::JsonResponse(200, {{"aliases", a}, {"history", h}});
      });

  add(Method::kPut, "/api/v1/models/{name}/aliases/{alias}", "models:write",
      "Point an alias at a ready version (protected aliases such as production need models:manage)",
      [&reg](Request& req) -> Response {
        std::string alias = req.Param("alias");
        HTTP_TRY_STATUS(CheckAliasPermission(reg, req, alias));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto version, http::OptionalInt(body, "version"));
        if (!version) return http::ErrorResponse(Status::BadRequest("'version' is required"), req.request_id);
        HTTP_TRY(auto from, http::OptionalInt(body, "from_version"));
        if (from && *from < 0) return http::ErrorResponse(Status::BadRequest("'from_version' must be 0 or a version"), req.request_id);
        HTTP_TRY(AliasMove move, reg.MoveAlias(req.Param("name"), alias, *version, req.principal->username, from));
        return http::JsonResponse(200, MoveJson(move));
      });

  add(Method::kDelete, "/api/v1/models/{name}/aliases/{alias}", "models:write", "Remove an alias",
      [&reg](Request& req) -> Response {
        std::string alias = req.Param("alias");
        HTTP_TRY_STATUS(CheckAliasPermission(reg, req, alias));
        HTTP_TRY_STATUS(reg.DeleteAlias(req.Param("name"), alias, req.principal->username));
        return http::NoContent();
      });

  add(Method::kGet, "/api/v1/models/{name}/grants", "models:read", "The model's owner and grants",
      [&reg](Request& req) -> Response {
        HTTP_TRY(Model m, reg.GetModel(req.Param("name")));
        HTTP_TRY(auto grants, reg.Grants(m.name));
        Json list = Json::array();
        for (const auto& g : grants) {
          list.push_back({{"subject", g.subject}, {"level", AccessName(g.level)},
                          {"granted_by", g.granted_by}, {"granted_at", Rfc3339(g.granted_at)}});
        }
        return http::JsonResponse(200, {{"owner", m.owner}, {"grants", list}});
      });

  add(Method::kPut, "/api/v1/models/{name}/grants/{subject}", "models:manage",
      "Grant read, write or manage on this model to user:<name> or role:<name>",
      [&reg](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string level_text, http::RequiredString(body, "level"));
        HTTP_TRY(Access level, ParseAccess(level_text));
        HTTP_TRY_STATUS(reg.PutGrant(req.Param("name"), req.Param("subject"), level, req.principal->username));
        return http::JsonResponse(200, {{"subject", req.Param("subject")}, {"level", AccessName(level)}});
      });

  add(Method::kDelete, "/api/v1/models/{name}/grants/{subject}", "models:manage", "Remove a grant",
      [&reg](Request& req) -> Response {
        HTTP_TRY_STATUS(reg.DeleteGrant(req.Param("name"), req.Param("subject")));
        return http::NoContent();
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::registry
