// Runtime: one loaded copy of a model that can run batches of named tensors. One interface
// for TorchScript (LibTorch), ONNX (OpenCV dnn) and XGBoost (its C API); the implementations
// are the only serving files that see those libraries' headers (object library aimass_model_runtimes, built as C++17, part of aimass_serving).
// A Runtime is used by one executor thread at a time; destroying it returns its memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "registry/model.hpp"
#include "serving/tensor.hpp"

namespace aimass::serving {

struct RuntimeOptions {
  int threads = 1;  // intra-op threads for the calling thread (see each runtime)
  bool optimize = true;  // TorchScript: freeze and apply LibTorch's inference passes
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  // The inputs and outputs as far as the artifact and the registry's signature tell. Unknown
  // datatypes are empty; unknown dimensions -1.
  virtual const registry::Signature& signature() const = 0;
  // Runs one batch. `inputs` are in the order of signature().inputs, already checked against
  // it. Called from the executor thread that owns this runtime; `threads` applies there.
  // A model error is kInternal with the runtime's message (paths scrubbed).
  virtual Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) = 0;
  // Prepares the calling thread (intra-op thread count); called once by each executor.
  virtual void BindThread() {}
};

// Loads `path` with the runtime of `framework`. `declared` is the version's signature from the
// registry (it names outputs and gives dtypes and shapes that TorchScript does not record).
Result<std::unique_ptr<Runtime>> LoadRuntime(const std::string& framework, const std::string& path,
                                             const registry::Signature& declared,
                                             const RuntimeOptions& options);

// Factories, one per runtime file.
Result<std::unique_ptr<Runtime>> LoadTorchScript(const std::string& path, const registry::Signature& declared,
                                                 const RuntimeOptions& options);
Result<std::unique_ptr<Runtime>> LoadOnnx(const std::string& path, const registry::Signature& declared,
                                          const RuntimeOptions& options);
Result<std::unique_ptr<Runtime>> LoadXgboost(const std::string& path, const registry::Signature& declared,
                                             const RuntimeOptions& options);
Result<std::unique_ptr<Runtime>> LoadFastText(const std::string& path, const registry::Signature& declared,
                                              const RuntimeOptions& options);
Result<std::unique_ptr<Runtime>> LoadNlu(const std::string& path, const registry::Signature& declared,
                                         const RuntimeOptions& options);

}  // namespace aimass::serving
