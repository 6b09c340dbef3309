// ArtifactValidator: loads an uploaded artifact with the runtime of its framework and reports
// what it could learn of the signature. A version becomes `ready` only after its validator
// loaded it. Validators are registered by framework name (the Envoy pattern), so serving's
// runtimes can reuse the same registry of names. Implementations keep LibTorch, OpenCV and
// XGBoost headers inside their own .cpp files.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "registry/model.hpp"

namespace aimass::registry {

class ArtifactValidator {
 public:
  virtual ~ArtifactValidator() = default;
  // Loads the artifact at `path`. A file the runtime cannot load is kUnprocessable with a
  // reason a person can act on; the inferred signature may be partial (names only).
  virtual Result<Signature> Validate(const std::string& path) const = 0;
  // A framework whose artifact is a whole directory (a language model) checks every file:
  // `files` maps each path in the tree to its local file.
  virtual bool WantsTree() const { return false; }
  virtual Result<Signature> ValidateTree(const std::map<std::string, std::string>& files, const std::string& entry) const {
    return Validate(files.at(entry));
  }
};

// The frameworks with a validator, by name: torchscript, onnx, xgboost, fasttext, nlu, recommend, llm.
const std::vector<std::string>& ValidatedFrameworks();
// nullptr for an unknown framework.
const ArtifactValidator* ValidatorFor(const std::string& framework);

// Factories, one per runtime file.
std::unique_ptr<ArtifactValidator> MakeTorchScriptValidator();
std::unique_ptr<ArtifactValidator> MakeOnnxValidator();
std::unique_ptr<ArtifactValidator> MakeXgboostValidator();
std::unique_ptr<ArtifactValidator> MakeFastTextValidator();
std::unique_ptr<ArtifactValidator> MakeRecommendValidator();
std::unique_ptr<ArtifactValidator> MakeNluValidator();
std::unique_ptr<ArtifactValidator> MakeLlmValidator();

// What an NLU model of `intents` intents takes and gives (its validator's and runtime's).
Signature NluSignature(int64_t intents);

// A runtime's error message with the server's own file path taken out: where the data
// directory lies is none of the client's business.
std::string ScrubPath(std::string message, const std::string& path);

// Checks a declared signature against an inferred one: every inferred input and output name
// must be declared (an unnamed inferred tensor matches the only declared one), and where both
// give a datatype or shape they must agree.
Status CheckSignature(const Signature& declared, const Signature& inferred);

}  // namespace aimass::registry
