#include "llm/chat_template.hpp"

#include <nlohmann/json.hpp>

namespace aimass::llm {

namespace {

// Prompt ids assembled from text and special tokens.
struct Ids {
  const Tokenizer& tok;
  std::vector<int> ids;
  void Text(const std::string& s) {
    if (s.empty()) return;
    auto more = tok.Encode(s);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  void Token(int id) { ids.push_back(id); }
};

Result<int> Special(const Tokenizer& tok, const char* piece, const std::string& template_name) {
  auto id = tok.PieceId(piece);
  if (!id) return Status::BadRequest("the chat template '" + template_name + "' needs the token " + piece + ", which the vocabulary lacks");
  return *id;
}

}  // namespace

Result<ChatTemplate> ChatTemplate::Named(const std::string& name, const Tokenizer& tok) {
  ChatTemplate t;
  if (name == "llama2") {
    t.kind_ = Kind::kLlama2;
    if (tok.bos() < 0 || tok.eos() < 0) return Status::BadRequest("the chat template 'llama2' needs BOS and EOS tokens");
  } else if (name == "llama3") {
    t.kind_ = Kind::kLlama3;
    for (const char* p : {"<|start_header_id|>", "<|end_header_id|>"}) AIMASS_RETURN_IF_ERROR(Special(tok, p, name).status());
    AIMASS_ASSIGN_OR_RETURN(int eot, Special(tok, "<|eot_id|>", name));
    t.stop_tokens_.push_back(eot);
  } else if (name == "chatml") {
    t.kind_ = Kind::kChatMl;
    AIMASS_RETURN_IF_ERROR(Special(tok, "<|im_start|>", name).status());
    AIMASS_ASSIGN_OR_RETURN(int end, Special(tok, "<|im_end|>", name));
    t.stop_tokens_.push_back(end);
  } else if (name == "plain") {
    t.kind_ = Kind::kPlain;
  } else {
    return Status::BadRequest("chat_template must be one of llama2, llama3, chatml, plain");
  }
  return t;
}

ChatTemplate ChatTemplate::Detect(const std::string& tokenizer_config, const Tokenizer& tok) {
  std::string jinja;
  nlohmann::json j = nlohmann::json::parse(tokenizer_config, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("chat_template") && j["chat_template"].is_string()) {
    jinja = j["chat_template"].get<std::string>();
  }
  std::vector<std::string> order;
  if (jinja.find("<|im_start|>") != std::string::npos) order = {"chatml"};
  else if (jinja.find("<|start_header_id|>") != std::string::npos) order = {"llama3"};
  else if (jinja.find("[INST]") != std::string::npos) order = {"llama2"};
  order.insert(order.end(), {"chatml", "llama3", "llama2", "plain"});
  for (const auto& name : order) {
    auto t = Named(name, tok);
    if (t.ok()) return *t;
  }
  return ChatTemplate{};
}

std::string ChatTemplate::name() const {
  switch (kind_) {
    case Kind::kLlama2: return "llama2";
    case Kind::kLlama3: return "llama3";
    case Kind::kChatMl: return "chatml";
    default: return "plain";
  }
}

Result<std::vector<int>> ChatTemplate::Render(const std::vector<ChatMessage>& messages, const Tokenizer& tok) const {
  if (messages.empty()) return Status::BadRequest("messages must not be empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return Status::BadRequest("messages[" + std::to_string(i) + "].role must be system, user or assistant");
    }
  }
  Ids out{tok, {}};
  switch (kind_) {
    case Kind::kLlama2: {
      // <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] …
      std::string system;
      size_t i = 0;
      if (messages[0].role == "system") {
        system = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n";
        i = 1;
      }
      bool first = true;
      for (; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (m.role == "user") {
          out.Token(tok.bos());
          out.Text("[INST] " + (first ? system : std::string()) + m.content + " [/INST]");
          first = false;
        } else if (m.role == "assistant") {
          out.Text(" " + m.content + " ");
          out.Token(tok.eos());
        } else {
          return Status::BadRequest("the llama2 template takes a system message only first");
        }
      }
      break;
    }
    case Kind::kLlama3: {
      const int start = *tok.PieceId("<|start_header_id|>"), end = *tok.PieceId("<|end_header_id|>");
      if (auto b = tok.PieceId("<|begin_of_text|>")) out.Token(*b);
      for (const auto& m : messages) {
        out.Token(start);
        out.Text(m.role);
        out.Token(end);
        out.Text("\n\n" + m.content);
        out.Token(stop_tokens_[0]);
      }
      out.Token(start);
      out.Text("assistant");
      out.Token(end);
      out.Text("\n\n");
      break;
    }
    case Kind::kChatMl: {
      const int start = *tok.PieceId("<|im_start|>");
      for (const auto& m : messages) {
        out.Token(start);
        out.Text(m.role + "\n" + m.content);
        out.Token(stop_tokens_[0]);
        out.Text("\n");
      }
      out.Token(start);
      out.Text("assistant\n");
      break;
    }
    case Kind::kPlain: {
      if (tok.bos() >= 0) out.Token(tok.bos());
      std::string text;
      for (const auto& m : messages) {
        std::string role = m.role;
        role[0] = static_cast<char>(role[0] - 'a' + 'A');
        text += role + ": " + m.content + "\n";
      }
      out.Text(text + "Assistant:");
      break;
    }
  }
  return std::move(out.ids);
}

}  // namespace aimass::llm
