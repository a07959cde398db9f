// LLM-Rec's fused ranker on the CPU: batch planning, forward/backward of one batch, Adam, epochs with
// Hogwild chunks, inference vectors and negative sampling (see semrec/fusion.h).
#include "semrec/fusion.h"

#include "semrec/adapter.h"

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/score.h"
#include "semrec/validate.h"

namespace semrec::train {

FusionLayout FusionLayout::make(int64_t numUsers, int64_t numItems, int64_t collabDim, int64_t semDim, int64_t lateDim,
                                FusionMode mode) {
  FusionLayout l;
  l.numUsers = numUsers;
  l.numItems = numItems;
  l.collabDim = collabDim;
  l.semDim = semDim;
  l.lateDim = lateDim;
  l.mode = mode;
  const bool semantic = semDim > 0;
  l.earlyRows = semantic && mode != FusionMode::Late ? collabDim : 0;
  l.lateRows = semantic && mode != FusionMode::Early ? lateDim : 0;
  l.projRows = l.earlyRows + l.lateRows;
  l.width = collabDim + l.lateRows;
  int64_t at = 0;
  l.P = at;
  at += numUsers * collabDim;
  l.Q = at;
  at += numItems * collabDim;
  l.bias = at;
  at += numItems;
  l.Wu = at;
  at += l.projRows * semDim;
  l.Wi = at;
  at += l.projRows * semDim;
  l.wc = at++;
  l.ws = at++;
  l.total = at;
  return l;
}

void dropoutMaskStream(uint64_t seed, uint64_t stream, float p, int64_t width, float* out) {
  if (p <= 0.0f) {
    std::fill(out, out + width, 1.0f);
    return;
  }
  Rng rng(seed, stream);
  const uint32_t threshold = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 65536.0));
  const float keep = 1.0f / (1.0f - p);
  uint64_t word = 0;
  for (int64_t t = 0; t < width; ++t) {
    if (t % 4 == 0) word = rng.next();
    const uint32_t u = static_cast<uint32_t>((word >> (16 * (t % 4))) & 0xFFFFu);
    out[t] = u < threshold ? 0.0f : keep;
  }
}

void dropoutMask(uint64_t seed, int64_t positive, float p, int64_t width, float* out) {
  dropoutMaskStream(seed, kDropoutStream + static_cast<uint64_t>(positive), p, width, out);
}

void exclusionCoefficients(float Z, float w, float* c1, float* c2) {
  if (!(w > 0.0f)) {
    *c1 = 1.0f;
    *c2 = 0.0f;
    return;
  }
  const float rest = Z - w;
  if (!(rest > kMinProfileShare * Z)) {
    *c1 = 0.0f;
    *c2 = 0.0f;
    return;
  }
  *c1 = Z / rest;
  *c2 = -w / rest;
}

void validateHistory(const FusionLayout& L, const FusionInputs& in, const std::string& op) {
  if (!in.hasHistory()) return;
  const CsrView h{in.historyIndptr, in.historyItems, L.numUsers, in.historyIndptr[L.numUsers], true};
  validateCsr(h, L.numItems, op + ": history");
  for (int64_t e = 0; e < h.nnz; ++e)
    if (!(in.historyWeight[e] >= 0.0f) || !std::isfinite(in.historyWeight[e]))
      fail(ErrorCode::OutOfRange, op + ": historyWeight[" + std::to_string(e) + "] must be a finite number >= 0");
}

void validateFusion(const FusionLayout& L, const FusionInputs& in, const RankSamples& s, const std::string& op) {
  if (L.semDim > 0) {
    validateFinite(in.itemSem, L.numItems, L.semDim, op + ": itemSem");
    if (in.userSem) validateFinite(in.userSem, L.numUsers, L.semDim, op + ": userSem");
    if (in.userWeight) {
      for (int64_t u = 0; u < L.numUsers; ++u)
        if (!(in.userWeight[u] >= 0.0f) || !std::isfinite(in.userWeight[u]))
          fail(ErrorCode::OutOfRange, op + ": userWeight[" + std::to_string(u) + "] = " + std::to_string(in.userWeight[u]) +
                                          " must be a finite number >= 0");
    }
  }
  validateHistory(L, in, op);
  for (int64_t p = 0; p < s.size; ++p) {
    if (s.users[p] < 0 || s.users[p] >= L.numUsers)
      fail(ErrorCode::OutOfRange, op + ": users[" + std::to_string(p) + "] = " + std::to_string(s.users[p]) +
                                      " is outside [0, " + std::to_string(L.numUsers) + ")");
    if (s.pos[p] < 0 || s.pos[p] >= L.numItems)
      fail(ErrorCode::OutOfRange, op + ": pos[" + std::to_string(p) + "] = " + std::to_string(s.pos[p]) +
                                      " is outside [0, " + std::to_string(L.numItems) + ")");
    for (int64_t n = 0; n < s.negatives; ++n) {
      const int32_t j = s.neg[p * s.negatives + n];
      if (j < 0 || j >= L.numItems)
        fail(ErrorCode::OutOfRange, op + ": neg[" + std::to_string(p * s.negatives + n) + "] = " + std::to_string(j) +
                                        " is outside [0, " + std::to_string(L.numItems) + ")");
    }
    if (s.pairWeight && (!(s.pairWeight[p] >= 0.0f) || !std::isfinite(s.pairWeight[p])))
      fail(ErrorCode::OutOfRange, op + ": pairWeight[" + std::to_string(p) + "] must be a finite number >= 0");
  }
}

// ---- batch planning ----

BatchPlanner::BatchPlanner(int64_t numUsers, int64_t numItems)
    : userStamp_(numUsers, 0), userSlot_(numUsers, 0), itemStamp_(numItems, 0), itemSlot_(numItems, 0),
      posStamp_(numItems, 0), posSlot_(numItems, 0) {}

void BatchPlanner::plan(const FusionLayout& L, const FusionInputs& in, const RankSamples& s, int64_t begin, int64_t end,
                        BatchPlan& out) {
  if (++generation_ == INT32_MAX) {  // wrap: clear the stamps once every 2^31 batches
    std::fill(userStamp_.begin(), userStamp_.end(), 0);
    std::fill(itemStamp_.begin(), itemStamp_.end(), 0);
    std::fill(posStamp_.begin(), posStamp_.end(), 0);
    generation_ = 1;
  }
  const int32_t g = generation_;
  const int64_t n = end - begin, width = s.negatives + 1;
  out.users.clear();
  out.items.clear();
  out.posItems.clear();
  out.userSlot.resize(n);
  out.itemSlot.resize(n * width);
  out.posSlot.resize(n);
  out.c1.resize(n);
  out.c2.resize(n);
  auto itemSlotOf = [&](int32_t item) {
    if (itemStamp_[item] != g) {
      itemStamp_[item] = g;
      itemSlot_[item] = static_cast<int32_t>(out.items.size());
      out.items.push_back(item);
    }
    return itemSlot_[item];
  };
  const bool exclusion = (L.projRows > 0 || in.hasHistory()) && s.pairWeight && in.userWeight;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t p = begin + q;
    const int32_t u = s.users[p];
    if (userStamp_[u] != g) {
      userStamp_[u] = g;
      userSlot_[u] = static_cast<int32_t>(out.users.size());
      out.users.push_back(u);
    }
    out.userSlot[q] = userSlot_[u];
    out.itemSlot[q * width] = itemSlotOf(s.pos[p]);
    for (int64_t k = 1; k < width; ++k) out.itemSlot[q * width + k] = itemSlotOf(s.neg[p * s.negatives + k - 1]);
    float c1 = 1.0f, c2 = 0.0f;
    if (exclusion) exclusionCoefficients(in.userWeight[u], s.pairWeight[p], &c1, &c2);
    out.c1[q] = c1;
    out.c2[q] = c2;
    out.posSlot[q] = -1;
    if (c2 != 0.0f) {
      const int32_t i = s.pos[p];
      if (posStamp_[i] != g) {
        posStamp_[i] = g;
        posSlot_[i] = static_cast<int32_t>(out.posItems.size());
        out.posItems.push_back(i);
      }
      out.posSlot[q] = posSlot_[i];
    }
  }
  // History items of each distinct user become item slots too (their Q rows get gradients).
  out.userHistPtr.assign(1, 0);
  out.histSlot.clear();
  out.histShare.clear();
  if (in.hasHistory()) {
    for (const int32_t u : out.users) {
      double total = 0;
      for (int32_t e = in.historyIndptr[u]; e < in.historyIndptr[u + 1]; ++e) total += in.historyWeight[e];
      for (int32_t e = in.historyIndptr[u]; e < in.historyIndptr[u + 1]; ++e) {
        out.histSlot.push_back(itemSlotOf(in.historyItems[e]));
        out.histShare.push_back(total > 0 ? static_cast<float>(in.historyWeight[e] / total) : 0.0f);
      }
      out.userHistPtr.push_back(static_cast<int32_t>(out.histSlot.size()));
    }
  }
}

namespace {

// rows x R projections of gathered rows: gathered[r] = src[index[r]], out[r] = W . gathered[r] (W: R x ds).
void project(const float* W, int64_t R, int64_t ds, const float* src, const std::vector<int32_t>& index,
             std::vector<float>& gathered, std::vector<float>& out) {
  const int64_t rows = static_cast<int64_t>(index.size());
  out.assign(rows * R, 0.0f);
  gathered.resize(rows * ds);
  for (int64_t r = 0; r < rows; ++r) std::copy(src + index[r] * ds, src + (index[r] + 1) * ds, gathered.data() + r * ds);
  if (rows == 0 || R == 0 || ds == 0) return;
  scoreMatrixCpu({gathered.data(), rows, W, R, ds, nullptr}, out.data(), ExecConfig{1});
}

// dW (R x ds) = sum over the parts' rows r of G[r] (R) outer X[r] (ds), as one GEMM (G^T X) through the
// core's kernel: both sides are transposed into scratch first (rows become the reduction dimension).
void outerProducts(std::initializer_list<std::pair<const std::vector<float>*, const std::vector<float>*>> parts, int64_t R,
                   int64_t ds, std::vector<float>& gt, std::vector<float>& xt, float* dW) {
  int64_t rows = 0;
  for (const auto& part : parts) rows += static_cast<int64_t>(part.first->size()) / R;
  std::fill(dW, dW + R * ds, 0.0f);
  if (rows == 0) return;
  gt.resize(R * rows);
  xt.resize(ds * rows);
  int64_t at = 0;
  for (const auto& part : parts) {
    const int64_t n = static_cast<int64_t>(part.first->size()) / R;
    const float* G = part.first->data();
    const float* X = part.second->data();
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t o = 0; o < R; ++o) gt[o * rows + at + r] = G[r * R + o];
      for (int64_t t = 0; t < ds; ++t) xt[t * rows + at + r] = X[r * ds + t];
    }
    at += n;
  }
  scoreMatrixCpu({gt.data(), R, xt.data(), ds, rows, nullptr}, dW, ExecConfig{1});
}

double sumSquares(const float* a, int64_t n) {
  double s = 0;
  for (int64_t t = 0; t < n; ++t) s += static_cast<double>(a[t]) * a[t];
  return s;
}

// Gradient of one batch, kept per slot (sparse rows) plus the dense part.
struct BatchGrad {
  std::vector<float> Y, X, XU;            // projections of the batch's users, items, positive items (rows x R)
  std::vector<float> Su, Si, Sp;          // their gathered semantic rows (rows x ds)
  std::vector<float> gt, xt;              // transposes for the projection gradients
  std::vector<float> gP, gQ, gb, GY, GX, GXU;
  std::vector<float> H, GH, hhat;          // history terms per user slot, their gradients, one positive's h^(-i)
  std::vector<float> dWu, dWi;
  double gwc = 0, gws = 0;
  std::vector<float> yhat, zu, mask, zk, r, dr, dzd, dyhat;
};

// Forward and backward of the batch samples [begin, end) under `plan`; returns the batch loss
// (mean over pairs plus regularisation). masks: per sample (indexed from 0 at `begin`), or null.
double batchGradient(const FusionLayout& L, const float* params, const FusionInputs& in, const RankSamples& s,
                     int64_t begin, int64_t end, const BatchPlan& plan, const FusionHyper& h, uint64_t seed,
                     const float* masks, BatchGrad& w) {
  const int64_t dc = L.collabDim, ds = L.semDim, E = L.earlyRows, Lr = L.lateRows, R = L.projRows, F = L.width;
  const int64_t N = s.negatives, width = N + 1, B = end - begin;
  const int64_t nu = static_cast<int64_t>(plan.users.size()), ni = static_cast<int64_t>(plan.items.size());
  const int64_t np = static_cast<int64_t>(plan.posItems.size());
  const float* Wu = params + L.Wu;
  const float* Wi = params + L.Wi;
  const float wc = params[L.wc], ws = params[L.ws];
  if (R > 0) {
    project(Wu, R, ds, in.userSem, plan.users, w.Su, w.Y);
    project(Wi, R, ds, in.itemSem, plan.items, w.Si, w.X);
    project(Wu, R, ds, in.itemSem, plan.posItems, w.Sp, w.XU);
  }
  const bool history = in.hasHistory();
  if (history) {
    w.H.assign(nu * dc, 0.0f);
    w.GH.assign(nu * dc, 0.0f);
    for (int64_t a = 0; a < nu; ++a)
      for (int32_t e = plan.userHistPtr[a]; e < plan.userHistPtr[a + 1]; ++e)
        axpy(plan.histShare[e], params + L.Q + static_cast<int64_t>(plan.items[plan.histSlot[e]]) * dc, w.H.data() + a * dc, dc);
  }
  w.hhat.assign(dc, 0.0f);
  w.gP.assign(nu * dc, 0.0f);
  w.gQ.assign(ni * dc, 0.0f);
  w.gb.assign(ni, 0.0f);
  w.GY.assign(nu * R, 0.0f);
  w.GX.assign(ni * R, 0.0f);
  w.GXU.assign(np * R, 0.0f);
  w.gwc = 0;
  w.gws = 0;
  w.yhat.assign(R, 0.0f);
  w.dyhat.assign(R, 0.0f);
  w.zu.resize(F);
  w.mask.resize(F);
  w.zk.resize(width * F);
  w.r.resize(width);
  w.dr.resize(width);
  w.dzd.resize(F);
  const bool softmax = h.loss == RankLoss::Softmax;
  const double scale = softmax ? 1.0 / static_cast<double>(B) : 1.0 / static_cast<double>(B * std::max<int64_t>(N, 1));
  double loss = 0;
  for (int64_t q = 0; q < B; ++q) {
    const int64_t p = begin + q;
    const int32_t u = s.users[p];
    const int32_t us = plan.userSlot[q];
    const float* Pu = params + L.P + u * dc;
    const float c1 = plan.c1[q], c2 = plan.c2[q];
    const int32_t ps = plan.posSlot[q];
    for (int64_t o = 0; o < R; ++o)
      w.yhat[o] = c1 * w.Y[us * R + o] + (ps >= 0 ? c2 * w.XU[ps * R + o] : 0.0f);
    if (history) {
      const float* Hu = w.H.data() + us * dc;
      const float* Qi = params + L.Q + static_cast<int64_t>(s.pos[p]) * dc;
      for (int64_t t = 0; t < dc; ++t) w.hhat[t] = c1 * Hu[t] + (c2 != 0.0f ? c2 * Qi[t] : 0.0f);
    }
    for (int64_t t = 0; t < dc; ++t) w.zu[t] = wc * (Pu[t] + w.hhat[t] + (E ? w.yhat[t] : 0.0f));
    for (int64_t l = 0; l < Lr; ++l) w.zu[dc + l] = ws * w.yhat[E + l];
    if (masks)
      std::copy(masks + q * F, masks + (q + 1) * F, w.mask.begin());
    else
      dropoutMask(seed, p, h.dropout, F, w.mask.data());
    for (int64_t t = 0; t < F; ++t) w.zu[t] *= w.mask[t];  // zu now holds the dropped-out vector zd
    for (int64_t k = 0; k < width; ++k) {
      const int32_t item = k == 0 ? s.pos[p] : s.neg[p * N + k - 1];
      const int32_t slot = plan.itemSlot[q * width + k];
      float* z = w.zk.data() + k * F;
      const float* Qi = params + L.Q + static_cast<int64_t>(item) * dc;
      const float* x = R ? w.X.data() + slot * R : nullptr;
      for (int64_t t = 0; t < dc; ++t) z[t] = Qi[t] + (E ? x[t] : 0.0f);
      for (int64_t l = 0; l < Lr; ++l) z[dc + l] = x[E + l];
      w.r[k] = dot(w.zu.data(), z, F) + params[L.bias + item];
    }
    // The loss of this positive and d loss / d r_k (scaled to the batch mean).
    std::fill(w.dr.begin(), w.dr.end(), 0.0f);
    double l = 0;
    if (softmax) {
      float mx = w.r[0];
      for (int64_t k = 1; k < width; ++k) mx = std::max(mx, w.r[k]);
      double z = 0;
      for (int64_t k = 0; k < width; ++k) z += std::exp(static_cast<double>(w.r[k]) - mx);
      l = mx + std::log(z) - w.r[0];
      for (int64_t k = 0; k < width; ++k)
        w.dr[k] = static_cast<float>((std::exp(static_cast<double>(w.r[k]) - mx) / z - (k == 0 ? 1.0 : 0.0)) * scale);
    } else {
      for (int64_t k = 1; k < width; ++k) {
        const double diff = static_cast<double>(w.r[0]) - w.r[k];
        double g;
        if (h.loss == RankLoss::Hinge) {
          const double gap = h.margin - diff;
          if (!(gap > 0)) continue;
          l += gap;
          g = 1.0;
        } else {
          l += softplus(-diff);
          g = sigmoid(static_cast<float>(-diff));
        }
        w.dr[0] -= static_cast<float>(g * scale);
        w.dr[k] += static_cast<float>(g * scale);
      }
    }
    loss += l;
    // Backward: d zd = sum_k dr_k z_k; d z_k = dr_k zd.
    std::fill(w.dzd.begin(), w.dzd.end(), 0.0f);
    for (int64_t k = 0; k < width; ++k) {
      if (w.dr[k] == 0.0f) continue;
      axpy(w.dr[k], w.zk.data() + k * F, w.dzd.data(), F);
      const int32_t item = k == 0 ? s.pos[p] : s.neg[p * N + k - 1];
      (void)item;
      const int32_t slot = plan.itemSlot[q * width + k];
      float* gq = w.gQ.data() + slot * dc;
      axpy(w.dr[k], w.zu.data(), gq, dc);
      if (R) {
        float* gx = w.GX.data() + slot * R;
        if (E) axpy(w.dr[k], w.zu.data(), gx, dc);
        if (Lr) axpy(w.dr[k], w.zu.data() + dc, gx + E, Lr);
      }
      w.gb[slot] += w.dr[k];
    }
    for (int64_t t = 0; t < F; ++t) w.dzd[t] *= w.mask[t];  // dzd now holds d zu (before dropout)
    float* gp = w.gP.data() + us * dc;
    for (int64_t t = 0; t < dc; ++t) {
      gp[t] += wc * w.dzd[t];
      w.gwc += static_cast<double>(w.dzd[t]) * (Pu[t] + w.hhat[t] + (E ? w.yhat[t] : 0.0f));
    }
    if (history) {
      // d h^(-i) = wc dzd: into the user's history term (c1) and, excluded, the positive's own row (c2).
      float* gh = w.GH.data() + us * dc;
      for (int64_t t = 0; t < dc; ++t) gh[t] += c1 * (wc * w.dzd[t]);
      if (c2 != 0.0f) {
        float* gq = w.gQ.data() + static_cast<int64_t>(plan.itemSlot[q * width]) * dc;
        for (int64_t t = 0; t < dc; ++t) gq[t] += c2 * (wc * w.dzd[t]);
      }
    }
    if (R) {
      for (int64_t t = 0; t < E; ++t) w.dyhat[t] = wc * w.dzd[t];
      for (int64_t t = 0; t < Lr; ++t) {
        w.dyhat[E + t] = ws * w.dzd[dc + t];
        w.gws += static_cast<double>(w.dzd[dc + t]) * w.yhat[E + t];
      }
      if (c1 != 0.0f) axpy(c1, w.dyhat.data(), w.GY.data() + us * R, R);
      if (ps >= 0) axpy(c2, w.dyhat.data(), w.GXU.data() + ps * R, R);
    }
  }
  loss *= scale;
  // The history terms pass their gradients to the history items' rows: d Q_j += a_j d h_u.
  if (history) {
    for (int64_t a = 0; a < nu; ++a)
      for (int32_t e = plan.userHistPtr[a]; e < plan.userHistPtr[a + 1]; ++e)
        axpy(plan.histShare[e], w.GH.data() + a * dc, w.gQ.data() + static_cast<int64_t>(plan.histSlot[e]) * dc, dc);
  }
  // Dense projection gradients.
  w.dWu.assign(R * ds, 0.0f);
  w.dWi.assign(R * ds, 0.0f);
  if (R) {
    outerProducts({{&w.GY, &w.Su}, {&w.GXU, &w.Sp}}, R, ds, w.gt, w.xt, w.dWu.data());
    outerProducts({{&w.GX, &w.Si}}, R, ds, w.gt, w.xt, w.dWi.data());
  }
  // L2 on the rows of the batch and on the projections.
  if (h.reg > 0) {
    double reg = 0;
    for (int64_t a = 0; a < nu; ++a) {
      const float* Pu = params + L.P + static_cast<int64_t>(plan.users[a]) * dc;
      axpy(h.reg, Pu, w.gP.data() + a * dc, dc);
      reg += sumSquares(Pu, dc);
    }
    for (int64_t a = 0; a < ni; ++a) {
      const int64_t item = plan.items[a];
      const float* Qi = params + L.Q + item * dc;
      axpy(h.reg, Qi, w.gQ.data() + a * dc, dc);
      w.gb[a] += h.reg * params[L.bias + item];
      reg += sumSquares(Qi, dc) + static_cast<double>(params[L.bias + item]) * params[L.bias + item];
    }
    if (R) {
      axpy(h.reg, Wu, w.dWu.data(), R * ds);
      axpy(h.reg, Wi, w.dWi.data(), R * ds);
      reg += sumSquares(Wu, R * ds) + sumSquares(Wi, R * ds);
    }
    loss += 0.5 * h.reg * reg;
  }
  return loss;
}

// One Adam step's scalars, computed once per batch (train_common.h's adamUpdate recomputes them per call,
// which at 11 rows per positive would cost more than the update itself).
struct AdamScalars {
  float beta1, beta2, stepSize, epsHat, keep;
  AdamScalars(const FusionHyper& h, int64_t step) {
    const AdamConfig& c = h.adam;
    const double c1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(step));
    const double c2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(step));
    beta1 = c.beta1;
    beta2 = c.beta2;
    stepSize = static_cast<float>(c.lr * std::sqrt(c2) / c1);
    epsHat = static_cast<float>(c.eps * std::sqrt(c2));
    keep = 1.0f - c.lr * h.weightDecay;
  }
};

// AdamW on n parameters: decoupled decay (p *= 1 - lr x weightDecay) unless `decayed` is false, then
// Adam's step with bias correction, as adamUpdate (train_common.h) writes it.
__attribute__((target_clones("arch=haswell", "default"))) void adamW(float* p, const float* g, float* m, float* v, int64_t n,
                                                                      const AdamScalars& a, bool decayed) {
  const float keep = decayed ? a.keep : 1.0f;
#pragma omp simd
  for (int64_t t = 0; t < n; ++t) {
    m[t] = a.beta1 * m[t] + (1.0f - a.beta1) * g[t];
    v[t] = a.beta2 * v[t] + (1.0f - a.beta2) * g[t] * g[t];
    p[t] = p[t] * keep - a.stepSize * m[t] / (std::sqrt(v[t]) + a.epsHat);
  }
}

// AdamW on the rows the batch touched (lazy) and on the dense part; the fusion weights wc and ws are
// not decayed (they only scale the two sides).
void applyAdam(const FusionLayout& L, float* params, float* m, float* v, int64_t step, const BatchPlan& plan,
               const BatchGrad& w, const FusionHyper& h) {
  const AdamScalars a(h, step);
  const int64_t dc = L.collabDim, R = L.projRows, ds = L.semDim;
  for (size_t s = 0; s < plan.users.size(); ++s) {
    const int64_t at = L.P + static_cast<int64_t>(plan.users[s]) * dc;
    adamW(params + at, w.gP.data() + s * dc, m + at, v + at, dc, a, true);
  }
  for (size_t s = 0; s < plan.items.size(); ++s) {
    const int64_t at = L.Q + static_cast<int64_t>(plan.items[s]) * dc;
    adamW(params + at, w.gQ.data() + s * dc, m + at, v + at, dc, a, true);
    const int64_t b = L.bias + plan.items[s];
    adamW(params + b, w.gb.data() + s, m + b, v + b, 1, a, true);
  }
  if (R) {
    adamW(params + L.Wu, w.dWu.data(), m + L.Wu, v + L.Wu, R * ds, a, true);
    adamW(params + L.Wi, w.dWi.data(), m + L.Wi, v + L.Wi, R * ds, a, true);
  }
  const float gwc = static_cast<float>(w.gwc);
  adamW(params + L.wc, &gwc, m + L.wc, v + L.wc, 1, a, false);
  if (L.lateRows) {
    const float gws = static_cast<float>(w.gws);
    adamW(params + L.ws, &gws, m + L.ws, v + L.ws, 1, a, false);
  }
}

void checkBatchSize(const FusionHyper& h, const char* op) {
  if (h.batchSize < 1) fail(ErrorCode::OutOfRange, std::string(op) + ": batchSize must be at least 1");
}

}  // namespace

double fusionGradient(const FusionLayout& L, const float* params, const FusionInputs& in, const RankSamples& s,
                      const FusionHyper& h, uint64_t seed, const float* masks, float* grad, const ExecConfig&) {
  validateFusion(L, in, s, "fusionGradient");
  std::fill(grad, grad + L.total, 0.0f);
  if (s.size == 0) return 0.0;
  BatchPlanner planner(L.numUsers, L.numItems);
  BatchPlan plan;
  planner.plan(L, in, s, 0, s.size, plan);
  BatchGrad w;
  const double loss = batchGradient(L, params, in, s, 0, s.size, plan, h, seed, masks, w);
  const int64_t dc = L.collabDim, R = L.projRows, ds = L.semDim;
  for (size_t a = 0; a < plan.users.size(); ++a)
    std::copy(w.gP.begin() + a * dc, w.gP.begin() + (a + 1) * dc, grad + L.P + static_cast<int64_t>(plan.users[a]) * dc);
  for (size_t a = 0; a < plan.items.size(); ++a) {
    std::copy(w.gQ.begin() + a * dc, w.gQ.begin() + (a + 1) * dc, grad + L.Q + static_cast<int64_t>(plan.items[a]) * dc);
    grad[L.bias + plan.items[a]] = w.gb[a];
  }
  std::copy(w.dWu.begin(), w.dWu.end(), grad + L.Wu);
  std::copy(w.dWi.begin(), w.dWi.end(), grad + L.Wi);
  (void)R;
  (void)ds;
  grad[L.wc] = static_cast<float>(w.gwc);
  grad[L.ws] = static_cast<float>(w.gws);
  return loss;
}

double fusionStep(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                  const RankSamples& s, const FusionHyper& h, uint64_t seed, const ExecConfig&) {
  validateFusion(L, in, s, "fusionStep");
  if (s.size == 0) return 0.0;
  BatchPlanner planner(L.numUsers, L.numItems);
  BatchPlan plan;
  planner.plan(L, in, s, 0, s.size, plan);
  BatchGrad w;
  const double loss = batchGradient(L, params, in, s, 0, s.size, plan, h, seed, nullptr, w);
  applyAdam(L, params, m, v, ++*step, plan, w, h);
  return loss;
}

double fusionEpoch(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                   const RankSamples& s, const FusionHyper& h, uint64_t seed, const ExecConfig& config) {
  checkBatchSize(h, "fusionEpoch");
  validateFusion(L, in, s, "fusionEpoch");
  if (s.size == 0) return 0.0;
  const int64_t B = h.batchSize;
  const int64_t batches = (s.size + B - 1) / B;
  // Chunks of whole batches, about kSampleChunk positives each: the unit of work of one thread.
  const int64_t batchesPerChunk = std::max<int64_t>(1, kSampleChunk / B);
  const int64_t chunks = (batches + batchesPerChunk - 1) / batchesPerChunk;
  const int workers = plannedWorkers(chunks, 1, config.numThreads);
  struct Worker {
    BatchPlanner planner;
    BatchPlan plan;
    BatchGrad grad;
    Worker(int64_t u, int64_t i) : planner(u, i) {}
  };
  std::vector<std::unique_ptr<Worker>> state(workers);
  std::vector<double> batchLoss(batches, 0.0);
  std::atomic<int64_t> counter{*step};
  parallelFor(chunks, 1, config.numThreads, [&](int64_t c0, int64_t c1, int worker) {
    if (!state[worker]) state[worker] = std::make_unique<Worker>(L.numUsers, L.numItems);
    Worker& wk = *state[worker];
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t b = c * batchesPerChunk; b < std::min(batches, (c + 1) * batchesPerChunk); ++b) {
        const int64_t begin = b * B, end = std::min(s.size, begin + B);
        wk.planner.plan(L, in, s, begin, end, wk.plan);
        const double loss = batchGradient(L, params, in, s, begin, end, wk.plan, h, seed, nullptr, wk.grad);
        applyAdam(L, params, m, v, counter.fetch_add(1) + 1, wk.plan, wk.grad, h);
        batchLoss[b] = loss * static_cast<double>(end - begin);
      }
    }
  });
  *step = counter.load();
  double total = 0;
  for (double l : batchLoss) total += l;
  const double loss = total / static_cast<double>(s.size);
  checkFiniteLoss(loss, "fusionEpoch");
  return loss;
}

void fusionVectors(const FusionLayout& L, const float* params, const float* itemSem, const int32_t* users,
                   const float* userSem, int64_t count, const FusionInputs& history, float* userOut, float* itemOut,
                   float* itemBias, const ExecConfig& config) {
  const int64_t dc = L.collabDim, ds = L.semDim, E = L.earlyRows, Lr = L.lateRows, R = L.projRows, F = L.width;
  const float wc = params[L.wc], ws = params[L.ws];
  for (int64_t r = 0; r < count; ++r)
    if (users[r] < 0 || users[r] >= L.numUsers)
      fail(ErrorCode::OutOfRange, "fusionVectors: users[" + std::to_string(r) + "] = " + std::to_string(users[r]) +
                                      " is outside [0, " + std::to_string(L.numUsers) + ")");
  if (R > 0) {
    validateFinite(itemSem, itemOut ? L.numItems : 0, ds, "fusionVectors: itemSem");
    validateFinite(userSem, count, ds, "fusionVectors: userSem");
  }
  validateHistory(L, history, "fusionVectors");
  constexpr int64_t kRows = 256;
  parallelFor(count, kRows, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> y((r1 - r0) * R), hu(dc);
    if (R) scoreMatrixCpu({userSem + r0 * ds, r1 - r0, params + L.Wu, R, ds, nullptr}, y.data(), ExecConfig{1});
    for (int64_t r = r0; r < r1; ++r) {
      const float* Pu = params + L.P + static_cast<int64_t>(users[r]) * dc;
      const float* yr = y.data() + (r - r0) * R;
      float* z = userOut + r * F;
      std::fill(hu.begin(), hu.end(), 0.0f);
      if (history.hasHistory()) {
        const int32_t u = users[r];
        double total = 0;
        for (int32_t e = history.historyIndptr[u]; e < history.historyIndptr[u + 1]; ++e) total += history.historyWeight[e];
        for (int32_t e = history.historyIndptr[u]; e < history.historyIndptr[u + 1]; ++e)
          if (total > 0)
            axpy(static_cast<float>(history.historyWeight[e] / total), params + L.Q + static_cast<int64_t>(history.historyItems[e]) * dc,
                 hu.data(), dc);
      }
      for (int64_t t = 0; t < dc; ++t) z[t] = wc * (Pu[t] + hu[t] + (E ? yr[t] : 0.0f));
      for (int64_t l = 0; l < Lr; ++l) z[dc + l] = ws * yr[E + l];
    }
  });
  if (!itemOut && !itemBias) return;
  parallelFor(L.numItems, kRows, config.numThreads, [&](int64_t i0, int64_t i1, int) {
    std::vector<float> x((i1 - i0) * R);
    if (R && itemOut) scoreMatrixCpu({itemSem + i0 * ds, i1 - i0, params + L.Wi, R, ds, nullptr}, x.data(), ExecConfig{1});
    for (int64_t i = i0; i < i1; ++i) {
      if (itemBias) itemBias[i] = params[L.bias + i];
      if (!itemOut) continue;
      const float* Qi = params + L.Q + i * dc;
      const float* xr = x.data() + (i - i0) * R;
      float* z = itemOut + i * F;
      for (int64_t t = 0; t < dc; ++t) z[t] = Qi[t] + (E ? xr[t] : 0.0f);
      for (int64_t l = 0; l < Lr; ++l) z[dc + l] = xr[E + l];
    }
  });
}

OwnedRankSamples drawRankSamples(uint64_t seed, const PairSamples& pairs, const float* pairWeight,
                                 const Positives& positives, const int32_t* candidates, int64_t numCandidates,
                                 int64_t negatives, const ExecConfig& config) {
  if (numCandidates < 1 && pairs.numPairs > 0 && negatives > 0)
    fail(ErrorCode::InvalidArgValue, "drawRankSamples: there are no candidate items to draw negatives from");
  for (int64_t c = 0; c < numCandidates; ++c)
    if (candidates[c] < 0 || candidates[c] >= positives.numItems)
      fail(ErrorCode::OutOfRange, "drawRankSamples: candidates[" + std::to_string(c) + "] = " + std::to_string(candidates[c]) +
                                      " is outside [0, " + std::to_string(positives.numItems) + ")");
  OwnedRankSamples out;
  const int64_t n = pairs.numPairs;
  std::vector<int32_t> order(n);
  shuffledOrder(seed, n, order.data());
  out.users.resize(n);
  out.pos.resize(n);
  if (pairWeight) out.pairWeight.resize(n);
  for (int64_t p = 0; p < n; ++p) {
    out.users[p] = pairs.users[order[p]];
    out.pos[p] = pairs.items[order[p]];
    if (pairWeight) out.pairWeight[p] = pairWeight[order[p]];
  }
  out.neg.resize(n * negatives);
  const int64_t chunks = (n + kSampleChunk - 1) / kSampleChunk;
  const uint32_t count = static_cast<uint32_t>(numCandidates);
  parallelFor(chunks, 1, config.numThreads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      Rng rng(seed, static_cast<uint64_t>(c));
      for (int64_t p = c * kSampleChunk; p < std::min(n, (c + 1) * kSampleChunk); ++p) {
        const int32_t user = out.users[p];
        for (int64_t k = 0; k < negatives; ++k) {
          int32_t item = candidates[rng.below(count)];
          for (int tries = 1; tries < kMaxNegativeTries && positives.contains(user, item); ++tries)
            item = candidates[rng.below(count)];
          out.neg[p * negatives + k] = item;
        }
      }
    }
  });
  return out;
}

}  // namespace semrec::train
