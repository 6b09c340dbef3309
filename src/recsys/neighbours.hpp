// Item-to-item neighbours: item-kNN (cosine similarity of the sets of users who chose two items)
// and session co-occurrence (how often one item follows another within a session).
#pragma once

#include <cstdint>
#include <vector>

#include "recsys/events.hpp"
#include "recsys/model.hpp"

namespace aimass::recsys {

// Each item's `k` most similar items by cosine of binary user vectors, shrunk towards zero for
// items with few users: sim = |U_i ∩ U_j| / (sqrt(|U_i|·|U_j|) + shrink).
Neighbours TrainItemKnn(const Csr& user_items, int k, float shrink, int threads);

// Each item's `k` most frequent successors within `window` places in a session (nearer places
// count more), and predecessors at half weight: a basket's order says little.
Neighbours TrainCooccurrence(const std::vector<std::vector<uint32_t>>& sessions, size_t items, int window, int k);

// Keeps each row's `k` best scores, best first.
Neighbours TopK(size_t rows, std::vector<std::vector<std::pair<uint32_t, float>>> rows_in, int k);

}  // namespace aimass::recsys
