// VBPR BPR-SGD epoch and item-factor export (see semrec/train_vbpr.h).
#include "semrec/train_vbpr.h"

#include <algorithm>
#include <vector>

#include "semrec/parallel.h"

namespace semrec::train {

double vbprEpoch(const VbprModel& m, const TripleView& tr, const VbprHyper& h, const ExecConfig& config) {
  const int64_t d = m.dim, dc = m.contentDim, nf = m.numFeatures;
  const double total = forEachChunk(tr.size, config, [&](int64_t, int64_t begin, int64_t end) {
    double chunkLoss = 0;
    std::vector<float> diff(nf), content(dc), gu(d), tu(dc);
    std::vector<int32_t> active;  // features with diff != 0
    active.reserve(nf);
    for (int64_t s = begin; s < end; ++s) {
      const int32_t u = tr.users[s], i = tr.pos[s], j = tr.neg[s];
      const float* fi = m.features + i * nf;
      const float* fj = m.features + j * nf;
      active.clear();
      for (int64_t f = 0; f < nf; ++f) {
        diff[f] = fi[f] - fj[f];
        if (diff[f] != 0.0f) active.push_back(static_cast<int32_t>(f));
      }
      std::fill(content.begin(), content.end(), 0.0f);
      float x = m.itemBias[i] - m.itemBias[j];
      for (int32_t f : active) {
        const float* row = m.E + f * dc;
        for (int64_t t = 0; t < dc; ++t) content[t] += diff[f] * row[t];
        x += m.featureBias[f] * diff[f];
      }
      float* gU = m.gammaU + u * d;
      float* gI = m.gammaI + i * d;
      float* gJ = m.gammaI + j * d;
      float* tU = m.thetaU + u * dc;
      for (int64_t t = 0; t < d; ++t) x += gU[t] * (gI[t] - gJ[t]);
      for (int64_t t = 0; t < dc; ++t) x += tU[t] * content[t];
      chunkLoss += softplus(-static_cast<double>(x));
      const float g = sigmoid(-x);
      std::copy(gU, gU + d, gu.data());
      std::copy(tU, tU + dc, tu.data());
      for (int64_t t = 0; t < d; ++t) gU[t] += h.lr * (g * (gI[t] - gJ[t]) - h.reg * gu[t]);
      for (int64_t t = 0; t < d; ++t) gI[t] += h.lr * (g * gu[t] - h.reg * gI[t]);
      for (int64_t t = 0; t < d; ++t) gJ[t] += h.lr * (-g * gu[t] - h.reg * gJ[t]);
      for (int64_t t = 0; t < dc; ++t) tU[t] += h.lr * (g * content[t] - h.reg * tu[t]);
      for (int32_t f : active) {
        float* row = m.E + f * dc;
        for (int64_t t = 0; t < dc; ++t) row[t] += h.lr * (g * diff[f] * tu[t] - h.regContent * row[t]);
        m.featureBias[f] += h.lr * (g * diff[f] - h.regBias * m.featureBias[f]);
      }
      m.itemBias[i] += h.lr * (g - h.regBias * m.itemBias[i]);
      m.itemBias[j] += h.lr * (-g - h.regBias * m.itemBias[j]);
    }
    return chunkLoss;
  });
  const double loss = tr.size > 0 ? total / static_cast<double>(tr.size) : 0.0;
  checkFiniteLoss(loss, "vbprEpoch");
  return loss;
}

void vbprItemFactors(const VbprModel& m, float* itemFactors, float* itemOffset, const ExecConfig& config) {
  const int64_t d = m.dim, dc = m.contentDim, nf = m.numFeatures, width = d + dc;
  parallelFor(m.numItems, 256, config.numThreads, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      float* out = itemFactors + i * width;
      std::copy(m.gammaI + i * d, m.gammaI + (i + 1) * d, out);
      std::fill(out + d, out + width, 0.0f);
      const float* fi = m.features + i * nf;
      double offset = m.itemBias[i];
      for (int64_t f = 0; f < nf; ++f) {
        if (fi[f] == 0.0f) continue;
        const float* row = m.E + f * dc;
        for (int64_t t = 0; t < dc; ++t) out[d + t] += fi[f] * row[t];
        offset += static_cast<double>(m.featureBias[f]) * fi[f];
      }
      itemOffset[i] = static_cast<float>(offset);
    }
  });
}

}  // namespace semrec::train
