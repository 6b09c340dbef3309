// RFM segmentation: each customer's recency, frequency and monetary value scored 1-5 by
// quintile among all customers (5: the most recent, the most frequent, the highest spending;
// equal values score alike), and a named segment from the recency and frequency scores, in the
// widely used 5 × 5 map: champion (R5 F4-5), loyal (R3-4 F4-5), potential_loyalist (R4-5
// F2-3), new (R5 F1), promising (R4 F1), need_attention (R3 F3), about_to_sleep (R3 F1-2),
// at_risk (R1-2 F3-4), cannot_lose (R1-2 F5), hibernating (R1-2 F1-2).
#pragma once

#include <string>
#include <vector>

namespace aimass::clv {

struct RfmInput {
  double recency = 0;    // time since the last purchase (smaller is better)
  double frequency = 0;  // purchases
  double monetary = 0;   // value
};

struct RfmScore {
  int r = 0, f = 0, m = 0;
  std::string segment;
};

std::vector<RfmScore> ScoreRfm(const std::vector<RfmInput>& customers);
// The segment of a recency and a frequency score (each 1-5).
std::string RfmSegment(int r, int f);

}  // namespace aimass::clv
