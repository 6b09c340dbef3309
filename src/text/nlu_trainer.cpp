#include "text/nlu_trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "text/analyzer.hpp"
#include "text/entity_rules.hpp"
#include "text/entity_tagger.hpp"
#include "text/fasttext_classifier.hpp"
#include "text/linear_model.hpp"
#include "text/nlu_model.hpp"
#include "text/text_features.hpp"

namespace aimass::text {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One trained classifier of some kind, able to score texts.
struct Trained {
  std::string kind;
  FeatureSpace features;
  LinearModel linear;
  FastTextClassifier fasttext;
  double seconds = 0;

  void Score(const std::string& text, const Analyzer& a, float* out) const {
    if (kind == "linear") linear.Scores(features.Transform(text, a), out);
    else fasttext.Scores(text, a, out);
  }
};

Result<Trained> TrainKind(const std::string& kind, const std::vector<std::string>& texts, const std::vector<int>& y,
                          const NluTrainSpec& spec, const ChineseSegmenter* zh) {
  Analyzer a(spec.language, zh);
  Trained t;
  t.kind = kind;
  const auto start = Clock::now();
  const int classes = static_cast<int>(spec.intents.size());
  if (kind == "linear") {
    t.features = FeatureSpace::Fit(texts, a, FeatureOptions{});
    std::vector<SparseVector> x;
    x.reserve(texts.size());
    for (const auto& s : texts) x.push_back(t.features.Transform(s, a));
    LinearOptions o;
    o.c = spec.c;
    AIMASS_ASSIGN_OR_RETURN(t.linear, LinearModel::Train(x, y, classes, t.features.size(), o));
  } else if (kind == "fasttext") {
    FastTextOptions o;
    // Few examples need more passes (fastText's 25 are meant for large corpora): about 50,000
    // examples seen in all, at least `fasttext_epochs` and at most 200 passes.
    o.epochs = std::clamp(static_cast<int>(50000 / std::max<size_t>(texts.size(), 1)), spec.fasttext_epochs, 200);
    AIMASS_ASSIGN_OR_RETURN(t.fasttext, FastTextClassifier::Train(texts, y, classes, a, o, spec.work_dir));
  } else {
    return Status::BadRequest("unknown classifier kind '" + kind + "': linear or fasttext");
  }
  t.seconds = Since(start);
  return t;
}

// The mean negative log-likelihood of the true labels under softmax(scale · scores).
double Nll(const std::vector<std::vector<float>>& scores, const std::vector<int>& y, double scale) {
  double sum = 0;
  std::vector<float> p;
  for (size_t i = 0; i < scores.size(); ++i) {
    p.resize(scores[i].size());
    Calibrate(scores[i].data(), scores[i].size(), scale, p.data());
    sum -= std::log(std::max(static_cast<double>(p[y[i]]), 1e-12));
  }
  return scores.empty() ? 0 : sum / static_cast<double>(scores.size());
}

// Temperature scaling (Guo et al. 2017): the scale minimising the held-out NLL, by golden-section
// search over its logarithm.
double FitScale(const std::vector<std::vector<float>>& scores, const std::vector<int>& y) {
  if (scores.empty()) return 1.0;
  double lo = std::log(0.05), hi = std::log(200.0);
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
  double fa = Nll(scores, y, std::exp(a)), fb = Nll(scores, y, std::exp(b));
  for (int i = 0; i < 40; ++i) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = Nll(scores, y, std::exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = Nll(scores, y, std::exp(b));
    }
  }
  return std::exp((lo + hi) / 2);
}

struct Judged {
  double scale = 1, threshold = 0;
  std::vector<int> predicted;  // -1: out of scope
  json metrics;
};

// Calibrates one kind on the held-out scores and measures it there.
Judged Judge(const std::vector<std::vector<float>>& scores, const std::vector<int>& y, int oos,
             const NluTrainSpec& spec) {
  Judged j;
  j.scale = FitScale(scores, y);
  std::vector<int> best(scores.size());
  std::vector<double> conf(scores.size());
  std::vector<float> p;
  std::vector<double> right;
  for (size_t i = 0; i < scores.size(); ++i) {
    p.resize(scores[i].size());
    Calibrate(scores[i].data(), p.size(), j.scale, p.data());
    best[i] = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
    conf[i] = p[best[i]];
    if (y[i] != oos && best[i] == y[i]) right.push_back(conf[i]);
  }
  if (spec.threshold) {
    j.threshold = *spec.threshold;
  } else if (!right.empty()) {
    std::sort(right.begin(), right.end());
    const size_t k = static_cast<size_t>(std::floor(spec.max_false_fallbacks * static_cast<double>(right.size())));
    j.threshold = right[std::min(k, right.size() - 1)];
  }
  size_t correct = 0, in = 0, in_right = 0, out = 0, out_right = 0;
  j.predicted.resize(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool rejected = best[i] == oos || conf[i] < j.threshold;
    j.predicted[i] = rejected ? -1 : best[i];
    const bool is_oos = y[i] == oos;
    const bool ok = is_oos ? rejected : j.predicted[i] == y[i];
    correct += ok;
    if (is_oos) {
      ++out;
      out_right += ok;
    } else {
      ++in;
      in_right += ok;
    }
  }
  auto ratio = [](size_t a, size_t b) { return b ? json(static_cast<double>(a) / static_cast<double>(b)) : json(nullptr); };
  j.metrics = {{"accuracy", ratio(correct, scores.size())}, {"in_scope_accuracy", ratio(in_right, in)},
               {"out_of_scope_recall", ratio(out_right, out)}, {"threshold", j.threshold}, {"scale", j.scale}};
  return j;
}

// Per intent precision, recall and F1 on the held-out part, and the most frequent confusions.
void IntentReport(const std::vector<std::string>& intents, int oos, const std::vector<int>& y,
                  const std::vector<int>& predicted, json& evaluation) {
  const int n = static_cast<int>(intents.size());
  auto cls = [&](int v) { return v < 0 ? (oos >= 0 ? oos : n) : v; };  // n: out of scope without a class
  std::vector<size_t> tp(n + 1), fp(n + 1), fn(n + 1);
  std::map<std::pair<int, int>, size_t> confusions;
  for (size_t i = 0; i < y.size(); ++i) {
    const int truth = cls(y[i] == oos ? -1 : y[i]), guess = cls(predicted[i]);
    if (truth == guess) {
      ++tp[truth];
    } else {
      ++fp[guess];
      ++fn[truth];
      ++confusions[{truth, guess}];
    }
  }
  auto name = [&](int c) { return c == n ? std::string(kOutOfScope) : intents[c]; };
  json rows = json::array();
  double f1_sum = 0;
  int f1_count = 0;
  for (int c = 0; c <= n; ++c) {
    const size_t support = tp[c] + fn[c];
    if (c == n && support == 0 && fp[c] == 0) continue;
    const double precision = tp[c] + fp[c] ? static_cast<double>(tp[c]) / static_cast<double>(tp[c] + fp[c]) : 0;
    const double recall = support ? static_cast<double>(tp[c]) / static_cast<double>(support) : 0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    if (support > 0) {
      f1_sum += f1;
      ++f1_count;
    }
    rows.push_back({{"intent", name(c)}, {"precision", precision}, {"recall", recall}, {"f1", f1}, {"support", support}});
  }
  std::vector<std::pair<size_t, std::pair<int, int>>> pairs;
  for (const auto& [k, v] : confusions) pairs.push_back({v, k});
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  json conf = json::array();
  for (size_t i = 0; i < pairs.size() && i < 20; ++i) {
    conf.push_back({{"intent", name(pairs[i].second.first)}, {"predicted", name(pairs[i].second.second)},
                    {"count", pairs[i].first}});
  }
  evaluation["intents"] = rows;
  evaluation["confusions"] = conf;
  evaluation["macro_f1"] = f1_count ? f1_sum / f1_count : 0.0;
}

// Exact-span precision and recall of the entities found in the held-out texts.
json EntityReport(const std::vector<const NluExample*>& held, const EntityRules& rules, const EntityTagger& tagger,
                  const Analyzer& a) {
  std::map<std::string, std::array<size_t, 3>> counts;  // tp, fp, fn
  for (const NluExample* ex : held) {
    std::vector<EntitySpan> found = rules.Extract(ex->text);
    for (auto& s : tagger.Extract(ex->text, a)) {
      if (std::none_of(found.begin(), found.end(), [&](const EntitySpan& o) { return s.begin < o.end && o.begin < s.end; })) {
        found.push_back(s);
      }
    }
    for (const auto& s : ex->spans) {
      const bool hit = std::any_of(found.begin(), found.end(), [&](const EntitySpan& f) {
        return f.entity == s.entity && f.begin == s.begin && f.end == s.end;
      });
      ++counts[s.entity][hit ? 0 : 2];
    }
    for (const auto& f : found) {
      const bool marked = std::any_of(ex->spans.begin(), ex->spans.end(), [&](const EntitySpan& s) {
        return f.entity == s.entity && f.begin == s.begin && f.end == s.end;
      });
      if (!marked && counts.count(f.entity)) ++counts[f.entity][1];
    }
  }
  json out = json::array();
  for (const auto& [name, c] : counts) {
    const double p = c[0] + c[1] ? static_cast<double>(c[0]) / static_cast<double>(c[0] + c[1]) : 0;
    const double r = c[0] + c[2] ? static_cast<double>(c[0]) / static_cast<double>(c[0] + c[2]) : 0;
    out.push_back({{"entity", name}, {"precision", p}, {"recall", r}, {"support", c[0] + c[2]}});
  }
  return out;
}

}  // namespace

Result<NluTrainResult> TrainNlu(const NluTrainSpec& spec, const std::vector<NluExample>& examples,
                                const std::function<void(const std::string&)>& log) {
  const auto start = Clock::now();
  const int classes = static_cast<int>(spec.intents.size());
  if (classes < 1) return Status::BadRequest("a bot needs at least one intent");
  if (!Analyzer::ValidLanguage(spec.language)) return Status::BadRequest("unknown language '" + spec.language + "'");
  if (spec.kinds.empty()) return Status::BadRequest("no classifier kind to train");
  if (!(spec.holdout >= 0 && spec.holdout < 1)) return Status::BadRequest("holdout is at least 0 and below 1");
  int oos = -1;
  for (int c = 0; c < classes; ++c) {
    if (spec.intents[c] == kOutOfScope) oos = c;
  }
  std::vector<std::vector<size_t>> by_intent(classes);
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].intent < 0 || examples[i].intent >= classes) return Status::BadRequest("an example's intent is out of range");
    by_intent[examples[i].intent].push_back(i);
  }
  for (int c = 0; c < classes; ++c) {
    if (by_intent[c].empty()) return Status::BadRequest("intent " + spec.intents[c] + " has no examples");
  }
  const ChineseSegmenter* zh = spec.language == "zh" ? SharedChineseSegmenter(std::string(kDefaultZhDictionary)) : nullptr;
  AIMASS_ASSIGN_OR_RETURN(auto rule_list, EntityRulesFromJson(spec.entities));
  AIMASS_ASSIGN_OR_RETURN(EntityRules rules, EntityRules::Build(rule_list));

  // Stratified folds: each example is scored by classifiers that did not see it. With one
  // fold, a share of each intent is held out (each intent keeps an example for training).
  const int folds = std::max(1, spec.folds);
  std::mt19937 rng(spec.seed);
  std::vector<int> fold(examples.size(), 1);
  for (auto& idx : by_intent) {
    std::shuffle(idx.begin(), idx.end(), rng);
    const size_t n = idx.size();
    if (folds > 1) {
      for (size_t k = 0; k < n; ++k) fold[idx[k]] = static_cast<int>(k % static_cast<size_t>(folds));
    } else {
      size_t h = static_cast<size_t>(std::floor(static_cast<double>(n) * spec.holdout + 0.5));
      if (h >= n) h = n - 1;
      for (size_t k = 0; k < h; ++k) fold[idx[k]] = 0;
    }
  }
  const int scored_folds = folds > 1 ? folds : 1;  // with one fold only fold 0 is held out
  std::vector<std::string> all_texts;
  std::vector<int> all_y, held_y;
  std::vector<const NluExample*> held_examples;
  for (size_t i = 0; i < examples.size(); ++i) {
    all_texts.push_back(examples[i].text);
    all_y.push_back(examples[i].intent);
    if (fold[i] < scored_folds) {
      held_examples.push_back(&examples[i]);
      held_y.push_back(examples[i].intent);
    }
  }
  log("training " + std::to_string(spec.kinds.size()) + " classifier kinds on " + std::to_string(examples.size()) +
      " examples of " + std::to_string(classes) + " intents; " +
      (folds > 1 ? std::to_string(folds) + "-fold cross-validation" : std::to_string(held_examples.size()) + " held out"));

  // Per fold, every kind at once, each on its own thread (LIBLINEAR and fastText each use one
  // core); each held-out example's scores come from the fold that left it out.
  Analyzer analyzer(spec.language, zh);
  std::vector<std::vector<std::vector<float>>> held_scores(
      spec.kinds.size(), std::vector<std::vector<float>>(held_examples.size(), std::vector<float>(classes)));
  std::vector<double> seconds(spec.kinds.size(), 0);
  for (int f = 0; f < scored_folds; ++f) {
    std::vector<std::string> texts;
    std::vector<int> y;
    std::vector<size_t> scored;  // rows of held_examples in this fold
    for (size_t i = 0, row = 0; i < examples.size(); ++i) {
      if (fold[i] == f) scored.push_back(row);
      else {
        texts.push_back(examples[i].text);
        y.push_back(examples[i].intent);
      }
      if (fold[i] < scored_folds) ++row;
    }
    std::vector<Result<Trained>> trained;
    for (size_t k = 0; k < spec.kinds.size(); ++k) trained.emplace_back(Status::Internal("not trained"));
    {
      std::vector<std::thread> threads;
      for (size_t k = 0; k < spec.kinds.size(); ++k) {
        threads.emplace_back([&, k] { trained[k] = TrainKind(spec.kinds[k], texts, y, spec, zh); });
      }
      for (auto& t : threads) t.join();
    }
    for (size_t k = 0; k < spec.kinds.size(); ++k) {
      if (!trained[k].ok()) return trained[k].status();
      seconds[k] += trained[k]->seconds / scored_folds;
      for (size_t row : scored) trained[k]->Score(held_examples[row]->text, analyzer, held_scores[k][row].data());
    }
    if (folds > 1) log("fold " + std::to_string(f + 1) + " of " + std::to_string(folds) + " done");
  }
  json kinds = json::array();
  std::string kind;
  Judged chosen_judged;
  double best_accuracy = -1;
  auto consider = [&](const std::string& name, Judged j, double seconds) {
    j.metrics["kind"] = name;
    j.metrics["train_seconds"] = seconds;
    log(name + ": " + j.metrics.dump());
    kinds.push_back(j.metrics);
    // A later (more complex) kind must win by more than one held-out example: a tie, or one
    // lucky example on a small bot, keeps the simpler one.
    const double acc = j.metrics["accuracy"].is_number() ? j.metrics["accuracy"].get<double>() : 0;
    const double margin = held_examples.empty() ? 0 : 1.5 / static_cast<double>(held_examples.size());
    if (best_accuracy < 0 || acc > best_accuracy + margin) {
      best_accuracy = acc;
      kind = name;
      chosen_judged = std::move(j);
    }
  };
  // Each kind's calibrated held-out probabilities, kept for the ensemble.
  std::map<std::string, std::pair<std::vector<std::vector<float>>, double>> calibrated;
  for (size_t k = 0; k < spec.kinds.size(); ++k) {
    std::vector<std::vector<float>>& scores = held_scores[k];
    Judged j = Judge(scores, held_y, oos, spec);
    for (auto& row : scores) {
      std::vector<float> p(row.size());
      Calibrate(row.data(), row.size(), j.scale, p.data());
      row = std::move(p);
    }
    calibrated[spec.kinds[k]] = {std::move(scores), j.scale};
    consider(spec.kinds[k], std::move(j), seconds[k]);
  }
  // Both kinds: their probabilities mixed, the linear part's share picked on the held-out part.
  double ensemble_weight = 0;
  if (calibrated.count("linear") && calibrated.count("fasttext") && !held_examples.empty()) {
    const auto& lin = calibrated["linear"].first;
    const auto& ft = calibrated["fasttext"].first;
    std::optional<Judged> best;
    for (double w : {0.5, 0.65, 0.8}) {
      std::vector<std::vector<float>> mixed(lin.size(), std::vector<float>(classes));
      for (size_t i = 0; i < lin.size(); ++i) MixLogProbabilities(lin[i].data(), ft[i].data(), classes, w, mixed[i].data());
      Judged j = Judge(mixed, held_y, oos, spec);
      j.metrics["weight"] = w;
      if (!best || j.metrics["accuracy"].get<double>() > best->metrics["accuracy"].get<double>()) {
        best = std::move(j);
        ensemble_weight = w;
      }
    }
    double both = 0;
    for (size_t k = 0; k < spec.kinds.size(); ++k) both += seconds[k];
    consider("ensemble", std::move(*best), both);
  }
  json evaluation = {{"held_out", held_examples.size()}, {"examples", examples.size()}, {"folds", folds}, {"kinds", kinds},
                     {"kind", kind}, {"threshold", chosen_judged.threshold}, {"scale", chosen_judged.scale}};
  for (const char* key : {"accuracy", "in_scope_accuracy", "out_of_scope_recall"}) evaluation[key] = chosen_judged.metrics[key];
  IntentReport(spec.intents, oos, held_y, chosen_judged.predicted, evaluation);

  // Entities: measured with a tagger that did not see the held-out texts, then learned from all.
  std::vector<AnnotatedText> marked_train, marked_all;
  std::vector<const NluExample*> fold0;  // the entity tagger is measured on fold 0 only
  bool any_marks = false;
  for (size_t i = 0; i < examples.size(); ++i) {
    any_marks = any_marks || !examples[i].spans.empty();
    AnnotatedText a{examples[i].text, examples[i].spans};
    if (fold[i] != 0) marked_train.push_back(a);
    else fold0.push_back(&examples[i]);
    marked_all.push_back(std::move(a));
  }
  EntityTagger tagger;
  if (any_marks) {
    AIMASS_ASSIGN_OR_RETURN(EntityTagger probe, EntityTagger::Train(marked_train, analyzer));
    evaluation["entities"] = EntityReport(fold0, rules, probe, analyzer);
    AIMASS_ASSIGN_OR_RETURN(tagger, EntityTagger::Train(marked_all, analyzer));
  } else {
    evaluation["entities"] = EntityReport(fold0, rules, tagger, analyzer);
  }

  // The kept kind, trained again on every example with the held-out calibration.
  log("kept " + kind + "; training it on all " + std::to_string(examples.size()) + " examples");
  std::vector<std::string> parts_to_train = {kind};
  if (kind == "ensemble") parts_to_train = {"linear", "fasttext"};
  std::vector<Result<Trained>> finals;
  for (size_t k = 0; k < parts_to_train.size(); ++k) finals.emplace_back(Status::Internal("not trained"));
  {
    std::vector<std::thread> threads;
    for (size_t k = 0; k < parts_to_train.size(); ++k) {
      threads.emplace_back([&, k] { finals[k] = TrainKind(parts_to_train[k], all_texts, all_y, spec, zh); });
    }
    for (auto& t : threads) t.join();
  }
  for (const auto& f : finals) AIMASS_RETURN_IF_ERROR(f.status());
  evaluation["train_seconds"] = Since(start);

  NluModel::Parts parts;
  parts.header = spec.extra;
  parts.header["language"] = spec.language;
  parts.header["intents"] = spec.intents;
  parts.header["kind"] = kind;
  parts.header["scale"] = chosen_judged.scale;
  parts.header["threshold"] = chosen_judged.threshold;
  parts.header["entities"] = spec.entities.is_null() ? json::array() : spec.entities;
  parts.header["evaluation"] = evaluation;
  if (kind == "ensemble") {
    parts.header["ensemble"] = {{"weight", ensemble_weight}, {"linear_scale", calibrated["linear"].second},
                                {"fasttext_scale", calibrated["fasttext"].second}};
  }
  for (auto& f : finals) {
    if (f->kind == "linear") {
      parts.features = std::move(f->features);
      parts.linear = std::move(f->linear);
    } else {
      AIMASS_ASSIGN_OR_RETURN(parts.fasttext_bytes, f->fasttext.Save(spec.work_dir));
    }
  }
  parts.tagger = std::move(tagger);
  AIMASS_ASSIGN_OR_RETURN(std::string bytes, NluModel::Serialize(parts));
  return NluTrainResult{std::move(bytes), std::move(evaluation)};
}

}  // namespace aimass::text
