#include "mining/fp_growth.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace aimass::mining {

namespace {

// A prefix tree of transactions, items as ranks (0: the most frequent overall), each path in
// ascending rank. Nodes of one rank are chained from head[rank] for the conditional bases.
struct FpTree {
  struct Node {
    uint32_t rank;
    uint64_t count;
    int32_t parent, next_same, first_child, next_sibling;
  };
  std::vector<Node> nodes{{0, 0, -1, -1, -1, -1}};  // the root
  std::vector<int32_t> head;
  std::vector<uint64_t> counts;
  // The root's child of each rank: the root has a child for most items, a list too long to scan.
  std::vector<int32_t> root_child;

  explicit FpTree(size_t ranks) : head(ranks, -1), counts(ranks, 0), root_child(ranks, -1) {}

  void Insert(const uint32_t* ranks, size_t n, uint64_t count) {
    int32_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      int32_t child = at == 0 ? root_child[ranks[i]] : nodes[static_cast<size_t>(at)].first_child;
      if (at != 0) {
        while (child >= 0 && nodes[static_cast<size_t>(child)].rank != ranks[i]) child = nodes[static_cast<size_t>(child)].next_sibling;
      }
      if (child < 0) {
        child = static_cast<int32_t>(nodes.size());
        nodes.push_back({ranks[i], 0, at, head[ranks[i]], -1, nodes[static_cast<size_t>(at)].first_child});
        head[ranks[i]] = child;
        nodes[static_cast<size_t>(at)].first_child = child;
        if (at == 0) root_child[ranks[i]] = child;
      }
      nodes[static_cast<size_t>(child)].count += count;
      counts[ranks[i]] += count;
      at = child;
    }
  }

  // The path of a tree that never branches, root first; empty when it branches.
  std::vector<int32_t> SinglePath() const {
    std::vector<int32_t> path;
    for (int32_t at = nodes[0].first_child; at >= 0; at = nodes[static_cast<size_t>(at)].first_child) {
      if (nodes[static_cast<size_t>(at)].next_sibling >= 0) return {};
      path.push_back(at);
    }
    return path;
  }
};

class Miner {
 public:
  Miner(uint64_t min_count, const FrequentOptions& o, const std::vector<uint32_t>& item_of_rank)
      : min_count_(min_count), o_(o), item_of_rank_(item_of_rank) {}

  Status Mine(const FpTree& tree, std::vector<uint32_t>& suffix) {
    if (o_.max_length && suffix.size() >= o_.max_length) return Status::Ok();
    std::vector<int32_t> path = tree.SinglePath();
    if (!path.empty() || tree.nodes.size() == 1) return Combinations(tree, path, 0, suffix);
    std::vector<uint32_t> base;
    std::vector<uint64_t> cond_counts;
    for (size_t r = tree.head.size(); r-- > 0;) {
      if (tree.counts[r] < min_count_) continue;
      if (o_.stop && o_.stop->load(std::memory_order_relaxed)) return Status::Conflict("stopped");
      suffix.push_back(static_cast<uint32_t>(r));
      AIMASS_RETURN_IF_ERROR(Emit(suffix, tree.counts[r]));
      // The conditional base of r: every path above a node of r, with that node's count.
      cond_counts.assign(r, 0);
      for (int32_t n = tree.head[r]; n >= 0; n = tree.nodes[static_cast<size_t>(n)].next_same) {
        const uint64_t c = tree.nodes[static_cast<size_t>(n)].count;
        for (int32_t up = tree.nodes[static_cast<size_t>(n)].parent; up > 0; up = tree.nodes[static_cast<size_t>(up)].parent) {
          cond_counts[tree.nodes[static_cast<size_t>(up)].rank] += c;
        }
      }
      bool any = false;
      for (uint64_t c : cond_counts) any |= c >= min_count_;
      if (any && !(o_.max_length && suffix.size() >= o_.max_length)) {
        FpTree cond(r);
        for (int32_t n = tree.head[r]; n >= 0; n = tree.nodes[static_cast<size_t>(n)].next_same) {
          base.clear();
          for (int32_t up = tree.nodes[static_cast<size_t>(n)].parent; up > 0; up = tree.nodes[static_cast<size_t>(up)].parent) {
            const uint32_t rank = tree.nodes[static_cast<size_t>(up)].rank;
            if (cond_counts[rank] >= min_count_) base.push_back(rank);
          }
          std::reverse(base.begin(), base.end());
          if (!base.empty()) cond.Insert(base.data(), base.size(), tree.nodes[static_cast<size_t>(n)].count);
        }
        AIMASS_RETURN_IF_ERROR(Mine(cond, suffix));
      }
      suffix.pop_back();
    }
    return Status::Ok();
  }

  std::vector<Itemset> Take() { return std::move(out_); }

 private:
  // A single path: every combination of its frequent nodes is an itemset, counted by its
  // deepest node (counts only fall along a path).
  Status Combinations(const FpTree& tree, const std::vector<int32_t>& path, size_t from, std::vector<uint32_t>& suffix) {
    for (size_t i = from; i < path.size(); ++i) {
      const auto& node = tree.nodes[static_cast<size_t>(path[i])];
      if (node.count < min_count_) break;  // deeper nodes count no more
      if (o_.max_length && suffix.size() >= o_.max_length) break;
      suffix.push_back(node.rank);
      AIMASS_RETURN_IF_ERROR(Emit(suffix, node.count));
      AIMASS_RETURN_IF_ERROR(Combinations(tree, path, i + 1, suffix));
      suffix.pop_back();
    }
    return Status::Ok();
  }

  Status Emit(const std::vector<uint32_t>& ranks, uint64_t count) {
    if (out_.size() >= o_.max_itemsets) {
      return Status::BadRequest("more than " + std::to_string(o_.max_itemsets) +
                                " frequent itemsets: raise min_support or set max_length");
    }
    Itemset s;
    s.count = count;
    for (uint32_t r : ranks) s.items.push_back(item_of_rank_[r]);
    std::sort(s.items.begin(), s.items.end());
    out_.push_back(std::move(s));
    return Status::Ok();
  }

  uint64_t min_count_;
  const FrequentOptions& o_;
  const std::vector<uint32_t>& item_of_rank_;
  std::vector<Itemset> out_;
};

struct ItemsHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t x : v) h = (h ^ x) * 1099511628211ULL;
    return static_cast<size_t>(h);
  }
};

}  // namespace

Result<std::vector<Itemset>> FpGrowth(const Transactions& transactions, const FrequentOptions& o) {
  if (!(o.min_support > 0 && o.min_support <= 1)) return Status::BadRequest("min_support must be in (0, 1]");
  const uint64_t n = transactions.size();
  if (n == 0) return std::vector<Itemset>{};
  const uint64_t min_count = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(o.min_support * static_cast<double>(n) - 1e-9)));
  // Items by descending frequency (ties by number, so the tree is the same every run).
  uint32_t items = 0;
  for (const auto& t : transactions) {
    for (uint32_t i : t) items = std::max(items, i + 1);
  }
  std::vector<uint64_t> freq(items, 0);
  std::vector<uint32_t> seen(items, UINT32_MAX);
  for (uint32_t t = 0; t < transactions.size(); ++t) {
    for (uint32_t i : transactions[t]) {
      if (seen[i] != t) seen[i] = t, freq[i]++;
    }
  }
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < items; ++i) {
    if (freq[i] >= min_count) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return freq[a] != freq[b] ? freq[a] > freq[b] : a < b; });
  std::vector<uint32_t> rank_of(items, UINT32_MAX);
  for (uint32_t r = 0; r < order.size(); ++r) rank_of[order[r]] = r;
  FpTree tree(order.size());
  std::vector<uint32_t> ranks;
  for (const auto& t : transactions) {
    ranks.clear();
    for (uint32_t i : t) {
      if (rank_of[i] != UINT32_MAX) ranks.push_back(rank_of[i]);
    }
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    if (!ranks.empty()) tree.Insert(ranks.data(), ranks.size(), 1);
  }
  Miner miner(min_count, o, order);
  std::vector<uint32_t> suffix;
  AIMASS_RETURN_IF_ERROR(miner.Mine(tree, suffix));
  std::vector<Itemset> out = miner.Take();
  std::sort(out.begin(), out.end(), [](const Itemset& a, const Itemset& b) {
    return a.count != b.count ? a.count > b.count : a.items.size() != b.items.size() ? a.items.size() < b.items.size() : a.items < b.items;
  });
  return out;
}

std::vector<Rule> AssociationRules(const std::vector<Itemset>& itemsets, uint64_t transactions, const RuleOptions& o) {
  std::unordered_map<std::vector<uint32_t>, uint64_t, ItemsHash> count;
  for (const auto& s : itemsets) count.emplace(s.items, s.count);
  const double n = static_cast<double>(transactions);
  std::vector<Rule> rules;
  std::vector<uint32_t> a, c;
  for (const auto& s : itemsets) {
    const size_t m = s.items.size();
    if (m < 2 || m > 20) continue;  // 2^20 splits of one set would be no rule table a person reads
    for (uint32_t mask = 1; mask + 1 < (1u << m); ++mask) {
      a.clear(), c.clear();
      for (size_t i = 0; i < m; ++i) ((mask >> i) & 1 ? a : c).push_back(s.items[i]);
      const auto ca = count.find(a), cc = count.find(c);
      if (ca == count.end() || cc == count.end()) continue;
      const double confidence = static_cast<double>(s.count) / static_cast<double>(ca->second);
      if (confidence < o.min_confidence) continue;
      const double lift = confidence / (static_cast<double>(cc->second) / n);
      if (lift < o.min_lift) continue;
      rules.push_back({a, c, s.count, static_cast<double>(s.count) / n, confidence, lift});
    }
  }
  std::sort(rules.begin(), rules.end(), [](const Rule& x, const Rule& y) {
    if (x.lift != y.lift) return x.lift > y.lift;
    if (x.confidence != y.confidence) return x.confidence > y.confidence;
    return std::tie(x.antecedent, x.consequent) < std::tie(y.antecedent, y.consequent);
  });
  return rules;
}

}  // namespace aimass::mining
