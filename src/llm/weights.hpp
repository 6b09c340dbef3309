// Weights: a decoder's tensors ready for the kernels. F32 tensors are used where the mapped
// file holds them (no copy); F16 and BF16 ones are widened to F32 at load; with int8 on, every
// projection is quantised per output row (symmetric, weight-only) so that a decode step reads
// a quarter of the bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "llm/model_config.hpp"
#include "llm/safetensors.hpp"

namespace aimass::llm {

// y = W x (+ b) for W of [out, in]: F32, or int8 with a scale per row.
struct Linear {
  int64_t out = 0, in = 0;
  const float* w = nullptr;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  // Bytes a pass over it reads.
  size_t bytes() const { return static_cast<size_t>(out * in) * (q ? 1 : 4) + (q ? out * 4 : 0); }
};

struct LayerWeights {
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  Linear q, k, v, o, gate, up, down;
};

class Weights {
 public:
  // Checks every tensor the config implies against the files (present, shape, F32/F16/BF16)
  // and makes them ready. The files stay open as long as the Weights.
  static Result<std::unique_ptr<Weights>> Load(const ModelConfig& config, std::unique_ptr<WeightFiles> files, bool int8);
  // The same check on the headers only (the registry's validation at upload).
  static Status Check(const ModelConfig& config, const std::map<std::string, TensorView>& tensors);

  const float* embed() const { return embed_; }  // [vocab, hidden]
  const float* norm() const { return norm_; }
  const Linear& lm_head() const { return lm_head_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // Bytes one decode step reads (every projection and the head once).
  size_t bytes_per_token() const;
  bool int8() const { return int8_; }

 private:
  Result<const float*> Floats(const TensorView& t);
  Result<Linear> MakeLinear(const TensorView& w, const TensorView* bias);

  std::unique_ptr<WeightFiles> files_;
  bool int8_ = false;
  std::vector<std::unique_ptr<float[]>> owned_;
  std::vector<std::unique_ptr<int8_t[]>> owned_q_;
  const float* embed_ = nullptr;
  const float* norm_ = nullptr;
  Linear lm_head_;
  std::vector<LayerWeights> layers_;
};

}  // namespace aimass::llm
