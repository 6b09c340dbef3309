// NLU models (framework `nlu`, the .nlu file the train.assist step makes): loaded with the text
// library. The signature follows from the model: a list of texts in; each text's intent (or
// out_of_scope), its confidence, every intent's probability, and its entities (JSON) out.
#include "common/file.hpp"
#include "registry/validator.hpp"
#include "text/nlu_model.hpp"

namespace aimass::registry {

namespace {

class NluValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    auto bytes = ReadFile(path);
    if (!bytes.ok()) return Status::Unprocessable("the NLU model cannot be read");
    auto m = text::NluModel::Load(*bytes);
    if (!m.ok()) return Status::Unprocessable(m.status().message());
    return NluSignature(static_cast<int64_t>((*m)->intents().size()));
  }
};

}  // namespace

Signature NluSignature(int64_t intents) {
  Signature sig;
  sig.inputs.push_back(TensorSpec{"text", "BYTES", {-1}});
  sig.outputs.push_back(TensorSpec{"intent", "BYTES", {-1}});
  sig.outputs.push_back(TensorSpec{"confidence", "FP32", {-1}});
  sig.outputs.push_back(TensorSpec{"probabilities", "FP32", {-1, intents}});
  sig.outputs.push_back(TensorSpec{"entities", "BYTES", {-1}});
  return sig;
}

std::unique_ptr<ArtifactValidator> MakeNluValidator() { return std::make_unique<NluValidator>(); }

}  // namespace aimass::registry
