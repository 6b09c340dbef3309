// ChatTemplate: how a conversation becomes a model's prompt. The four formats models are
// trained with in practice (Llama 2's [INST], Llama 3's headers, ChatML, and a plain
// "Role: text" one), rendered as parts so that special tokens are given by id and never
// parsed out of what users wrote.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "llm/tokenizer.hpp"

namespace aimass::llm {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

class ChatTemplate {
 public:
  enum class Kind { kLlama2, kLlama3, kChatMl, kPlain };

  // By name: llama2 | llama3 | chatml | plain. The special tokens the template needs must be
  // in the vocabulary.
  static Result<ChatTemplate> Named(const std::string& name, const Tokenizer& tok);
  // The template a model directory implies: `tokenizer_config.json`'s chat_template (a Jinja
  // text, recognised by its markers), else ChatML when the vocabulary has <|im_start|>, else
  // Llama 3's when it has <|start_header_id|>, else Llama 2's when it has BOS and EOS, else plain.
  static ChatTemplate Detect(const std::string& tokenizer_config, const Tokenizer& tok);

  // The prompt's token ids, ending where the assistant's answer begins.
  Result<std::vector<int>> Render(const std::vector<ChatMessage>& messages, const Tokenizer& tok) const;
  // Tokens that end the assistant's turn besides EOS (<|im_end|>, <|eot_id|>).
  const std::vector<int>& stop_tokens() const { return stop_tokens_; }
  std::string name() const;

 private:
  Kind kind_ = Kind::kPlain;
  std::vector<int> stop_tokens_;
};

}  // namespace aimass::llm
