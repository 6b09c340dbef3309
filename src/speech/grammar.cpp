#include "speech/grammar.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

namespace aimass::speech {
namespace {

const char* const kOnes[] = {"zero",    "one",     "two",       "three",    "four",     "five",    "six",
                             "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
                             "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen"};
const char* const kTens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};

void Below1000(int n, std::vector<std::string>& out) {
  if (n >= 100) {
    out.push_back(kOnes[n / 100]);
    out.push_back("hundred");
    n %= 100;
    if (!n) return;
  }
  if (n >= 20) {
    out.push_back(kTens[n / 10]);
    if (n % 10) out.push_back(kOnes[n % 10]);
  } else {
    out.push_back(kOnes[n]);
  }
}

// A run of digits as words: numbers below a million as a number, longer ones digit by digit
// (a phone or order number is read that way).
void Number(std::string_view digits, std::vector<std::string>& out) {
  if (digits.size() > 6) {
    for (char c : digits) out.push_back(kOnes[c - '0']);
    return;
  }
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  if (n == 0) {
    out.push_back("zero");
    return;
  }
  if (n >= 1000) {
    Below1000(n / 1000, out);
    out.push_back("thousand");
    n %= 1000;
    if (!n) return;
  }
  Below1000(n, out);
}

std::string RuleName(const std::string& slot) {
  std::string r = "slot_";
  for (char c : slot) r += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return r;
}

}  // namespace

std::vector<std::string> SpokenWords(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    while (!word.empty() && word.back() == '\'') word.pop_back();
    size_t lead = 0;
    while (lead < word.size() && word[lead] == '\'') ++lead;
    if (lead < word.size()) out.push_back(word.substr(lead));
    word.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isdigit(c)) {
      flush();
      size_t j = i;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      Number(text.substr(i, j - i), out);
      i = j;
    } else if (std::isalpha(c) || c == '\'' || c >= 0x80) {
      // Bytes of other scripts stay in the word: the dictionary will not know it, and the
      // sentence is dropped rather than heard wrongly.
      word += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
      ++i;
    } else {
      flush();
      ++i;
    }
  }
  flush();
  return out;
}

Result<std::shared_ptr<const PronunciationDictionary>> PronunciationDictionary::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Unavailable("cannot read the pronouncing dictionary " + path);
  auto d = std::make_shared<PronunciationDictionary>();
  std::string line;
  while (std::getline(in, line)) {
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0) continue;
    std::string word = line.substr(0, space);
    if (const size_t paren = word.find('('); paren != std::string::npos && word.back() == ')') word.resize(paren);
    const size_t phones = line.find_first_not_of(' ', space);
    if (phones == std::string::npos) continue;
    d->phones_[word].push_back(line.substr(phones));
  }
  if (d->phones_.empty()) return Status::Unavailable("the pronouncing dictionary " + path + " is empty");
  return std::shared_ptr<const PronunciationDictionary>(std::move(d));
}

std::string PronunciationDictionary::Entries(const std::set<std::string>& words) const {
  std::string out;
  for (const auto& w : words) {
    auto it = phones_.find(w);
    if (it == phones_.end()) continue;
    for (size_t i = 0; i < it->second.size(); ++i) {
      out += w;
      if (i) out += "(" + std::to_string(i + 1) + ")";
      out += ' ';
      out += it->second[i];
      out += '\n';
    }
  }
  return out;
}

SpokenPhrases SpeakableSlots(const GrammarInput& input, const PronunciationDictionary& dictionary) {
  SpokenPhrases out;
  for (const auto& [name, phrases] : input.slots) {
    for (const auto& p : phrases) {
      auto words = SpokenWords(p);
      bool known = !words.empty();
      for (const auto& w : words) known = known && dictionary.Has(w);
      if (known) out[name].push_back(std::move(words));
    }
  }
  return out;
}

Result<Grammar> BuildGrammar(const GrammarInput& input, const PronunciationDictionary& dictionary, size_t max_sentences) {
  Grammar g;
  // Slots: the phrases the dictionary can say, each once.
  std::map<std::string, std::vector<std::string>> slots;
  for (const auto& [name, phrases] : SpeakableSlots(input, dictionary)) {
    std::set<std::string> seen;
    for (const auto& words : phrases) {
      std::string joined;
      for (const auto& w : words) joined += (joined.empty() ? "" : " ") + w;
      if (!seen.insert(joined).second) continue;
      slots[name].push_back(std::move(joined));
      g.words.insert(words.begin(), words.end());
    }
  }
  std::set<std::string> seen;
  std::vector<std::string> sentences;
  for (const auto& s : input.sentences) {
    if (sentences.size() >= max_sentences) break;
    std::string expr;
    bool ok = !s.empty();
    for (const auto& token : s) {
      if (!token.empty() && token[0] == '$') {
        const std::string slot = token.substr(1);
        if (!slots.count(slot)) {
          ok = false;
          break;
        }
        expr += (expr.empty() ? "<" : " <") + RuleName(slot) + ">";
      } else if (dictionary.Has(token)) {
        expr += (expr.empty() ? "" : " ") + token;
      } else {
        ok = false;
        break;
      }
    }
    if (!ok) {
      ++g.dropped;
      continue;
    }
    if (!seen.insert(expr).second) continue;
    for (const auto& token : s) {
      if (token[0] != '$') g.words.insert(token);
    }
    sentences.push_back(std::move(expr));
  }
  if (sentences.empty()) return Status::BadRequest("no example sentence can be spoken with the dictionary's words");
  g.sentences = sentences.size();

  // Sentences only: a loop over the same words (for what the examples miss) takes over the
  // decoding whatever its weight, with word salad for every utterance (tried: weights 1 to
  // 1e-4, 0 of 6 espeak-ng sentences right; without it, 6 of 6).
  std::ostringstream j;
  j << "#JSGF V1.0;\ngrammar bot;\n";
  for (const auto& [name, phrases] : slots) {
    j << "<" << RuleName(name) << "> = ";
    for (size_t i = 0; i < phrases.size(); ++i) j << (i ? " | " : "") << phrases[i];
    j << ";\n";
  }
  j << "public <utterance> = ";
  for (size_t i = 0; i < sentences.size(); ++i) j << (i ? " | " : "") << "( " << sentences[i] << " )";
  j << ";\n";
  g.jsgf = j.str();
  return g;
}

}  // namespace aimass::speech
