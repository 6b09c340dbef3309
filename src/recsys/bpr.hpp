// Bayesian personalised ranking (Rendle et al. 2009): factors learned by stochastic gradient
// ascent on pairs (an item the user chose, one they did not), threads updating shared factors
// without locks (Hogwild, as `implicit` does).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "recsys/events.hpp"
#include "recsys/model.hpp"

namespace aimass::recsys {

struct BprOptions {
  int factors = 64;
  int epochs = 40;
  float learning_rate = 0.05f;
  float regularization = 0.01f;
  int threads = 1;
  uint64_t seed = 42;
};

// Item factors and biases of `user_items` (weights are not used: any feedback is a positive).
void TrainBpr(const Csr& user_items, const BprOptions& options, Factors& items, std::vector<float>& bias);

// A user's factors for this history against fixed item factors: the same gradient steps on the
// user's row alone, with a fixed seed so that the same history gives the same answer.
void FoldInBpr(const Factors& items, std::span<const float> bias, float regularization,
               std::span<const uint32_t> history, float* out);

}  // namespace aimass::recsys
