// LightFM epochs (BPR and WARP) with Adagrad, and the export of user/item representations.
#include "semrec/train_lightfm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "semrec/parallel.h"

namespace semrec::train {

namespace {

// out = sum_f w_f emb[f] over the features of `row` (and the summed bias when bias != null).
float represent(const WeightedCsr& feats, int64_t row, const float* emb, const float* bias, int64_t dim, float* out) {
  std::fill(out, out + dim, 0.0f);
  float b = 0;
  for (int32_t e = feats.rows.indptr[row]; e < feats.rows.indptr[row + 1]; ++e) {
    const int32_t f = feats.rows.indices[e];
    const float w = feats.weights[e];
    const float* v = emb + f * dim;
    for (int64_t t = 0; t < dim; ++t) out[t] += w * v[t];
    if (bias) b += w * bias[f];
  }
  return b;
}

// Adagrad step on the embeddings (and biases) of the features of `row`, for the representation
// gradient `direction` (and bias gradient biasDirection).
void step(const WeightedCsr& feats, int64_t row, float* emb, float* acc, float* bias, float* biasAcc, int64_t dim,
          const float* direction, float biasDirection, float alpha, float lr) {
  for (int32_t e = feats.rows.indptr[row]; e < feats.rows.indptr[row + 1]; ++e) {
    const int32_t f = feats.rows.indices[e];
    const float w = feats.weights[e];
    float* v = emb + f * dim;
    float* a = acc + f * dim;
    for (int64_t t = 0; t < dim; ++t) {
      const float g = w * direction[t] + alpha * v[t];
      v[t] -= lr * g / std::sqrt(a[t]);
      a[t] += g * g;
    }
    if (bias) {
      const float g = w * biasDirection + alpha * bias[f];
      bias[f] -= lr * g / std::sqrt(biasAcc[f]);
      biasAcc[f] += g * g;
    }
  }
}

}  // namespace

double lightfmEpoch(const LightFmModel& m, const TripleView& tr, const LightFmHyper& h, const WarpCandidates& cand,
                    const Positives& positives, const ExecConfig& config) {
  const int64_t d = m.dim;
  const bool warp = h.loss == LightFmLoss::Warp;
  const double total = forEachChunk(tr.size, config, [&](int64_t chunk, int64_t begin, int64_t end) {
    double chunkLoss = 0;
    std::vector<float> userRepr(d), posRepr(d), negRepr(d), dir(d);
    Rng rng(cand.seed, static_cast<uint64_t>(chunk));
    for (int64_t s = begin; s < end; ++s) {
      const int32_t u = tr.users[s], i = tr.pos[s];
      represent(m.userFeatures, u, m.userEmb, nullptr, d, userRepr.data());
      const float bi = represent(m.itemFeatures, i, m.itemEmb, m.itemBias, d, posRepr.data());
      const float si = dot(userRepr.data(), posRepr.data(), d) + bi;
      int32_t j = -1;
      float scale = 0, sj = 0;
      if (!warp) {
        j = tr.neg[s];
        const float bj = represent(m.itemFeatures, j, m.itemEmb, m.itemBias, d, negRepr.data());
        sj = dot(userRepr.data(), negRepr.data(), d) + bj;
        const float x = si - sj;
        scale = sigmoid(-x);
        chunkLoss += softplus(-static_cast<double>(x));
      } else {
        for (int32_t n = 1; n <= h.maxSampled; ++n) {
          const int32_t c = cand.explicitCandidates ? cand.explicitCandidates[s * h.maxSampled + (n - 1)]
                                                    : sampleNegative(rng, positives, u);
          if (positives.contains(u, c)) continue;
          const float bc = represent(m.itemFeatures, c, m.itemEmb, m.itemBias, d, negRepr.data());
          const float sc = dot(userRepr.data(), negRepr.data(), d) + bc;
          if (sc > si - 1.0f) {
            j = c;
            sj = sc;
            const double rankEstimate = std::floor(static_cast<double>(m.numItems - 1) / n);
            scale = static_cast<float>(std::min(std::log(std::max(1.0, rankEstimate)), static_cast<double>(kWarpMaxWeight)));
            chunkLoss += static_cast<double>(scale) * (1.0 - static_cast<double>(si - sj));
            break;
          }
        }
        if (j < 0) continue;  // no violating candidate: nothing to learn from this pair
      }
      // L = scale * (s_j - s_i); representations are those before this step (as LightFM).
      for (int64_t t = 0; t < d; ++t) dir[t] = -scale * userRepr[t];
      step(m.itemFeatures, i, m.itemEmb, m.itemEmbAcc, m.itemBias, m.itemBiasAcc, d, dir.data(), -scale, h.itemAlpha, h.lr);
      for (int64_t t = 0; t < d; ++t) dir[t] = scale * userRepr[t];
      step(m.itemFeatures, j, m.itemEmb, m.itemEmbAcc, m.itemBias, m.itemBiasAcc, d, dir.data(), scale, h.itemAlpha, h.lr);
      for (int64_t t = 0; t < d; ++t) dir[t] = scale * (negRepr[t] - posRepr[t]);
      step(m.userFeatures, u, m.userEmb, m.userEmbAcc, nullptr, nullptr, d, dir.data(), 0.0f, h.userAlpha, h.lr);
    }
    return chunkLoss;
  });
  const double loss = tr.size > 0 ? total / static_cast<double>(tr.size) : 0.0;
  checkFiniteLoss(loss, "lightfmEpoch");
  return loss;
}

void lightfmRepresentations(const LightFmModel& m, float* userRepr, float* itemRepr, float* itemBiasOut,
                            const ExecConfig& config) {
  const int64_t d = m.dim;
  parallelFor(m.numUsers, 256, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) represent(m.userFeatures, u, m.userEmb, nullptr, d, userRepr + u * d);
  });
  parallelFor(m.numItems, 256, config.numThreads, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) itemBiasOut[i] = represent(m.itemFeatures, i, m.itemEmb, m.itemBias, d, itemRepr + i * d);
  });
}

}  // namespace semrec::train
