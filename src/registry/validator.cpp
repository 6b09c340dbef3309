#include "registry/validator.hpp"

#include <map>

namespace aimass::registry {

const std::vector<std::string>& ValidatedFrameworks() {
  static const std::vector<std::string> names = {"torchscript", "onnx", "xgboost", "fasttext", "nlu", "recommend", "llm"};
  return names;
}

const ArtifactValidator* ValidatorFor(const std::string& framework) {
  static const auto* validators = [] {
    auto* m = new std::map<std::string, std::unique_ptr<ArtifactValidator>>();
    (*m)["torchscript"] = MakeTorchScriptValidator();
    (*m)["onnx"] = MakeOnnxValidator();
    (*m)["xgboost"] = MakeXgboostValidator();
    (*m)["fasttext"] = MakeFastTextValidator();
    (*m)["nlu"] = MakeNluValidator();
    (*m)["recommend"] = MakeRecommendValidator();
    (*m)["llm"] = MakeLlmValidator();
    return m;
  }();
  auto it = validators->find(framework);
  return it == validators->end() ? nullptr : it->second.get();
}

std::string ScrubPath(std::string message, const std::string& path) {
  for (size_t at = message.find(path); !path.empty() && at != std::string::npos; at = message.find(path, at)) {
    message.replace(at, path.size(), "<artifact>");
  }
  return message;
}

static Status CheckSide(const char* side, const std::vector<TensorSpec>& declared,
                        const std::vector<TensorSpec>& inferred) {
  for (const auto& inf : inferred) {
    const TensorSpec* dec = nullptr;
    for (const auto& d : declared) {
      if (d.name == inf.name) dec = &d;
    }
    // An unnamed tensor (XGBoost's feature matrix) matches the only declared one, by position.
    if (inf.name.empty() && declared.size() == 1) dec = &declared[0];
    if (!dec) {
      return Status::Unprocessable(std::string("signature mismatch: the artifact has ") + side +
                                   " '" + inf.name + "' that the declared signature lacks");
    }
    if (!dec->datatype.empty() && !inf.datatype.empty() && dec->datatype != inf.datatype) {
      return Status::Unprocessable(std::string("signature mismatch: ") + side + " '" + inf.name +
                                   "' is " + inf.datatype + " in the artifact, declared " +
                                   dec->datatype);
    }
    if (!dec->shape.empty() && !inf.shape.empty()) {
      bool same = dec->shape.size() == inf.shape.size();
      for (size_t i = 0; same && i < inf.shape.size(); ++i) {
        same = inf.shape[i] == -1 || dec->shape[i] == -1 || inf.shape[i] == dec->shape[i];
      }
      if (!same) {
        return Status::Unprocessable(std::string("signature mismatch: ") + side + " '" +
                                     inf.name + "' has another shape in the artifact");
      }
    }
  }
  if (!inferred.empty() && declared.size() != inferred.size()) {
    return Status::Unprocessable(std::string("signature mismatch: the artifact has ") +
                                 std::to_string(inferred.size()) + " " + side + "s, declared " +
                                 std::to_string(declared.size()));
  }
  return Status::Ok();
}

Status CheckSignature(const Signature& declared, const Signature& inferred) {
  if (declared.empty()) return Status::Ok();
  AIMASS_RETURN_IF_ERROR(CheckSide("input", declared.inputs, inferred.inputs));
  return CheckSide("output", declared.outputs, inferred.outputs);
}

}  // namespace aimass::registry
