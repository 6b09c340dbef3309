#include "text/text_features.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "common/fnv1a.hpp"
#include "text/analyzer.hpp"
#include "text/binary_io.hpp"

namespace aimass::text {

namespace {

constexpr uint64_t kWordSeed = 0x77u;   // "w"
constexpr uint64_t kBigramSeed = 0x62u; // "b"
constexpr uint64_t kCharSeed = 0x63u;   // "c"
constexpr int kBlocks = 2;

// The byte offsets at which each UTF-8 character of `s` starts, and s.size() at the end.
std::vector<size_t> CharStarts(std::string_view s) {
  std::vector<size_t> at;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) at.push_back(i);
  }
  at.push_back(s.size());
  return at;
}

}  // namespace

void FeatureSpace::Extract(std::string_view text, const Analyzer& analyzer,
                           std::vector<std::pair<uint64_t, uint8_t>>& out) const {
  std::vector<Token> tokens = analyzer.Tokenize(text, false);
  std::vector<uint64_t> terms;
  terms.reserve(tokens.size());
  for (const Token& t : tokens) terms.push_back(Fnv1a(analyzer.Term(t), kWordSeed));
  for (uint64_t h : terms) out.emplace_back(h, 0);
  if (options_.word_ngrams >= 2) {
    for (size_t i = 0; i + 1 < terms.size(); ++i) out.emplace_back(terms[i] * 31 + terms[i + 1] * 1000003 + kBigramSeed, 0);
  }
  if (options_.char_min <= 0) return;
  std::string padded;
  for (const Token& t : tokens) {
    padded.assign(" ");
    padded += t.word;
    padded += ' ';
    std::vector<size_t> at = CharStarts(padded);
    const size_t chars = at.size() - 1;
    for (int n = options_.char_min; n <= options_.char_max; ++n) {
      if (static_cast<size_t>(n) > chars) break;
      for (size_t k = 0; k + n <= chars; ++k) {
        out.emplace_back(Fnv1a(std::string_view(padded).substr(at[k], at[k + n] - at[k]), kCharSeed), 1);
      }
    }
  }
}

FeatureSpace FeatureSpace::Fit(const std::vector<std::string>& texts, const Analyzer& analyzer,
                               const FeatureOptions& o) {
  FeatureSpace fs;
  fs.options_ = o;
  std::unordered_map<uint64_t, std::pair<uint32_t, uint8_t>> df;  // hash → (documents, block)
  std::vector<std::pair<uint64_t, uint8_t>> feats;
  std::unordered_set<uint64_t> seen;
  for (const auto& t : texts) {
    feats.clear();
    seen.clear();
    fs.Extract(t, analyzer, feats);
    for (const auto& [h, block] : feats) {
      if (!seen.insert(h).second) continue;
      auto& e = df[h];
      ++e.first;
      e.second = block;
    }
  }
  // Indexes in hash order: the same texts give the same space, whatever the map's order.
  std::vector<std::pair<uint64_t, std::pair<uint32_t, uint8_t>>> kept;
  for (const auto& e : df) {
    if (e.second.second == 1 && static_cast<int>(e.second.first) < o.char_min_count) continue;
    kept.push_back(e);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const double n = static_cast<double>(texts.size());
  for (const auto& [h, e] : kept) {
    fs.index_.emplace(h, static_cast<uint32_t>(fs.idf_.size()));
    fs.idf_.push_back(static_cast<float>(std::log((1 + n) / (1 + e.first)) + 1));
    fs.block_.push_back(e.second);
  }
  return fs;
}

SparseVector FeatureSpace::Transform(std::string_view text, const Analyzer& analyzer) const {
  std::vector<std::pair<uint64_t, uint8_t>> feats;
  Extract(text, analyzer, feats);
  std::vector<uint32_t> ids;
  ids.reserve(feats.size());
  for (const auto& f : feats) {
    auto it = index_.find(f.first);
    if (it != index_.end()) ids.push_back(it->second);
  }
  std::sort(ids.begin(), ids.end());
  SparseVector v;
  double norm[kBlocks] = {0, 0};
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const float w = static_cast<float>((1 + std::log(static_cast<double>(j - i))) * idf_[ids[i]]);
    v.entries.emplace_back(ids[i], w);
    norm[block_[ids[i]]] += static_cast<double>(w) * w;
    i = j;
  }
  for (auto& e : v.entries) {
    const double n = norm[block_[e.first]];
    if (n > 0) e.second = static_cast<float>(e.second / std::sqrt(n));
  }
  return v;
}

void FeatureSpace::Save(std::string& out) const {
  BinaryWriter w(out);
  w.U32(static_cast<uint32_t>(options_.word_ngrams));
  w.U32(static_cast<uint32_t>(options_.char_min));
  w.U32(static_cast<uint32_t>(options_.char_max));
  w.U32(static_cast<uint32_t>(options_.char_min_count));
  w.U64(idf_.size());
  std::vector<uint64_t> hashes(idf_.size());
  for (const auto& [h, i] : index_) hashes[i] = h;
  for (size_t i = 0; i < idf_.size(); ++i) {
    w.U64(hashes[i]);
    w.F32(idf_[i]);
    w.U8(block_[i]);
  }
}

Result<FeatureSpace> FeatureSpace::Load(std::string_view in) {
  BinaryReader r(in);
  FeatureSpace fs;
  uint32_t a = 0, b = 0, c = 0, d = 0;
  uint64_t n = 0;
  if (!r.U32(a) || !r.U32(b) || !r.U32(c) || !r.U32(d) || !r.U64(n) || a > 5 || b > 16 || c > 16 ||
      n > r.remaining() / 13) {
    return Status::Unprocessable("the feature space is damaged");
  }
  fs.options_ = FeatureOptions{static_cast<int>(a), static_cast<int>(b), static_cast<int>(c), static_cast<int>(d)};
  fs.idf_.resize(n);
  fs.block_.resize(n);
  fs.index_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t h = 0;
    if (!r.U64(h) || !r.F32(fs.idf_[i]) || !r.U8(fs.block_[i]) || fs.block_[i] >= kBlocks ||
        !fs.index_.emplace(h, static_cast<uint32_t>(i)).second) {
      return Status::Unprocessable("the feature space is damaged");
    }
  }
  return fs;
}

}  // namespace aimass::text
