#include "llm/model_config.hpp"

#include <nlohmann/json.hpp>

namespace aimass::llm {

namespace {

Status ReadInt(const nlohmann::json& j, const char* key, int64_t& into, bool required, int64_t min = 1) {
  if (!j.contains(key) || j[key].is_null()) {
    return required ? Status::Unprocessable(std::string("config.json needs ") + key) : Status::Ok();
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < min || j[key].get<int64_t>() > (int64_t(1) << 31)) {
    return Status::Unprocessable(std::string("config.json's ") + key + " must be an integer of at least " +
                                 std::to_string(min));
  }
  into = j[key].get<int64_t>();
  return Status::Ok();
}

Status ReadDouble(const nlohmann::json& j, const char* key, double& into) {
  if (!j.contains(key) || j[key].is_null()) return Status::Ok();
  if (!j[key].is_number() || !(j[key].get<double>() > 0)) {
    return Status::Unprocessable(std::string("config.json's ") + key + " must be a positive number");
  }
  into = j[key].get<double>();
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::Parse(const std::string& json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Unprocessable("config.json is not a JSON object");
  ModelConfig c;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    c.architecture = j["architectures"][0].get<std::string>();
  } else if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string t = j["model_type"].get<std::string>();
    c.architecture = t == "mistral" ? "MistralForCausalLM" : t == "qwen2" ? "Qwen2ForCausalLM" : t == "llama" ? "LlamaForCausalLM" : t;
  }
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM" &&
      c.architecture != "Qwen2ForCausalLM") {
    return Status::Unprocessable("config.json's architecture '" + c.architecture.substr(0, 100) +
                                 "' is not one of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
  }
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "hidden_size", c.hidden_size, true));
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "intermediate_size", c.intermediate_size, true));
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "num_hidden_layers", c.num_hidden_layers, true));
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "num_attention_heads", c.num_attention_heads, true));
  c.num_key_value_heads = c.num_attention_heads;
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "num_key_value_heads", c.num_key_value_heads, false));
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "vocab_size", c.vocab_size, true));
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "max_position_embeddings", c.max_position_embeddings, false));
  AIMASS_RETURN_IF_ERROR(ReadDouble(j, "rms_norm_eps", c.rms_norm_eps));
  AIMASS_RETURN_IF_ERROR(ReadDouble(j, "rope_theta", c.rope_theta));
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    return Status::Unprocessable("config.json's rope_scaling is not supported (plain rotary embeddings only)");
  }
  if (c.hidden_size % c.num_attention_heads != 0 && !j.contains("head_dim")) {
    return Status::Unprocessable("hidden_size must be a multiple of num_attention_heads");
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  AIMASS_RETURN_IF_ERROR(ReadInt(j, "head_dim", c.head_dim, false));
  if (c.head_dim % 2 != 0) return Status::Unprocessable("head_dim must be even (rotary embeddings rotate pairs)");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return Status::Unprocessable("num_attention_heads must be a multiple of num_key_value_heads");
  }
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean()) {
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  c.attention_bias = c.architecture == "Qwen2ForCausalLM";
  if (j.contains("attention_bias") && j["attention_bias"].is_boolean()) c.attention_bias = j["attention_bias"].get<bool>();
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_token_id = j["bos_token_id"].get<int64_t>();
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int64_t>());
    if (e.is_array()) {
      for (const auto& x : e) {
        if (x.is_number_integer()) c.eos_token_ids.push_back(x.get<int64_t>());
      }
    }
  }
  return c;
}

std::map<std::string, std::vector<int64_t>> ModelConfig::ExpectedTensors() const {
  std::map<std::string, std::vector<int64_t>> t;
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  t["model.embed_tokens.weight"] = {vocab_size, hidden_size};
  t["model.norm.weight"] = {hidden_size};
  if (!tie_word_embeddings) t["lm_head.weight"] = {vocab_size, hidden_size};
  for (int64_t l = 0; l < num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = {hidden_size};
    t[p + "post_attention_layernorm.weight"] = {hidden_size};
    t[p + "self_attn.q_proj.weight"] = {q, hidden_size};
    t[p + "self_attn.k_proj.weight"] = {kv, hidden_size};
    t[p + "self_attn.v_proj.weight"] = {kv, hidden_size};
    t[p + "self_attn.o_proj.weight"] = {hidden_size, q};
    if (attention_bias) {
      t[p + "self_attn.q_proj.bias"] = {q};
      t[p + "self_attn.k_proj.bias"] = {kv};
      t[p + "self_attn.v_proj.bias"] = {kv};
    }
    t[p + "mlp.gate_proj.weight"] = {intermediate_size, hidden_size};
    t[p + "mlp.up_proj.weight"] = {intermediate_size, hidden_size};
    t[p + "mlp.down_proj.weight"] = {hidden_size, intermediate_size};
  }
  return t;
}

int64_t ModelConfig::Parameters() const {
  int64_t n = 0;
  for (const auto& [_, shape] : ExpectedTensors()) {
    int64_t e = 1;
    for (int64_t d : shape) e *= d;
    n += e;
  }
  return n;
}

}  // namespace aimass::llm
