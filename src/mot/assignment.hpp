// The assignment problem (Kuhn's Hungarian method, with Jonker and Volgenant's shortest
// augmenting paths): pairing rows with columns of a cost matrix at the least total cost. A
// tracker pairs its predicted tracks with a frame's detections this way (SORT).
#pragma once

#include <cstddef>
#include <vector>

namespace aimass::mot {

// `cost` is rows × cols, row-major. Returns, per row, the column it is paired with, or -1 when
// there are more rows than columns and it got none. Every column is paired when cols <= rows.
std::vector<int> Assign(const std::vector<double>& cost, size_t rows, size_t cols);

}  // namespace aimass::mot
