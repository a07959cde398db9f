// Fold-in of new users against frozen item parameters (see semrec/fold_in.h).
#include "semrec/fold_in.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/train_lightfm.h"

namespace semrec::train {

namespace {

// Users per parallel chunk: a user's fold-in is small, so several share a task.
constexpr int64_t kUserGrain = 16;

float scoreOf(const FrozenItems& items, const float* vector, int32_t item) {
  const float s = dot(vector, items.factors + item * items.dim, items.dim);
  return items.bias ? s + items.bias[item] : s;
}

}  // namespace

double foldInPairwise(const FrozenItems& items, const CsrView& histories, const float* offset, const FoldInHyper& h,
                      uint64_t seed, float* out, const ExecConfig& config) {
  const int64_t d = items.dim;
  const int64_t numUsers = histories.rows;
  const Positives positives{histories, items.numItems};
  std::vector<double> userLoss(static_cast<size_t>(numUsers), 0.0);
  std::vector<int64_t> userSteps(static_cast<size_t>(numUsers), 0);
  parallelFor(numUsers, kUserGrain, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    std::vector<float> vec(d), acc(d), grad(d);
    std::vector<int32_t> order;
    for (int64_t u = u0; u < u1; ++u) {
      float* x = out + u * d;
      std::fill(x, x + d, 0.0f);
      std::fill(acc.begin(), acc.end(), 1.0f);
      const int64_t n = histories.rowLength(u);
      const int32_t* history = histories.rowBegin(u);
      // A user with every item in the history has no negative to learn from.
      if (n == 0 || n >= items.numItems) continue;
      Rng rng(seed, static_cast<uint64_t>(u));
      order.assign(history, history + n);
      const float* base = offset ? offset + u * d : nullptr;
      double loss = 0;
      int64_t steps = 0;
      for (int64_t epoch = 0; epoch < h.epochs; ++epoch) {
        for (int64_t t = n - 1; t > 0; --t) std::swap(order[t], order[rng.below(static_cast<uint32_t>(t + 1))]);
        loss = 0;
        steps = 0;
        for (int64_t p = 0; p < n; ++p) {
          for (int64_t t = 0; t < d; ++t) vec[t] = h.scale * x[t] + (base ? base[t] : 0.0f);
          const int32_t i = order[p];
          const float si = scoreOf(items, vec.data(), i);
          int32_t j = -1;
          float g = 0;
          if (h.loss == FoldInLoss::Bpr) {
            j = sampleNegative(rng, positives, static_cast<int32_t>(u));
            const float margin = si - scoreOf(items, vec.data(), j);
            loss += softplus(-static_cast<double>(margin));
            g = sigmoid(-margin);
          } else {
            for (int32_t tries = 1; tries <= h.maxSampled; ++tries) {
              const int32_t candidate = sampleNegative(rng, positives, static_cast<int32_t>(u));
              const float sj = scoreOf(items, vec.data(), candidate);
              if (sj > si - 1.0f) {
                j = candidate;
                const double rank = std::floor(static_cast<double>(items.numItems - 1) / tries);
                g = static_cast<float>(std::min(std::log(std::max(1.0, rank)), static_cast<double>(kWarpMaxWeight)));
                loss += g * std::max(0.0f, 1.0f - (si - sj));
                break;
              }
            }
          }
          ++steps;
          if (j < 0) continue;  // WARP: no violating negative, no step
          const float* qi = items.factors + static_cast<int64_t>(i) * d;
          const float* qj = items.factors + static_cast<int64_t>(j) * d;
          // Gradient of the loss to minimise: -(g scale (q_i - q_j)) + reg x.
          for (int64_t t = 0; t < d; ++t) grad[t] = -g * h.scale * (qi[t] - qj[t]) + h.reg * x[t];
          if (h.adagrad) {
            for (int64_t t = 0; t < d; ++t) {
              x[t] -= h.lr * grad[t] / std::sqrt(acc[t]);
              acc[t] += grad[t] * grad[t];
            }
          } else {
            for (int64_t t = 0; t < d; ++t) x[t] -= h.lr * grad[t];
          }
        }
      }
      userLoss[u] = loss;
      userSteps[u] = steps;
    }
  });
  double total = 0;
  int64_t steps = 0;
  for (int64_t u = 0; u < numUsers; ++u) {
    total += userLoss[u];
    steps += userSteps[u];
  }
  const double mean = steps > 0 ? total / static_cast<double>(steps) : 0.0;
  checkFiniteLoss(mean, "foldInPairwise");
  for (int64_t v = 0; v < numUsers * d; ++v)
    if (!std::isfinite(out[v]))
      fail(ErrorCode::InvalidArgValue, "foldInPairwise: the user vectors diverged (learning rate too high)");
  return mean;
}

void foldInRidge(const FrozenItems& items, const CsrView& histories, const float* targets, float regFactors,
                 float regBias, float* outFactors, float* outBias, const ExecConfig& config) {
  const int64_t d = items.dim;
  const int64_t w = d + 1;  // [x_u, b_u]
  parallelFor(histories.rows, kUserGrain, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    std::vector<double> A(static_cast<size_t>(w * w)), b(static_cast<size_t>(w)), row(static_cast<size_t>(w));
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = histories.rowLength(u);
      float* x = outFactors + u * d;
      if (n == 0) {
        std::fill(x, x + d, 0.0f);
        outBias[u] = 0;
        continue;
      }
      std::fill(A.begin(), A.end(), 0.0);
      std::fill(b.begin(), b.end(), 0.0);
      const int32_t* history = histories.rowBegin(u);
      const float* target = targets + histories.indptr[u];
      for (int64_t e = 0; e < n; ++e) {
        const int32_t i = history[e];
        const float* q = items.factors + static_cast<int64_t>(i) * d;
        for (int64_t t = 0; t < d; ++t) row[t] = q[t];
        row[d] = 1.0;
        const double y = static_cast<double>(target[e]) - (items.bias ? items.bias[i] : 0.0f);
        for (int64_t r = 0; r < w; ++r) {
          b[r] += row[r] * y;
          for (int64_t c = 0; c <= r; ++c) A[r * w + c] += row[r] * row[c];
        }
      }
      for (int64_t t = 0; t < d; ++t) A[t * w + t] += static_cast<double>(n) * regFactors;
      // A tiny floor keeps the system positive definite when regBias is 0 and every rating ties.
      A[d * w + d] += std::max(static_cast<double>(n) * regBias, 1e-9);
      for (int64_t t = 0; t < d; ++t) A[t * w + t] = std::max(A[t * w + t], 1e-9);
      // Cholesky A = L L^T in the lower triangle, then forward and back substitution.
      for (int64_t j = 0; j < w; ++j) {
        double s = A[j * w + j];
        for (int64_t k = 0; k < j; ++k) s -= A[j * w + k] * A[j * w + k];
        if (!(s > 0)) fail(ErrorCode::InvalidArgValue, "foldInRidge: the normal equations of user " + std::to_string(u) + " are not positive definite");
        const double l = std::sqrt(s);
        A[j * w + j] = l;
        for (int64_t r = j + 1; r < w; ++r) {
          double v = A[r * w + j];
          for (int64_t k = 0; k < j; ++k) v -= A[r * w + k] * A[j * w + k];
          A[r * w + j] = v / l;
        }
      }
      for (int64_t r = 0; r < w; ++r) {
        double v = b[r];
        for (int64_t k = 0; k < r; ++k) v -= A[r * w + k] * b[k];
        b[r] = v / A[r * w + r];
      }
      for (int64_t r = w - 1; r >= 0; --r) {
        double v = b[r];
        for (int64_t k = r + 1; k < w; ++k) v -= A[k * w + r] * b[k];
        b[r] = v / A[r * w + r];
      }
      for (int64_t t = 0; t < d; ++t) x[t] = static_cast<float>(b[t]);
      outBias[u] = static_cast<float>(b[d]);
    }
  });
}

}  // namespace semrec::train
