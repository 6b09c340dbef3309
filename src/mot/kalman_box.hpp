// A box followed by a constant-velocity Kalman filter, as SORT does (Bewley et al., "Simple
// Online and Realtime Tracking", 2016): the state is the box's centre, area and aspect ratio and
// the velocities of the first three; a detection updates it, and between detections it is
// predicted, so that a person is followed through a frame or two without a detection.
#pragma once

#include <Eigen/Core>

#include "mot/geometry.hpp"

namespace aimass::mot {

class KalmanBox {
 public:
  explicit KalmanBox(const Box& first);
  // Moves the state one frame on and returns the predicted box.
  Box Predict();
  void Update(const Box& detected);
  Box box() const;

 private:
  Eigen::Matrix<double, 7, 1> x_;
  Eigen::Matrix<double, 7, 7> P_, F_, Q_;
  Eigen::Matrix<double, 4, 4> R_;
};

}  // namespace aimass::mot
