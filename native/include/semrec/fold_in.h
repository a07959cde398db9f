// Fold-in: vectors for users a model never saw, computed from their histories with every item
// parameter frozen (what implicit's recalculate_user does for ALS). Users are independent, so each
// runs on one thread from its own random stream Rng(seed, user): results are bit-reproducible for any
// number of threads.
#pragma once

#include <cstdint>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

// The frozen item side: score(u, i) = userVector(u) . factors[i] + bias[i].
struct FrozenItems {
  const float* factors = nullptr;  // numItems x dim
  const float* bias = nullptr;     // numItems, optional
  int64_t numItems = 0, dim = 0;
};

enum class FoldInLoss { Bpr = 0, Warp = 1 };

struct FoldInHyper {
  FoldInLoss loss = FoldInLoss::Bpr;
  float lr = 0.05f;
  float reg = 0.0f;         // L2 on the free vector x, per step (as the trainers regularise per sample)
  int64_t epochs = 50;      // passes over each user's history
  int32_t maxSampled = 10;  // WARP: negatives tried per positive (LightFM's max_sampled)
  bool adagrad = false;     // per-coordinate Adagrad, accumulators starting at 1 (LightFM's)
  float scale = 1.0f;       // see foldInPairwise
};

// Pairwise fold-in by SGD. User u (row u of `histories`, items sorted and unique) gets a free vector
// x_u (dim), starting at zero, and is scored as
//   s(u, i) = (scale * x_u + offset[u]) . factors[i] + bias[i]
// (offset: numUsers x dim or null; LightGCN puts the graph-propagated part of a user there). Each epoch
// visits the history in an order shuffled from the user's stream, each positive i with negatives j
// drawn uniformly from the items outside the history:
//   bpr:  one j; g = sigmoid(-(s_ui - s_uj))
//   warp: j tried n = 1..maxSampled times until s_uj > s_ui - 1; g = min(log(floor((numItems-1)/n)),
//         kWarpMaxWeight) when one violates, else no step (LightFM's WARP)
// and the step  x_u += lr (g scale (factors[i] - factors[j]) - reg x_u)  (Adagrad: lr / sqrt(acc) per
// coordinate, acc += gradient^2 after the step, as LightFM). Writes x_u to out (numUsers x dim) and
// returns the mean loss of the last epoch (bpr: -log sigmoid(s_ui - s_uj); warp: g max(0, 1 - margin)).
double foldInPairwise(const FrozenItems& items, const CsrView& histories, const float* offset, const FoldInHyper& h,
                      uint64_t seed, float* out, const ExecConfig& config);

// Least-squares fold-in of explicit ratings (biased MF): for user u with ratings r_e of items i_e
// (the row's entries of histories, repeats allowed) and n_u = their number,
//   minimise  sum_e (r_e - bias[i_e] - x_u . factors[i_e] - b_u)^2 + n_u regFactors |x_u|^2 + n_u regBias b_u^2
// solved exactly (Cholesky of the (dim + 1) x (dim + 1) normal equations). The penalties scale with
// n_u because per-rating SGD (Surprise's) applies its regularisation once per rating. targets holds
// r_e minus the global mean, aligned with histories.indices. Writes x_u to outFactors (numUsers x dim)
// and b_u to outBias (numUsers); a user without ratings gets zeros.
void foldInRidge(const FrozenItems& items, const CsrView& histories, const float* targets, float regFactors,
                 float regBias, float* outFactors, float* outBias, const ExecConfig& config);

}  // namespace semrec::train
