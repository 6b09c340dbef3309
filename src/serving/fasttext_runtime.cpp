// fastText supervised models on Debian's libfasttext. One BYTES input, a list of texts; two FP32
// outputs: [texts, labels], each label's probability, the labels in their sorted order (which
// train.fasttext's `labels` output lists), and `embedding` [texts, dim], the sentence's vector
// (the mean of its normalised word and n-gram vectors, fastText's getSentenceVector), which
// search indexes use for vector search. Texts are read as they were in training
// (common/words.hpp: lower case, punctuation as spaces).
#include <fasttext/fasttext.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "common/words.hpp"
#include "registry/validator.hpp"
#include "serving/runtime.hpp"

namespace aimass::serving {

namespace {

class FastTextRuntime : public Runtime {
 public:
  FastTextRuntime(std::unique_ptr<fasttext::FastText> ft, registry::Signature sig, std::map<std::string, int64_t> column)
      : ft_(std::move(ft)), sig_(std::move(sig)), column_(std::move(column)) {}

  const registry::Signature& signature() const override { return sig_; }

  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    const Tensor& in = inputs.at(0);
    if (in.dtype != DataType::kBytes || in.shape.size() > 2 || (in.shape.size() == 2 && in.shape[1] != 1)) {
      return Status::BadRequest("input '" + in.name + "': a fastText model takes BYTES [texts] (a list of strings)");
    }
    const int64_t labels = static_cast<int64_t>(column_.size());
    Tensor out;
    out.name = sig_.outputs[0].name;
    out.dtype = DataType::kFp32;
    std::vector<float> probs, embedding;
    const int32_t dim = ft_->getDimension();
    fasttext::Vector sentence(dim);
    size_t off = 0;
    int64_t rows = 0;
    std::vector<std::pair<fasttext::real, std::string>> predictions;
    while (off + 4 <= in.data.size()) {
      uint32_t len = 0;
      std::memcpy(&len, in.data.data() + off, 4);
      const std::string text = NormalizeWords(std::string_view(in.data).substr(off + 4, len)) + "\n";
      std::istringstream line(text);
      off += 4 + len;
      predictions.clear();
      try {
        ft_->predictLine(line, predictions, static_cast<int32_t>(labels), 0.0);
        std::istringstream again(text);
        ft_->getSentenceVector(again, sentence);
        embedding.insert(embedding.end(), sentence.data(), sentence.data() + dim);
      } catch (const std::exception& e) {
        return Status::Internal(std::string("fastText: ") + e.what());
      }
      size_t at = probs.size();
      probs.resize(at + static_cast<size_t>(labels), 0.0f);
      for (const auto& [p, label] : predictions) {
        auto it = column_.find(label);
        if (it != column_.end()) probs[at + static_cast<size_t>(it->second)] = static_cast<float>(p);
      }
      ++rows;
    }
    out.shape = {rows, labels};
    out.data.assign(reinterpret_cast<const char*>(probs.data()), probs.size() * sizeof(float));
    Tensor emb;
    emb.name = sig_.outputs[1].name;
    emb.dtype = DataType::kFp32;
    emb.shape = {rows, dim};
    emb.data.assign(reinterpret_cast<const char*>(embedding.data()), embedding.size() * sizeof(float));
    return std::vector<Tensor>{std::move(out), std::move(emb)};
  }

 private:
  std::unique_ptr<fasttext::FastText> ft_;
  registry::Signature sig_;
  std::map<std::string, int64_t> column_;  // label (with its prefix) → output column
};

}  // namespace

Result<std::unique_ptr<Runtime>> LoadFastText(const std::string& path, const registry::Signature& declared,
                                              const RuntimeOptions&) {
  auto ft = std::make_unique<fasttext::FastText>();
  std::vector<std::string> names;
  try {
    ft->loadModel(path);
    auto dict = ft->getDictionary();
    for (int32_t i = 0; i < dict->nlabels(); ++i) names.push_back(dict->getLabel(i));
  } catch (const std::exception& e) {
    return Status::Unprocessable("not a loadable fastText model: " + registry::ScrubPath(e.what(), path).substr(0, 300));
  }
  std::sort(names.begin(), names.end());
  std::map<std::string, int64_t> column;
  for (size_t i = 0; i < names.size(); ++i) column[names[i]] = static_cast<int64_t>(i);
  registry::Signature sig;
  registry::TensorSpec in{"text", "BYTES", {-1}};
  if (!declared.inputs.empty() && !declared.inputs[0].name.empty()) in.name = declared.inputs[0].name;
  sig.inputs.push_back(in);
  registry::TensorSpec out{"probabilities", "FP32", {-1, static_cast<int64_t>(names.size())}};
  if (!declared.outputs.empty() && !declared.outputs[0].name.empty()) out.name = declared.outputs[0].name;
  sig.outputs.push_back(out);
  sig.outputs.push_back({"embedding", "FP32", {-1, static_cast<int64_t>(ft->getDimension())}});
  return std::unique_ptr<Runtime>(std::make_unique<FastTextRuntime>(std::move(ft), std::move(sig), std::move(column)));
}

}  // namespace aimass::serving
