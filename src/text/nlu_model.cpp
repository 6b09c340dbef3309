#include "text/nlu_model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "text/analyzer.hpp"
#include "text/binary_io.hpp"
#include "text/chinese_segmenter.hpp"

namespace aimass::text {

using nlohmann::json;

namespace {

constexpr std::string_view kMagic = "AIMASS-NLU\n";
constexpr uint32_t kFormat = 1;
constexpr size_t kRanking = 5;

}  // namespace

const ChineseSegmenter* SharedChineseSegmenter(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<ChineseSegmenter>> loaded;
  std::lock_guard lock(mu);
  auto it = loaded.find(path);
  if (it == loaded.end()) {
    auto s = ChineseSegmenter::Load(path);
    it = loaded.emplace(path, s.ok() ? std::move(*s) : nullptr).first;
  }
  return it->second.get();
}

void Calibrate(const float* scores, size_t n, double scale, float* probabilities) {
  if (n == 0) return;
  double top = scores[0];
  for (size_t k = 1; k < n; ++k) top = std::max(top, static_cast<double>(scores[k]));
  double sum = 0;
  for (size_t k = 0; k < n; ++k) {
    const double e = std::exp(scale * (scores[k] - top));
    probabilities[k] = static_cast<float>(e);
    sum += e;
  }
  for (size_t k = 0; k < n; ++k) probabilities[k] = static_cast<float>(probabilities[k] / sum);
}

void MixLogProbabilities(const float* a, const float* b, size_t n, double weight, float* out) {
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<float>(std::log(std::max(weight * a[k] + (1 - weight) * b[k], 1e-12)));
}

Result<std::vector<EntityRule>> EntityRulesFromJson(const json& entities) {
  std::vector<EntityRule> rules;
  if (entities.is_null()) return rules;
  if (!entities.is_array()) return Status::BadRequest("entities is a list");
  for (const auto& e : entities) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) {
      return Status::BadRequest("each entity is an object with a name");
    }
    EntityRule r;
    r.name = e["name"].get<std::string>();
    if (e.contains("regex")) {
      if (!e["regex"].is_string()) return Status::BadRequest("entity " + r.name + ": regex is a string");
      r.regex = e["regex"].get<std::string>();
    }
    if (e.contains("lookup")) {
      if (!e["lookup"].is_array()) return Status::BadRequest("entity " + r.name + ": lookup is a list");
      for (const auto& v : e["lookup"]) {
        LookupEntry entry;
        if (v.is_string()) {
          entry.value = v.get<std::string>();
        } else if (v.is_object() && v.contains("value") && v["value"].is_string()) {
          entry.value = v["value"].get<std::string>();
          if (v.contains("synonyms")) {
            if (!v["synonyms"].is_array()) return Status::BadRequest("entity " + r.name + ": synonyms is a list");
            for (const auto& s : v["synonyms"]) {
              if (!s.is_string()) return Status::BadRequest("entity " + r.name + ": a synonym is a string");
              entry.synonyms.push_back(s.get<std::string>());
            }
          }
        } else {
          return Status::BadRequest("entity " + r.name + ": a lookup entry is a string or {value, synonyms}");
        }
        if (entry.value.empty()) return Status::BadRequest("entity " + r.name + ": a lookup value is empty");
        r.lookup.push_back(std::move(entry));
      }
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

Result<std::string> NluModel::Serialize(const Parts& parts) {
  std::string out(kMagic);
  BinaryWriter w(out);
  w.U32(kFormat);
  w.Str(parts.header.dump());
  std::string section;
  parts.features.Save(section);
  w.Str(section);
  section.clear();
  parts.linear.Save(section);
  const std::string kind = parts.header.value("kind", "");
  w.Str(kind == "linear" || kind == "ensemble" ? section : std::string());
  w.Str(parts.fasttext_bytes);
  section.clear();
  parts.tagger.Save(section);
  w.Str(section);
  return out;
}

Result<std::unique_ptr<NluModel>> NluModel::Load(std::string_view bytes) {
  if (!bytes.starts_with(kMagic)) return Status::Unprocessable("not an NLU model (no AIMASS-NLU header)");
  BinaryReader r(bytes.substr(kMagic.size()));
  uint32_t format = 0;
  std::string header, features, linear_bytes, fasttext_bytes, tagger;
  if (!r.U32(format) || format != kFormat) return Status::Unprocessable("an NLU model of an unknown format");
  if (!r.Str(header) || !r.Str(features) || !r.Str(linear_bytes) || !r.Str(fasttext_bytes) || !r.Str(tagger)) {
    return Status::Unprocessable("the NLU model is cut short");
  }
  std::unique_ptr<NluModel> m(new NluModel());
  try {
    m->header_ = json::parse(header);
    m->intents_ = m->header_.at("intents").get<std::vector<std::string>>();
    m->kind_ = m->header_.at("kind").get<std::string>();
    m->scale_ = m->header_.at("scale").get<double>();
    m->threshold_ = m->header_.at("threshold").get<double>();
    m->language_ = m->header_.at("language").get<std::string>();
  } catch (const std::exception& e) {
    return Status::Unprocessable(std::string("the NLU model's header is damaged: ") + e.what());
  }
  if (m->intents_.empty()) return Status::Unprocessable("the NLU model has no intents");
  if (!Analyzer::ValidLanguage(m->language_)) return Status::Unprocessable("the NLU model's language is unknown");
  for (size_t i = 0; i < m->intents_.size(); ++i) {
    if (m->intents_[i] == kOutOfScope) m->out_of_scope_ = static_cast<int>(i);
  }
  if (m->language_ == "zh") m->zh_ = SharedChineseSegmenter(std::string(kDefaultZhDictionary));
  const int classes = static_cast<int>(m->intents_.size());
  const bool linear = m->kind_ == "linear" || m->kind_ == "ensemble";
  const bool fasttext = m->kind_ == "fasttext" || m->kind_ == "ensemble";
  if (!linear && !fasttext) {
    return Status::Unprocessable("the NLU model's classifier kind '" + m->kind_.substr(0, 40) + "' is unknown");
  }
  if (linear) {
    AIMASS_ASSIGN_OR_RETURN(m->features_, FeatureSpace::Load(features));
    AIMASS_ASSIGN_OR_RETURN(m->linear_, LinearModel::Load(linear_bytes));
    if (m->linear_.classes() != classes) return Status::Unprocessable("the NLU model's classifier does not match its intents");
  }
  if (fasttext) {
    AIMASS_ASSIGN_OR_RETURN(m->fasttext_, FastTextClassifier::Load(fasttext_bytes, classes));
  }
  if (m->kind_ == "ensemble") {
    try {
      const json& e = m->header_.at("ensemble");
      m->weight_ = e.at("weight").get<double>();
      m->part_scales_[0] = e.at("linear_scale").get<double>();
      m->part_scales_[1] = e.at("fasttext_scale").get<double>();
    } catch (const std::exception& e) {
      return Status::Unprocessable(std::string("the NLU model's ensemble is damaged: ") + e.what());
    }
    if (!(m->weight_ >= 0 && m->weight_ <= 1)) return Status::Unprocessable("the NLU model's ensemble weight is not in [0, 1]");
  }
  AIMASS_ASSIGN_OR_RETURN(auto rules, EntityRulesFromJson(m->header_.value("entities", json::array())));
  AIMASS_ASSIGN_OR_RETURN(m->rules_, EntityRules::Build(rules));
  AIMASS_ASSIGN_OR_RETURN(m->tagger_, EntityTagger::Load(tagger));
  return m;
}

void NluModel::Scores(std::string_view text, std::vector<float>& probabilities) const {
  Analyzer analyzer(language_, zh_);
  const size_t n = intents_.size();
  std::vector<float> raw(n, 0.0f);
  if (kind_ == "linear") {
    linear_.Scores(features_.Transform(text, analyzer), raw.data());
  } else if (kind_ == "fasttext") {
    fasttext_.Scores(text, analyzer, raw.data());
  } else {
    std::vector<float> lin(n), ft(n);
    linear_.Scores(features_.Transform(text, analyzer), raw.data());
    Calibrate(raw.data(), n, part_scales_[0], lin.data());
    fasttext_.Scores(text, analyzer, raw.data());
    Calibrate(raw.data(), n, part_scales_[1], ft.data());
    MixLogProbabilities(lin.data(), ft.data(), n, weight_, raw.data());
  }
  probabilities.resize(n);
  Calibrate(raw.data(), n, scale_, probabilities.data());
}

std::vector<EntitySpan> NluModel::Entities(std::string_view text) const {
  std::vector<EntitySpan> out = rules_.Extract(text);
  if (!tagger_.empty()) {
    Analyzer analyzer(language_, zh_);
    // A rule's match is certain; the tagger's spans fill in where no rule matched.
    for (auto& s : tagger_.Extract(text, analyzer)) {
      const bool overlaps = std::any_of(out.begin(), out.end(), [&](const EntitySpan& o) {
        return s.begin < o.end && o.begin < s.end;
      });
      if (!overlaps) out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const EntitySpan& a, const EntitySpan& b) { return a.begin < b.begin; });
  }
  return out;
}

NluPrediction NluModel::Predict(std::string_view text) const {
  NluPrediction out;
  std::vector<float>& p = out.probabilities;
  Scores(text, p);
  std::vector<size_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t top = std::min(kRanking, order.size());
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  for (size_t i = 0; i < top; ++i) out.ranking.push_back({intents_[order[i]], p[order[i]]});
  out.confidence = p[order[0]];
  const bool oos = static_cast<int>(order[0]) == out_of_scope_ || out.confidence < threshold_;
  out.intent = oos ? std::string(kOutOfScope) : intents_[order[0]];
  out.entities = Entities(text);
  return out;
}

}  // namespace aimass::text
