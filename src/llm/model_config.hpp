// ModelConfig: a Llama-family decoder's shape, read from the `config.json` Hugging Face writes
// (Llama, Mistral and Qwen2 differ only in these fields: Qwen2 adds biases to q, k and v),
// and the weight tensors that shape implies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::llm {

struct ModelConfig {
  std::string architecture;  // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q, k, v projections have biases (Qwen2)
  int64_t bos_token_id = -1;    // -1: the tokenizer's
  std::vector<int64_t> eos_token_ids;

  // Parses config.json; every field is checked (positive, heads dividing evenly).
  static Result<ModelConfig> Parse(const std::string& json_text);
  // Each weight tensor's name and shape, as Hugging Face's Llama writes them.
  std::map<std::string, std::vector<int64_t>> ExpectedTensors() const;
  // Parameters, counted from the shapes.
  int64_t Parameters() const;
};

}  // namespace aimass::llm
