// LightFM (Kula 2015): users and items are sums of weighted feature embeddings; pairwise BPR or WARP
// loss, per-parameter Adagrad, lock-free parallel SGD as in the reference implementation.
//   userRepr(u) = sum_f w_uf userEmb[f];   itemRepr(i) = sum_f w_if itemEmb[f];   itemBiasOf(i) = sum_f w_if itemBias[f]
//   score(u, i) = userRepr(u) . itemRepr(i) + itemBiasOf(i)
// (LightFM's user biases are left out: no pairwise loss moves them, and they never change a ranking.)
#pragma once

#include <cstdint>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

// Feature rows of users or items: the features of row r are indices[indptr[r]..indptr[r+1]) with weights.
struct WeightedCsr {
  CsrView rows;
  const float* weights = nullptr;  // nnz
};

struct LightFmModel {
  float* userEmb = nullptr;        // numUserFeatures x dim
  float* itemEmb = nullptr;        // numItemFeatures x dim
  float* itemBias = nullptr;       // numItemFeatures
  float* userEmbAcc = nullptr;     // Adagrad accumulators, same shapes, start at 1 (as LightFM)
  float* itemEmbAcc = nullptr;
  float* itemBiasAcc = nullptr;
  WeightedCsr userFeatures;        // numUsers rows
  WeightedCsr itemFeatures;        // numItems rows
  int64_t numUsers = 0, numItems = 0, numUserFeatures = 0, numItemFeatures = 0, dim = 0;
};

enum class LightFmLoss { Bpr = 0, Warp = 1 };

struct LightFmHyper {
  LightFmLoss loss = LightFmLoss::Warp;
  float lr = 0.05f;         // LightFM's default learning_rate
  float userAlpha = 0.0f;   // L2 penalty on user feature embeddings (LightFM's user_alpha)
  float itemAlpha = 0.0f;   // L2 penalty on item feature embeddings and biases (item_alpha)
  int32_t maxSampled = 10;  // WARP: negatives tried per positive (LightFM's max_sampled)
};

// WARP's cap on the rank weight, as in LightFM (MAX_LOSS).
constexpr float kWarpMaxWeight = 10.0f;

// Where WARP's candidate negatives come from: given explicitly (positions x maxSampled, for tests), or
// drawn with sampleNegative from Rng(seed, chunk) as they are needed.
struct WarpCandidates {
  const int32_t* explicitCandidates = nullptr;
  uint64_t seed = 0;
};

// One epoch. BPR: per triple (u, i, j), x = score(u, i) - score(u, j), scale = sigmoid(-x).
// WARP: per pair (u, i) = (triples.users[p], triples.pos[p]) (triples.neg is ignored), candidates j are
// tried in turn, n = 1, 2, ..., maxSampled, until score(u, j) > score(u, i) - 1; then
// scale = min(log(floor((numItems - 1) / n)), kWarpMaxWeight) (0 when no candidate violates).
// Both then take one step on L = scale * (score(u, j) - score(u, i)):
//   dL/d itemEmb[f] = w_if (-scale userRepr) for f of i, w_jf (scale userRepr) for f of j,
//   dL/d userEmb[f] = w_uf scale (itemRepr(j) - itemRepr(i)),  dL/d itemBias[f] = -w_if scale / +w_jf scale,
// each plus alpha * parameter, with Adagrad: param -= lr g / sqrt(acc); acc += g^2 (LightFM's order).
// Returns the mean BPR loss -log sigmoid(x), or for WARP the mean of scale * max(0, 1 - x) with x the
// margin of the violating candidate.
double lightfmEpoch(const LightFmModel& model, const TripleView& triples, const LightFmHyper& h,
                    const WarpCandidates& candidates, const Positives& positives, const ExecConfig& config);

// userRepr for every user (numUsers x dim), and itemRepr with the summed item bias (numItems x dim, numItems).
void lightfmRepresentations(const LightFmModel& model, float* userRepr, float* itemRepr, float* itemBiasOut,
                            const ExecConfig& config);

}  // namespace semrec::train
