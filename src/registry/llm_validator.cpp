// Language models (framework `llm`): a Hugging Face style directory (config.json, weights in
// model.safetensors or shards with their index, tokenizer.model). Every tensor the config
// implies must be there with its shape; only the headers are read.
#include "llm/engine.hpp"
#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

Signature TextSignature() {
  Signature sig;
  sig.inputs.push_back(TensorSpec{"prompt", "BYTES", {-1}});
  sig.outputs.push_back(TensorSpec{"text", "BYTES", {-1}});
  return sig;
}

class LlmValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string&) const override {
    return Status::Unprocessable(
        "a language model is a directory: upload a tar of config.json, model.safetensors and tokenizer.model");
  }
  bool WantsTree() const override { return true; }
  Result<Signature> ValidateTree(const std::map<std::string, std::string>& files, const std::string&) const override {
    AIMASS_RETURN_IF_ERROR(llm::Engine::Validate(files));
    return TextSignature();
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeLlmValidator() { return std::make_unique<LlmValidator>(); }

}  // namespace aimass::registry
