#include "serving/runtime.hpp"

namespace aimass::serving {

Result<std::unique_ptr<Runtime>> LoadRuntime(const std::string& framework, const std::string& path,
                                             const registry::Signature& declared,
                                             const RuntimeOptions& options) {
  if (framework == "torchscript") return LoadTorchScript(path, declared, options);
  if (framework == "onnx") return LoadOnnx(path, declared, options);
  if (framework == "xgboost") return LoadXgboost(path, declared, options);
  if (framework == "fasttext") return LoadFastText(path, declared, options);
  if (framework == "nlu") return LoadNlu(path, declared, options);
  return Status::BadRequest("framework '" + framework + "' cannot be served");
}

}  // namespace aimass::serving
