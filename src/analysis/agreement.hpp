// Agreement between annotators beyond chance: Cohen's kappa for two annotators over the items
// both labelled, and Fleiss' kappa for any number (overall, and per label), from the labels as
// text (a class; a canonical JSON value for the other kinds).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aimass::analysis {

// (p_o − p_e) / (1 − p_e), p_o the share of items labelled alike, p_e the chance of it from
// each annotator's own label frequencies. Empty for no items; 1 when both always gave the same
// single label (no disagreement possible or seen).
std::optional<double> CohensKappa(const std::vector<std::string>& a, const std::vector<std::string>& b);

struct Fleiss {
  double kappa = 0;
  std::map<std::string, double> per_label;  // κ_j = 1 − Σ n_ij (n − n_ij) / (N n (n − 1) p_j (1 − p_j))
  size_t items = 0;
  size_t raters = 0;  // per item
};

// Over the items with exactly the most common number (≥ 2) of labels; each item's labels in any
// order. Empty when there are no such items.
std::optional<Fleiss> FleissKappa(const std::vector<std::vector<std::string>>& labels);

}  // namespace aimass::analysis
