// XGBoost models on XGBoost's C API. One FP32 input [rows, features]; one output with a row per
// input row (a value, or a value per class for multi-class models). `threads` is the booster's
// nthread.
#include <xgboost/c_api.h>

#include <cmath>
#include <limits>

#include "registry/validator.hpp"
#include "serving/runtime.hpp"

namespace aimass::serving {

namespace {

class XgboostRuntime : public Runtime {
 public:
  XgboostRuntime(BoosterHandle booster, registry::Signature sig) : booster_(booster), sig_(std::move(sig)) {}
  ~XgboostRuntime() override { XGBoosterFree(booster_); }

  const registry::Signature& signature() const override { return sig_; }

  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    const Tensor& in = inputs.at(0);
    if (in.dtype != DataType::kFp32 || in.shape.size() != 2) {
      return Status::BadRequest("input '" + in.name + "': XGBoost takes FP32 [rows, features]");
    }
    DMatrixHandle matrix = nullptr;
    if (XGDMatrixCreateFromMat(reinterpret_cast<const float*>(in.data.data()),
                               static_cast<bst_ulong>(in.shape[0]), static_cast<bst_ulong>(in.shape[1]),
                               std::numeric_limits<float>::quiet_NaN(), &matrix) != 0) {
      return Status::Internal(std::string("XGBoost: ") + XGBGetLastError());
    }
    const char* config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    int rc = XGBoosterPredictFromDMatrix(booster_, matrix, config, &shape, &dims, &result);
    Result<std::vector<Tensor>> out = Status::Internal("unreachable");
    if (rc != 0) {
      out = Status::Internal(std::string("the model failed: ") + XGBGetLastError());
    } else {
      Tensor t;
      t.name = sig_.outputs.empty() ? "output__0" : sig_.outputs[0].name;
      t.dtype = DataType::kFp32;
      size_t n = 1;
      for (bst_ulong i = 0; i < dims; ++i) {
        t.shape.push_back(static_cast<int64_t>(shape[i]));
        n *= shape[i];
      }
      t.data.assign(reinterpret_cast<const char*>(result), n * sizeof(float));
      out = std::vector<Tensor>{std::move(t)};
    }
    XGDMatrixFree(matrix);
    return out;
  }

 private:
  BoosterHandle booster_;
  registry::Signature sig_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> LoadXgboost(const std::string& path, const registry::Signature& declared,
                                             const RuntimeOptions& options) {
  BoosterHandle booster = nullptr;
  if (XGBoosterCreate(nullptr, 0, &booster) != 0) return Status::Internal(std::string("XGBoost: ") + XGBGetLastError());
  bst_ulong features = 0;
  if (XGBoosterLoadModel(booster, path.c_str()) != 0 || XGBoosterGetNumFeature(booster, &features) != 0) {
    std::string err = XGBGetLastError();
    XGBoosterFree(booster);
    return Status::Unprocessable("not a loadable XGBoost model: " + registry::ScrubPath(err, path).substr(0, 300));
  }
  XGBoosterSetParam(booster, "nthread", std::to_string(options.threads).c_str());
  registry::Signature sig;
  registry::TensorSpec in{"input", "FP32", {-1, static_cast<int64_t>(features)}};
  if (!declared.inputs.empty() && !declared.inputs[0].name.empty()) in.name = declared.inputs[0].name;
  sig.inputs.push_back(in);
  registry::TensorSpec out{"output__0", "FP32", {-1}};
  if (!declared.outputs.empty()) out = declared.outputs[0];
  out.datatype = "FP32";
  sig.outputs.push_back(out);
  return std::unique_ptr<Runtime>(std::make_unique<XgboostRuntime>(booster, std::move(sig)));
}

}  // namespace aimass::serving
