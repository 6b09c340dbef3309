// Fuzzes what a language model's upload brings: a safetensors file (header length, JSON header,
// ranges), config.json and the tensors it implies, and a chat rendered with every template
// from the fuzzed text. The first byte picks the case.
#include <cstddef>
#include <cstdint>
#include <string>

#include "llm/chat_template.hpp"
#include "llm/model_config.hpp"
#include "llm/safetensors.hpp"
#include "llm/weights.hpp"

namespace {

using namespace aimass::llm;

// Bytes as tokens, with a few special pieces, so that every template can render.
class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids;
    for (unsigned char c : text) ids.push_back(10 + c);
    return ids;
  }
  std::string Decode(const std::vector<int>& ids) const override {
    std::string s;
    for (int id : ids) {
      if (id >= 10 && id < 266) s.push_back(static_cast<char>(id - 10));
    }
    return s;
  }
  std::optional<int> PieceId(std::string_view piece) const override {
    static const char* kSpecial[] = {"<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>",
                                     "<|eot_id|>", "<|begin_of_text|>"};
    for (int i = 0; i < 6; ++i) {
      if (piece == kSpecial[i]) return 3 + i;
    }
    return std::nullopt;
  }
  std::string Piece(int id) const override { return Decode({id}); }
  int vocab_size() const override { return 266; }
  int bos() const override { return 1; }
  int eos() const override { return 2; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto tensors = ParseSafeTensors(rest);
      if (tensors.ok()) {
        for (const auto& [name, t] : *tensors) {
          // Every range lies inside the bytes given.
          if (t.data < reinterpret_cast<const uint8_t*>(rest.data()) ||
              t.data + t.bytes > reinterpret_cast<const uint8_t*>(rest.data()) + rest.size()) {
            __builtin_trap();
          }
        }
      }
      break;
    }
    case 1: {
      auto config = ModelConfig::Parse(std::string(rest));
      if (config.ok() && config->num_hidden_layers <= 64 && config->hidden_size <= 1 << 16) {
        std::map<std::string, TensorView> none;
        (void)Weights::Check(*config, none);
        (void)config->Parameters();
      }
      break;
    }
    default: {
      ByteTokenizer tok;
      std::vector<ChatMessage> messages;
      static const char* kRoles[] = {"system", "user", "assistant", "robot"};
      size_t i = 0;
      while (i < rest.size() && messages.size() < 8) {
        const size_t len = std::min<size_t>(rest.size() - i - 1, static_cast<unsigned char>(rest[i]) % 32);
        messages.push_back({kRoles[static_cast<unsigned char>(rest[i]) % 4], std::string(rest.substr(i + 1, len))});
        i += len + 1;
      }
      for (const char* name : {"llama2", "llama3", "chatml", "plain"}) {
        auto t = ChatTemplate::Named(name, tok);
        if (t.ok()) (void)t->Render(messages, tok);
      }
      (void)ChatTemplate::Detect(std::string(rest), tok);
      break;
    }
  }
  return 0;
}
