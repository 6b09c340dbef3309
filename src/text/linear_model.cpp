#include "text/linear_model.hpp"

#include <linear.h>

#include <cstdlib>
#include <mutex>

#include "text/binary_io.hpp"

namespace aimass::text {

namespace {

void Quiet(const char*) {}

// LIBLINEAR shuffles with rand(): a fixed seed makes training repeatable. Its print hook is
// global, so both are set under one lock, which also keeps trainings from interleaving their
// rand() sequences.
std::mutex& TrainMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

Result<LinearModel> LinearModel::Train(const std::vector<SparseVector>& x, const std::vector<int>& y, int classes,
                                       size_t features, const LinearOptions& o) {
  if (x.size() != y.size() || x.empty()) return Status::BadRequest("a linear model needs examples, one label each");
  if (classes < 1) return Status::BadRequest("a linear model needs a class");
  LinearModel m;
  m.classes_ = classes;
  m.features_ = features;
  m.w_.assign((features + 1) * static_cast<size_t>(classes), 0.0f);
  if (classes == 1) return m;

  // LIBLINEAR's rows: 1-based indexes, the bias as one more feature (index features + 1), -1 last.
  std::vector<feature_node> nodes;
  size_t total = 0;
  for (const auto& v : x) total += v.entries.size() + 2;
  nodes.reserve(total);
  std::vector<size_t> starts;
  std::vector<double> labels;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y[i] < 0 || y[i] >= classes) return Status::BadRequest("a label is out of range");
    starts.push_back(nodes.size());
    for (const auto& [index, value] : x[i].entries) {
      if (index >= features) return Status::BadRequest("a feature index is out of range");
      nodes.push_back({static_cast<int>(index) + 1, value});
    }
    nodes.push_back({static_cast<int>(features) + 1, 1.0});
    nodes.push_back({-1, 0});
    labels.push_back(y[i]);
  }
  std::vector<feature_node*> rows;
  for (size_t s : starts) rows.push_back(&nodes[s]);
  problem prob{};
  prob.l = static_cast<int>(x.size());
  prob.n = static_cast<int>(features) + 1;
  prob.y = labels.data();
  prob.x = rows.data();
  prob.bias = 1.0;
  parameter param{};
  param.solver_type = o.logistic ? L2R_LR_DUAL : L2R_L2LOSS_SVC_DUAL;
  param.eps = o.eps;
  param.C = o.c;
  if (const char* err = check_parameter(&prob, &param)) return Status::BadRequest(std::string("LIBLINEAR: ") + err);

  model* trained = nullptr;
  {
    std::lock_guard lock(TrainMutex());
    set_print_string_function(&Quiet);
    std::srand(1);
    trained = train(&prob, &param);
  }
  if (!trained) return Status::Internal("LIBLINEAR did not train a model");
  const int nr = trained->nr_class;
  const size_t n = features + 1;
  // Two classes present: one weight vector, positive for label[0]. More: one per class.
  for (int k = 0; k < nr; ++k) {
    const int cls = trained->label[k];
    for (size_t j = 0; j < n; ++j) {
      double v = 0;
      if (nr == 2) {
        v = k == 0 ? trained->w[j] : -trained->w[j];
      } else {
        v = trained->w[j * nr + k];
      }
      m.w_[j * classes + cls] = static_cast<float>(v);
    }
  }
  // A class with no example never wins: its bias sits far below.
  if (nr < classes) {
    std::vector<bool> present(classes, false);
    for (int k = 0; k < nr; ++k) present[trained->label[k]] = true;
    for (int c = 0; c < classes; ++c) {
      if (!present[c]) m.w_[features * classes + c] = -1e3f;
    }
    if (nr == 1) m.w_[features * classes + trained->label[0]] = 1.0f;
  }
  free_and_destroy_model(&trained);
  return m;
}

void LinearModel::Scores(const SparseVector& x, float* out) const {
  const size_t c = static_cast<size_t>(classes_);
  const float* bias = w_.data() + features_ * c;
  for (size_t k = 0; k < c; ++k) out[k] = bias[k];
  for (const auto& [index, value] : x.entries) {
    if (index >= features_) continue;
    const float* row = w_.data() + index * c;
    for (size_t k = 0; k < c; ++k) out[k] += row[k] * value;
  }
}

void LinearModel::Save(std::string& out) const {
  BinaryWriter w(out);
  w.U32(static_cast<uint32_t>(classes_));
  w.U64(features_);
  w.Floats(w_);
}

Result<LinearModel> LinearModel::Load(std::string_view in) {
  BinaryReader r(in);
  LinearModel m;
  uint32_t classes = 0;
  uint64_t features = 0;
  if (!r.U32(classes) || !r.U64(features) || !r.Floats(m.w_) || classes == 0 ||
      m.w_.size() != (features + 1) * classes) {
    return Status::Unprocessable("the linear model is damaged");
  }
  m.classes_ = static_cast<int>(classes);
  m.features_ = features;
  return m;
}

}  // namespace aimass::text
