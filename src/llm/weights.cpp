#include "llm/weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aimass::llm {

namespace {

float Bf16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float F16ToF32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

}  // namespace

Status Weights::Check(const ModelConfig& config, const std::map<std::string, TensorView>& tensors) {
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return Status::Unprocessable("the weights lack tensor '" + name + "'");
    if (it->second.shape != shape) {
      return Status::Unprocessable("tensor '" + name + "' has shape " + ShapeText(it->second.shape) +
                                   ", the config implies " + ShapeText(shape));
    }
    if (it->second.dtype == DType::kOther) {
      return Status::Unprocessable("tensor '" + name + "' is " + it->second.dtype_name.substr(0, 20) +
                                   ": F32, F16 or BF16 are served");
    }
  }
  return Status::Ok();
}

Result<const float*> Weights::Floats(const TensorView& t) {
  const int64_t n = t.elements();
  if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(t.data);
  }
  auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
  if (t.dtype == DType::kF32) {
    std::memcpy(buf.get(), t.data, static_cast<size_t>(n) * 4);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      buf[i] = t.dtype == DType::kBF16 ? Bf16ToF32(h) : F16ToF32(h);
    }
  }
  const float* p = buf.get();
  owned_.push_back(std::move(buf));
  return p;
}

Result<Linear> Weights::MakeLinear(const TensorView& w, const TensorView* bias) {
  Linear l;
  l.out = w.shape[0];
  l.in = w.shape[1];
  AIMASS_ASSIGN_OR_RETURN(const float* f, Floats(w));
  if (bias) {
    AIMASS_ASSIGN_OR_RETURN(l.bias, Floats(*bias));
  }
  if (!int8_) {
    l.w = f;
    return l;
  }
  auto q = std::make_unique<int8_t[]>(static_cast<size_t>(l.out * l.in));
  auto scale = std::make_unique<float[]>(static_cast<size_t>(l.out));
  for (int64_t r = 0; r < l.out; ++r) {
    const float* row = f + r * l.in;
    float max = 0;
    for (int64_t i = 0; i < l.in; ++i) max = std::max(max, std::fabs(row[i]));
    const float s = max > 0 ? max / 127.0f : 1.0f;
    scale[r] = s;
    for (int64_t i = 0; i < l.in; ++i) {
      q[r * l.in + i] = static_cast<int8_t>(std::lround(std::clamp(row[i] / s, -127.0f, 127.0f)));
    }
  }
  l.q = q.get();
  owned_q_.push_back(std::move(q));
  l.scale = scale.get();
  owned_.push_back(std::move(scale));
  // A widened copy is no longer needed once quantised.
  auto widened = std::find_if(owned_.begin(), owned_.end(), [&](const auto& p) { return p.get() == f; });
  if (widened != owned_.end()) owned_.erase(widened);
  return l;
}

Result<std::unique_ptr<Weights>> Weights::Load(const ModelConfig& config, std::unique_ptr<WeightFiles> files, bool int8) {
  AIMASS_RETURN_IF_ERROR(Check(config, files->all()));
  std::unique_ptr<Weights> w(new Weights());
  w->files_ = std::move(files);
  w->int8_ = int8;
  auto T = [&](const std::string& name) -> const TensorView& { return *w->files_->Find(name); };
  AIMASS_ASSIGN_OR_RETURN(w->embed_, w->Floats(T("model.embed_tokens.weight")));
  AIMASS_ASSIGN_OR_RETURN(w->norm_, w->Floats(T("model.norm.weight")));
  AIMASS_ASSIGN_OR_RETURN(w->lm_head_, w->MakeLinear(T(config.tie_word_embeddings ? "model.embed_tokens.weight"
                                                                                   : "lm_head.weight"),
                                                     nullptr));
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights L;
    AIMASS_ASSIGN_OR_RETURN(L.input_norm, w->Floats(T(p + "input_layernorm.weight")));
    AIMASS_ASSIGN_OR_RETURN(L.post_attention_norm, w->Floats(T(p + "post_attention_layernorm.weight")));
    auto bias = [&](const char* proj) -> const TensorView* {
      return config.attention_bias ? &T(p + "self_attn." + proj + ".bias") : nullptr;
    };
    AIMASS_ASSIGN_OR_RETURN(L.q, w->MakeLinear(T(p + "self_attn.q_proj.weight"), bias("q_proj")));
    AIMASS_ASSIGN_OR_RETURN(L.k, w->MakeLinear(T(p + "self_attn.k_proj.weight"), bias("k_proj")));
    AIMASS_ASSIGN_OR_RETURN(L.v, w->MakeLinear(T(p + "self_attn.v_proj.weight"), bias("v_proj")));
    AIMASS_ASSIGN_OR_RETURN(L.o, w->MakeLinear(T(p + "self_attn.o_proj.weight"), nullptr));
    AIMASS_ASSIGN_OR_RETURN(L.gate, w->MakeLinear(T(p + "mlp.gate_proj.weight"), nullptr));
    AIMASS_ASSIGN_OR_RETURN(L.up, w->MakeLinear(T(p + "mlp.up_proj.weight"), nullptr));
    AIMASS_ASSIGN_OR_RETURN(L.down, w->MakeLinear(T(p + "mlp.down_proj.weight"), nullptr));
    w->layers_.push_back(L);
  }
  return w;
}

size_t Weights::bytes_per_token() const {
  size_t n = lm_head_.bytes();
  for (const auto& L : layers_) {
    for (const Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) n += l->bytes();
  }
  return n;
}

}  // namespace aimass::llm
