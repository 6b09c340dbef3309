// fastText supervised models (the .bin of `fasttext supervised`, or a quantised .ftz), loaded
// with Debian's libfasttext. The signature follows from the model: a list of texts in, the
// probability of each label (in the labels' sorted order) out.
#include <fasttext/fasttext.h>

#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

class FastTextValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    int64_t labels = 0;
    try {
      fasttext::FastText ft;
      ft.loadModel(path);
      if (ft.getArgs().model != fasttext::model_name::sup) {
        return Status::Unprocessable("the fastText model is a word-vector model, not a supervised classifier");
      }
      labels = ft.getDictionary()->nlabels();
    } catch (const std::exception& e) {
      return Status::Unprocessable("not a loadable fastText model: " + ScrubPath(e.what(), path).substr(0, 300));
    }
    if (labels < 1) return Status::Unprocessable("the fastText model has no labels");
    Signature sig;
    sig.inputs.push_back(TensorSpec{"text", "BYTES", {-1}});
    sig.outputs.push_back(TensorSpec{"probabilities", "FP32", {-1, labels}});
    return sig;
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeFastTextValidator() {
  return std::make_unique<FastTextValidator>();
}

}  // namespace aimass::registry
