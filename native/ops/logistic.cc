// Newton / IRLS fit of L2-regularised logistic regression (see semrec/logistic.h for the derivation).
// Sums run in double; rows are split into one contiguous chunk per thread, each with its own
// accumulator, reduced in chunk order: results do not depend on scheduling.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/logistic.h"
#include "semrec/parallel.h"

namespace semrec {

namespace {

constexpr int64_t kMinRowsPerChunk = 256;  // fewer rows than this per thread are not worth a thread
constexpr int kMaxHalvings = 40;         // backtracking steps before giving up on a direction
constexpr double kArmijo = 1e-4;         // sufficient-decrease constant of the line search

// log(1 + e^z) without overflow.
inline double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }
inline double sigmoid(double z) { return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z)); }

struct Problem {
  const MatrixView& x;
  const float* y;
  const float* w;
  double totalWeight;
  double l2;
  int threads;
  double weightOf(int64_t i) const { return w ? w[i] : 1.0; }
  int64_t d() const { return x.cols; }
  // One contiguous chunk per thread: chunk c holds rows [c * grain(), (c + 1) * grain()).
  int64_t grain() const { return std::max<int64_t>(kMinRowsPerChunk, (x.rows + threads - 1) / threads); }
  int64_t chunks() const { return (x.rows + grain() - 1) / grain(); }
};

double dotRow(const float* row, const std::vector<double>& theta, int64_t d) {
  double z = theta[d];
  for (int64_t j = 0; j < d; ++j) z += row[j] * theta[j];
  return z;
}

double lossAt(const Problem& p, const std::vector<double>& theta) {
  const int64_t n = p.x.rows, d = p.d(), grain = p.grain();
  std::vector<double> chunkSums(p.chunks(), 0.0);
  parallelFor(n, grain, p.threads, [&](int64_t begin, int64_t end, int) {
    double s = 0;
    for (int64_t i = begin; i < end; ++i) {
      const double z = dotRow(p.x.row(i), theta, d);
      s += p.weightOf(i) * (softplus(z) - p.y[i] * z);
    }
    chunkSums[begin / grain] = s;
  });
  double total = 0;
  for (double v : chunkSums) total += v;
  double reg = 0;
  for (int64_t j = 0; j < d; ++j) reg += theta[j] * theta[j];
  return total / p.totalWeight + 0.5 * p.l2 * reg;
}

// Gradient (d + 1) and Hessian ((d + 1)^2, upper triangle filled then mirrored).
void gradientHessian(const Problem& p, const std::vector<double>& theta, std::vector<double>& grad, std::vector<double>& hess) {
  const int64_t n = p.x.rows, d = p.d(), m = d + 1, grain = p.grain();
  const int64_t chunks = p.chunks();
  std::vector<std::vector<double>> g(chunks, std::vector<double>(m, 0.0));
  std::vector<std::vector<double>> h(chunks, std::vector<double>(m * m, 0.0));
  parallelFor(n, grain, p.threads, [&](int64_t begin, int64_t end, int) {
    std::vector<double> xt(m);
    double* gw = g[begin / grain].data();
    double* hw = h[begin / grain].data();
    for (int64_t i = begin; i < end; ++i) {
      const float* row = p.x.row(i);
      for (int64_t j = 0; j < d; ++j) xt[j] = row[j];
      xt[d] = 1.0;
      double z = theta[d];
      for (int64_t j = 0; j < d; ++j) z += xt[j] * theta[j];
      const double prob = sigmoid(z);
      const double wi = p.weightOf(i);
      const double r = wi * (prob - p.y[i]);
      const double s = wi * prob * (1 - prob);
      for (int64_t a = 0; a < m; ++a) {
        gw[a] += r * xt[a];
        const double sa = s * xt[a];
        double* hrow = hw + a * m;
        for (int64_t b = a; b < m; ++b) hrow[b] += sa * xt[b];
      }
    }
  });
  grad.assign(m, 0.0);
  hess.assign(m * m, 0.0);
  for (int64_t c = 0; c < chunks; ++c) {
    for (int64_t a = 0; a < m; ++a) grad[a] += g[c][a];
    for (int64_t k = 0; k < m * m; ++k) hess[k] += h[c][k];
  }
  for (int64_t a = 0; a < m; ++a) {
    grad[a] /= p.totalWeight;
    for (int64_t b = a; b < m; ++b) {
      hess[a * m + b] /= p.totalWeight;
      hess[b * m + a] = hess[a * m + b];
    }
  }
  for (int64_t j = 0; j < d; ++j) {
    grad[j] += p.l2 * theta[j];
    hess[j * m + j] += p.l2;
  }
}

// Solves H s = g for symmetric positive definite H by Cholesky; false when H is not positive definite.
bool choleskySolve(std::vector<double> h, const std::vector<double>& g, std::vector<double>& s, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    double diag = h[j * m + j];
    for (int64_t k = 0; k < j; ++k) diag -= h[j * m + k] * h[j * m + k];
    if (!(diag > 0)) return false;
    const double l = std::sqrt(diag);
    h[j * m + j] = l;
    for (int64_t i = j + 1; i < m; ++i) {
      double v = h[i * m + j];
      for (int64_t k = 0; k < j; ++k) v -= h[i * m + k] * h[j * m + k];
      h[i * m + j] = v / l;
    }
  }
  s.assign(m, 0.0);
  for (int64_t i = 0; i < m; ++i) {  // L u = g
    double v = g[i];
    for (int64_t k = 0; k < i; ++k) v -= h[i * m + k] * s[k];
    s[i] = v / h[i * m + i];
  }
  for (int64_t i = m - 1; i >= 0; --i) {  // L^T s = u
    double v = s[i];
    for (int64_t k = i + 1; k < m; ++k) v -= h[k * m + i] * s[k];
    s[i] = v / h[i * m + i];
  }
  return true;
}

}  // namespace

LogisticResult logisticFitCpu(const MatrixView& x, const float* y, const float* sampleWeight, const LogisticOptions& options,
                              float* weights, float* bias, const ExecConfig& config) {
  const int64_t n = x.rows, d = x.cols, m = d + 1;
  if (n < 1) fail(ErrorCode::InvalidArgValue, "logisticFit: needs at least one row");
  if (!(options.l2 > 0) || !std::isfinite(options.l2)) fail(ErrorCode::OutOfRange, "logisticFit: l2 must be a positive finite number");
  double totalWeight = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] != 0.0f && y[i] != 1.0f) fail(ErrorCode::InvalidArgValue, "logisticFit: labels[" + std::to_string(i) + "] must be 0 or 1");
    const double wi = sampleWeight ? sampleWeight[i] : 1.0;
    if (!(wi >= 0) || !std::isfinite(wi)) fail(ErrorCode::InvalidArgValue, "logisticFit: sampleWeight[" + std::to_string(i) + "] must be finite and >= 0");
    totalWeight += wi;
  }
  if (!(totalWeight > 0)) fail(ErrorCode::InvalidArgValue, "logisticFit: the sample weights sum to 0");
  for (int64_t k = 0; k < n * d; ++k)
    if (std::isnan(x.data[k])) fail(ErrorCode::NanInput, "logisticFit: features[" + std::to_string(k) + "] is NaN");

  const Problem p{x, y, sampleWeight, totalWeight, options.l2, std::max(1, config.numThreads)};
  std::vector<double> theta(m, 0.0), grad, hess, step, trial(m);
  LogisticResult result;
  double loss = lossAt(p, theta);
  for (int it = 0; it < options.maxIterations; ++it) {
    gradientHessian(p, theta, grad, hess);
    double gmax = 0;
    for (double v : grad) gmax = std::max(gmax, std::abs(v));
    result.gradientNorm = gmax;
    if (gmax < options.tolerance) {
      result.converged = true;
      break;
    }
    if (!choleskySolve(hess, grad, step, m)) fail(ErrorCode::Internal, "logisticFit: the Hessian is not positive definite");
    double slope = 0;
    for (int64_t k = 0; k < m; ++k) slope -= grad[k] * step[k];
    double t = 1;
    bool moved = false;
    for (int h = 0; h < kMaxHalvings; ++h, t *= 0.5) {
      for (int64_t k = 0; k < m; ++k) trial[k] = theta[k] - t * step[k];
      const double candidate = lossAt(p, trial);
      if (candidate <= loss + kArmijo * t * slope) {
        theta.swap(trial);
        loss = candidate;
        moved = true;
        break;
      }
    }
    result.iterations = it + 1;
    if (!moved) break;  // no decrease possible at float precision: as converged as it gets
  }
  if (!result.converged) {  // report the gradient at the final point
    gradientHessian(p, theta, grad, hess);
    double gmax = 0;
    for (double v : grad) gmax = std::max(gmax, std::abs(v));
    result.gradientNorm = gmax;
    result.converged = gmax < options.tolerance;
  }
  result.loss = loss;
  for (int64_t j = 0; j < d; ++j) weights[j] = static_cast<float>(theta[j]);
  *bias = static_cast<float>(theta[d]);
  return result;
}

}  // namespace semrec
