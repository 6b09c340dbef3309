// Tokenizer: text to token ids and back, for a model's vocabulary. SentencePiece models
// (`tokenizer.model`) are read with Debian's libsentencepiece; the implementation is the only
// file that sees its headers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::llm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // The ids of `text`, without BOS (the caller adds it where the model wants one).
  virtual std::vector<int> Encode(std::string_view text) const = 0;
  // The text of `ids`; control tokens (BOS, EOS, …) give nothing.
  virtual std::string Decode(const std::vector<int>& ids) const = 0;
  // The id of a whole piece of the vocabulary ("<|im_end|>", "</s>"), if it has one.
  virtual std::optional<int> PieceId(std::string_view piece) const = 0;
  // The piece of one id as the vocabulary writes it.
  virtual std::string Piece(int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos() const = 0;  // -1 when the vocabulary has none
  virtual int eos() const = 0;
};

// Loads `tokenizer.model`; a file SentencePiece cannot read is kUnprocessable.
Result<std::unique_ptr<Tokenizer>> LoadSentencePiece(const std::string& path);
// Loads a byte-level BPE `tokenizer.json` (bpe_tokenizer.cpp says how close it is).
Result<std::unique_ptr<Tokenizer>> LoadByteLevelBpe(const std::string& path);

}  // namespace aimass::llm
