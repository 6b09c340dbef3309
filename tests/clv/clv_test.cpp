// The customer lifetime models recover the parameters of customers simulated from them (a seeded
// BG/NBD purchase process and Gamma-Gamma spending), their predictions behave as the models say,
// and bad input is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "clv/clv.hpp"
#include "clv/rfm.hpp"

namespace aimass::clv {
namespace {

// BG/NBD: purchase rate λ ~ Gamma(r, rate α), after each repeat purchase the customer drops out
// with probability p ~ Beta(a, b); each is watched for T units from their first purchase.
struct Simulated {
  std::vector<Customer> customers;
  std::vector<double> holdout;  // each customer's purchases in the 30 units after their window
};

Simulated Simulate(double r, double alpha, double a, double b, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Simulated out;
  for (size_t i = 0; i < n; ++i) {
    const double lambda = std::gamma_distribution<double>(r, 1.0 / alpha)(rng);
    const double ga = std::gamma_distribution<double>(a, 1.0)(rng), gb = std::gamma_distribution<double>(b, 1.0)(rng);
    const double p = ga / (ga + gb);
    Customer c;
    c.T = 30 + static_cast<double>(rng() % 40);
    double t = 0, later = 0;
    for (;;) {
      t += std::exponential_distribution<double>(lambda)(rng);
      if (t > c.T + 30) break;
      if (t > c.T) {
        later += 1;
      } else {
        c.x += 1;
        c.t_x = t;
      }
      if (std::uniform_real_distribution<double>(0, 1)(rng) < p) break;  // drops out after this repeat purchase
    }
    out.customers.push_back(c);
    out.holdout.push_back(later);
  }
  return out;
}

TEST(Clv, Hypergeometric) {
  EXPECT_NEAR(Hyp2F1(1, 1, 2, 0.5), -std::log(1 - 0.5) / 0.5, 1e-12);  // 2F1(1,1;2;z) = -ln(1-z)/z
  EXPECT_NEAR(Hyp2F1(0.5, 1, 1, 0.3), std::pow(1 - 0.3, -0.5), 1e-12);
}

TEST(Clv, BgNbdRecoversItsParameters) {
  const auto sim = Simulate(0.8, 6.0, 1.2, 3.0, 6000, 42);
  auto m = FitBgNbd(sim.customers);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_NEAR(m->r, 0.8, 0.15);
  EXPECT_NEAR(m->alpha / m->r, 6.0 / 0.8, 1.5);        // the mean time between purchases
  EXPECT_NEAR(m->a / (m->a + m->b), 1.2 / 4.2, 0.06);  // the mean drop-out probability
  // Its predictions against the true model's: a recent buyer is likelier alive than one silent
  // for long, and expects more purchases.
  const BgNbd truth{0.8, 6.0, 1.2, 3.0, 0};
  Customer recent{5, 58, 60, 0}, silent{5, 10, 60, 0}, none{0, 0, 60, 0};
  for (const Customer& c : {recent, silent}) EXPECT_NEAR(m->ProbabilityAlive(c), truth.ProbabilityAlive(c), 0.06);
  EXPECT_LT(m->ProbabilityAlive(silent), m->ProbabilityAlive(recent) - 0.3);
  EXPECT_EQ(m->ProbabilityAlive(none), 1.0);
  EXPECT_GT(m->ExpectedPurchases(recent, 30), m->ExpectedPurchases(silent, 30));
  // Over the population, the purchases it expects in the 30 units after each window are the
  // ones the simulation made there.
  double predicted = 0, actual = 0;
  for (size_t i = 0; i < sim.customers.size(); ++i) {
    predicted += m->ExpectedPurchases(sim.customers[i], 30);
    actual += sim.holdout[i];
  }
  EXPECT_NEAR(predicted / actual, 1.0, 0.08) << predicted << " predicted, " << actual << " made";
}

TEST(Clv, GammaGammaRecoversItsParameters) {
  std::mt19937_64 rng(7);
  const double p = 6, q = 4, v = 15;
  std::vector<Customer> customers;
  for (int i = 0; i < 5000; ++i) {
    const double nu = std::gamma_distribution<double>(q, 1.0 / v)(rng);
    Customer c;
    c.x = 1 + static_cast<double>(rng() % 8);
    c.T = 100;
    c.t_x = 50;
    double sum = 0;
    for (int k = 0; k < c.x; ++k) sum += std::gamma_distribution<double>(p, 1.0 / nu)(rng);
    c.monetary = sum / c.x;
    customers.push_back(c);
  }
  auto m = FitGammaGamma(customers);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_NEAR(m->p * m->v / (m->q - 1), p * v / (q - 1), 0.1 * p * v / (q - 1));  // the population's mean spend
  EXPECT_NEAR(m->p, p, 1.5);
  // The expected value shrinks a customer's mean toward the population's, more so with fewer purchases.
  Customer big1{1, 1, 10, 200}, big8{8, 9, 10, 200};
  EXPECT_LT(m->ExpectedValue(big1), m->ExpectedValue(big8));
  EXPECT_LT(m->ExpectedValue(big8), 200);
}

TEST(Rfm, QuintilesAndSegments) {
  // Ten customers: recency 1..10 days, frequency 10..1, monetary with a tie.
  std::vector<RfmInput> in;
  for (int i = 0; i < 10; ++i) in.push_back({static_cast<double>(i + 1), static_cast<double>(10 - i), i < 2 ? 500.0 : 100.0 - i});
  const auto s = ScoreRfm(in);
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s[0].r, 5);  // the most recent two are the top quintile
  EXPECT_EQ(s[1].r, 5);
  EXPECT_EQ(s[2].r, 4);
  EXPECT_EQ(s[9].r, 1);
  EXPECT_EQ(s[0].f, 5);
  EXPECT_EQ(s[9].f, 1);
  EXPECT_EQ(s[0].m, 5);  // the tie at the top scores alike
  EXPECT_EQ(s[1].m, 5);
  EXPECT_EQ(s[0].segment, "champion");
  EXPECT_EQ(s[9].segment, "hibernating");
  EXPECT_EQ(s[4].segment, "need_attention");  // R3 F3
  // Every cell of the 5 × 5 map has a segment.
  EXPECT_EQ(RfmSegment(5, 1), "new");
  EXPECT_EQ(RfmSegment(4, 1), "promising");
  EXPECT_EQ(RfmSegment(4, 2), "potential_loyalist");
  EXPECT_EQ(RfmSegment(3, 5), "loyal");
  EXPECT_EQ(RfmSegment(1, 5), "cannot_lose");
  EXPECT_EQ(RfmSegment(2, 3), "at_risk");
  EXPECT_EQ(RfmSegment(3, 1), "about_to_sleep");
  // One customer, or all alike: every score is 1 (nothing ranks below them) and nothing crashes.
  EXPECT_EQ(ScoreRfm({{3, 3, 3}})[0].r, 1);
  EXPECT_TRUE(ScoreRfm({}).empty());
}

TEST(Clv, RefusesWhatItCannotFit) {
  EXPECT_FALSE(FitBgNbd({}).ok());
  std::vector<Customer> bad(20, Customer{1, 5, 3, 1});  // t_x after T
  EXPECT_FALSE(FitBgNbd(bad).ok());
  std::vector<Customer> no_repeat(20, Customer{0, 0, 3, 0});
  EXPECT_FALSE(FitGammaGamma(no_repeat).ok());
}

}  // namespace
}  // namespace aimass::clv
