// Customer lifetime models ("buy till you die"), the behavior module's and its training step's:
// BG/NBD (Fader, Hardie and Lee, "Counting Your Customers the Easy Way", Marketing Science 2005)
// for how often a customer buys and whether they are still alive, and Gamma-Gamma (Fader, Hardie
// and Lee, "RFM and CLV", 2005; Fader and Hardie's note on the Gamma-Gamma model, 2013) for how
// much they spend per purchase. Both are fitted by maximum likelihood (Nelder-Mead over the
// logarithms of the parameters).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.hpp"

namespace aimass::clv {

// One customer's summary over an observation window of length T (any time unit): x repeat
// purchases (purchases after the first), the last at t_x (from the first), and the mean value
// of those repeat purchases.
struct Customer {
  double x = 0;
  double t_x = 0;
  double T = 0;
  double monetary = 0;
};

struct BgNbd {
  double r = 0, alpha = 0, a = 0, b = 0;
  double log_likelihood = 0;

  // The probability that the customer is still active at the end of their window.
  double ProbabilityAlive(const Customer& c) const;
  // Expected repeat purchases in the next `t` units after the window.
  double ExpectedPurchases(const Customer& c, double t) const;
};

struct GammaGamma {
  double p = 0, q = 0, v = 0;
  double log_likelihood = 0;

  // Expected mean value of a purchase (a customer without repeat purchases gets the population's).
  double ExpectedValue(const Customer& c) const;
};

// Needs customers with T > 0 and 0 <= t_x <= T; at least 10.
Result<BgNbd> FitBgNbd(const std::vector<Customer>& customers);
// Fitted on the customers with x >= 1 and monetary > 0; at least 10 of them.
Result<GammaGamma> FitGammaGamma(const std::vector<Customer>& customers);

// Gauss's hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 (the series).
double Hyp2F1(double a, double b, double c, double z);

}  // namespace aimass::clv
