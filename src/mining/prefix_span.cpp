#include "mining/prefix_span.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace aimass::mining {

namespace {

struct Projection {
  uint32_t seq;
  uint32_t pos;  // the position after the prefix's match
};

class Grower {
 public:
  Grower(const std::vector<std::vector<uint32_t>>& s, uint64_t min_count, uint32_t items, const SequenceOptions& o)
      : s_(s), min_count_(min_count), o_(o), count_(items, 0), last_(items, UINT32_MAX) {}

  Status Grow(std::vector<uint32_t>& prefix, const std::vector<Projection>& db) {
    if (o_.max_length && prefix.size() >= o_.max_length) return Status::Ok();
    if (o_.stop && o_.stop->load(std::memory_order_relaxed)) return Status::Conflict("stopped");
    // Items that can follow, each counted once per sequence.
    std::vector<uint32_t> touched;
    for (const auto& pr : db) {
      const auto& seq = s_[pr.seq];
      const size_t end = o_.contiguous && !prefix.empty() ? std::min<size_t>(seq.size(), pr.pos + 1) : seq.size();
      for (size_t i = pr.pos; i < end; ++i) {
        const uint32_t item = seq[i];
        if (last_[item] == pr.seq) continue;
        last_[item] = pr.seq;
        if (count_[item]++ == 0) touched.push_back(item);
      }
    }
    std::vector<std::pair<uint32_t, uint64_t>> frequent;
    for (uint32_t item : touched) {
      if (count_[item] >= min_count_) frequent.emplace_back(item, count_[item]);
      count_[item] = 0;
      last_[item] = UINT32_MAX;
    }
    std::sort(frequent.begin(), frequent.end());
    for (const auto& [item, count] : frequent) {
      if (out_.size() >= o_.max_patterns) {
        return Status::BadRequest("more than " + std::to_string(o_.max_patterns) + " frequent sequences: raise min_support or lower max_length");
      }
      prefix.push_back(item);
      out_.push_back({prefix, count});
      // Each sequence's earliest occurrence of the item after its position (or right at it,
      // for contiguous patterns); a sequence projects once.
      std::vector<Projection> next;
      for (const auto& pr : db) {
        const auto& seq = s_[pr.seq];
        if (o_.contiguous && prefix.size() > 1) {
          if (pr.pos < seq.size() && seq[pr.pos] == item) next.push_back({pr.seq, pr.pos + 1});
          continue;
        }
        for (size_t i = pr.pos; i < seq.size(); ++i) {
          if (seq[i] == item) {
            next.push_back({pr.seq, static_cast<uint32_t>(i + 1)});
            if (!o_.contiguous) break;  // the earliest match leaves the most to extend
          }
        }
      }
      AIMASS_RETURN_IF_ERROR(Grow(prefix, next));
      prefix.pop_back();
    }
    return Status::Ok();
  }

  std::vector<SequencePattern> Take() { return std::move(out_); }

 private:
  const std::vector<std::vector<uint32_t>>& s_;
  uint64_t min_count_;
  const SequenceOptions& o_;
  std::vector<uint64_t> count_;
  std::vector<uint32_t> last_;
  std::vector<SequencePattern> out_;
};

}  // namespace

Result<std::vector<SequencePattern>> PrefixSpan(const std::vector<std::vector<uint32_t>>& sequences, const SequenceOptions& o) {
  if (!(o.min_support > 0 && o.min_support <= 1)) return Status::BadRequest("min_support must be in (0, 1]");
  if (sequences.empty()) return std::vector<SequencePattern>{};
  uint32_t items = 0;
  for (const auto& s : sequences) {
    for (uint32_t i : s) items = std::max(items, i + 1);
  }
  const uint64_t n = sequences.size();
  const uint64_t min_count = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(o.min_support * static_cast<double>(n) - 1e-9)));
  std::vector<Projection> all;
  for (uint32_t s = 0; s < sequences.size(); ++s) all.push_back({s, 0});
  Grower g(sequences, min_count, items, o);
  std::vector<uint32_t> prefix;
  AIMASS_RETURN_IF_ERROR(g.Grow(prefix, all));
  std::vector<SequencePattern> out = g.Take();
  std::stable_sort(out.begin(), out.end(), [](const SequencePattern& a, const SequencePattern& b) {
    return a.count != b.count ? a.count > b.count : a.items.size() > b.items.size();
  });
  return out;
}

}  // namespace aimass::mining
