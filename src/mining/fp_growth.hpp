// Frequent itemsets by FP-growth (Han, Pei, Yin 2000): the transactions compressed into a
// prefix tree of their items in descending frequency, mined by building, for each item, the
// tree of the transactions that hold it, without candidate generation. Association rules
// (antecedent → consequent) follow from the itemsets' counts: support, confidence, lift.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/status.hpp"

namespace aimass::mining {

// A transaction is its items' numbers (0 … items − 1; repeats count once).
using Transactions = std::vector<std::vector<uint32_t>>;

struct Itemset {
  std::vector<uint32_t> items;  // ascending
  uint64_t count = 0;           // transactions that hold all of them
};

struct FrequentOptions {
  double min_support = 0.01;  // a fraction of the transactions: count ≥ min_support × transactions
  size_t max_length = 0;      // 0: any length
  size_t max_itemsets = 2'000'000;  // more is an error (too low a support), not an exhausted machine
  const std::atomic<bool>* stop = nullptr;
};

Result<std::vector<Itemset>> FpGrowth(const Transactions& transactions, const FrequentOptions& o);

struct Rule {
  std::vector<uint32_t> antecedent, consequent;  // ascending, disjoint, neither empty
  uint64_t count = 0;                            // transactions with both
  double support = 0, confidence = 0, lift = 0;
};

struct RuleOptions {
  double min_confidence = 0.5;
  double min_lift = 0;
};

// Every rule X → Y with X ∪ Y a frequent itemset and confidence count(X∪Y)/count(X) at least
// min_confidence, by lift then confidence (descending). `itemsets` must be closed under subsets,
// as FpGrowth's are (every subset of a frequent set is frequent).
std::vector<Rule> AssociationRules(const std::vector<Itemset>& itemsets, uint64_t transactions, const RuleOptions& o);

}  // namespace aimass::mining
