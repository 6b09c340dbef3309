#include "text/analyzer.hpp"

#include <xapian.h>

#include <map>

#include "text/chinese_segmenter.hpp"

namespace aimass::text {

namespace {

// Decodes the code point at s[i], sets *len to its byte length (1 for a broken sequence).
uint32_t Decode(std::string_view s, size_t i, size_t* len) {
  const auto c = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  if (c < 0x80) { *len = 1; return c; }
  if ((c & 0xE0) == 0xC0 && cont(1)) { *len = 2; return ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3F); }
  if ((c & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    *len = 3;
    return ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3F);
  }
  if ((c & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    *len = 4;
    return ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3F);
  }
  *len = 1;
  return 0xFFFD;
}

bool IsHan(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2EBEF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x3040 && c <= 0x30FF) || (c >= 0xAC00 && c <= 0xD7AF);
}

bool IsWordChar(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  return Xapian::Unicode::is_wordchar(c);
}

void AppendLower(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    return;
  }
  Xapian::Unicode::append_utf8(out, Xapian::Unicode::tolower(c));
}

std::string StemmerName(const std::string& language) {
  if (language == "zh" || language == "auto") return "english";
  if (language == "none") return "";
  return language;
}

Xapian::Stem& StemmerFor(const std::string& name) {
  // A Stem keeps state while stemming: one per thread and language.
  thread_local std::map<std::string, Xapian::Stem> stems;
  auto it = stems.find(name);
  if (it == stems.end()) it = stems.emplace(name, Xapian::Stem(name)).first;
  return it->second;
}

constexpr size_t kMaxTermBytes = 64;

}  // namespace

Analyzer::Analyzer(std::string language, const ChineseSegmenter* zh) : stemmer_(StemmerName(language)), zh_(zh) {}

bool Analyzer::ValidLanguage(const std::string& language) {
  if (language == "zh" || language == "auto" || language == "none") return true;
  if (language.empty()) return false;
  try {
    Xapian::Stem s(language);
    return true;
  } catch (const Xapian::Error&) {
    return false;
  }
}

void Analyzer::CutHan(std::string_view text, size_t begin, size_t end, uint32_t& pos, bool search_mode,
                      std::vector<Token>& out) const {
  std::string_view run = text.substr(begin, end - begin);
  if (zh_) {
    for (const Segment& s : zh_->Cut(run, search_mode)) {
      if (!s.sub) ++pos;
      out.push_back({std::string(run.substr(s.begin, s.end - s.begin)), begin + s.begin, begin + s.end,
                     pos, true, s.sub});
    }
    return;
  }
  // No dictionary: overlapping bigrams (a lone character is its own term).
  std::vector<size_t> at;
  for (size_t i = 0; i < run.size();) {
    size_t len = 1;
    Decode(run, i, &len);
    at.push_back(i);
    i += len;
  }
  at.push_back(run.size());
  if (at.size() == 2) {
    out.push_back({std::string(run), begin, end, ++pos, true, false});
    return;
  }
  for (size_t k = 0; k + 2 < at.size(); ++k) {
    out.push_back({std::string(run.substr(at[k], at[k + 2] - at[k])), begin + at[k], begin + at[k + 2], ++pos, true, false});
  }
}

std::vector<Token> Analyzer::Tokenize(std::string_view text, bool search_mode) const {
  std::vector<Token> out;
  uint32_t pos = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 1;
    uint32_t c = Decode(text, i, &len);
    if (IsHan(c)) {
      size_t j = i + len;
      while (j < text.size()) {
        size_t l = 1;
        if (!IsHan(Decode(text, j, &l))) break;
        j += l;
      }
      CutHan(text, i, j, pos, search_mode, out);
      i = j;
      continue;
    }
    if (!IsWordChar(c)) {
      i += len;
      continue;
    }
    Token t;
    t.begin = i;
    while (i < text.size()) {
      size_t l = 1;
      uint32_t d = Decode(text, i, &l);
      if (IsHan(d)) break;
      if (!IsWordChar(d)) {
        // An apostrophe between letters, or a point between digits, stays inside the word
        // ("debian's", "1.2").
        size_t l2 = 1;
        const bool inside = i + l < text.size() && IsWordChar(Decode(text, i + l, &l2)) && !t.word.empty();
        const bool apostrophe = (d == '\'' || d == 0x2019) && inside;
        const bool point = d == '.' && inside && std::isdigit(static_cast<unsigned char>(t.word.back())) &&
                           std::isdigit(static_cast<unsigned char>(text[i + l]));
        if (!apostrophe && !point) break;
        t.word.push_back(d == '.' ? '.' : '\'');
        i += l;
        continue;
      }
      AppendLower(t.word, d);
      i += l;
    }
    t.end = i;
    if (t.word.size() <= kMaxTermBytes) {
      t.pos = ++pos;
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::string Analyzer::Stem(const std::string& word) const {
  if (stemmer_.empty()) return word;
  auto it = stems_.find(word);
  if (it != stems_.end()) return it->second;
  if (stems_.size() > 100000) stems_.clear();
  return stems_.emplace(word, StemmerFor(stemmer_)(word)).first->second;
}

std::string Analyzer::Term(const Token& t) const {
  if (t.cjk || stemmer_.empty()) return t.word;
  if (!t.word.empty() && std::isdigit(static_cast<unsigned char>(t.word[0]))) return t.word;
  return Stem(t.word);
}

}  // namespace aimass::text
