// Matrix factorisation trainers with hand-derived SGD updates (see semrec/train_common.h for the
// reproducibility contract). Parameters live in caller memory and are updated in place.
#pragma once

#include <cstdint>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

// ---- biased MF for explicit ratings (Koren, Bell & Volinsky 2009; "SVD" in Surprise and Chat-REC) ----
// prediction(u, i) = globalMean + userBias[u] + itemBias[i] + P[u] . Q[i]
struct BiasedMfModel {
  float* P = nullptr;         // numUsers x dim
  float* Q = nullptr;         // numItems x dim
  float* userBias = nullptr;  // numUsers
  float* itemBias = nullptr;  // numItems
  int64_t numUsers = 0, numItems = 0, dim = 0;
  float globalMean = 0;
};
struct Ratings {
  const int32_t* users = nullptr;
  const int32_t* items = nullptr;
  const float* values = nullptr;
  int64_t size = 0;
};
struct BiasedMfHyper {
  float lr = 0.005f;
  float regFactors = 0.02f;
  float regBias = 0.02f;
};
// One SGD epoch visiting ratings order[0..size) in that order. Per rating, with e = r - prediction:
//   bu += lr (e - regBias bu);  bi += lr (e - regBias bi)
//   P[u] += lr (e Q[i] - regFactors P[u]);  Q[i] += lr (e P[u]_old - regFactors Q[i])
// Returns the mean squared error of the predictions made before each update.
double biasedMfEpoch(const BiasedMfModel& model, const Ratings& ratings, const int32_t* order, const BiasedMfHyper& h,
                     const ExecConfig& config);

// ---- BPR-MF (Rendle et al. 2009) ----
// score(u, i) = P[u] . Q[i] (+ itemBias[i] when itemBias is not null)
struct BprModel {
  float* P = nullptr;
  float* Q = nullptr;
  float* itemBias = nullptr;  // optional
  int64_t numUsers = 0, numItems = 0, dim = 0;
};
struct BprHyper {
  float lr = 0.05f;
  float reg = 0.01f;      // on P[u], Q[i], Q[j]
  float regBias = 0.01f;  // on the item biases
};
// One SGD epoch over the triples in order. Per triple (u, i, j), x = score(u, i) - score(u, j) and
// g = sigmoid(-x) = -d(-log sigmoid(x))/dx:
//   P[u] += lr (g (Q[i] - Q[j]) - reg P[u]);  Q[i] += lr (g P[u]_old - reg Q[i]);  Q[j] += lr (-g P[u]_old - reg Q[j])
//   b[i] += lr (g - regBias b[i]);  b[j] += lr (-g - regBias b[j])
// Returns the mean of -log sigmoid(x) before each update.
double bprEpoch(const BprModel& model, const TripleView& triples, const BprHyper& h, const ExecConfig& config);

}  // namespace semrec::train
