#include "text/entity_tagger.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/fnv1a.hpp"
#include "text/analyzer.hpp"
#include "text/binary_io.hpp"

namespace aimass::text {

namespace {

// "Xxxx" → "Xx", "2024" → "d", "ab12" → "xd": the word's character classes, runs collapsed.
std::string Shape(std::string_view original) {
  std::string s;
  for (unsigned char c : original) {
    char k = c >= 0x80 ? 'u' : (c >= 'A' && c <= 'Z') ? 'X' : (c >= 'a' && c <= 'z') ? 'x' : (c >= '0' && c <= '9') ? 'd' : 'p';
    if (s.empty() || s.back() != k) s.push_back(k);
  }
  return s;
}

// The first and last `n` characters (UTF-8 aware).
std::string_view Affix(std::string_view w, size_t n, bool prefix) {
  std::vector<size_t> at;
  for (size_t i = 0; i < w.size(); ++i) {
    if ((static_cast<unsigned char>(w[i]) & 0xC0) != 0x80) at.push_back(i);
  }
  if (at.size() <= n) return w;
  return prefix ? w.substr(0, at[n]) : w.substr(at[at.size() - n]);
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

std::vector<std::vector<uint64_t>> EntityTagger::TokenFeatures(std::string_view text, const Analyzer& analyzer,
                                                               std::vector<std::pair<size_t, size_t>>* offsets) const {
  std::vector<Token> tokens = analyzer.Tokenize(text, false);
  std::vector<std::vector<uint64_t>> out(tokens.size());
  auto word = [&](long i) -> std::string {
    if (i < 0) return "<s>";
    if (i >= static_cast<long>(tokens.size())) return "</s>";
    return tokens[i].word;
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    std::string_view original = text.substr(t.begin, t.end - t.begin);
    auto& f = out[i];
    f.push_back(Fnv1a("bias"));
    f.push_back(Fnv1a("w=" + t.word));
    f.push_back(Fnv1a("s=" + analyzer.Term(t)));
    f.push_back(Fnv1a("p2=" + std::string(Affix(t.word, 2, true))));
    f.push_back(Fnv1a("p3=" + std::string(Affix(t.word, 3, true))));
    f.push_back(Fnv1a("x2=" + std::string(Affix(t.word, 2, false))));
    f.push_back(Fnv1a("x3=" + std::string(Affix(t.word, 3, false))));
    f.push_back(Fnv1a("shape=" + Shape(original)));
    const long k = static_cast<long>(i);
    f.push_back(Fnv1a("w-1=" + word(k - 1)));
    f.push_back(Fnv1a("w+1=" + word(k + 1)));
    f.push_back(Fnv1a("w-2=" + word(k - 2)));
    f.push_back(Fnv1a("w+2=" + word(k + 2)));
    f.push_back(Fnv1a("w-1w=" + word(k - 1) + "|" + t.word));
    f.push_back(Fnv1a("ww+1=" + t.word + "|" + word(k + 1)));
    if (offsets) offsets->emplace_back(t.begin, t.end);
  }
  return out;
}

SparseVector EntityTagger::Vectorize(const std::vector<uint64_t>& hashes) const {
  SparseVector v;
  for (uint64_t h : hashes) {
    auto it = index_.find(h);
    if (it != index_.end()) v.entries.emplace_back(it->second, 1.0f);
  }
  std::sort(v.entries.begin(), v.entries.end());
  v.entries.erase(std::unique(v.entries.begin(), v.entries.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  v.entries.end());
  return v;
}

Result<EntityTagger> EntityTagger::Train(const std::vector<AnnotatedText>& examples, const Analyzer& analyzer) {
  EntityTagger t;
  std::map<std::string, int> ids;
  for (const auto& ex : examples) {
    for (const auto& s : ex.spans) ids.emplace(s.entity, 0);
  }
  if (ids.empty()) return t;
  for (auto& [name, id] : ids) {
    id = static_cast<int>(t.entities_.size());
    t.entities_.push_back(name);
  }
  std::vector<std::vector<uint64_t>> rows;
  std::vector<int> tags;
  for (const auto& ex : examples) {
    std::vector<std::pair<size_t, size_t>> offsets;
    auto feats = t.TokenFeatures(ex.text, analyzer, &offsets);
    for (size_t i = 0; i < feats.size(); ++i) {
      int tag = 0;
      for (const auto& s : ex.spans) {
        if (offsets[i].first >= s.begin && offsets[i].first < s.end) {
          const bool first = i == 0 || offsets[i - 1].first < s.begin;
          tag = (first ? 1 : 2) + 2 * ids[s.entity];
          break;
        }
      }
      rows.push_back(std::move(feats[i]));
      tags.push_back(tag);
    }
  }
  // Features seen in training, numbered in hash order (repeatable).
  std::vector<uint64_t> all;
  for (const auto& r : rows) all.insert(all.end(), r.begin(), r.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (size_t i = 0; i < all.size(); ++i) t.index_.emplace(all[i], static_cast<uint32_t>(i));
  std::vector<SparseVector> x;
  x.reserve(rows.size());
  for (const auto& r : rows) x.push_back(t.Vectorize(r));
  LinearOptions o;
  o.logistic = true;
  o.c = 4.0;
  AIMASS_ASSIGN_OR_RETURN(t.model_, LinearModel::Train(x, tags, 1 + 2 * static_cast<int>(t.entities_.size()),
                                                       all.size(), o));
  return t;
}

std::vector<EntitySpan> EntityTagger::Extract(std::string_view text, const Analyzer& analyzer) const {
  std::vector<EntitySpan> out;
  if (empty()) return out;
  std::vector<std::pair<size_t, size_t>> offsets;
  auto feats = TokenFeatures(text, analyzer, &offsets);
  const size_t n = feats.size();
  const size_t k = static_cast<size_t>(model_.classes());
  if (n == 0) return out;
  // Per token, each tag's probability (one-vs-rest logistic scores, normalised).
  std::vector<std::vector<double>> logp(n, std::vector<double>(k));
  std::vector<std::vector<double>> prob(n, std::vector<double>(k));
  std::vector<float> scores(k);
  for (size_t i = 0; i < n; ++i) {
    model_.Scores(Vectorize(feats[i]), scores.data());
    double sum = 0;
    for (size_t c = 0; c < k; ++c) sum += prob[i][c] = Sigmoid(scores[c]);
    for (size_t c = 0; c < k; ++c) {
      prob[i][c] /= sum;
      logp[i][c] = std::log(std::max(prob[i][c], 1e-12));
    }
  }
  // Viterbi: an I-e follows only B-e or I-e.
  auto allowed = [](size_t prev, size_t cur) {
    if (cur == 0 || cur % 2 == 1) return true;
    return prev != 0 && (prev + 1) / 2 == cur / 2;
  };
  constexpr double kNone = -1e300;
  std::vector<std::vector<double>> best(n, std::vector<double>(k, kNone));
  std::vector<std::vector<size_t>> back(n, std::vector<size_t>(k, 0));
  for (size_t c = 0; c < k; ++c) {
    if (c == 0 || c % 2 == 1) best[0][c] = logp[0][c];
  }
  for (size_t i = 1; i < n; ++i) {
    for (size_t c = 0; c < k; ++c) {
      for (size_t p = 0; p < k; ++p) {
        if (best[i - 1][p] == kNone || !allowed(p, c)) continue;
        const double v = best[i - 1][p] + logp[i][c];
        if (v > best[i][c]) {
          best[i][c] = v;
          back[i][c] = p;
        }
      }
    }
  }
  std::vector<size_t> tags(n);
  tags[n - 1] = static_cast<size_t>(std::max_element(best[n - 1].begin(), best[n - 1].end()) - best[n - 1].begin());
  for (size_t i = n - 1; i > 0; --i) tags[i - 1] = back[i][tags[i]];
  for (size_t i = 0; i < n;) {
    if (tags[i] == 0) {
      ++i;
      continue;
    }
    const size_t e = (tags[i] - 1) / 2;
    size_t j = i + 1;
    double conf = prob[i][tags[i]];
    while (j < n && tags[j] == 2 + 2 * e) {
      conf += prob[j][tags[j]];
      ++j;
    }
    EntitySpan s;
    s.entity = entities_[e];
    s.begin = offsets[i].first;
    s.end = offsets[j - 1].second;
    s.value = std::string(text.substr(s.begin, s.end - s.begin));
    s.extractor = "learned";
    s.confidence = conf / static_cast<double>(j - i);
    out.push_back(std::move(s));
    i = j;
  }
  return out;
}

void EntityTagger::Save(std::string& out) const {
  BinaryWriter w(out);
  w.U64(entities_.size());
  for (const auto& e : entities_) w.Str(e);
  if (empty()) return;
  std::vector<uint64_t> hashes(index_.size());
  for (const auto& [h, i] : index_) hashes[i] = h;
  w.U64(hashes.size());
  for (uint64_t h : hashes) w.U64(h);
  std::string model;
  model_.Save(model);
  w.Str(model);
}

Result<EntityTagger> EntityTagger::Load(std::string_view in) {
  BinaryReader r(in);
  EntityTagger t;
  uint64_t n = 0;
  if (!r.U64(n) || n > 10000) return Status::Unprocessable("the entity tagger is damaged");
  t.entities_.resize(n);
  for (auto& e : t.entities_) {
    if (!r.Str(e)) return Status::Unprocessable("the entity tagger is damaged");
  }
  if (n == 0) return t;
  uint64_t features = 0;
  if (!r.U64(features) || features > r.remaining() / 8) return Status::Unprocessable("the entity tagger is damaged");
  for (uint64_t i = 0; i < features; ++i) {
    uint64_t h = 0;
    if (!r.U64(h)) return Status::Unprocessable("the entity tagger is damaged");
    t.index_.emplace(h, static_cast<uint32_t>(i));
  }
  std::string model;
  if (!r.Str(model)) return Status::Unprocessable("the entity tagger is damaged");
  AIMASS_ASSIGN_OR_RETURN(t.model_, LinearModel::Load(model));
  if (t.model_.classes() != static_cast<int>(1 + 2 * n)) return Status::Unprocessable("the entity tagger is damaged");
  return t;
}

}  // namespace aimass::text
