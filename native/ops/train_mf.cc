// SGD epochs of biased MF (explicit ratings) and BPR-MF. Chunks of kSampleChunk samples are spread over
// the threads; updates to shared rows are lock-free (Hogwild), see semrec/train_common.h.
#include "semrec/train_mf.h"

#include <algorithm>
#include <vector>

namespace semrec::train {

double biasedMfEpoch(const BiasedMfModel& m, const Ratings& r, const int32_t* order, const BiasedMfHyper& h,
                     const ExecConfig& config) {
  const int64_t d = m.dim;
  const double sse = forEachChunk(r.size, config, [&](int64_t, int64_t begin, int64_t end) {
    double chunkSse = 0;
    for (int64_t s = begin; s < end; ++s) {
      const int64_t e = order[s];
      const int32_t u = r.users[e], i = r.items[e];
      float* p = m.P + u * d;
      float* q = m.Q + i * d;
      float dot = 0;
      for (int64_t t = 0; t < d; ++t) dot += p[t] * q[t];
      const float err = r.values[e] - (m.globalMean + m.userBias[u] + m.itemBias[i] + dot);
      chunkSse += static_cast<double>(err) * err;
      m.userBias[u] += h.lr * (err - h.regBias * m.userBias[u]);
      m.itemBias[i] += h.lr * (err - h.regBias * m.itemBias[i]);
      for (int64_t t = 0; t < d; ++t) {
        const float pt = p[t];
        p[t] += h.lr * (err * q[t] - h.regFactors * pt);
        q[t] += h.lr * (err * pt - h.regFactors * q[t]);
      }
    }
    return chunkSse;
  });
  const double mse = r.size > 0 ? sse / static_cast<double>(r.size) : 0.0;
  checkFiniteLoss(mse, "mfEpoch");
  return mse;
}

double bprEpoch(const BprModel& m, const TripleView& tr, const BprHyper& h, const ExecConfig& config) {
  const int64_t d = m.dim;
  const double total = forEachChunk(tr.size, config, [&](int64_t, int64_t begin, int64_t end) {
    double chunkLoss = 0;
    std::vector<float> pu(d);
    for (int64_t s = begin; s < end; ++s) {
      const int32_t u = tr.users[s], i = tr.pos[s], j = tr.neg[s];
      float* p = m.P + u * d;
      float* qi = m.Q + i * d;
      float* qj = m.Q + j * d;
      float x = 0;
      for (int64_t t = 0; t < d; ++t) x += p[t] * (qi[t] - qj[t]);
      if (m.itemBias) x += m.itemBias[i] - m.itemBias[j];
      chunkLoss += softplus(-static_cast<double>(x));
      const float g = sigmoid(-x);
      std::copy(p, p + d, pu.data());
      for (int64_t t = 0; t < d; ++t) p[t] += h.lr * (g * (qi[t] - qj[t]) - h.reg * pu[t]);
      for (int64_t t = 0; t < d; ++t) qi[t] += h.lr * (g * pu[t] - h.reg * qi[t]);
      for (int64_t t = 0; t < d; ++t) qj[t] += h.lr * (-g * pu[t] - h.reg * qj[t]);
      if (m.itemBias) {
        m.itemBias[i] += h.lr * (g - h.regBias * m.itemBias[i]);
        m.itemBias[j] += h.lr * (-g - h.regBias * m.itemBias[j]);
      }
    }
    return chunkLoss;
  });
  const double loss = tr.size > 0 ? total / static_cast<double>(tr.size) : 0.0;
  checkFiniteLoss(loss, "bprEpoch");
  return loss;
}

}  // namespace semrec::train
