// Recommendation models (framework `recommend`, the .rec file the train.recommend step makes):
// parsed with the recsys library, which checks every part's size. The recommend module serves
// them, not the serving module; the signature says what an answer is: a user in, items out.
#include "common/file.hpp"
#include "recsys/model.hpp"
#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

class RecommendValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    auto bytes = ReadFile(path);
    if (!bytes.ok()) return Status::Unprocessable("the recommend model cannot be read");
    auto m = recsys::ParseModel(*bytes);
    if (!m.ok()) return Status::Unprocessable(m.status().message());
    if (m->size() == 0) return Status::Unprocessable("recommend model: it knows no items");
    Signature sig;
    sig.inputs.push_back(TensorSpec{"user", "BYTES", {-1}});
    sig.outputs.push_back(TensorSpec{"items", "BYTES", {-1, -1}});
    sig.outputs.push_back(TensorSpec{"scores", "FP32", {-1, -1}});
    return sig;
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeRecommendValidator() { return std::make_unique<RecommendValidator>(); }

}  // namespace aimass::registry
