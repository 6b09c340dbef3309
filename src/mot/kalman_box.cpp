#include "mot/kalman_box.hpp"

#include <Eigen/Dense>
#include <cmath>

namespace aimass::mot {

namespace {

// [centre x, centre y, area, aspect ratio]
Eigen::Matrix<double, 4, 1> Measure(const Box& b) {
  const double w = b.width(), h = b.height();
  return {b.x1 + w / 2, b.y1 + h / 2, w * h, h > 0 ? w / h : 0};
}

Box FromState(const Eigen::Matrix<double, 7, 1>& x) {
  const double area = std::max(x(2), 0.0), ratio = std::max(x(3), 1e-6);
  const double w = std::sqrt(area * ratio), h = ratio > 0 ? area / std::max(w, 1e-9) : 0;
  return {x(0) - w / 2, x(1) - h / 2, x(0) + w / 2, x(1) + h / 2};
}

}  // namespace

KalmanBox::KalmanBox(const Box& first) {
  x_.setZero();
  x_.head<4>() = Measure(first);
  F_.setIdentity();
  F_(0, 4) = F_(1, 5) = F_(2, 6) = 1;  // position and area move by their velocities each frame
  // SORT's noise: uncertain velocities at first, a noisier area and ratio in measurements.
  P_.setIdentity();
  P_.bottomRightCorner<3, 3>() *= 1000;
  P_ *= 10;
  Q_.setIdentity();
  Q_(6, 6) *= 0.01;
  Q_.bottomRightCorner<3, 3>() *= 0.01;
  R_.setIdentity();
  R_.bottomRightCorner<2, 2>() *= 10;
}

Box KalmanBox::Predict() {
  // An area about to shrink below zero stops shrinking.
  if (x_(2) + x_(6) <= 0) x_(6) = 0;
  x_ = F_ * x_;
  P_ = F_ * P_ * F_.transpose() + Q_;
  return box();
}

void KalmanBox::Update(const Box& detected) {
  Eigen::Matrix<double, 4, 7> H = Eigen::Matrix<double, 4, 7>::Zero();
  H.leftCols<4>().setIdentity();
  const Eigen::Matrix<double, 4, 1> y = Measure(detected) - H * x_;
  const Eigen::Matrix<double, 4, 4> S = H * P_ * H.transpose() + R_;
  const Eigen::Matrix<double, 7, 4> K = P_ * H.transpose() * S.inverse();
  x_ += K * y;
  P_ = (Eigen::Matrix<double, 7, 7>::Identity() - K * H) * P_;
}

Box KalmanBox::box() const { return FromState(x_); }

}  // namespace aimass::mot
