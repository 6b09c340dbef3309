// Weak supervision as in Snorkel: labelling functions (a keyword, a regular expression, a rule
// on a column) each vote for a class or abstain on every item, and a label model combines the
// votes weighing each function by how often it agrees with the others: Dawid and Skene's EM with
// one accuracy per function (a "one-coin" model), started from the majority vote.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::analysis {

struct LabelingFunction {
  std::string name;
  std::string kind;  // keyword | regex | rule
  std::vector<std::string> keywords;  // keyword: any of them as a word, case-insensitive
  std::string pattern;                // regex: RE2 syntax, searched anywhere
  std::string column;                 // regex, keyword: the column (default the text); rule: the column compared
  std::string op;                     // rule: = != > >= < <= contains
  nlohmann::json value;               // rule: the value compared with
  std::string label;                  // the class it votes for
};

// {"name","kind","keywords"|"pattern"|"column","op","value","label"}; `classes` the project's.
Result<LabelingFunction> ParseLabelingFunction(const nlohmann::json& j, const std::vector<std::string>& classes);
nlohmann::json LabelingFunctionJson(const LabelingFunction& f);

// A compiled function: votes on an item given its text and its row (column name → value).
class LabelingFunctionRunner {
 public:
  static Result<LabelingFunctionRunner> Compile(const LabelingFunction& f, const std::vector<std::string>& classes);
  ~LabelingFunctionRunner();
  LabelingFunctionRunner(LabelingFunctionRunner&&) noexcept;
  LabelingFunctionRunner& operator=(LabelingFunctionRunner&&) noexcept;
  // The class index it votes for, or −1.
  int Vote(const std::string& text, const nlohmann::json& row) const;

 private:
  LabelingFunctionRunner() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct LabelModelFit {
  std::vector<int> label;             // per item: the most likely class, −1 when no function voted
  std::vector<double> confidence;     // its probability
  std::vector<double> accuracy;       // per function: its estimated accuracy
  std::vector<double> coverage;       // per function: the share of items it voted on
  std::vector<double> conflict;       // per function: the share of its votes another function contradicted
};

// votes[item][function]: a class index or −1. Classes' priors are uniform.
LabelModelFit FitLabelModel(const std::vector<std::vector<int>>& votes, int classes, int iterations = 50);

}  // namespace aimass::analysis
