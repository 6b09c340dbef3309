// NLU models (framework `nlu`): one BYTES input, a list of texts; four outputs per text, its
// intent (BYTES: the intent's name, or out_of_scope), confidence (FP32), every intent's
// probability (FP32 [texts, intents], in the model's intent order) and entities (BYTES: a JSON
// array of {entity, value, start, end, extractor, confidence}, offsets in bytes).
#include <nlohmann/json.hpp>

#include "common/file.hpp"
#include "registry/validator.hpp"
#include "serving/runtime.hpp"
#include "text/nlu_model.hpp"

namespace aimass::serving {

namespace {

class NluRuntime : public Runtime {
 public:
  NluRuntime(std::unique_ptr<text::NluModel> model, registry::Signature sig) : model_(std::move(model)), sig_(std::move(sig)) {}

  const registry::Signature& signature() const override { return sig_; }

  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    const Tensor& in = inputs.at(0);
    if (in.dtype != DataType::kBytes || in.shape.size() > 2 || (in.shape.size() == 2 && in.shape[1] != 1)) {
      return Status::BadRequest("input '" + in.name + "': an NLU model takes BYTES [texts] (a list of strings)");
    }
    const int64_t n = static_cast<int64_t>(model_->intents().size());
    Tensor intent{sig_.outputs[0].name, DataType::kBytes, {}, {}};
    Tensor confidence{sig_.outputs[1].name, DataType::kFp32, {}, {}};
    Tensor probabilities{sig_.outputs[2].name, DataType::kFp32, {}, {}};
    Tensor entities{sig_.outputs[3].name, DataType::kBytes, {}, {}};
    std::vector<float> conf, probs;
    int64_t rows = 0;
    for (std::string_view text : BytesElements(in.data)) {
      ++rows;
      text::NluPrediction pr = model_->Predict(text);
      AppendBytesElement(intent.data, pr.intent);
      conf.push_back(static_cast<float>(pr.confidence));
      probs.insert(probs.end(), pr.probabilities.begin(), pr.probabilities.end());
      nlohmann::json ents = nlohmann::json::array();
      for (const auto& e : pr.entities) ents.push_back(text::EntityJson(e));
      AppendBytesElement(entities.data, ents.dump());
    }
    intent.shape = {rows};
    entities.shape = {rows};
    confidence.shape = {rows};
    confidence.data.assign(reinterpret_cast<const char*>(conf.data()), conf.size() * sizeof(float));
    probabilities.shape = {rows, n};
    probabilities.data.assign(reinterpret_cast<const char*>(probs.data()), probs.size() * sizeof(float));
    return std::vector<Tensor>{std::move(intent), std::move(confidence), std::move(probabilities), std::move(entities)};
  }

 private:
  std::unique_ptr<text::NluModel> model_;
  registry::Signature sig_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> LoadNlu(const std::string& path, const registry::Signature&, const RuntimeOptions&) {
  AIMASS_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  auto model = text::NluModel::Load(bytes);
  if (!model.ok()) return Status::Unprocessable(model.status().message());
  registry::Signature sig = registry::NluSignature(static_cast<int64_t>((*model)->intents().size()));
  return std::unique_ptr<Runtime>(std::make_unique<NluRuntime>(std::move(*model), std::move(sig)));
}

}  // namespace aimass::serving
