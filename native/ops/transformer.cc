// The sequential recommenders' transformer on the CPU: forward, hand-written backward, Adam epochs and
// inference (see semrec/transformer.h for the model and the reproducibility contract).
//
// Work split: a batch's segments are cut into slices of about kSliceTokens tokens; slice s belongs to lane
// s % lanes, and each lane (one thread at a time) runs its slices in order, forward then backward, adding its
// gradient into its own buffer. The lanes' buffers are then summed in lane order. The number of lanes depends
// on the model size only, so the result is the same for any number of threads. Within a slice the linear
// layers run as GEMMs over all of the slice's tokens; attention runs per segment and head.
#include "semrec/transformer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/parallel.h"
#include "transformer_math.h"

namespace semrec::seq {

TransformerLayout TransformerLayout::make(const TransformerConfig& c) {
  TransformerLayout l;
  int64_t at = 0;
  auto take = [&](int64_t n) {
    const int64_t start = at;
    at += n;
    return start;
  };
  const int64_t H = c.hidden, I = c.inner;
  l.tokenEmb = take(c.numTokens * H);
  l.posEmb = take(c.maxLength * H);
  l.embLnG = take(H);
  l.embLnB = take(H);
  for (int64_t k = 0; k < c.layers; ++k) {
    Layer y{};
    y.wq = take(H * H), y.bq = take(H), y.wk = take(H * H), y.bk = take(H), y.wv = take(H * H), y.bv = take(H);
    y.wo = take(H * H), y.bo = take(H), y.ln1g = take(H), y.ln1b = take(H);
    y.w1 = take(H * I), y.b1 = take(I), y.w2 = take(I * H), y.b2 = take(H), y.ln2g = take(H), y.ln2b = take(H);
    l.layers.push_back(y);
  }
  if (c.outputHead) {
    l.wh = take(H * H), l.bh = take(H), l.lnhG = take(H), l.lnhB = take(H);
    l.outBias = take(c.numItems);
  }
  l.total = at;
  return l;
}

void validateConfig(const TransformerConfig& c) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) fail(ErrorCode::InvalidArgValue, "transformer: " + what);
  };
  need(c.numItems >= 1, "numItems must be at least 1");
  need(c.numTokens >= c.numItems, "numTokens must be at least numItems");
  need(c.maxLength >= 1, "maxLength must be at least 1");
  need(c.hidden >= 1 && c.heads >= 1 && c.hidden % c.heads == 0, "hidden must be a positive multiple of heads");
  need(c.inner >= 1, "inner must be at least 1");
  need(c.layers >= 1, "layers must be at least 1");
  need(c.hiddenDropout >= 0 && c.hiddenDropout < 1, "hiddenDropout must be in [0, 1)");
  need(c.attnDropout >= 0 && c.attnDropout < 1, "attnDropout must be in [0, 1)");
  need(c.layerNormEps > 0, "layerNormEps must be positive");
}

void validateSegments(const TransformerConfig& c, const SegmentBatch& b, const char* op) {
  const std::string name(op);
  if (b.numSegments < 0) fail(ErrorCode::InvalidArgValue, name + ": negative segment count");
  if (b.numSegments > 0 && b.offsets[0] != 0) fail(ErrorCode::InvalidArgValue, name + ": offsets[0] must be 0");
  for (int64_t s = 0; s < b.numSegments; ++s) {
    const int64_t len = static_cast<int64_t>(b.offsets[s + 1]) - b.offsets[s];
    if (len < 1 || len > c.maxLength)
      fail(ErrorCode::InvalidArgValue, name + ": segment " + std::to_string(s) + " has " + std::to_string(len) +
                                           " tokens; segments hold 1 to maxLength (" + std::to_string(c.maxLength) + ")");
  }
  const int64_t n = b.numTokens();
  for (int64_t t = 0; t < n; ++t) {
    if (b.tokens[t] < 0 || b.tokens[t] >= c.numTokens)
      fail(ErrorCode::OutOfRange, name + ": tokens[" + std::to_string(t) + "] = " + std::to_string(b.tokens[t]) +
                                      " is outside [0, " + std::to_string(c.numTokens) + ")");
    if (b.targets && (b.targets[t] < -1 || b.targets[t] >= c.numItems))
      fail(ErrorCode::OutOfRange, name + ": targets[" + std::to_string(t) + "] = " + std::to_string(b.targets[t]) +
                                      " is neither -1 nor an item in [0, " + std::to_string(c.numItems) + ")");
    if (b.negatives && b.targets && b.targets[t] >= 0 && (b.negatives[t] < 0 || b.negatives[t] >= c.numItems))
      fail(ErrorCode::OutOfRange, name + ": negatives[" + std::to_string(t) + "] = " + std::to_string(b.negatives[t]) +
                                      " is not an item in [0, " + std::to_string(c.numItems) + ")");
  }
}

namespace {

using math::gemm;

constexpr int64_t kSliceTokens = 256;   // tokens per slice: GEMMs of 256 x 64 x 64 and up
constexpr int64_t kMaxLanes = 16;       // gradient buffers summed per batch (bounds the useful threads)
constexpr int64_t kLaneBytes = int64_t{256} << 20;  // memory all lanes' gradient buffers may take
constexpr int64_t kLogitRows = 32;      // targets whose full score rows are materialised at once

int64_t laneCount(const TransformerLayout& L) {
  const int64_t byMemory = kLaneBytes / std::max<int64_t>(1, L.total * 4);
  return std::max<int64_t>(1, std::min(kMaxLanes, byMemory));
}

struct Slice {
  int64_t s0, s1;  // segments
  int64_t t0, t1;  // tokens (absolute)
};

// Consecutive segments [s0, s1) grouped into slices of about kSliceTokens tokens.
void makeSlices(const SegmentBatch& b, int64_t s0, int64_t s1, std::vector<Slice>& out) {
  out.clear();
  int64_t start = s0;
  while (start < s1) {
    int64_t end = start;
    const int64_t t0 = b.offsets[start];
    while (end < s1 && (end == start || b.offsets[end + 1] - t0 <= kSliceTokens)) ++end;
    out.push_back({start, end, t0, b.offsets[end]});
    start = end;
  }
}

// Parameters in the shapes the kernels want: the transposed weights (for dX = dY W^T) and the transposed
// item embeddings (for logits = Z E^T), refreshed after every parameter update.
struct Packed {
  std::vector<float> itemsT;  // hidden x numItems
  std::vector<std::vector<float>> wqT, wkT, wvT, woT, w1T, w2T;
  std::vector<float> whT;
  void refresh(const TransformerConfig& c, const TransformerLayout& L, const float* P, bool needWeights) {
    const int64_t H = c.hidden, I = c.inner;
    itemsT.resize(H * c.numItems);
    math::transpose(P + L.tokenEmb, c.numItems, H, itemsT.data());
    if (!needWeights) return;
    const size_t n = L.layers.size();
    wqT.resize(n), wkT.resize(n), wvT.resize(n), woT.resize(n), w1T.resize(n), w2T.resize(n);
    for (size_t k = 0; k < n; ++k) {
      const auto& y = L.layers[k];
      for (auto* pair : {&wqT[k], &wkT[k], &wvT[k], &woT[k]}) pair->resize(H * H);
      math::transpose(P + y.wq, H, H, wqT[k].data());
      math::transpose(P + y.wk, H, H, wkT[k].data());
      math::transpose(P + y.wv, H, H, wvT[k].data());
      math::transpose(P + y.wo, H, H, woT[k].data());
      w1T[k].resize(I * H);
      math::transpose(P + y.w1, H, I, w1T[k].data());
      w2T[k].resize(H * I);
      math::transpose(P + y.w2, I, H, w2T[k].data());
    }
    if (c.outputHead) {
      whT.resize(H * H);
      math::transpose(P + L.wh, H, H, whT.data());
    }
  }
};

// Activations of one slice (capacity `cap` tokens), kept from the forward pass for the backward pass.
// Every layer reads all of the slice's tokens as keys and values; its query rows ("rows" below) are all tokens
// except in the last layer, which computes only the rows whose final representation is needed (the targets
// in training, each segment's last token in inference): nothing else of the last layer reaches the loss.
struct Workspace {
  int64_t cap = 0;
  std::vector<float> embSum, embStats;  // e and its LN stats
  struct LayerActs {
    std::vector<float> hin;                 // layer input, all tokens
    std::vector<float> k, v;                // all tokens
    std::vector<float> xq, q, probs, ctx, r1, st1, a, f1, g, r2, st2, out;  // query rows
  };
  std::vector<LayerActs> L;
  std::vector<float> headPre, headAct, headStats, z;  // query rows of the last layer
  std::vector<int32_t> tokenSegStart, tokenSegLen;      // per local token: its segment's first local token, length
  std::vector<int32_t> lastRows;                        // local tokens of the last layer's query rows
  int64_t numLast = 0;
  // Backward scratch.
  std::vector<float> dh, dr, da, dx, dinner, dq, dk, dv, dctx, dScoreRow;
  std::vector<float> logits;

  void reserve(const TransformerConfig& c, int64_t tokens) {
    if (tokens <= cap) return;
    cap = tokens;
    const int64_t H = c.hidden, I = c.inner;
    embSum.resize(cap * H), embStats.resize(cap * 2);
    L.resize(c.layers);
    for (auto& a : L) {
      for (auto* v : {&a.hin, &a.k, &a.v, &a.xq, &a.q, &a.ctx, &a.r1, &a.a, &a.r2, &a.out}) v->resize(cap * H);
      a.probs.resize(cap * c.heads * c.maxLength);
      a.st1.resize(cap * 2), a.st2.resize(cap * 2);
      a.f1.resize(cap * I), a.g.resize(cap * I);
    }
    if (c.outputHead) headPre.resize(cap * H), headAct.resize(cap * H), headStats.resize(cap * 2);
    z.resize(cap * H);
    tokenSegStart.resize(cap), tokenSegLen.resize(cap);
    lastRows.reserve(cap);
    for (auto* v : {&dh, &dr, &da, &dx, &dq, &dk, &dv, &dctx}) v->resize(cap * H);
    dinner.resize(cap * I);
    dScoreRow.resize(c.maxLength);
    logits.resize(kLogitRows * c.numItems);
  }
};

// Sets every row of y (rows x dim) to b.
void setRows(float* y, const float* b, int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) std::copy(b, b + dim, y + r * dim);
}

// Applies dropout in place to rows of x; row r is absolute token t0 + (rowTok ? rowTok[r] : r).
void dropoutRows(float* x, int64_t rows, int64_t dim, int64_t t0, const int32_t* rowTok, uint64_t seed, uint32_t site,
                 float p) {
  if (p <= 0) return;
  const uint32_t thr = dropoutThreshold(p);
  const float scale = dropoutScale(thr);
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t base = dropoutBase(seed, site, t0 + (rowTok ? rowTok[r] : r));
    float* xr = x + r * dim;
    for (int64_t j = 0; j < dim; ++j) xr[j] *= dropoutFactor(base, j, thr, scale);
  }
}

struct Model {
  const TransformerConfig& c;
  const TransformerLayout& L;
  const float* P;
  const Packed& packed;
};

// Query rows of layer k: all n tokens, or (last layer) w.numLast rows listed in w.lastRows.
struct Rows {
  int64_t m;
  const int32_t* idx;  // null: identity
  int32_t at(int64_t i) const { return idx ? idx[i] : static_cast<int32_t>(i); }
};
Rows rowsOf(const TransformerConfig& c, const Workspace& w, int64_t k, int64_t n) {
  if (k == c.layers - 1) return {w.numLast, w.lastRows.data()};
  return {n, nullptr};
}

// Forward pass of one slice (tokens [sl.t0, sl.t1)); the last layer computes the rows in w.lastRows (set by
// the caller). With training, dropout is drawn from seed. z holds the final representation of those rows.
void forwardSlice(const Model& m, const SegmentBatch& b, const Slice& sl, bool training, uint64_t seed, Workspace& w) {
  const TransformerConfig& c = m.c;
  const TransformerLayout& L = m.L;
  const float* P = m.P;
  const int64_t n = sl.t1 - sl.t0, H = c.hidden, I = c.inner, d = H / c.heads;
  const float hp = training ? c.hiddenDropout : 0.0f, ap = training ? c.attnDropout : 0.0f;
  for (int64_t s = sl.s0; s < sl.s1; ++s)
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) {
      w.tokenSegStart[t - sl.t0] = static_cast<int32_t>(b.offsets[s] - sl.t0);
      w.tokenSegLen[t - sl.t0] = static_cast<int32_t>(b.offsets[s + 1] - b.offsets[s]);
      const float* te = P + L.tokenEmb + static_cast<int64_t>(b.tokens[t]) * H;
      const float* pe = P + L.posEmb + (t - b.offsets[s]) * H;
      float* e = w.embSum.data() + (t - sl.t0) * H;
      for (int64_t j = 0; j < H; ++j) e[j] = te[j] + pe[j];
    }
  math::layerNormForward(w.embSum.data(), P + L.embLnG, P + L.embLnB, w.L[0].hin.data(), w.embStats.data(), n, H,
                         c.layerNormEps);
  dropoutRows(w.L[0].hin.data(), n, H, sl.t0, nullptr, seed, dropoutSite(0, kSiteEmbedding), hp);
  const float invSqrtD = 1.0f / std::sqrt(static_cast<float>(d));
  const uint32_t athr = dropoutThreshold(ap);
  const float ascale = dropoutScale(athr);
  for (int64_t k = 0; k < c.layers; ++k) {
    auto& a = w.L[k];
    const auto& y = L.layers[k];
    const Rows rows = rowsOf(c, w, k, n);
    const int64_t mq = rows.m;
    const float* x = a.hin.data();
    const float* xq = x;
    if (rows.idx) {
      for (int64_t i = 0; i < mq; ++i) std::copy_n(x + rows.idx[i] * H, H, a.xq.data() + i * H);
      xq = a.xq.data();
    }
    setRows(a.q.data(), P + y.bq, mq, H);
    gemm(false, mq, H, H, xq, H, P + y.wq, H, a.q.data(), H, true);
    setRows(a.k.data(), P + y.bk, n, H);
    gemm(false, n, H, H, x, H, P + y.wk, H, a.k.data(), H, true);
    setRows(a.v.data(), P + y.bv, n, H);
    gemm(false, n, H, H, x, H, P + y.wv, H, a.v.data(), H, true);
    // Attention of every query row over its segment (causal: up to itself).
    std::fill_n(a.ctx.data(), mq * H, 0.0f);
    for (int64_t i = 0; i < mq; ++i) {
      const int64_t t = rows.at(i), start = w.tokenSegStart[t];
      const int64_t jmax = c.causal ? t - start + 1 : w.tokenSegLen[t];
      const uint64_t base = ap > 0 ? dropoutBase(seed, dropoutSite(k, kSiteAttnProbs), sl.t0 + t) : 0;
      for (int64_t hd = 0; hd < c.heads; ++hd) {
        const float* qt = a.q.data() + i * H + hd * d;
        float* p = a.probs.data() + (i * c.heads + hd) * c.maxLength;
        float mx = -INFINITY;
        for (int64_t j = 0; j < jmax; ++j) {
          p[j] = train::dot(qt, a.k.data() + (start + j) * H + hd * d, d) * invSqrtD;
          mx = std::max(mx, p[j]);
        }
        for (int64_t j = 0; j < jmax; ++j) p[j] -= mx;
        math::expInPlace(p, jmax);
        float sum = 0;
        for (int64_t j = 0; j < jmax; ++j) sum += p[j];
        const float inv = 1.0f / sum;
        float* ct = a.ctx.data() + i * H + hd * d;
        for (int64_t j = 0; j < jmax; ++j) {
          p[j] *= inv;
          const float pj = ap > 0 ? p[j] * dropoutFactor(base, hd * c.maxLength + j, athr, ascale) : p[j];
          if (pj != 0.0f) train::axpy(pj, a.v.data() + (start + j) * H + hd * d, ct, d);
        }
      }
    }
    // Output projection, dropout, residual, LayerNorm.
    setRows(a.r1.data(), P + y.bo, mq, H);
    gemm(false, mq, H, H, a.ctx.data(), H, P + y.wo, H, a.r1.data(), H, true);
    dropoutRows(a.r1.data(), mq, H, sl.t0, rows.idx, seed, dropoutSite(k, kSiteAttnOut), hp);
    for (int64_t i = 0; i < mq * H; ++i) a.r1[i] += xq[i];
    math::layerNormForward(a.r1.data(), P + y.ln1g, P + y.ln1b, a.a.data(), a.st1.data(), mq, H, c.layerNormEps);
    // Feed-forward: GELU(a W1 + b1) W2 + b2, dropout, residual, LayerNorm.
    setRows(a.f1.data(), P + y.b1, mq, I);
    gemm(false, mq, I, H, a.a.data(), H, P + y.w1, I, a.f1.data(), I, true);
    math::geluForward(a.f1.data(), a.g.data(), mq * I);
    setRows(a.r2.data(), P + y.b2, mq, H);
    gemm(false, mq, H, I, a.g.data(), I, P + y.w2, H, a.r2.data(), H, true);
    dropoutRows(a.r2.data(), mq, H, sl.t0, rows.idx, seed, dropoutSite(k, kSiteFfnOut), hp);
    for (int64_t i = 0; i < mq * H; ++i) a.r2[i] += a.a[i];
    float* out = k + 1 < c.layers ? w.L[k + 1].hin.data() : a.out.data();
    math::layerNormForward(a.r2.data(), P + y.ln2g, P + y.ln2b, out, a.st2.data(), mq, H, c.layerNormEps);
  }
  const int64_t mz = w.numLast;
  const float* last = w.L[c.layers - 1].out.data();
  if (c.outputHead) {
    setRows(w.headPre.data(), P + L.bh, mz, H);
    gemm(false, mz, H, H, last, H, P + L.wh, H, w.headPre.data(), H, true);
    math::geluForward(w.headPre.data(), w.headAct.data(), mz * H);
    math::layerNormForward(w.headAct.data(), P + L.lnhG, P + L.lnhB, w.z.data(), w.headStats.data(), mz, H,
                           c.layerNormEps);
  } else {
    std::copy(last, last + mz * H, w.z.data());
  }
}

// The slice's target tokens become the last layer's query rows.
void selectTargets(const SegmentBatch& b, const Slice& sl, Workspace& w) {
  w.lastRows.clear();
  for (int64_t t = sl.t0; t < sl.t1; ++t)
    if (b.targets[t] >= 0) w.lastRows.push_back(static_cast<int32_t>(t - sl.t0));
  w.numLast = static_cast<int64_t>(w.lastRows.size());
}

// Loss of the slice's targets (rows of z, in w.lastRows order) and dz (into w.dh, one row per target), scaled
// by `scale` (1 / batch targets); adds the output layer's gradient (tied item embeddings, output bias) into G.
double lossSlice(const Model& m, const SegmentBatch& b, const Slice& sl, float scale, Workspace& w, float* G) {
  const TransformerConfig& c = m.c;
  const TransformerLayout& L = m.L;
  const float* P = m.P;
  const int64_t H = c.hidden, N = c.numItems, nt = w.numLast;
  std::fill_n(w.dh.data(), nt * H, 0.0f);
  if (nt == 0) return 0.0;
  const float* E = P + L.tokenEmb;
  const float* bias = c.outputHead ? P + L.outBias : nullptr;
  float* dE = G + L.tokenEmb;
  float* dBias = c.outputHead ? G + L.outBias : nullptr;
  double loss = 0;
  if (b.negatives) {  // bce: the target against one sampled negative
    for (int64_t r = 0; r < nt; ++r) {
      const int64_t t = sl.t0 + w.lastRows[r];
      const float* z = w.z.data() + r * H;
      float* dz = w.dh.data() + r * H;
      const int32_t pos = b.targets[t], neg = b.negatives[t];
      const float sp = train::dot(z, E + pos * H, H) + (bias ? bias[pos] : 0.0f);
      const float sn = train::dot(z, E + neg * H, H) + (bias ? bias[neg] : 0.0f);
      loss += train::softplus(-sp) + train::softplus(sn);
      const float gp = (train::sigmoid(sp) - 1.0f) * scale, gn = train::sigmoid(sn) * scale;
      train::axpy(gp, E + pos * H, dz, H);
      train::axpy(gn, E + neg * H, dz, H);
      train::axpy(gp, z, dE + pos * H, H);
      train::axpy(gn, z, dE + neg * H, H);
      if (dBias) dBias[pos] += gp, dBias[neg] += gn;
    }
    return loss;
  }
  // ce: full softmax over the items, kLogitRows targets at a time.
  for (int64_t r0 = 0; r0 < nt; r0 += kLogitRows) {
    const int64_t rows = std::min(kLogitRows, nt - r0);
    float* lg = w.logits.data();
    if (bias) setRows(lg, bias, rows, N);
    gemm(false, rows, N, H, w.z.data() + r0 * H, H, m.packed.itemsT.data(), N, lg, N, bias != nullptr);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = lg + r * N;
      const int32_t target = b.targets[sl.t0 + w.lastRows[r0 + r]];
      const float targetLogit = row[target];
      float mx = -INFINITY;
      for (int64_t i = 0; i < N; ++i) mx = std::max(mx, row[i]);
      for (int64_t i = 0; i < N; ++i) row[i] -= mx;
      math::expInPlace(row, N);
      double sum = 0;
      for (int64_t i = 0; i < N; ++i) sum += row[i];
      loss += std::log(sum) + mx - targetLogit;
      const float inv = static_cast<float>(scale / sum);
      for (int64_t i = 0; i < N; ++i) row[i] *= inv;
      row[target] -= scale;
    }
    // dZ = dlogits E;  dE += dlogits^T Z;  dBias += column sums.
    gemm(false, rows, H, N, lg, N, E, H, w.dh.data() + r0 * H, H, false);
    gemm(true, N, H, rows, lg, N, w.z.data() + r0 * H, H, dE, H, true);
    if (dBias) math::addColumnSums(lg, rows, N, dBias);
  }
  return loss;
}

// Multiplies rows of x by the dropout mask of (site); row r is token t0 + rows.at(r).
void dropoutBackward(float* x, const Rows& rows, int64_t H, int64_t t0, uint64_t seed, uint32_t site, float p) {
  dropoutRows(x, rows.m, H, t0, rows.idx, seed, site, p);  // the same mask and scale as the forward pass
}

// Backward pass of one slice from dz (in w.dh, one row per last-layer query row); adds every parameter's
// gradient into G.
void backwardSlice(const Model& m, const SegmentBatch& b, const Slice& sl, uint64_t seed, Workspace& w, float* G) {
  const TransformerConfig& c = m.c;
  const TransformerLayout& L = m.L;
  const float* P = m.P;
  const Packed& pk = m.packed;
  const int64_t n = sl.t1 - sl.t0, H = c.hidden, I = c.inner, d = H / c.heads;
  const float hp = c.hiddenDropout, ap = c.attnDropout;
  float* dh = w.dh.data();  // gradient w.r.t. the current layer's output rows
  const int64_t mz = w.numLast;
  if (c.outputHead) {
    math::layerNormBackward(w.headAct.data(), P + L.lnhG, w.headStats.data(), dh, w.dr.data(), G + L.lnhG, G + L.lnhB,
                            mz, H);
    math::geluBackward(w.headPre.data(), w.dr.data(), mz * H);
    math::addColumnSums(w.dr.data(), mz, H, G + L.bh);
    gemm(true, H, H, mz, w.L[c.layers - 1].out.data(), H, w.dr.data(), H, G + L.wh, H, true);
    gemm(false, mz, H, H, w.dr.data(), H, pk.whT.data(), H, dh, H, false);
  }
  const float invSqrtD = 1.0f / std::sqrt(static_cast<float>(d));
  const uint32_t athr = dropoutThreshold(ap);
  const float ascale = dropoutScale(athr);
  for (int64_t k = c.layers - 1; k >= 0; --k) {
    auto& a = w.L[k];
    const auto& y = L.layers[k];
    const Rows rows = rowsOf(c, w, k, n);
    const int64_t mq = rows.m;
    const float* xq = rows.idx ? a.xq.data() : a.hin.data();
    // LayerNorm 2; the residual carries dr to a, the FFN branch gets dr through dropout.
    math::layerNormBackward(a.r2.data(), P + y.ln2g, a.st2.data(), dh, w.dr.data(), G + y.ln2g, G + y.ln2b, mq, H);
    std::copy_n(w.dr.data(), mq * H, w.da.data());
    dropoutBackward(w.dr.data(), rows, H, sl.t0, seed, dropoutSite(k, kSiteFfnOut), hp);
    math::addColumnSums(w.dr.data(), mq, H, G + y.b2);
    gemm(true, I, H, mq, a.g.data(), I, w.dr.data(), H, G + y.w2, H, true);
    gemm(false, mq, I, H, w.dr.data(), H, pk.w2T[k].data(), I, w.dinner.data(), I, false);
    math::geluBackward(a.f1.data(), w.dinner.data(), mq * I);
    math::addColumnSums(w.dinner.data(), mq, I, G + y.b1);
    gemm(true, H, I, mq, a.a.data(), H, w.dinner.data(), I, G + y.w1, I, true);
    gemm(false, mq, H, I, w.dinner.data(), I, pk.w1T[k].data(), H, w.da.data(), H, true);
    // LayerNorm 1; the residual carries dr to the query rows' input, the attention branch through dropout.
    math::layerNormBackward(a.r1.data(), P + y.ln1g, a.st1.data(), w.da.data(), w.dr.data(), G + y.ln1g, G + y.ln1b, mq, H);
    std::copy_n(w.dr.data(), mq * H, w.dx.data());  // residual, per query row
    dropoutBackward(w.dr.data(), rows, H, sl.t0, seed, dropoutSite(k, kSiteAttnOut), hp);
    math::addColumnSums(w.dr.data(), mq, H, G + y.bo);
    gemm(true, H, H, mq, a.ctx.data(), H, w.dr.data(), H, G + y.wo, H, true);
    gemm(false, mq, H, H, w.dr.data(), H, pk.woT[k].data(), H, w.dctx.data(), H, false);
    // Attention backward per query row and head.
    std::fill_n(w.dq.data(), mq * H, 0.0f);
    std::fill_n(w.dk.data(), n * H, 0.0f);
    std::fill_n(w.dv.data(), n * H, 0.0f);
    float* dp = w.dScoreRow.data();
    for (int64_t i = 0; i < mq; ++i) {
      const int64_t t = rows.at(i), start = w.tokenSegStart[t];
      const int64_t jmax = c.causal ? t - start + 1 : w.tokenSegLen[t];
      const uint64_t base = ap > 0 ? dropoutBase(seed, dropoutSite(k, kSiteAttnProbs), sl.t0 + t) : 0;
      for (int64_t hd = 0; hd < c.heads; ++hd) {
        const float* p = a.probs.data() + (i * c.heads + hd) * c.maxLength;
        const float* dct = w.dctx.data() + i * H + hd * d;
        float dot = 0;
        for (int64_t j = 0; j < jmax; ++j) {
          const float mask = ap > 0 ? dropoutFactor(base, hd * c.maxLength + j, athr, ascale) : 1.0f;
          dp[j] = mask == 0.0f ? 0.0f : train::dot(dct, a.v.data() + (start + j) * H + hd * d, d) * mask;
          if (mask != 0.0f) train::axpy(p[j] * mask, dct, w.dv.data() + (start + j) * H + hd * d, d);
          dot += p[j] * dp[j];
        }
        const float* qt = a.q.data() + i * H + hd * d;
        float* dqt = w.dq.data() + i * H + hd * d;
        for (int64_t j = 0; j < jmax; ++j) {
          const float ds = p[j] * (dp[j] - dot) * invSqrtD;
          if (ds == 0.0f) continue;
          train::axpy(ds, a.k.data() + (start + j) * H + hd * d, dqt, d);
          train::axpy(ds, qt, w.dk.data() + (start + j) * H + hd * d, d);
        }
      }
    }
    // Projections: Q from the query rows, K and V from every token; then the layer input's gradient.
    math::addColumnSums(w.dq.data(), mq, H, G + y.bq);
    gemm(true, H, H, mq, xq, H, w.dq.data(), H, G + y.wq, H, true);
    gemm(false, mq, H, H, w.dq.data(), H, pk.wqT[k].data(), H, w.dx.data(), H, true);
    math::addColumnSums(w.dk.data(), n, H, G + y.bk);
    gemm(true, H, H, n, a.hin.data(), H, w.dk.data(), H, G + y.wk, H, true);
    math::addColumnSums(w.dv.data(), n, H, G + y.bv);
    gemm(true, H, H, n, a.hin.data(), H, w.dv.data(), H, G + y.wv, H, true);
    gemm(false, n, H, H, w.dk.data(), H, pk.wkT[k].data(), H, dh, H, false);
    gemm(false, n, H, H, w.dv.data(), H, pk.wvT[k].data(), H, dh, H, true);
    for (int64_t i = 0; i < mq; ++i) {
      float* row = dh + rows.at(i) * H;
      const float* add = w.dx.data() + i * H;
      for (int64_t j = 0; j < H; ++j) row[j] += add[j];
    }
  }
  // Embedding dropout, LayerNorm, then the token and position rows.
  dropoutRows(dh, n, H, sl.t0, nullptr, seed, dropoutSite(0, kSiteEmbedding), hp);
  math::layerNormBackward(w.embSum.data(), P + L.embLnG, w.embStats.data(), dh, w.dr.data(), G + L.embLnG, G + L.embLnB,
                          n, H);
  for (int64_t s = sl.s0; s < sl.s1; ++s)
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) {
      const float* de = w.dr.data() + (t - sl.t0) * H;
      float* gt = G + L.tokenEmb + static_cast<int64_t>(b.tokens[t]) * H;
      float* gp = G + L.posEmb + (t - b.offsets[s]) * H;
      for (int64_t j = 0; j < H; ++j) gt[j] += de[j], gp[j] += de[j];
    }
}

// Everything one gradient evaluation needs, allocated once and reused for every batch of an epoch.
struct Trainer {
  const TransformerConfig& c;
  TransformerLayout L;
  int64_t lanes;
  std::vector<Workspace> work;
  std::vector<std::vector<float>> laneGrad;
  std::vector<double> sliceLoss;
  std::vector<Slice> slices;
  Packed packed;

  explicit Trainer(const TransformerConfig& config) : c(config), L(TransformerLayout::make(config)), lanes(laneCount(L)) {
    work.resize(lanes);
    laneGrad.assign(lanes, std::vector<float>(L.total, 0.0f));
  }

  // Mean loss and gradient (into grad) of segments [s0, s1) of b.
  double gradient(const float* P, const SegmentBatch& b, int64_t s0, int64_t s1, uint64_t seed, float* grad,
                  const ExecConfig& config) {
    makeSlices(b, s0, s1, slices);
    int64_t targets = 0;
    for (int64_t t = b.offsets[s0]; t < b.offsets[s1]; ++t) targets += b.targets[t] >= 0;
    packed.refresh(c, L, P, true);
    const Model m{c, L, P, packed};
    const float scale = targets > 0 ? 1.0f / static_cast<float>(targets) : 0.0f;
    sliceLoss.assign(slices.size(), 0.0);
    const int64_t used = std::min<int64_t>(lanes, static_cast<int64_t>(slices.size()));
    parallelFor(used, 1, config.numThreads, [&](int64_t l0, int64_t l1, int) {
      for (int64_t lane = l0; lane < l1; ++lane) {
        Workspace& w = work[lane];
        float* G = laneGrad[lane].data();
        std::fill(G, G + L.total, 0.0f);
        for (size_t si = lane; si < slices.size(); si += used) {
          const Slice& sl = slices[si];
          w.reserve(c, sl.t1 - sl.t0);
          selectTargets(b, sl, w);
          if (w.numLast == 0) continue;  // nothing of this slice reaches the loss
          forwardSlice(m, b, sl, true, seed, w);
          sliceLoss[si] = lossSlice(m, b, sl, scale, w, G);
          backwardSlice(m, b, sl, seed, w, G);
        }
      }
    });
    // Sum the lanes in lane order, chunk by chunk of parameters.
    parallelFor(L.total, 1 << 14, config.numThreads, [&](int64_t p0, int64_t p1, int) {
      std::copy(laneGrad[0].begin() + p0, laneGrad[0].begin() + p1, grad + p0);
      for (int64_t lane = 1; lane < used; ++lane) {
        const float* g = laneGrad[lane].data();
        for (int64_t p = p0; p < p1; ++p) grad[p] += g[p];
      }
    });
    double loss = 0;
    for (double l : sliceLoss) loss += l;
    return targets > 0 ? loss / static_cast<double>(targets) : 0.0;
  }
};

// Global L2 norm of g, summed in fixed chunks (the same for any thread count).
double globalNorm(const float* g, int64_t n, const ExecConfig& config) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks, 0.0);
  parallelFor(chunks, 1, config.numThreads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double s = 0;
      for (int64_t p = ch * kChunk; p < std::min(n, (ch + 1) * kChunk); ++p) s += static_cast<double>(g[p]) * g[p];
      part[ch] = s;
    }
  });
  double total = 0;
  for (double s : part) total += s;
  return std::sqrt(total);
}

}  // namespace

double transformerGradient(const TransformerConfig& c, const float* params, const SegmentBatch& b, uint64_t dropoutSeed,
                           float* grad, const ExecConfig& config) {
  validateConfig(c);
  validateSegments(c, b, "transformerGradient");
  Trainer trainer(c);
  if (b.numSegments == 0) {
    std::fill(grad, grad + trainer.L.total, 0.0f);
    return 0.0;
  }
  return trainer.gradient(params, b, 0, b.numSegments, dropoutSeed, grad, config);
}

double transformerEpoch(const TransformerConfig& c, float* params, float* m, float* v, int64_t* step,
                        const SegmentBatch& b, const TransformerHyper& h, uint64_t seed, const ExecConfig& config) {
  validateConfig(c);
  validateSegments(c, b, "transformerEpoch");
  Trainer trainer(c);
  const int64_t total = trainer.L.total;
  std::vector<float> grad(total);
  const int64_t batchTargets = std::max<int64_t>(1, h.batchTargets);
  double lossSum = 0;
  int64_t targetSum = 0, batchIndex = 0;
  int64_t s0 = 0;
  while (s0 < b.numSegments) {
    int64_t s1 = s0, targets = 0;
    while (s1 < b.numSegments && (h.batchBySegments ? s1 - s0 < batchTargets : targets < batchTargets)) {
      for (int64_t t = b.offsets[s1]; t < b.offsets[s1 + 1]; ++t) targets += b.targets[t] >= 0;
      ++s1;
    }
    const uint64_t batchSeed = mix64(seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(++batchIndex));
    if (targets > 0) {
      const double loss = trainer.gradient(params, b, s0, s1, batchSeed, grad.data(), config);
      lossSum += loss * static_cast<double>(targets);
      targetSum += targets;
      float factor = 1.0f;
      if (h.clipNorm > 0) {
        const double norm = globalNorm(grad.data(), total, config);
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        const double coef = h.clipNorm / (norm + 1e-6);
        if (coef < 1.0) factor = static_cast<float>(coef);
      }
      const int64_t t = ++*step;
      parallelFor(total, 1 << 14, config.numThreads, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p) grad[p] = grad[p] * factor + h.weightDecay * params[p];
        train::adamUpdate(params + p0, grad.data() + p0, m + p0, v + p0, p1 - p0, h.adam, t);
      });
    }
    s0 = s1;
  }
  const double loss = targetSum > 0 ? lossSum / static_cast<double>(targetSum) : 0.0;
  train::checkFiniteLoss(loss, "transformerEpoch");
  return loss;
}

void transformerEncode(const TransformerConfig& c, const float* params, const int32_t* tokens, const int32_t* offsets,
                       int64_t numSegments, float* out, const ExecConfig& config) {
  validateConfig(c);
  const SegmentBatch b{tokens, offsets, nullptr, nullptr, numSegments};
  validateSegments(c, b, "transformerEncode");
  if (numSegments == 0) return;
  const TransformerLayout L = TransformerLayout::make(c);
  Packed packed;  // inference needs no packed weights
  const Model m{c, L, params, packed};
  std::vector<Slice> slices;
  makeSlices(b, 0, numSegments, slices);
  const int64_t H = c.hidden;
  const int workers = plannedWorkers(static_cast<int64_t>(slices.size()), 1, config.numThreads);
  std::vector<Workspace> work(workers);
  parallelFor(static_cast<int64_t>(slices.size()), 1, config.numThreads, [&](int64_t i0, int64_t i1, int worker) {
    Workspace& w = work[worker];
    for (int64_t i = i0; i < i1; ++i) {
      const Slice& sl = slices[i];
      w.reserve(c, sl.t1 - sl.t0);
      w.lastRows.clear();
      for (int64_t s = sl.s0; s < sl.s1; ++s) w.lastRows.push_back(static_cast<int32_t>(offsets[s + 1] - 1 - sl.t0));
      w.numLast = static_cast<int64_t>(w.lastRows.size());
      forwardSlice(m, b, sl, false, 0, w);
      for (int64_t s = sl.s0; s < sl.s1; ++s) std::copy_n(w.z.data() + (s - sl.s0) * H, H, out + s * H);
    }
  });
}

}  // namespace semrec::seq
