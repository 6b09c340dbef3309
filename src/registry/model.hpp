// The registry's objects as plain data: registered models, their numbered versions, tensor
// signatures and aliases. JSON conversion lives with the API; storage in store.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aimass::registry {

// One named tensor of a signature: datatype in Open Inference Protocol names (FP32, INT64…),
// shape with -1 for a variable dimension. An empty datatype or shape means "not known".
struct TensorSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
};

struct Signature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  bool empty() const { return inputs.empty() && outputs.empty(); }
  // Some input lacks its datatype or shape (TorchScript records neither): requests cannot be
  // fully checked against it, and serving completes it from the first success.
  bool lacks_types() const {
    for (const auto& t : inputs) {
      if (t.datatype.empty() || t.shape.empty()) return true;
    }
    return false;
  }
};

struct Model {
  int64_t id = 0;
  std::string name;
  std::string description;  // Markdown model card, front matter included
  std::string task = "other";
  std::string owner;
  std::vector<std::string> tags;
  std::string card_json = "{}";  // the parsed YAML front matter, as JSON text
  bool archived = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A model with the version of it that scores best on a metric (model selection).
struct RankedModel {
  Model model;
  std::string metric;
  int64_t best_version = 0;
  double best_value = 0;
};

enum class VersionStatus { kPending, kReady, kFailed };
std::string_view StatusName(VersionStatus s);

// A version's artifact is one file, or a tree of files (one blob each; see tree.hpp).
enum class ArtifactKind { kFile, kDirectory };

struct ModelVersion {
  std::string model;
  int64_t version = 0;
  std::string framework;  // torchscript | onnx | xgboost | fasttext | aimass
  ArtifactKind kind = ArtifactKind::kFile;
  // sha256:<hex> of the file in the blob store, or of a directory's manifest (TreeDigest)
  std::string digest;
  uint64_t size = 0;      // a directory's: the sum of its files
  std::string entry;      // a directory's file that the runtime loads
  Signature signature;
  std::string metrics_json = "{}";
  std::string params_json = "{}";
  std::string lineage_json = "{}";
  std::string dependencies_json = "[]";
  VersionStatus status = VersionStatus::kPending;
  std::string status_reason;
  std::string created_by;
  int64_t created_at = 0;
  bool deleted = false;
};

// Model-level access, on top of the roles: read < write < manage.
enum class Access { kNone = 0, kRead = 1, kWrite = 2, kManage = 3 };
std::string_view AccessName(Access a);

// A grant of access to one model, to a user ("user:alice") or to everyone holding a role
// ("role:vision-team").
struct Grant {
  std::string subject;
  Access level = Access::kRead;
  std::string granted_by;
  int64_t granted_at = 0;
};

struct AliasMove {
  std::string alias;
  std::optional<int64_t> from_version;
  int64_t to_version = 0;
  std::string moved_by;
  int64_t moved_at = 0;
};

}  // namespace aimass::registry
