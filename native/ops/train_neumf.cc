// NeuMF forward/backward, mini-batch Adam epochs and scoring (see semrec/train_neumf.h).
#include "semrec/train_neumf.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "semrec/parallel.h"

namespace semrec::train {

NeuMfLayout NeuMfLayout::make(int64_t numUsers, int64_t numItems, int64_t gmfDim, int64_t mlpDim,
                              const std::vector<int64_t>& hidden) {
  NeuMfLayout l;
  l.numUsers = numUsers;
  l.numItems = numItems;
  l.gmfDim = gmfDim;
  l.mlpDim = mlpDim;
  l.hidden = hidden;
  int64_t at = 0;
  l.gmfUser = at;
  at += numUsers * gmfDim;
  l.gmfItem = at;
  at += numItems * gmfDim;
  l.mlpUser = at;
  at += numUsers * mlpDim;
  l.mlpItem = at;
  at += numItems * mlpDim;
  l.embeddingEnd = at;
  for (size_t k = 0; k < hidden.size(); ++k) {
    l.weight.push_back(at);
    at += hidden[k] * l.inputs(k);
    l.bias.push_back(at);
    at += hidden[k];
  }
  l.outWeight = at;
  at += gmfDim + l.lastWidth();
  l.outBias = at;
  at += 1;
  l.total = at;
  return l;
}

namespace {

// Samples of a batch handled by one task: their dense gradients share one buffer.
constexpr int64_t kSlice = 32;

struct Scratch {
  std::vector<float> gmf;
  std::vector<std::vector<float>> a, z;  // a[0] = input, a[l + 1] = relu(z[l])
  std::vector<std::vector<float>> da;
  explicit Scratch(const NeuMfLayout& L) : gmf(L.gmfDim), a(L.hidden.size() + 1), z(L.hidden.size()), da(L.hidden.size() + 1) {
    a[0].resize(2 * L.mlpDim);
    da[0].resize(2 * L.mlpDim);
    for (size_t k = 0; k < L.hidden.size(); ++k) {
      a[k + 1].resize(L.hidden[k]);
      z[k].resize(L.hidden[k]);
      da[k + 1].resize(L.hidden[k]);
    }
  }
};

// Width of one sample's embedding gradient: [gmfUser | gmfItem | mlpUser | mlpItem].
int64_t embWidth(const NeuMfLayout& L) { return 2 * L.gmfDim + 2 * L.mlpDim; }

// Forward and backward of one sample. Adds the dense gradient into dense (indexed from
// L.embeddingEnd), writes the embedding gradient into emb (embWidth floats). Returns the loss.
double sampleGradient(const NeuMfLayout& L, const float* P, int32_t u, int32_t i, float label, float* dense, float* emb,
                      Scratch& s) {
  const int64_t dg = L.gmfDim, dm = L.mlpDim, layers = static_cast<int64_t>(L.hidden.size());
  const float* gu = P + L.gmfUser + u * dg;
  const float* gi = P + L.gmfItem + i * dg;
  const float* mu = P + L.mlpUser + u * dm;
  const float* mi = P + L.mlpItem + i * dm;
  for (int64_t t = 0; t < dg; ++t) s.gmf[t] = gu[t] * gi[t];
  std::copy(mu, mu + dm, s.a[0].begin());
  std::copy(mi, mi + dm, s.a[0].begin() + dm);
  for (int64_t k = 0; k < layers; ++k) {
    const int64_t in = L.inputs(k), out = L.hidden[k];
    const float* W = P + L.weight[k];
    const float* b = P + L.bias[k];
    for (int64_t o = 0; o < out; ++o) {
      const float acc = b[o] + dot(W + o * in, s.a[k].data(), in);
      s.z[k][o] = acc;
      s.a[k + 1][o] = acc > 0 ? acc : 0.0f;
    }
  }
  const float* wOut = P + L.outWeight;
  const std::vector<float>& last = s.a[layers];
  float logit = P[L.outBias];
  for (int64_t t = 0; t < dg; ++t) logit += wOut[t] * s.gmf[t];
  for (size_t t = 0; t < last.size(); ++t) logit += wOut[dg + t] * last[t];
  const double loss = softplus(logit) - static_cast<double>(label) * logit;
  const float delta = sigmoid(logit) - label;

  float* dOut = dense + (L.outWeight - L.embeddingEnd);
  for (int64_t t = 0; t < dg; ++t) dOut[t] += delta * s.gmf[t];
  for (size_t t = 0; t < last.size(); ++t) dOut[dg + t] += delta * last[t];
  dense[L.outBias - L.embeddingEnd] += delta;
  // GMF tower.
  for (int64_t t = 0; t < dg; ++t) {
    const float dgmf = delta * wOut[t];
    emb[t] = dgmf * gi[t];
    emb[dg + t] = dgmf * gu[t];
  }
  // MLP tower, last layer first.
  std::vector<float>& daLast = s.da[layers];
  for (size_t t = 0; t < last.size(); ++t) daLast[t] = delta * wOut[dg + t];
  for (int64_t k = layers - 1; k >= 0; --k) {
    const int64_t in = L.inputs(k), out = L.hidden[k];
    const float* W = P + L.weight[k];
    float* dW = dense + (L.weight[k] - L.embeddingEnd);
    float* db = dense + (L.bias[k] - L.embeddingEnd);
    std::vector<float>& daIn = s.da[k];
    std::fill(daIn.begin(), daIn.end(), 0.0f);
    for (int64_t o = 0; o < out; ++o) {
      const float dz = s.z[k][o] > 0 ? s.da[k + 1][o] : 0.0f;
      if (dz == 0.0f) continue;
      db[o] += dz;
      axpy(dz, s.a[k].data(), dW + o * in, in);
      axpy(dz, W + o * in, daIn.data(), in);
    }
  }
  std::copy(s.da[0].begin(), s.da[0].begin() + 2 * dm, emb + 2 * dg);
  return loss;
}

// The batch [begin, end) of samples: per-sample embedding gradients into emb (in sample order), the
// summed dense gradient into dense (layout.total - embeddingEnd floats, zeroed here). Returns the summed loss.
double batchGradient(const NeuMfLayout& L, const float* P, const PointSamples& S, int64_t begin, int64_t end,
                     std::vector<float>& sliceDense, float* dense, float* emb, const ExecConfig& config) {
  const int64_t denseSize = L.total - L.embeddingEnd, width = embWidth(L);
  const int64_t slices = (end - begin + kSlice - 1) / kSlice;
  sliceDense.assign(static_cast<size_t>(slices * denseSize), 0.0f);
  std::vector<double> sliceLoss(slices, 0.0);
  parallelFor(slices, 1, config.numThreads, [&](int64_t s0, int64_t s1, int) {
    Scratch scratch(L);
    for (int64_t sl = s0; sl < s1; ++sl) {
      const int64_t b = begin + sl * kSlice, e = std::min(end, b + kSlice);
      for (int64_t s = b; s < e; ++s)
        sliceLoss[sl] += sampleGradient(L, P, S.users[s], S.items[s], S.labels[s], sliceDense.data() + sl * denseSize,
                                        emb + (s - begin) * width, scratch);
    }
  });
  std::fill(dense, dense + denseSize, 0.0f);
  double loss = 0;
  for (int64_t sl = 0; sl < slices; ++sl) {
    const float* part = sliceDense.data() + sl * denseSize;
    for (int64_t t = 0; t < denseSize; ++t) dense[t] += part[t];
    loss += sliceLoss[sl];
  }
  return loss;
}

// Embedding rows touched by a batch and their summed gradients (a full-size buffer kept at zero between batches).
struct EmbeddingGrad {
  std::vector<float> grad;  // layout.embeddingEnd floats
  std::vector<uint8_t> userSeen, itemSeen;
  std::vector<int32_t> users, items;
  explicit EmbeddingGrad(const NeuMfLayout& L)
      : grad(L.embeddingEnd, 0.0f), userSeen(L.numUsers, 0), itemSeen(L.numItems, 0) {}

  void add(const NeuMfLayout& L, const PointSamples& S, int64_t begin, int64_t end, const float* emb, float scale) {
    const int64_t dg = L.gmfDim, dm = L.mlpDim, width = embWidth(L);
    for (int64_t s = begin; s < end; ++s) {
      const int32_t u = S.users[s], i = S.items[s];
      const float* e = emb + (s - begin) * width;
      if (!userSeen[u]) userSeen[u] = 1, users.push_back(u);
      if (!itemSeen[i]) itemSeen[i] = 1, items.push_back(i);
      float* g = grad.data();
      for (int64_t t = 0; t < dg; ++t) g[L.gmfUser + u * dg + t] += scale * e[t];
      for (int64_t t = 0; t < dg; ++t) g[L.gmfItem + i * dg + t] += scale * e[dg + t];
      for (int64_t t = 0; t < dm; ++t) g[L.mlpUser + u * dm + t] += scale * e[2 * dg + t];
      for (int64_t t = 0; t < dm; ++t) g[L.mlpItem + i * dm + t] += scale * e[2 * dg + dm + t];
    }
  }
  // Calls fn(offset, width) for every touched embedding row (users first, in first-touch order).
  template <class Fn>
  void forEachRow(const NeuMfLayout& L, Fn&& fn) const {
    for (int32_t u : users) {
      fn(L.gmfUser + u * L.gmfDim, L.gmfDim);
      fn(L.mlpUser + u * L.mlpDim, L.mlpDim);
    }
    for (int32_t i : items) {
      fn(L.gmfItem + i * L.gmfDim, L.gmfDim);
      fn(L.mlpItem + i * L.mlpDim, L.mlpDim);
    }
  }
  void clear(const NeuMfLayout& L) {
    forEachRow(L, [&](int64_t at, int64_t w) { std::fill(grad.begin() + at, grad.begin() + at + w, 0.0f); });
    for (int32_t u : users) userSeen[u] = 0;
    for (int32_t i : items) itemSeen[i] = 0;
    users.clear();
    items.clear();
  }
};

}  // namespace

double neumfEpoch(const NeuMfLayout& L, float* params, float* m, float* v, int64_t* step, const PointSamples& S,
                  const NeuMfHyper& h, const ExecConfig& config) {
  const int64_t denseSize = L.total - L.embeddingEnd;
  const int64_t batch = std::max<int64_t>(1, h.batchSize);
  std::vector<float> sliceDense, dense(denseSize), emb(static_cast<size_t>(batch * embWidth(L)));
  EmbeddingGrad eg(L);
  double total = 0;
  for (int64_t begin = 0; begin < S.size; begin += batch) {
    const int64_t end = std::min(S.size, begin + batch);
    const float scale = 1.0f / static_cast<float>(end - begin);
    total += batchGradient(L, params, S, begin, end, sliceDense, dense.data(), emb.data(), config);
    for (float& g : dense) g *= scale;
    eg.add(L, S, begin, end, emb.data(), scale);
    const int64_t t = ++*step;
    adamUpdate(params + L.embeddingEnd, dense.data(), m + L.embeddingEnd, v + L.embeddingEnd, denseSize, h.adam, t);
    eg.forEachRow(L, [&](int64_t at, int64_t w) {
      float* g = eg.grad.data() + at;
      if (h.reg != 0.0f)
        for (int64_t k = 0; k < w; ++k) g[k] += h.reg * params[at + k];
      adamUpdate(params + at, g, m + at, v + at, w, h.adam, t);
    });
    eg.clear(L);
  }
  const double loss = S.size > 0 ? total / static_cast<double>(S.size) : 0.0;
  checkFiniteLoss(loss, "neumfEpoch");
  return loss;
}

double neumfGradient(const NeuMfLayout& L, const float* params, const PointSamples& S, float reg, float* grad,
                     const ExecConfig& config) {
  std::fill(grad, grad + L.total, 0.0f);
  if (S.size == 0) return 0.0;
  std::vector<float> sliceDense, emb(static_cast<size_t>(S.size * embWidth(L)));
  const float scale = 1.0f / static_cast<float>(S.size);
  const double loss = batchGradient(L, params, S, 0, S.size, sliceDense, grad + L.embeddingEnd, emb.data(), config);
  for (int64_t t = L.embeddingEnd; t < L.total; ++t) grad[t] *= scale;
  EmbeddingGrad eg(L);
  eg.add(L, S, 0, S.size, emb.data(), scale);
  eg.forEachRow(L, [&](int64_t at, int64_t w) {
    for (int64_t k = 0; k < w; ++k) grad[at + k] = eg.grad[at + k] + reg * params[at + k];
  });
  return loss / static_cast<double>(S.size);
}

void neumfScore(const NeuMfLayout& L, const float* P, const int32_t* users, int64_t numUsers, float* out,
                const ExecConfig& config) {
  const int64_t dg = L.gmfDim, dm = L.mlpDim, layers = static_cast<int64_t>(L.hidden.size());
  const int64_t h1 = L.hidden[0], in0 = 2 * dm;
  // The first layer splits into a user part and an item part: W1 [mu; mi] + b1 = W1u mu + (W1i mi + b1).
  std::vector<float> itemPart(static_cast<size_t>(L.numItems * h1));
  const float* W1 = P + L.weight[0];
  const float* b1 = P + L.bias[0];
  parallelFor(L.numItems, 64, config.numThreads, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* mi = P + L.mlpItem + i * dm;
      for (int64_t o = 0; o < h1; ++o) itemPart[i * h1 + o] = b1[o] + dot(W1 + o * in0 + dm, mi, dm);
    }
  });
  const float* wOut = P + L.outWeight;
  parallelFor(numUsers, 1, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    std::vector<std::vector<float>> a(layers);
    for (int64_t k = 0; k < layers; ++k) a[k].resize(L.hidden[k]);
    std::vector<float> userPart(h1), gmfUser(dg);
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t u = users[r];
      const float* mu = P + L.mlpUser + static_cast<int64_t>(u) * dm;
      for (int64_t o = 0; o < h1; ++o) userPart[o] = dot(W1 + o * in0, mu, dm);
      // GMF contribution folds wOut into the user vector: wOut . (gu * gi) = (wOut * gu) . gi.
      const float* gu = P + L.gmfUser + static_cast<int64_t>(u) * dg;
      for (int64_t t = 0; t < dg; ++t) gmfUser[t] = wOut[t] * gu[t];
      float* row = out + r * L.numItems;
      for (int64_t i = 0; i < L.numItems; ++i) {
        const float* ip = itemPart.data() + i * h1;
        for (int64_t o = 0; o < h1; ++o) {
          const float z = userPart[o] + ip[o];
          a[0][o] = z > 0 ? z : 0.0f;
        }
        for (int64_t k = 1; k < layers; ++k) {
          const int64_t in = L.hidden[k - 1];
          const float* W = P + L.weight[k];
          const float* b = P + L.bias[k];
          for (int64_t o = 0; o < L.hidden[k]; ++o) {
            const float acc = b[o] + dot(W + o * in, a[k - 1].data(), in);
            a[k][o] = acc > 0 ? acc : 0.0f;
          }
        }
        float logit = P[L.outBias];
        const float* gi = P + L.gmfItem + i * dg;
        for (int64_t t = 0; t < dg; ++t) logit += gmfUser[t] * gi[t];
        const std::vector<float>& last = a[layers - 1];
        for (size_t t = 0; t < last.size(); ++t) logit += wOut[dg + t] * last[t];
        row[i] = logit;
      }
    }
  });
}

OwnedPointSamples drawPointSamples(uint64_t seed, const PairSamples& pairs, const Positives& positives,
                                   int64_t negatives, const ExecConfig& config) {
  std::vector<int32_t> order(pairs.numPairs);
  shuffledOrder(seed, pairs.numPairs, order.data());
  std::vector<int32_t> neg(static_cast<size_t>(pairs.numPairs * negatives));
  sampleNegatives(seed, pairs, order.data(), positives, negatives, neg.data(), config);
  OwnedPointSamples out;
  const int64_t per = 1 + negatives;
  out.users.resize(pairs.numPairs * per);
  out.items.resize(pairs.numPairs * per);
  out.labels.resize(pairs.numPairs * per);
  for (int64_t p = 0; p < pairs.numPairs; ++p) {
    const int32_t u = pairs.users[order[p]];
    out.users[p * per] = u;
    out.items[p * per] = pairs.items[order[p]];
    out.labels[p * per] = 1.0f;
    for (int64_t n = 0; n < negatives; ++n) {
      out.users[p * per + 1 + n] = u;
      out.items[p * per + 1 + n] = neg[p * negatives + n];
      out.labels[p * per + 1 + n] = 0.0f;
    }
  }
  return out;
}

}  // namespace semrec::train
