// L2-regularised logistic regression fitted by Newton's method (IRLS) with a backtracking line search:
// the sentiment head over frozen sentence embeddings. Gradient and Hessian are derived by hand:
//   loss(b, c) = (1/W) sum_i w_i [ log(1 + e^{z_i}) - y_i z_i ] + (l2/2) |b|^2,   z_i = x_i . b + c
//   grad_b     = (1/W) sum_i w_i (p_i - y_i) x_i + l2 b,   grad_c = (1/W) sum_i w_i (p_i - y_i)
//   Hessian    = (1/W) sum_i w_i p_i (1 - p_i) [x_i 1][x_i 1]^T + l2 diag(1, ..., 1, 0)
// with p_i = sigmoid(z_i) and W = sum_i w_i. The bias c is not regularised.
#pragma once

#include <cstdint>

#include "semrec/views.h"

namespace semrec {

struct LogisticOptions {
  double l2 = 1e-3;           // ridge strength on the weights (not the bias); > 0 keeps the Hessian invertible
  int maxIterations = 50;     // Newton steps
  double tolerance = 1e-8;    // stop when max |gradient| falls below this
};

struct LogisticResult {
  int iterations = 0;
  bool converged = false;
  double loss = 0;            // final regularised loss
  double gradientNorm = 0;    // final max |gradient|
};

// x: n x d features; y: n labels in {0, 1}; sampleWeight: n non-negative weights or null (all 1).
// Writes d weights to `weights` and the bias to `*bias`.
LogisticResult logisticFitCpu(const MatrixView& x, const float* y, const float* sampleWeight, const LogisticOptions& options,
                              float* weights, float* bias, const ExecConfig& config);

}  // namespace semrec
