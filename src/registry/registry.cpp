#include "registry/registry.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "auth/rbac.hpp"
#include "common/failpoint.hpp"
#include "common/name.hpp"
#include "common/sha256.hpp"
#include "registry/signature_json.hpp"
#include "registry/search.hpp"
#include "registry/validator.hpp"

namespace aimass::registry {

Status ValidateModelName(std::string_view kind, std::string_view name) {
  return ValidateName(kind, name, 128);
}

const std::vector<std::string>& Tasks() {
  static const std::vector<std::string> tasks = {
      "image-classification", "object-detection",   "speech-recognition", "text-classification",
      "ner",                  "summarization",      "text-generation",    "embedding",
      "recommendation",       "tabular-regression", "tabular-classification", "other"};
  return tasks;
}

bool IsProtectedAlias(std::string_view alias) { return alias == "production"; }

static Status ValidateTask(const std::string& task) {
  if (std::find(Tasks().begin(), Tasks().end(), task) != Tasks().end()) return Status::Ok();
  return Status::BadRequest("unknown task '" + task.substr(0, 64) + "'");
}

static nlohmann::json YamlToJson(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(YamlToJson(e));
    return a;
  }
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    // Numbers stay numbers (metrics: {accuracy: 0.93}); everything else is text.
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && n.Tag() != "!") return d;
    return s;
  }
  return nullptr;
}

Result<std::string> ParseModelCard(const std::string& md) {
  if (!md.starts_with("---\n") && !md.starts_with("---\r\n")) return std::string("{}");
  size_t start = md.find('\n') + 1;
  size_t end = md.find("\n---", start);
  if (end == std::string::npos) return Status::BadRequest("model card front matter is not closed by ---");
  try {
    YAML::Node fm = YAML::Load(md.substr(start, end - start));
    if (fm.IsNull()) return std::string("{}");
    if (!fm.IsMap()) return Status::BadRequest("model card front matter must be a mapping");
    nlohmann::json j = nlohmann::json::object();
    for (const char* key : {"license", "task", "framework", "datasets", "metrics", "language", "tags"}) {
      if (fm[key]) j[key] = YamlToJson(fm[key]);
    }
    return j.dump();
  } catch (const YAML::Exception& e) {
    return Status::BadRequest(std::string("model card front matter: ") + e.what());
  }
}

Status Registry::Authorize(const Principal& who, const std::string& model, Access needed) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  Access have = Access::kNone;
  auto raise = [&](Access a) { have = std::max(have, a); };
  if (auth::Allows(who.permissions, "models:read")) raise(Access::kRead);
  if (auth::Allows(who.permissions, "models:write")) raise(Access::kWrite);
  if (auth::Allows(who.permissions, "models:manage")) raise(Access::kManage);
  if (m.owner == who.username) raise(Access::kManage);
  if (have < needed) {
    AIMASS_ASSIGN_OR_RETURN(std::vector<Grant> grants, store_.Grants(m.id));
    for (const auto& g : grants) {
      bool mine = g.subject == "user:" + who.username;
      for (const auto& r : who.roles) mine = mine || g.subject == "role:" + r;
      if (mine) raise(g.level);
    }
  }
  if (have >= needed) return Status::Ok();
  return Status::Forbidden("'" + std::string(AccessName(needed)) + "' access to model '" + model +
                           "' is required");
}

Result<std::vector<Grant>> Registry::Grants(const std::string& model) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.Grants(m.id);
}

static Status ValidateSubject(const std::string& subject) {
  for (const char* prefix : {"user:", "role:"}) {
    if (subject.starts_with(prefix)) return ValidateName("subject", subject.substr(5), 64);
  }
  return Status::BadRequest("grant subject must be user:<name> or role:<name>");
}

Status Registry::PutGrant(const std::string& model, const std::string& subject, Access level,
                          const std::string& by) {
  AIMASS_RETURN_IF_ERROR(ValidateSubject(subject));
  if (level == Access::kNone) return Status::BadRequest("level must be read, write or manage");
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_RETURN_IF_ERROR(store_.PutGrant(m.id, Grant{subject, level, by, 0}));
  Emit("registry.grant.changed", nlohmann::json{{"model", model}, {"subject", subject},
                                                {"level", AccessName(level)}}.dump());
  return Status::Ok();
}

Status Registry::DeleteGrant(const std::string& model, const std::string& subject) {
  AIMASS_RETURN_IF_ERROR(ValidateSubject(subject));
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_RETURN_IF_ERROR(store_.DeleteGrant(m.id, subject));
  Emit("registry.grant.changed", nlohmann::json{{"model", model}, {"subject", subject}, {"level", "none"}}.dump());
  return Status::Ok();
}

void Registry::Emit(const char* topic, const std::string& json_data) {
  if (bus_) bus_->Publish(topic, json_data);
}

Result<Model> Registry::CreateModel(const NewModel& in) {
  AIMASS_RETURN_IF_ERROR(ValidateModelName("model", in.name));
  Model m;
  m.name = in.name;
  m.description = in.description;
  m.owner = in.owner;
  m.tags = in.tags;
  AIMASS_ASSIGN_OR_RETURN(m.card_json, ParseModelCard(in.description));
  auto card = nlohmann::json::parse(m.card_json);
  // The explicit field wins; the card fills what the request left out.
  m.task = in.task.value_or(card.contains("task") && card["task"].is_string()
                                ? card["task"].get<std::string>()
                                : "other");
  if (card.contains("tags") && card["tags"].is_array()) {
    for (const auto& t : card["tags"]) {
      if (t.is_string() && std::find(m.tags.begin(), m.tags.end(), t.get<std::string>()) == m.tags.end()) {
        m.tags.push_back(t.get<std::string>());
      }
    }
  }
  AIMASS_RETURN_IF_ERROR(ValidateTask(m.task));
  for (const auto& t : m.tags) AIMASS_RETURN_IF_ERROR(ValidateModelName("tag", t));
  AIMASS_RETURN_IF_ERROR(store_.InsertModel(m));
  Emit("registry.model.created",
       nlohmann::json{{"model", m.name}, {"task", m.task}, {"owner", m.owner}}.dump());
  return store_.FindModel(m.name);
}

Result<Model> Registry::GetModel(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(ValidateModelName("model", name));
  return store_.FindModel(name);
}

Result<std::vector<Model>> Registry::ListModels(const std::optional<std::string>& prefix,
                                                bool include_archived, int64_t offset,
                                                int64_t limit, const std::optional<std::string>& task) {
  if (task) AIMASS_RETURN_IF_ERROR(ValidateTask(*task));
  return store_.ListModels(prefix, include_archived, task, offset, limit);
}

Result<std::vector<RankedModel>> Registry::RankModels(const std::optional<std::string>& task,
                                                      const std::string& order_by, int64_t offset, int64_t limit) {
  if (task) AIMASS_RETURN_IF_ERROR(ValidateTask(*task));
  std::string key = order_by;
  bool ascending = false;
  if (size_t sp = key.find(' '); sp != std::string::npos) {
    std::string d = key.substr(sp + 1);
    for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (d != "asc" && d != "desc") return Status::BadRequest("order_by direction must be asc or desc");
    ascending = d == "asc";
    key = key.substr(0, sp);
  }
  if (!key.starts_with("metrics.") || key.size() == 8 || key.size() > 72) {
    return Status::BadRequest("models are ordered by metrics.<key> [desc|asc]");
  }
  key = key.substr(8);
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return Status::BadRequest("order_by: invalid metric name");
    }
  }
  return store_.RankModels(task, key, ascending, offset, limit);
}

Result<Model> Registry::UpdateModel(const std::string& name, const ModelChange& c) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(name));
  if (c.description) {
    m.description = *c.description;
    AIMASS_ASSIGN_OR_RETURN(m.card_json, ParseModelCard(m.description));
  }
  if (c.task) {
    AIMASS_RETURN_IF_ERROR(ValidateTask(*c.task));
    m.task = *c.task;
  }
  if (c.tags) {
    for (const auto& t : *c.tags) AIMASS_RETURN_IF_ERROR(ValidateModelName("tag", t));
    m.tags = *c.tags;
  }
  if (c.archived) m.archived = *c.archived;
  AIMASS_RETURN_IF_ERROR(store_.UpdateModel(m));
  Emit("registry.model.updated", nlohmann::json{{"model", m.name}, {"archived", m.archived}}.dump());
  return store_.FindModel(name);
}

Status Registry::RenameModel(const std::string& from, const std::string& to) {
  AIMASS_RETURN_IF_ERROR(ValidateModelName("model", from));
  AIMASS_RETURN_IF_ERROR(ValidateModelName("model", to));
  AIMASS_RETURN_IF_ERROR(store_.RenameModel(from, to));
  Emit("registry.model.renamed", nlohmann::json{{"from", from}, {"to", to}}.dump());
  return Status::Ok();
}

// The file of a directory artifact that its runtime loads: the one named in the metadata, else
// model.<ext>, else the only file with one of the framework's extensions.
static Result<std::string> PickEntry(const std::string& framework, const std::vector<TreeFile>& tree,
                                     const std::string& requested) {
  if (!requested.empty()) {
    AIMASS_ASSIGN_OR_RETURN(std::string path, NormalizeTreePath(requested));
    for (const auto& f : tree) {
      if (f.path == path) return path;
    }
    return Status::BadRequest("entry '" + path.substr(0, 200) + "' is not in the archive");
  }
  if (framework == "llm") {
    // A Hugging Face model directory: its config.json at the top says what it is.
    for (const auto& f : tree) {
      if (f.path == "config.json") return f.path;
    }
    return Status::BadRequest("a language model's archive needs config.json at its top (with model.safetensors and "
                              "tokenizer.model beside it)");
  }
  static const std::map<std::string, std::vector<std::string>> kExtensions = {
      {"torchscript", {".pt", ".pth", ".torchscript", ".ts", ".jit"}},
      {"onnx", {".onnx"}},
      {"xgboost", {".ubj", ".json", ".model", ".bin", ".xgb"}},
      {"fasttext", {".bin", ".ftz"}},
      {"nlu", {".nlu"}},
      {"recommend", {".rec"}}};
  auto it = kExtensions.find(framework);
  std::vector<std::string> found;
  for (const auto& f : tree) {
    std::string base = f.path.substr(f.path.rfind('/') + 1);
    for (const auto& ext : it->second) {
      if (base == "model" + ext && f.path == base) return f.path;
      if (base.size() > ext.size() && base.ends_with(ext)) found.push_back(f.path);
    }
  }
  if (found.size() == 1) return found[0];
  return Status::BadRequest(std::string(found.empty() ? "no" : "more than one") + " " + framework +
                            " file in the archive: name the one to load in the metadata's 'entry'");
}

Result<ModelVersion> Registry::CreateVersion(const std::string& model, const NewVersion& in) {
  const ArtifactValidator* validator = ValidatorFor(in.framework);
  if (!validator) {
    return Status::BadRequest("framework must be one of torchscript, onnx, xgboost, fasttext, nlu, recommend, llm");
  }
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  if (m.archived) return Status::Conflict("model '" + model + "' is archived");
  // The version (pending) records its digests before the bytes are adopted, so that blob GC
  // never finds a blob unreferenced.
  ModelVersion v;
  v.model = model;
  v.framework = in.framework;
  if (in.tree.empty()) {
    v.digest = "sha256:" + in.sha256_hex;
    v.size = in.size;
  } else {
    v.kind = ArtifactKind::kDirectory;
    AIMASS_ASSIGN_OR_RETURN(v.entry, PickEntry(in.framework, in.tree, in.entry));
    v.digest = TreeDigest(in.tree);
    for (const auto& f : in.tree) v.size += f.size;
  }
  v.signature = in.declared;
  v.metrics_json = in.metrics_json;
  v.params_json = in.params_json;
  v.lineage_json = in.lineage_json;
  v.dependencies_json = in.dependencies_json;
  v.created_by = in.created_by;
  AIMASS_ASSIGN_OR_RETURN(v.version, store_.InsertVersion(m.id, v, in.tree));
  Emit("registry.version.created", nlohmann::json{{"model", model}, {"version", v.version},
                                                  {"framework", v.framework}, {"digest", v.digest}}.dump());
  (void)AIMASS_FAILPOINT("registry.after_version_insert");
  std::string entry_digest = "sha256:" + in.sha256_hex;
  Status stored = Status::Ok();
  if (in.tree.empty()) {
    stored = blobs_.Adopt(in.spooled_path, in.sha256_hex).status();
  } else {
    for (const auto& f : in.tree) {
      if (stored.ok()) stored = blobs_.Adopt(f.temp_path, f.sha256_hex).status();
      if (f.path == v.entry) entry_digest = "sha256:" + f.sha256_hex;
    }
  }
  if (!stored.ok()) {
    (void)store_.SetVersionStatus(m.id, v.version, VersionStatus::kFailed,
                                  "the artifact could not be stored", nullptr);
    return stored;
  }
  (void)AIMASS_FAILPOINT("registry.after_blob_rename");
  Status concluded = Conclude(m, v, entry_digest);
  if (!concluded.ok()) {
    // The outcome could not be written: the version must not stay pending until a restart.
    // (Best effort: if the store still refuses, the start-up check decides it.)
    (void)store_.SetVersionStatus(m.id, v.version, VersionStatus::kFailed, kInterrupted, nullptr);
    return concluded;
  }
  (void)AIMASS_FAILPOINT("registry.after_status_commit");
  return store_.FindVersion(m, v.version);
}

// Validates a version whose artifact is stored and records the outcome: ready, or failed with
// the runtime's reason. Validation reads the stored blob, so what is checked is exactly what
// will be served.
Status Registry::Conclude(const Model& m, const ModelVersion& v, const std::string& entry_digest) {
  const ArtifactValidator* validator = ValidatorFor(v.framework);
  if (!validator) return Status::Internal("no runtime for framework '" + v.framework + "'");
  Result<Signature> inferred = Signature{};
  if (v.kind == ArtifactKind::kDirectory && validator->WantsTree()) {
    std::map<std::string, std::string> files;
    AIMASS_ASSIGN_OR_RETURN(auto tree, store_.VersionFiles(m.id, v.version));
    for (const auto& f : tree) {
      AIMASS_ASSIGN_OR_RETURN(files[f.path], blobs_.LocalPath("sha256:" + f.sha256_hex));
    }
    inferred = validator->ValidateTree(files, v.entry);
  } else {
    AIMASS_ASSIGN_OR_RETURN(std::string path, blobs_.LocalPath(entry_digest));
    inferred = validator->Validate(path);
  }
  Status outcome = inferred.ok() ? CheckSignature(v.signature, *inferred) : inferred.status();
  if (int err = AIMASS_FAILPOINT("registry.before_status_commit")) {
    return failpoint::IoError("cannot record the version's status", err);
  }
  if (!outcome.ok()) {
    AIMASS_RETURN_IF_ERROR(store_.SetVersionStatus(m.id, v.version, VersionStatus::kFailed,
                                                   outcome.message(), nullptr));
    Emit("registry.version.failed", nlohmann::json{{"model", m.name}, {"version", v.version},
                                                   {"reason", outcome.message()}}.dump());
    return Status::Ok();
  }
  // A declared signature is kept (it has the names the user chose); else the inferred one,
  // whose unnamed tensors are called "input".
  Signature stored = *inferred;
  for (auto& t : stored.inputs) {
    if (t.name.empty()) t.name = "input";
  }
  const Signature* sig = v.signature.empty() ? &stored : nullptr;
  AIMASS_RETURN_IF_ERROR(store_.SetVersionStatus(m.id, v.version, VersionStatus::kReady, "", sig));
  Emit("registry.version.ready", nlohmann::json{{"model", m.name}, {"version", v.version},
                                                {"framework", v.framework}, {"digest", v.digest}}.dump());
  return Status::Ok();
}

Result<RecoveryStats> Registry::ResolvePending() {
  RecoveryStats stats;
  AIMASS_ASSIGN_OR_RETURN(auto pending, store_.PendingVersions());
  for (const auto& [name, number] : pending) {
    AIMASS_ASSIGN_OR_RETURN(Model m, store_.FindModel(name));
    AIMASS_ASSIGN_OR_RETURN(ModelVersion v, store_.FindVersion(m, number));
    // Every blob the version names must be there with the bytes its digest says; the upload
    // was spooled and hashed whole before the version existed, so a blob that is present is
    // the artifact the client sent.
    std::vector<std::pair<std::string, std::string>> blobs;  // digest, path in the tree
    if (v.kind == ArtifactKind::kDirectory) {
      AIMASS_ASSIGN_OR_RETURN(auto files, store_.VersionFiles(m.id, v.version));
      for (const auto& f : files) blobs.emplace_back("sha256:" + f.sha256_hex, f.path);
    } else {
      blobs.emplace_back(v.digest, "");
    }
    std::string entry_digest, missing;
    for (const auto& [digest, path] : blobs) {
      if (v.kind == ArtifactKind::kFile || path == v.entry) entry_digest = digest;
      auto local = blobs_.LocalPath(digest);
      auto hex = local.ok() ? Sha256FileHex(*local) : Result<std::string>(local.status());
      if (!hex.ok() || "sha256:" + *hex != digest) missing = digest;
    }
    Status st;
    if (!missing.empty() || entry_digest.empty()) {
      spdlog::warn("registry: {} version {} was interrupted before its artifact was stored ({} {}): failed",
                   name, number, missing.empty() ? "no entry" : "missing or damaged", missing);
      st = store_.SetVersionStatus(m.id, v.version, VersionStatus::kFailed, kInterrupted, nullptr);
      if (st.ok()) {
        Emit("registry.version.failed",
             nlohmann::json{{"model", name}, {"version", number}, {"reason", kInterrupted}}.dump());
        ++stats.failed;
      }
    } else {
      st = Conclude(m, v, entry_digest);
      if (st.ok()) {
        AIMASS_ASSIGN_OR_RETURN(ModelVersion done, store_.FindVersion(m, number));
        spdlog::info("registry: {} version {} was interrupted after its artifact was stored: {}", name, number,
                     StatusName(done.status));
        ++(done.status == VersionStatus::kReady ? stats.ready : stats.failed);
      }
    }
    AIMASS_RETURN_IF_ERROR(st);
  }
  return stats;
}

Status Registry::RecordSignature(const std::string& model, int64_t version, const Signature& signature) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_ASSIGN_OR_RETURN(bool recorded, store_.CompleteSignature(m.id, version, signature));
  if (recorded) {
    spdlog::info("registry: {} version {}: signature recorded from its first served request", model, version);
    Emit("registry.version.updated", nlohmann::json{{"model", model}, {"version", version},
                                                    {"signature", SignatureToJson(signature)}}.dump());
  }
  return Status::Ok();
}

Result<std::vector<TreeFile>> Registry::Files(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.VersionFiles(m.id, version);
}

Result<ModelVersion> Registry::GetVersion(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.FindVersion(m, version);
}

Result<ModelVersion> Registry::GetByAlias(const std::string& model, const std::string& alias) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_RETURN_IF_ERROR(ValidateModelName("alias", alias));
  AIMASS_ASSIGN_OR_RETURN(int64_t version, store_.ResolveAlias(m.id, alias));
  return store_.FindVersion(m, version);
}

Result<std::vector<ModelVersion>> Registry::ListVersions(const std::string& model, int64_t offset,
                                                         int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.ListVersions(m, false, offset, limit);
}

Status Registry::DeleteVersion(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_RETURN_IF_ERROR(store_.DeleteVersion(m.id, version));
  Emit("registry.version.deleted", nlohmann::json{{"model", model}, {"version", version}}.dump());
  return Status::Ok();
}

Result<std::vector<ModelVersion>> Registry::SearchVersions(std::string_view filter,
                                                           const std::optional<std::string>& text,
                                                           std::string_view order_by,
                                                           int64_t offset, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(CompiledFilter f, CompileFilter(filter));
  AIMASS_ASSIGN_OR_RETURN(std::string order, CompileOrder(order_by));
  if (text && text->size() > 512) return Status::BadRequest("q is longer than 512 characters");
  return store_.SearchVersions(f.where, f.params, text, order, offset, limit);
}

Result<AliasMove> Registry::MoveAlias(const std::string& model, const std::string& alias,
                                      int64_t version, const std::string& by,
                                      std::optional<int64_t> expected) {
  AIMASS_RETURN_IF_ERROR(ValidateModelName("alias", alias));
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_ASSIGN_OR_RETURN(AliasMove move, store_.MoveAlias(m.id, alias, version, by, expected));
  nlohmann::json e = {{"model", model}, {"alias", alias}, {"to_version", version}, {"moved_by", by}};
  e["from_version"] = move.from_version ? nlohmann::json(*move.from_version) : nlohmann::json(nullptr);
  Emit("registry.alias.moved", e.dump());
  return move;
}

Status Registry::DeleteAlias(const std::string& model, const std::string& alias,
                             const std::string& by) {
  AIMASS_RETURN_IF_ERROR(ValidateModelName("alias", alias));
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  AIMASS_RETURN_IF_ERROR(store_.DeleteAlias(m.id, alias, by));
  Emit("registry.alias.deleted", nlohmann::json{{"model", model}, {"alias", alias}, {"by", by}}.dump());
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, int64_t>>> Registry::Aliases(const std::string& model) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.Aliases(m.id);
}

Result<std::vector<AliasMove>> Registry::AliasHistory(const std::string& model, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Model m, GetModel(model));
  return store_.AliasHistory(m.id, limit);
}

}  // namespace aimass::registry
