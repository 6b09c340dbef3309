// Byte-level BPE (`tokenizer.json`, as GPT-2, Llama 3 and Qwen2 ship it): text split into
// words the way their pre-tokenizer's pattern does (contractions, letters with one leading
// non-letter, digits in runs of up to three, punctuation runs, whitespace), each word's bytes
// mapped to GPT-2's printable characters and merged pair by pair by rank. Letters and digits
// outside ASCII are told apart only roughly (every non-ASCII character counts as a letter), so
// words of other scripts may split differently from Hugging Face's tokenizers.
#include <climits>
#include <cstring>
#include <set>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/file.hpp"
#include "llm/tokenizer.hpp"

namespace aimass::llm {

namespace {

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.
std::vector<std::string> ByteChars() {
  std::vector<std::string> out(256);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : 256 + n++;
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    out[static_cast<size_t>(b)] = s;
  }
  return out;
}

size_t Utf8Len(unsigned char c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }
bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsLetter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }

// The words of `text` by Llama 3's pattern:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
std::vector<std::string_view> Split(std::string_view t) {
  std::vector<std::string_view> words;
  size_t i = 0;
  auto ch = [&](size_t k) { return static_cast<unsigned char>(t[k]); };
  auto letters = [&](size_t k) {
    while (k < t.size() && IsLetter(ch(k))) k += Utf8Len(ch(k));
    return std::min(k, t.size());
  };
  while (i < t.size()) {
    const size_t start = i;
    const unsigned char c = ch(i);
    if (c == '\'' && i + 1 < t.size()) {
      static const char* kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
      size_t matched = 0;
      for (const char* k : kContractions) {
        const size_t n = std::strlen(k);
        if (t.size() - i >= n) {
          bool eq = true;
          for (size_t j = 0; j < n && eq; ++j) eq = std::tolower(ch(i + j)) == k[j];
          if (eq) matched = std::max(matched, n);
        }
      }
      if (matched) {
        words.push_back(t.substr(i, matched));
        i += matched;
        continue;
      }
    }
    if (IsLetter(c)) {
      i = letters(i);
    } else if (!IsDigit(c) && c != '\r' && c != '\n' && i + 1 < t.size() && IsLetter(ch(i + 1)) && !IsLetter(c)) {
      i = letters(i + 1);  // one leading non-letter, non-digit (a space, a sign) with the letters
    } else if (IsDigit(c)) {
      while (i < t.size() && IsDigit(ch(i)) && i - start < 3) ++i;
    } else if (!IsSpace(c) || (c == ' ' && i + 1 < t.size() && !IsSpace(ch(i + 1)) && !IsLetter(ch(i + 1)) &&
                               !IsDigit(ch(i + 1)))) {
      if (c == ' ') ++i;
      while (i < t.size() && !IsSpace(ch(i)) && !IsLetter(ch(i)) && !IsDigit(ch(i))) i += Utf8Len(ch(i));
      while (i < t.size() && (ch(i) == '\r' || ch(i) == '\n')) ++i;
    } else {
      // Whitespace: up to a line break run; else all but the last before a non-space.
      size_t j = i;
      while (j < t.size() && IsSpace(ch(j))) ++j;
      size_t last_break = std::string_view::npos;
      for (size_t k = i; k < j; ++k) {
        if (ch(k) == '\r' || ch(k) == '\n') last_break = k;
      }
      if (last_break != std::string_view::npos) {
        i = last_break + 1;
      } else if (j < t.size() && j - i > 1) {
        i = j - 1;
      } else {
        i = j;
      }
    }
    i = std::min(std::max(i, start + 1), t.size());
    words.push_back(t.substr(start, i - start));
  }
  return words;
}

class ByteLevelBpe : public Tokenizer {
 public:
  Status Load(const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_object()) {
      return Status::Unprocessable("tokenizer.json is not a tokenizer");
    }
    const auto& m = j["model"];
    if (m.value("type", "") != "BPE" || !m.contains("vocab") || !m["vocab"].is_object()) {
      return Status::Unprocessable("tokenizer.json's model must be BPE with a vocab");
    }
    for (auto& [piece, id] : m["vocab"].items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return Status::Unprocessable("tokenizer.json's vocab has a bad id");
      }
      Add(piece, static_cast<int>(id.get<int64_t>()));
    }
    if (m.contains("merges") && m["merges"].is_array()) {
      int rank = 0;
      for (const auto& merge : m["merges"]) {
        std::string a, b;
        if (merge.is_string()) {
          const std::string s = merge.get<std::string>();
          const size_t sp = s.find(' ');
          if (sp == std::string::npos) return Status::Unprocessable("tokenizer.json has a bad merge");
          a = s.substr(0, sp), b = s.substr(sp + 1);
        } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
          a = merge[0].get<std::string>(), b = merge[1].get<std::string>();
        } else {
          return Status::Unprocessable("tokenizer.json has a bad merge");
        }
        ranks_.emplace(a + '\n' + b, rank++);
      }
    }
    ignore_merges_ = m.value("ignore_merges", false);
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
            !t["content"].is_string()) {
          continue;
        }
        const int id = static_cast<int>(t["id"].get<int64_t>());
        Add(t["content"].get<std::string>(), id);
        if (t.value("special", false)) special_.insert(id);
      }
    }
    for (const char* b : {"<|begin_of_text|>", "<s>"}) {
      if (auto id = PieceId(b); id && bos_ < 0) bos_ = *id;
    }
    for (const char* e : {"<|end_of_text|>", "</s>", "<|endoftext|>"}) {
      if (auto id = PieceId(e); id && eos_ < 0) eos_ = *id;
    }
    const auto chars = ByteChars();
    for (int b = 0; b < 256; ++b) {
      byte_of_[chars[static_cast<size_t>(b)]] = static_cast<char>(b);
      char_of_[static_cast<size_t>(b)] = chars[static_cast<size_t>(b)];
    }
    return Status::Ok();
  }

  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids;
    for (std::string_view word : Split(text)) {
      std::string mapped;
      for (unsigned char c : word) mapped += char_of_[c];
      if (ignore_merges_) {
        if (auto it = ids_.find(mapped); it != ids_.end()) {
          ids.push_back(it->second);
          continue;
        }
      }
      std::vector<std::string> parts;
      for (size_t k = 0; k < mapped.size();) {
        const size_t n = Utf8Len(static_cast<unsigned char>(mapped[k]));
        parts.push_back(mapped.substr(k, n));
        k += n;
      }
      // Merge the pair of lowest rank until none is left.
      for (;;) {
        int best = INT32_MAX;
        size_t at = 0;
        for (size_t k = 0; k + 1 < parts.size(); ++k) {
          auto it = ranks_.find(parts[k] + '\n' + parts[k + 1]);
          if (it != ranks_.end() && it->second < best) {
            best = it->second;
            at = k;
          }
        }
        if (best == INT32_MAX) break;
        parts[at] += parts[at + 1];
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
      }
      for (const auto& p : parts) {
        if (auto it = ids_.find(p); it != ids_.end()) ids.push_back(it->second);
      }
    }
    return ids;
  }

  std::string Decode(const std::vector<int>& ids) const override {
    std::string out;
    for (int id : ids) {
      if (special_.count(id)) continue;
      auto it = pieces_.find(id);
      if (it == pieces_.end()) continue;
      const std::string& p = it->second;
      for (size_t k = 0; k < p.size();) {
        const size_t n = Utf8Len(static_cast<unsigned char>(p[k]));
        auto b = byte_of_.find(p.substr(k, n));
        if (b != byte_of_.end()) out.push_back(b->second);
        else out += p.substr(k, n);  // an added token's own text
        k += n;
      }
    }
    return out;
  }
  std::optional<int> PieceId(std::string_view piece) const override {
    auto it = ids_.find(std::string(piece));
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  std::string Piece(int id) const override {
    auto it = pieces_.find(id);
    return it == pieces_.end() ? std::string() : Decode({id});
  }
  int vocab_size() const override { return size_; }
  int bos() const override { return bos_; }
  int eos() const override { return eos_; }

 private:
  void Add(const std::string& piece, int id) {
    ids_[piece] = id;
    pieces_[id] = piece;
    size_ = std::max(size_, id + 1);
  }
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<int, std::string> pieces_;
  std::unordered_map<std::string, int> ranks_;
  std::unordered_map<std::string, char> byte_of_;
  std::string char_of_[256];
  std::set<int> special_;
  bool ignore_merges_ = false;
  int size_ = 0, bos_ = -1, eos_ = -1;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadByteLevelBpe(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Unprocessable("tokenizer.json cannot be read");
  auto t = std::make_unique<ByteLevelBpe>();
  AIMASS_RETURN_IF_ERROR(t->Load(*text));
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace aimass::llm
