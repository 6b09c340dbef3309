// Implicit-feedback ALS (Hu, Koren and Volinsky 2008) solved by conjugate gradient, a few steps
// per row and sweep warm-started from the last sweep (Takács, Pilászy and Tikk 2011), as the
// `implicit` library does. A weight w is confidence 1 + alpha·log(1 + w) that the user likes
// the item.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "recsys/events.hpp"
#include "recsys/model.hpp"

namespace aimass::recsys {

struct AlsOptions {
  int factors = 64;
  int iterations = 15;
  float regularization = 0.1f;
  float alpha = 10.f;
  int cg_steps = 3;
  int threads = 1;
  uint64_t seed = 42;
};

float AlsConfidence(float weight, float alpha);

// Item factors of `user_items` (and the users' when `users` is given).
Factors TrainAls(const Csr& user_items, const AlsOptions& options, Factors* users = nullptr);

// YᵀY of item factors (dim × dim, row-major): what every fold-in starts from.
std::vector<float> Gram(const Factors& items);

// The factors of a user with this history against fixed item factors: the exact least-squares
// solution, so that it does not depend on a starting point.
void FoldInAls(const Factors& items, std::span<const float> gram, float regularization, float alpha,
               std::span<const uint32_t> history, std::span<const float> weights, float* out);

}  // namespace aimass::recsys
