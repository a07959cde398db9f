// NeuMF forward/backward, mini-batch Adam epochs and scoring (see semrec/train_neumf.h).
#include "semrec/train_neumf.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "semrec/cpu_isa.h"
#include "semrec/gemm.h"
#include "semrec/parallel.h"
#include "semrec/thread_team.h"

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
                     std::vector<float>& sliceDense, std::vector<double>& sliceLoss, std::vector<Scratch>& scratches,
                     float* dense, float* emb, ThreadTeam& team) {
  const int64_t denseSize = L.total - L.embeddingEnd, width = embWidth(L);
  const int64_t slices = (end - begin + kSlice - 1) / kSlice;
  sliceDense.assign(static_cast<size_t>(slices * denseSize), 0.0f);
  sliceLoss.assign(static_cast<size_t>(slices), 0.0);
  team.parallelFor(slices, 1, [&](int64_t s0, int64_t s1, int worker) {
    Scratch& scratch = scratches[worker];
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
  ThreadTeam team(config.numThreads);
  std::vector<Scratch> scratches(team.size(), Scratch(L));
  std::vector<float> sliceDense, dense(denseSize), emb(static_cast<size_t>(batch * embWidth(L)));
  std::vector<double> sliceLoss;
  EmbeddingGrad eg(L);
  double total = 0;
  for (int64_t begin = 0; begin < S.size; begin += batch) {
    const int64_t end = std::min(S.size, begin + batch);
    const float scale = 1.0f / static_cast<float>(end - begin);
    total += batchGradient(L, params, S, begin, end, sliceDense, sliceLoss, scratches, dense.data(), emb.data(), team);
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
  ThreadTeam team(config.numThreads);
  std::vector<Scratch> scratches(team.size(), Scratch(L));
  std::vector<float> sliceDense, emb(static_cast<size_t>(S.size * embWidth(L)));
  std::vector<double> sliceLoss;
  const float scale = 1.0f / static_cast<float>(S.size);
  const double loss =
      batchGradient(L, params, S, 0, S.size, sliceDense, sliceLoss, scratches, grad + L.embeddingEnd, emb.data(), team);
  for (int64_t t = L.embeddingEnd; t < L.total; ++t) grad[t] *= scale;
  EmbeddingGrad eg(L);
  eg.add(L, S, 0, S.size, emb.data(), scale);
  eg.forEachRow(L, [&](int64_t at, int64_t w) {
    for (int64_t k = 0; k < w; ++k) grad[at + k] = eg.grad[at + k] + reg * params[at + k];
  });
  return loss / static_cast<double>(S.size);
}

namespace {

// Items per block of scoring: a multiple of the panel widths (16, 32) and strip heights (6, 12), and
// small enough that the block's MLP item parts (192 x hidden[0] floats) stay in cache while every user of
// a chunk passes over them.
constexpr int64_t kScoreItemBlock = 192;
// Users per work chunk of scoring: they share each item block.
constexpr int64_t kScoreUserChunk = 48;


// a[r][t] = relu(userPart[t] + itemPart[r][t]): the first MLP layer of `rows` pairs sharing one user.
SEMREC_VECTOR_CLONES void firstLayer(const float* userPart, const float* itemPart, int64_t rows, int64_t width, float* a) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* ip = itemPart + r * width;
    float* ar = a + r * width;
    for (int64_t t = 0; t < width; ++t) {
      const float z = userPart[t] + ip[t];
      ar[t] = z > 0.0f ? z : 0.0f;
    }
  }
}

SEMREC_VECTOR_CLONES void reluRows(float* z, int64_t rows, int64_t width, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < width; ++t) z[r * ld + t] = z[r * ld + t] > 0.0f ? z[r * ld + t] : 0.0f;
}

// out[r] += bias + w . relu(z_r) for `rows` rows of z (the output unit on the last hidden layer): 16
// interleaved partial sums per row, so the loop vectorises, added pairwise at the end.
SEMREC_VECTOR_CLONES void reluDotRows(const float* z, int64_t rows, int64_t width, int64_t ld, const float* w, float bias,
                                      float* out) {
  constexpr int64_t kLanes = 16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * ld;
    float part[kLanes] = {};
    int64_t t = 0;
    for (; t + kLanes <= width; t += kLanes)
      for (int64_t k = 0; k < kLanes; ++k) part[k] += w[t + k] * (zr[t + k] > 0.0f ? zr[t + k] : 0.0f);
    for (int64_t k = 0; t < width; ++t, ++k) part[k] += w[t] * (zr[t] > 0.0f ? zr[t] : 0.0f);
    for (int64_t half = kLanes / 2; half > 0; half /= 2)
      for (int64_t k = 0; k < half; ++k) part[k] += part[k + half];
    out[r] += bias + part[0];
  }
}

// A weight matrix (rows x cols, row stride ld) as GEMM panels of its rows, with its bias padded to whole panels.
struct PackedLayer {
  int64_t outputs = 0, inputs = 0;
  std::vector<float> panels, bias;
  PackedLayer(const float* W, int64_t ld, int64_t outputs_, int64_t inputs_, const float* b)
      : outputs(outputs_), inputs(inputs_), panels(gemm::packedFloats(outputs_, inputs_)),
        bias(gemm::packedFloats(outputs_, 1), 0.0f) {
    gemm::pack(W, ld, outputs, inputs, panels.data());
    if (b) std::copy(b, b + outputs, bias.begin());
  }
  int64_t width() const { return static_cast<int64_t>(bias.size()); }  // outputs rounded up to whole panels
  // out[r][o] = W_o . in_r + b_o for `rows` inputs (row stride lda); out's row stride is width().
  void apply(const float* in, int64_t lda, int64_t rows, float* out) const {
    const int64_t w = gemm::panelWidth();
    for (int64_t p = 0; p * w < outputs; ++p)
      gemm::kernel(in, lda, rows, panels.data() + p * inputs * w, inputs, bias.data() + p * w, out + p * w, width(),
                   std::min(w, outputs - p * w));
  }
};

}  // namespace

// Full-ranking scoring as GEMMs on the core's micro-kernel (semrec/gemm.h). The first layer splits into a
// user part and an item part, W1 [mu; mi] + b1 = W1u mu + (W1i mi + b1), both computed once per call as
// matrix products; the GMF term folds wOut into the user vector, (wOut * gu) . gi, a plain product of a
// users x items block; then, per user and strip of items, the later layers are products of the strip's
// activations with the packed weights, and the output unit a dot product with wOut's MLP part.
void neumfScore(const NeuMfLayout& L, const float* P, const int32_t* users, int64_t numUsers, float* out,
                const ExecConfig& config) {
  const int64_t dg = L.gmfDim, dm = L.mlpDim, I = L.numItems, layers = static_cast<int64_t>(L.hidden.size());
  const float* wOut = P + L.outWeight;  // [GMF part (dg) | MLP part (lastWidth)]
  const float bOut = P[L.outBias];
  // The MLP's input to the output unit when there are no hidden layers: [mu; mi], so its term is
  // wOut_u . mu + wOut_i . mi; otherwise the first layer's halves.
  const int64_t h1 = layers > 0 ? L.hidden[0] : 1;
  std::vector<float> W1u(h1 * dm), W1i(h1 * dm), b1(h1, 0.0f);
  if (layers > 0) {
    const float* W1 = P + L.weight[0];
    for (int64_t o = 0; o < h1; ++o) {
      std::copy(W1 + o * 2 * dm, W1 + o * 2 * dm + dm, W1u.begin() + o * dm);
      std::copy(W1 + o * 2 * dm + dm, W1 + (o + 1) * 2 * dm, W1i.begin() + o * dm);
    }
    std::copy(P + L.bias[0], P + L.bias[0] + h1, b1.begin());
  } else {
    std::copy(wOut + dg, wOut + dg + dm, W1u.begin());
    std::copy(wOut + dg + dm, wOut + dg + 2 * dm, W1i.begin());
  }
  const PackedLayer first(W1u.data(), dm, h1, dm, nullptr), firstItems(W1i.data(), dm, h1, dm, b1.data());
  std::vector<PackedLayer> later;
  for (int64_t k = 1; k < layers; ++k)
    later.emplace_back(P + L.weight[k], L.inputs(k), L.hidden[k], L.inputs(k), P + L.bias[k]);
  std::vector<float> gmfItems(gemm::packedFloats(I, dg));
  gemm::pack(P + L.gmfItem, dg, I, dg, gmfItems.data());
  // Item parts of the first layer (numItems x h1), W1i mi + b1.
  std::vector<float> itemPart(static_cast<size_t>(I * h1));
  parallelFor(I, 256, config.numThreads, [&](int64_t i0, int64_t i1, int) {
    gemm::multiply(P + L.mlpItem + i0 * dm, dm, i1 - i0, firstItems.panels.data(), h1, dm, firstItems.bias.data(),
                   itemPart.data() + i0 * h1, h1);
  });
  const int64_t strip = gemm::stripRows();
  const float* wMlp = wOut + dg;
  parallelFor(numUsers, kScoreUserChunk, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    const int64_t n = r1 - r0;
    std::vector<float> mu(n * dm), gu(n * dg), userPart(n * h1);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t u = users[r0 + r];
      std::copy(P + L.mlpUser + u * dm, P + L.mlpUser + (u + 1) * dm, mu.begin() + r * dm);
      const float* g = P + L.gmfUser + u * dg;
      for (int64_t t = 0; t < dg; ++t) gu[r * dg + t] = wOut[t] * g[t];
    }
    gemm::multiply(mu.data(), dm, n, first.panels.data(), h1, dm, nullptr, userPart.data(), h1);
    // Activations of one strip: the first layer, then each later layer's (padded) output.
    std::vector<std::vector<float>> act(layers > 0 ? layers : 1);
    act[0].resize(static_cast<size_t>(strip * h1));
    for (int64_t k = 1; k < layers; ++k) act[k].resize(static_cast<size_t>(strip * later[k - 1].width()));
    for (int64_t i0 = 0; i0 < I; i0 += kScoreItemBlock) {
      const int64_t i1 = std::min(I, i0 + kScoreItemBlock);
      // GMF term for the whole chunk x block (i0 is a multiple of the panel width).
      gemm::multiply(gu.data(), dg, n, gmfItems.data() + (i0 / gemm::panelWidth()) * dg * gemm::panelWidth(), i1 - i0,
                     dg, nullptr, out + r0 * I + i0, I);
      for (int64_t r = 0; r < n; ++r) {
        float* row = out + (r0 + r) * I;
        const float* up = userPart.data() + r * h1;
        for (int64_t s0 = i0; s0 < i1; s0 += strip) {
          const int64_t rows = std::min(strip, i1 - s0);
          if (layers == 0) {
            for (int64_t k = 0; k < rows; ++k) row[s0 + k] += bOut + up[0] + itemPart[(s0 + k) * h1];
            continue;
          }
          firstLayer(up, itemPart.data() + s0 * h1, rows, h1, act[0].data());
          // Later layers: a product with the packed weights (bias added by the kernel), then ReLU (the last
          // one's inside the output unit's dot product).
          int64_t lda = h1, width = h1;
          for (int64_t k = 1; k < layers; ++k) {
            if (k > 1) reluRows(act[k - 1].data(), rows, width, lda);
            const PackedLayer& W = later[k - 1];
            W.apply(act[k - 1].data(), lda, rows, act[k].data());
            lda = W.width();
            width = W.outputs;
          }
          reluDotRows(act[layers - 1].data(), rows, width, lda, wMlp, bOut, row + s0);
        }
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
