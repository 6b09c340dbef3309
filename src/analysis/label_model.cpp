#include "analysis/label_model.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <re2/re2.h>

namespace aimass::analysis {

using json = nlohmann::json;

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c >= 0x80 || c == '_'; }

// `word` in `text` (both lower case) with no word character on either side.
bool HasWord(const std::string& text, const std::string& word) {
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool left = at == 0 || !IsWordChar(static_cast<unsigned char>(text[at - 1]));
    const size_t end = at + word.size();
    const bool right = end >= text.size() || !IsWordChar(static_cast<unsigned char>(text[end]));
    if (left && right) return true;
  }
  return false;
}

std::string CellText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

}  // namespace

Result<LabelingFunction> ParseLabelingFunction(const json& j, const std::vector<std::string>& classes) {
  if (!j.is_object()) return Status::BadRequest("a labelling function is an object");
  LabelingFunction f;
  f.name = j.value("name", "");
  if (f.name.empty() || f.name.size() > 100) return Status::BadRequest("a labelling function needs a name of 1 to 100 bytes");
  f.kind = j.value("kind", "");
  f.label = j.value("label", "");
  if (std::find(classes.begin(), classes.end(), f.label) == classes.end()) {
    return Status::BadRequest("labelling function '" + f.name + "': label '" + f.label + "' is not a class of this project");
  }
  if (j.contains("column") && !j["column"].is_string()) return Status::BadRequest("labelling function '" + f.name + "': column must be a name");
  f.column = j.value("column", "");
  if (f.kind == "keyword") {
    if (!j.contains("keywords") || !j["keywords"].is_array() || j["keywords"].empty()) {
      return Status::BadRequest("labelling function '" + f.name + "': keywords must list words");
    }
    for (const auto& k : j["keywords"]) {
      if (!k.is_string() || k.get<std::string>().empty()) return Status::BadRequest("labelling function '" + f.name + "': keywords must be words");
      f.keywords.push_back(Lower(k.get<std::string>()));
    }
  } else if (f.kind == "regex") {
    f.pattern = j.value("pattern", "");
    RE2 re(f.pattern);
    if (f.pattern.empty() || !re.ok()) {
      return Status::BadRequest("labelling function '" + f.name + "': pattern is not a regular expression: " + re.error());
    }
  } else if (f.kind == "rule") {
    f.op = j.value("op", "");
    static const std::vector<std::string> ops = {"=", "!=", ">", ">=", "<", "<=", "contains"};
    if (f.column.empty()) return Status::BadRequest("labelling function '" + f.name + "': a rule needs a column");
    if (std::find(ops.begin(), ops.end(), f.op) == ops.end()) {
      return Status::BadRequest("labelling function '" + f.name + "': op is one of = != > >= < <= contains");
    }
    if (!j.contains("value") || !(j["value"].is_number() || j["value"].is_string() || j["value"].is_boolean())) {
      return Status::BadRequest("labelling function '" + f.name + "': a rule needs a value (a number, text or true/false)");
    }
    f.value = j["value"];
  } else {
    return Status::BadRequest("labelling function '" + f.name + "': kind is keyword, regex or rule");
  }
  return f;
}

json LabelingFunctionJson(const LabelingFunction& f) {
  json j = {{"name", f.name}, {"kind", f.kind}, {"label", f.label}};
  if (!f.column.empty()) j["column"] = f.column;
  if (f.kind == "keyword") j["keywords"] = f.keywords;
  if (f.kind == "regex") j["pattern"] = f.pattern;
  if (f.kind == "rule") j["op"] = f.op, j["value"] = f.value;
  return j;
}

struct LabelingFunctionRunner::Impl {
  LabelingFunction f;
  int label = -1;
  std::unique_ptr<RE2> re;
};

LabelingFunctionRunner::~LabelingFunctionRunner() = default;
LabelingFunctionRunner::LabelingFunctionRunner(LabelingFunctionRunner&&) noexcept = default;
LabelingFunctionRunner& LabelingFunctionRunner::operator=(LabelingFunctionRunner&&) noexcept = default;

Result<LabelingFunctionRunner> LabelingFunctionRunner::Compile(const LabelingFunction& f, const std::vector<std::string>& classes) {
  LabelingFunctionRunner r;
  r.impl_ = std::make_unique<Impl>();
  r.impl_->f = f;
  r.impl_->label = static_cast<int>(std::find(classes.begin(), classes.end(), f.label) - classes.begin());
  if (r.impl_->label >= static_cast<int>(classes.size())) return Status::BadRequest("label '" + f.label + "' is not a class");
  if (f.kind == "regex") {
    r.impl_->re = std::make_unique<RE2>(f.pattern);
    if (!r.impl_->re->ok()) return Status::BadRequest("pattern: " + r.impl_->re->error());
  }
  return r;
}

int LabelingFunctionRunner::Vote(const std::string& text, const json& row) const {
  const LabelingFunction& f = impl_->f;
  const std::string subject = f.column.empty() ? text : (row.contains(f.column) ? CellText(row[f.column]) : "");
  if (f.kind == "keyword") {
    const std::string lower = Lower(subject);
    for (const auto& k : f.keywords) {
      if (HasWord(lower, k)) return impl_->label;
    }
    return -1;
  }
  if (f.kind == "regex") return RE2::PartialMatch(subject, *impl_->re) ? impl_->label : -1;
  // A rule: numbers compare as numbers, anything else as text.
  if (!row.contains(f.column) || row[f.column].is_null()) return -1;
  const json& v = row[f.column];
  bool hit = false;
  if (f.op == "contains") {
    hit = Lower(CellText(v)).find(Lower(CellText(f.value))) != std::string::npos;
  } else if (v.is_number() && f.value.is_number()) {
    const double a = v.get<double>(), b = f.value.get<double>();
    hit = f.op == "=" ? a == b : f.op == "!=" ? a != b : f.op == ">" ? a > b : f.op == ">=" ? a >= b : f.op == "<" ? a < b : a <= b;
  } else {
    const std::string a = CellText(v), b = CellText(f.value);
    hit = f.op == "=" ? a == b : f.op == "!=" ? a != b : f.op == ">" ? a > b : f.op == ">=" ? a >= b : f.op == "<" ? a < b : a <= b;
  }
  return hit ? impl_->label : -1;
}

LabelModelFit FitLabelModel(const std::vector<std::vector<int>>& votes, int classes, int iterations) {
  const size_t n = votes.size(), m = n ? votes[0].size() : 0;
  const size_t k = static_cast<size_t>(std::max(classes, 2));
  LabelModelFit fit;
  fit.accuracy.assign(m, 0.7);
  fit.coverage.assign(m, 0.0);
  fit.conflict.assign(m, 0.0);
  std::vector<std::vector<double>> post(n, std::vector<double>(k, 0.0));
  // The start: each item's majority vote (ties shared).
  for (size_t i = 0; i < n; ++i) {
    for (int v : votes[i]) {
      if (v >= 0) post[i][static_cast<size_t>(v)] += 1;
    }
    double s = 0;
    for (double x : post[i]) s += x;
    for (double& x : post[i]) x = s > 0 ? x / s : 1.0 / static_cast<double>(k);
  }
  for (int it = 0; it < iterations; ++it) {
    // M: a function's accuracy is the expected share of its votes that are right (smoothed,
    // kept between chance and almost sure).
    for (size_t j = 0; j < m; ++j) {
      double right = 1, total = 2;
      for (size_t i = 0; i < n; ++i) {
        if (votes[i][j] >= 0) right += post[i][static_cast<size_t>(votes[i][j])], total += 1;
      }
      fit.accuracy[j] = std::clamp(right / total, 1.0 / static_cast<double>(k) + 1e-3, 0.999);
    }
    // E: each item's classes given the votes, every function independent given the class.
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> logp(k, 0.0);
      bool any = false;
      for (size_t j = 0; j < m; ++j) {
        const int v = votes[i][j];
        if (v < 0) continue;
        any = true;
        const double a = fit.accuracy[j], wrong = (1 - a) / static_cast<double>(k - 1);
        for (size_t c = 0; c < k; ++c) logp[c] += std::log(static_cast<size_t>(v) == c ? a : wrong);
      }
      if (!any) {
        std::fill(post[i].begin(), post[i].end(), 1.0 / static_cast<double>(k));
        continue;
      }
      const double top = *std::max_element(logp.begin(), logp.end());
      double s = 0;
      for (size_t c = 0; c < k; ++c) s += post[i][c] = std::exp(logp[c] - top);
      for (double& x : post[i]) x /= s;
    }
  }
  fit.label.assign(n, -1);
  fit.confidence.assign(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    bool any = false;
    for (size_t j = 0; j < m; ++j) {
      if (votes[i][j] < 0) continue;
      any = true;
      fit.coverage[j] += 1;
      for (size_t o = 0; o < m; ++o) {
        if (o != j && votes[i][o] >= 0 && votes[i][o] != votes[i][j]) {
          fit.conflict[j] += 1;
          break;
        }
      }
    }
    if (!any) continue;
    const auto best = std::max_element(post[i].begin(), post[i].end());
    fit.label[i] = static_cast<int>(best - post[i].begin());
    fit.confidence[i] = *best;
  }
  for (size_t j = 0; j < m; ++j) {
    if (fit.coverage[j] > 0) fit.conflict[j] /= fit.coverage[j];
    fit.coverage[j] = n ? fit.coverage[j] / static_cast<double>(n) : 0;
  }
  return fit;
}

}  // namespace aimass::analysis
