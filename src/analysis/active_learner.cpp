#include "analysis/active_learner.hpp"

#include <algorithm>
#include <cmath>

#include "text/analyzer.hpp"
#include "text/linear_model.hpp"
#include "text/text_features.hpp"

namespace aimass::analysis {

struct ActiveLearner::Impl {
  std::vector<text::SparseVector> x;
  size_t features = 0;
  int classes = 0;
  std::unique_ptr<text::LinearModel> model;
};

ActiveLearner::ActiveLearner() : impl_(std::make_unique<Impl>()) {}
ActiveLearner::~ActiveLearner() = default;

std::unique_ptr<ActiveLearner> ActiveLearner::ForTexts(const std::vector<std::string>& texts, const std::string& language) {
  std::unique_ptr<ActiveLearner> a(new ActiveLearner());
  text::Analyzer analyzer(text::Analyzer::ValidLanguage(language) ? language : "auto", nullptr);
  text::FeatureOptions fo;
  const text::FeatureSpace space = text::FeatureSpace::Fit(texts, analyzer, fo);
  a->impl_->features = space.size();
  a->impl_->x.reserve(texts.size());
  for (const auto& t : texts) a->impl_->x.push_back(space.Transform(t, analyzer));
  return a;
}

std::unique_ptr<ActiveLearner> ActiveLearner::ForNumbers(const std::vector<std::vector<double>>& rows) {
  std::unique_ptr<ActiveLearner> a(new ActiveLearner());
  const size_t d = rows.empty() ? 0 : rows[0].size();
  std::vector<double> mean(d, 0), sd(d, 0);
  for (const auto& r : rows) {
    for (size_t j = 0; j < d; ++j) mean[j] += r[j];
  }
  for (auto& m : mean) m /= std::max<size_t>(1, rows.size());
  for (const auto& r : rows) {
    for (size_t j = 0; j < d; ++j) sd[j] += (r[j] - mean[j]) * (r[j] - mean[j]);
  }
  for (auto& s : sd) s = std::sqrt(s / std::max<size_t>(1, rows.size()));
  a->impl_->features = d;
  for (const auto& r : rows) {
    text::SparseVector v;
    for (size_t j = 0; j < d; ++j) {
      const double z = sd[j] > 0 ? (r[j] - mean[j]) / sd[j] : 0.0;
      if (z != 0) v.entries.emplace_back(static_cast<uint32_t>(j), static_cast<float>(z));
    }
    a->impl_->x.push_back(std::move(v));
  }
  return a;
}

Status ActiveLearner::Train(const std::vector<std::pair<size_t, int>>& labelled, int classes) {
  std::vector<text::SparseVector> x;
  std::vector<int> y;
  std::vector<bool> seen(static_cast<size_t>(classes), false);
  int distinct = 0;
  for (const auto& [item, c] : labelled) {
    if (item >= impl_->x.size() || c < 0 || c >= classes) continue;
    x.push_back(impl_->x[item]);
    y.push_back(c);
    if (!seen[static_cast<size_t>(c)]) seen[static_cast<size_t>(c)] = true, ++distinct;
  }
  if (distinct < 2) return Status::Conflict("active learning needs labels of two classes");
  text::LinearOptions o;
  o.logistic = true;
  o.c = 10;
  AIMASS_ASSIGN_OR_RETURN(text::LinearModel m, text::LinearModel::Train(x, y, classes, impl_->features, o));
  impl_->model = std::make_unique<text::LinearModel>(std::move(m));
  impl_->classes = classes;
  return Status::Ok();
}

bool ActiveLearner::trained() const { return impl_->model != nullptr; }
size_t ActiveLearner::items() const { return impl_->x.size(); }

std::vector<double> ActiveLearner::Probabilities(size_t item) const {
  if (!impl_->model || item >= impl_->x.size()) return {};
  std::vector<float> s(static_cast<size_t>(impl_->classes));
  impl_->model->Scores(impl_->x[item], s.data());
  // One-vs-rest logistic scores, each a sigmoid, normalised to sum to one.
  std::vector<double> p(s.size());
  double total = 0;
  for (size_t c = 0; c < s.size(); ++c) total += p[c] = 1.0 / (1.0 + std::exp(-static_cast<double>(s[c])));
  for (auto& v : p) v = total > 0 ? v / total : 1.0 / static_cast<double>(p.size());
  return p;
}

double ActiveLearner::Uncertainty(size_t item, const std::string& strategy) const {
  std::vector<double> p = Probabilities(item);
  if (p.empty()) return 0;
  if (strategy == "entropy") {
    double h = 0;
    for (double v : p) h -= v > 0 ? v * std::log(v) : 0;
    return h;
  }
  std::sort(p.begin(), p.end(), std::greater<>());
  if (strategy == "least_confidence") return 1 - p[0];
  return 1 - (p[0] - (p.size() > 1 ? p[1] : 0));  // margin
}

}  // namespace aimass::analysis
