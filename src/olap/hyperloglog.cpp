#include "olap/hyperloglog.hpp"

#include <cmath>

namespace aimass::olap {

double HyperLogLog::Estimate() const {
  const double m = static_cast<double>(kRegisters);
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    zeros += r == 0;
  }
  const double alpha = 0.7213 / (1 + 1.079 / m);
  const double raw = alpha * m * m / sum;
  // Linear counting while it is the better estimate (many empty registers).
  if (raw <= 2.5 * m && zeros > 0) return std::round(m * std::log(m / static_cast<double>(zeros)));
  return std::round(raw);
}

}  // namespace aimass::olap
