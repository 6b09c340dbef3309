#include "clv/clv.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>

namespace aimass::clv {

namespace {

// Nelder-Mead minimisation of f over R^N from x0 (steps of 0.5 in each direction).
template <size_t N>
std::array<double, N> Minimise(const std::function<double(const std::array<double, N>&)>& f, std::array<double, N> x0) {
  std::array<std::array<double, N>, N + 1> s;
  std::array<double, N + 1> fs;
  s[0] = x0;
  for (size_t i = 0; i < N; ++i) {
    s[i + 1] = x0;
    s[i + 1][i] += 0.5;
  }
  for (size_t i = 0; i <= N; ++i) fs[i] = f(s[i]);
  for (int iter = 0; iter < 20000; ++iter) {
    std::array<size_t, N + 1> order;
    for (size_t i = 0; i <= N; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fs[a] < fs[b]; });
    const size_t best = order[0], worst = order[N], second = order[N - 1];
    if (std::fabs(fs[worst] - fs[best]) < 1e-10 * (1 + std::fabs(fs[best]))) {
      double spread = 0;
      for (size_t i = 0; i < N; ++i) spread = std::max(spread, std::fabs(s[worst][i] - s[best][i]));
      if (spread < 1e-7) break;
    }
    std::array<double, N> c{};
    for (size_t i = 0; i <= N; ++i) {
      if (i == worst) continue;
      for (size_t k = 0; k < N; ++k) c[k] += s[i][k] / N;
    }
    auto along = [&](double t) {
      std::array<double, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = c[k] + t * (s[worst][k] - c[k]);
      return p;
    };
    const auto xr = along(-1);
    const double fr = f(xr);
    if (fr < fs[best]) {
      const auto xe = along(-2);
      const double fe = f(xe);
      if (fe < fr) s[worst] = xe, fs[worst] = fe;
      else s[worst] = xr, fs[worst] = fr;
    } else if (fr < fs[second]) {
      s[worst] = xr, fs[worst] = fr;
    } else {
      const auto xc = fr < fs[worst] ? along(-0.5) : along(0.5);
      const double fc = f(xc);
      if (fc < std::min(fr, fs[worst])) {
        s[worst] = xc, fs[worst] = fc;
      } else {
        for (size_t i = 0; i <= N; ++i) {
          if (i == best) continue;
          for (size_t k = 0; k < N; ++k) s[i][k] = s[best][k] + 0.5 * (s[i][k] - s[best][k]);
          fs[i] = f(s[i]);
        }
      }
    }
  }
  size_t best = 0;
  for (size_t i = 1; i <= N; ++i) {
    if (fs[i] < fs[best]) best = i;
  }
  return s[best];
}

double LogSumExp(double a, double b) {
  const double m = std::max(a, b);
  if (m == -std::numeric_limits<double>::infinity()) return m;
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

}  // namespace

double Hyp2F1(double a, double b, double c, double z) {
  double term = 1, sum = 1;
  for (int k = 0; k < 100000; ++k) {
    term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z;
    sum += term;
    if (std::fabs(term) < 1e-14 * std::fabs(sum)) break;
  }
  return sum;
}

double BgNbd::ProbabilityAlive(const Customer& c) const {
  if (c.x <= 0) return 1.0;
  const double odds = a / (b + c.x - 1) * std::pow((alpha + c.T) / (alpha + c.t_x), r + c.x);
  return 1.0 / (1.0 + odds);
}

double BgNbd::ExpectedPurchases(const Customer& c, double t) const {
  const double z = t / (alpha + c.T + t);
  const double head = (a + b + c.x - 1) / (a - 1);
  const double tail = 1 - std::pow((alpha + c.T) / (alpha + c.T + t), r + c.x) * Hyp2F1(r + c.x, b + c.x, a + b + c.x - 1, z);
  const double odds = c.x > 0 ? a / (b + c.x - 1) * std::pow((alpha + c.T) / (alpha + c.t_x), r + c.x) : 0;
  return head * tail / (1 + odds);
}

double GammaGamma::ExpectedValue(const Customer& c) const {
  if (c.x < 1 || c.monetary <= 0) return p * v / (q - 1);
  return p * (v + c.x * c.monetary) / (p * c.x + q - 1);
}

Result<BgNbd> FitBgNbd(const std::vector<Customer>& customers) {
  if (customers.size() < 10) return Status::BadRequest("BG/NBD needs at least 10 customers");
  for (const auto& c : customers) {
    if (!(c.T > 0) || c.t_x < 0 || c.t_x > c.T || c.x < 0 || (c.x == 0 && c.t_x != 0)) {
      return Status::BadRequest("a customer's window is T > 0 with 0 <= t_x <= T (and t_x = 0 without repeat purchases)");
    }
  }
  auto nll = [&](const std::array<double, 4>& lp) {
    const double r = std::exp(lp[0]), alpha = std::exp(lp[1]), a = std::exp(lp[2]), b = std::exp(lp[3]);
    if (!std::isfinite(r + alpha + a + b)) return std::numeric_limits<double>::infinity();
    const double base = r * std::log(alpha) - std::lgamma(r) + std::lgamma(a + b) - std::lgamma(b);
    double ll = 0;
    for (const auto& c : customers) {
      const double a1 = std::lgamma(r + c.x) + base + std::lgamma(b + c.x) - std::lgamma(a + b + c.x);
      const double a3 = -(r + c.x) * std::log(alpha + c.T);
      const double a4 = c.x > 0 ? std::log(a) - std::log(b + c.x - 1) - (r + c.x) * std::log(alpha + c.t_x)
                                : -std::numeric_limits<double>::infinity();
      ll += a1 + LogSumExp(a3, a4);
    }
    return std::isfinite(ll) ? -ll : std::numeric_limits<double>::infinity();
  };
  const auto best = Minimise<4>(nll, {0, std::log(std::max(1.0, customers[0].T / 10)), 0, 0});
  BgNbd m{std::exp(best[0]), std::exp(best[1]), std::exp(best[2]), std::exp(best[3]), -nll(best)};
  if (!std::isfinite(m.log_likelihood)) return Status::Unprocessable("BG/NBD did not converge on these customers");
  return m;
}

Result<GammaGamma> FitGammaGamma(const std::vector<Customer>& customers) {
  std::vector<const Customer*> repeat;
  for (const auto& c : customers) {
    if (c.x >= 1 && c.monetary > 0) repeat.push_back(&c);
  }
  if (repeat.size() < 10) return Status::BadRequest("Gamma-Gamma needs at least 10 customers with repeat purchases of positive value");
  auto nll = [&](const std::array<double, 3>& lp) {
    const double p = std::exp(lp[0]), q = std::exp(lp[1]), v = std::exp(lp[2]);
    if (!std::isfinite(p + q + v)) return std::numeric_limits<double>::infinity();
    double ll = 0;
    for (const Customer* c : repeat) {
      const double px = p * c->x;
      ll += std::lgamma(px + q) - std::lgamma(px) - std::lgamma(q) + q * std::log(v) + (px - 1) * std::log(c->monetary) +
            px * std::log(c->x) - (px + q) * std::log(c->x * c->monetary + v);
    }
    return std::isfinite(ll) ? -ll : std::numeric_limits<double>::infinity();
  };
  double mean = 0;
  for (const Customer* c : repeat) mean += c->monetary;
  mean /= static_cast<double>(repeat.size());
  const auto best = Minimise<3>(nll, {std::log(2.0), std::log(3.0), std::log(std::max(1e-6, mean))});
  GammaGamma m{std::exp(best[0]), std::exp(best[1]), std::exp(best[2]), -nll(best)};
  if (!std::isfinite(m.log_likelihood)) return Status::Unprocessable("Gamma-Gamma did not converge on these customers");
  return m;
}

}  // namespace aimass::clv
