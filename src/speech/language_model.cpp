#include "speech/language_model.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

namespace aimass::speech {
namespace {

constexpr double kDiscount = 0.7;
constexpr const char* kStart = "<s>";
constexpr const char* kEnd = "</s>";

std::string Log10(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.5f", std::log10(std::max(p, 1e-99)));
  return buf;
}

using Bigram = std::pair<std::string, std::string>;
using Trigram = std::tuple<std::string, std::string, std::string>;

}  // namespace

Result<LanguageModel> BuildLanguageModel(const GrammarInput& input, const PronunciationDictionary& dictionary,
                                         size_t max_fills) {
  const SpokenPhrases slots = SpeakableSlots(input, dictionary);
  std::vector<std::vector<std::string>> sentences;
  for (const auto& s : input.sentences) {
    size_t fills = 1;
    bool ok = !s.empty();
    for (const auto& t : s) {
      if (!t.empty() && t[0] == '$') {
        auto it = slots.find(t.substr(1));
        if (it == slots.end()) ok = false;
        else fills = std::max(fills, std::min(max_fills, it->second.size()));
        // A sentence that is a slot alone stands for every phrase of it.
        if (ok && s.size() == 1) fills = it->second.size();
      } else if (!dictionary.Has(t)) {
        ok = false;
      }
    }
    if (!ok) continue;
    for (size_t f = 0; f < fills; ++f) {
      std::vector<std::string> words;
      for (const auto& t : s) {
        if (!t.empty() && t[0] == '$') {
          const auto& phrases = slots.at(t.substr(1));
          const auto& p = phrases[f % phrases.size()];
          words.insert(words.end(), p.begin(), p.end());
        } else {
          words.push_back(t);
        }
      }
      sentences.push_back(std::move(words));
    }
  }
  if (sentences.empty()) return Status::BadRequest("no example sentence can be spoken with the dictionary's words");

  std::map<std::string, double> c1;
  std::map<Bigram, double> c2;
  std::map<Trigram, double> c3;
  for (const auto& s : sentences) {
    std::vector<std::string> w = {kStart};
    w.insert(w.end(), s.begin(), s.end());
    w.push_back(kEnd);
    for (size_t i = 1; i < w.size(); ++i) {
      c1[w[i]] += 1;
      c2[{w[i - 1], w[i]}] += 1;
      if (i >= 2) c3[{w[i - 2], w[i - 1], w[i]}] += 1;
    }
  }
  double total = 0;
  for (const auto& [w, c] : c1) total += c;
  std::map<std::string, double> p1;
  for (const auto& [w, c] : c1) p1[w] = c / total;

  // Bigrams: discounted counts plus the history's freed mass spread as the unigram says.
  std::map<std::string, std::pair<double, double>> history1;  // count, distinct followers
  for (const auto& [ab, c] : c2) {
    history1[ab.first].first += c;
    history1[ab.first].second += 1;
  }
  std::map<Bigram, double> p2;
  for (const auto& [ab, c] : c2) {
    const auto& [n, types] = history1[ab.first];
    p2[ab] = (c - kDiscount) / n + kDiscount * types / n * p1[ab.second];
  }
  // Back-off weights: what the seen followers leave, over what the lower order gives the rest.
  std::map<std::string, std::pair<double, double>> seen1;
  for (const auto& [ab, p] : p2) {
    seen1[ab.first].first += p;
    seen1[ab.first].second += p1[ab.second];
  }
  auto bo1 = [&](const std::string& a) {
    auto it = seen1.find(a);
    if (it == seen1.end()) return 1.0;
    return (1 - it->second.first) / std::max(1e-9, 1 - it->second.second);
  };
  auto bigram = [&](const std::string& a, const std::string& b) {
    auto it = p2.find({a, b});
    return it != p2.end() ? it->second : bo1(a) * p1[b];
  };
  std::map<Bigram, std::pair<double, double>> history2;
  for (const auto& [abc, c] : c3) {
    auto& h = history2[{std::get<0>(abc), std::get<1>(abc)}];
    h.first += c;
    h.second += 1;
  }
  std::map<Trigram, double> p3;
  std::map<Bigram, std::pair<double, double>> seen2;
  for (const auto& [abc, c] : c3) {
    const auto& [a, b, x] = abc;
    const auto& [n, types] = history2[{a, b}];
    const double p = (c - kDiscount) / n + kDiscount * types / n * bigram(b, x);
    p3[abc] = p;
    seen2[{a, b}].first += p;
    seen2[{a, b}].second += bigram(b, x);
  }

  LanguageModel lm;
  lm.sentences = sentences.size();
  std::string& out = lm.arpa;
  out += "\\data\\\nngram 1=" + std::to_string(c1.size() + 1) + "\nngram 2=" + std::to_string(p2.size()) +
         "\nngram 3=" + std::to_string(p3.size()) + "\n\n\\1-grams:\n";
  out += "-99.00000 <s> " + Log10(bo1(kStart)) + "\n";
  for (const auto& [w, p] : p1) {
    out += Log10(p) + " " + w + " " + Log10(bo1(w)) + "\n";
    if (w != kEnd) lm.words.insert(w);
  }
  out += "\n\\2-grams:\n";
  for (const auto& [ab, p] : p2) {
    auto s = seen2.find(ab);
    const double bo = s == seen2.end() ? 1.0 : (1 - s->second.first) / std::max(1e-9, 1 - s->second.second);
    out += Log10(p) + " " + ab.first + " " + ab.second + " " + Log10(bo) + "\n";
  }
  out += "\n\\3-grams:\n";
  for (const auto& [abc, p] : p3) {
    out += Log10(p) + " " + std::get<0>(abc) + " " + std::get<1>(abc) + " " + std::get<2>(abc) + "\n";
  }
  out += "\n\\end\\\n";
  return lm;
}

}  // namespace aimass::speech
