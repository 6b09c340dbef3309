// TorchScript artifacts, loaded with LibTorch. The forward method's schema gives the input
// names; TorchScript records neither dtypes nor shapes, so those stay unknown.
#include <torch/script.h>

#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

std::string FirstLine(const std::string& s) { return s.substr(0, std::min(s.find('\n'), size_t{300})); }

class TorchScriptValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    try {
      torch::jit::Module module = torch::jit::load(path, torch::kCPU);
      auto method = module.find_method("forward");
      if (!method) return Status::Unprocessable("TorchScript module has no forward method");
      Signature sig;
      const auto& args = method->function().getSchema().arguments();
      for (size_t i = 1; i < args.size(); ++i) {  // 0 is self
        sig.inputs.push_back(TensorSpec{args[i].name(), "", {}});
      }
      return sig;
    } catch (const std::exception& e) {
      return Status::Unprocessable("not a loadable TorchScript file: " + ScrubPath(FirstLine(e.what()), path));
    }
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeTorchScriptValidator() {
  return std::make_unique<TorchScriptValidator>();
}

}  // namespace aimass::registry
