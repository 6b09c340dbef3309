#include "mining/projection.hpp"

#include <Eigen/Dense>

namespace aimass::mining {

std::array<double, 2> Projection2::Apply(const double* x) const {
  std::array<double, 2> out{0.0, 0.0};
  for (size_t a = 0; a < 2; ++a) {
    for (size_t j = 0; j < mean.size(); ++j) out[a] += (x[j] - mean[j]) * axes[a][j];
  }
  return out;
}

Projection2 PrincipalAxes(const Points& p) {
  Projection2 r;
  const size_t d = p.d;
  r.mean.assign(d, 0.0);
  r.axes[0].assign(d, 0.0);
  r.axes[1].assign(d, 0.0);
  if (p.n == 0 || d == 0) return r;
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(p.x.data(), static_cast<Eigen::Index>(p.n),
                                                                                              static_cast<Eigen::Index>(d));
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Eigen::MatrixXd centred = x.rowwise() - mean;
  const Eigen::MatrixXd cov = (centred.transpose() * centred) / static_cast<double>(std::max<size_t>(1, p.n - 1));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  const Eigen::VectorXd values = eig.eigenvalues();  // ascending
  const double total = values.sum();
  for (size_t j = 0; j < d; ++j) r.mean[j] = mean[static_cast<Eigen::Index>(j)];
  for (size_t a = 0; a < std::min<size_t>(2, d); ++a) {
    const Eigen::Index col = static_cast<Eigen::Index>(d - 1 - a);
    Eigen::VectorXd v = eig.eigenvectors().col(col);
    // A fixed sign (the largest component positive): the same data, the same picture.
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    if (v[big] < 0) v = -v;
    for (size_t j = 0; j < d; ++j) r.axes[a][j] = v[static_cast<Eigen::Index>(j)];
    r.explained[a] = total > 0 ? values[col] / total : 0.0;
  }
  return r;
}

}  // namespace aimass::mining
