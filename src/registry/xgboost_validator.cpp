// XGBoost models (JSON, UBJSON or the legacy binary format), loaded with XGBoost's C API. The
// input is a feature matrix without a name: its width (the model's feature count) is what the
// signature can say.
#include <xgboost/c_api.h>

#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

class XgboostValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    BoosterHandle booster = nullptr;
    if (XGBoosterCreate(nullptr, 0, &booster) != 0) {
      return Status::Internal(std::string("XGBoost: ") + XGBGetLastError());
    }
    Status st;
    bst_ulong features = 0;
    if (XGBoosterLoadModel(booster, path.c_str()) != 0) {
      std::string err = XGBGetLastError();
      st = Status::Unprocessable("not a loadable XGBoost model: " + ScrubPath(err, path).substr(0, 300));
    } else if (XGBoosterGetNumFeature(booster, &features) != 0 || features == 0) {
      st = Status::Unprocessable("the XGBoost model declares no input features");
    }
    XGBoosterFree(booster);
    if (!st.ok()) return st;
    // One unnamed input: a float matrix, one row per sample, one column per feature.
    Signature sig;
    sig.inputs.push_back(TensorSpec{"", "FP32", {-1, static_cast<int64_t>(features)}});
    return sig;
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeXgboostValidator() {
  return std::make_unique<XgboostValidator>();
}

}  // namespace aimass::registry
