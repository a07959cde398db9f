// LLM-Rec's fused ranker on the GPU (the CUDA twin of native/ops/fusion.cc; contracts in semrec/fusion.h).
//
// The host plans every batch of the epoch exactly as the CPU trainer does (BatchPlanner: distinct users,
// items and positive items per batch, each positive's slots and exclusion coefficients) and adds, per
// slot, the list of entries that touch it in sample order. Everything goes to the device once; per batch:
//   project    Y = Wu p, X = Wi s, XU = Wu s_pos            (one block per distinct row)
//   positive   forward, loss and d loss / d r of one positive (one block per positive)
//   reduce     each slot sums its entries in sample order     (no atomics: the CPU's summation order)
//   dense      dWu, dWi over the slots in order, plus L2
//   adam       lazy on the batch rows, dense on Wu, Wi, wc, ws
// Parameters stay on the device for the epoch and are copied back at the end.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common.cuh"
#include "gemm.cuh"
#include "rng.cuh"
#include "semrec/fusion.h"

namespace semrec {

namespace cuda {
namespace {

using train::BatchPlan;
using train::BatchPlanner;
using train::FusionHyper;
using train::FusionInputs;
using train::FusionLayout;
using train::RankLoss;
using train::RankSamples;

constexpr int kThreads = 128;

struct Dims {
  int64_t dc, ds, E, Lr, R, F, N, width;
  int64_t P, Q, bias, Wu, Wi, wc, ws;
};

Dims dimsOf(const FusionLayout& L, int64_t negatives) {
  return {L.collabDim, L.semDim, L.earlyRows, L.lateRows, L.projRows, L.width, negatives, negatives + 1,
          L.P, L.Q, L.bias, L.Wu, L.Wi, L.wc, L.ws};
}

// Every batch's plan, flattened; per batch b the entries of each list start at the offsets of b.
struct EpochPlan {
  std::vector<int64_t> userOff{0}, itemOff{0}, posOff{0};           // distinct rows
  std::vector<int32_t> users, items, posItems;
  std::vector<int32_t> userSlot, itemSlot, posSlot;                 // per positive (itemSlot: x width)
  std::vector<float> c1, c2;
  // Per slot, the entries touching it in sample order: CSR with (rows + 1) pointers per batch.
  std::vector<int32_t> userRefPtr, userRefs, itemRefPtr, itemRefs, posRefPtr, posRefs;
  std::vector<int64_t> userRefOff, itemRefOff, posRefOff;  // where each batch's refs start
  // The history term: per batch, each user slot's entries (histPtr, nu + 1 per batch, relative to the
  // batch's first entry at histOff) with their item slots, shares and user slots; per item slot, the
  // entries that feed it (itemHistPtr / itemHistRefs, like the refs above).
  std::vector<int32_t> histPtr, histSlot, histUser, itemHistPtr, itemHistRefs;
  std::vector<float> histShare;
  std::vector<int64_t> histOff, itemHistOff;
  int64_t maxUsers = 0, maxItems = 0, maxPos = 0;
};

// refs of slots [0, slots) from per-entry slots (entry e touches slot[e]; -1: none), stable in e.
void appendRefs(const int32_t* slot, int64_t entries, int64_t slots, std::vector<int32_t>& ptr, std::vector<int32_t>& refs) {
  std::vector<int32_t> count(slots + 1, 0);
  for (int64_t e = 0; e < entries; ++e)
    if (slot[e] >= 0) ++count[slot[e] + 1];
  for (int64_t s = 0; s < slots; ++s) count[s + 1] += count[s];
  ptr.insert(ptr.end(), count.begin(), count.end());
  const size_t base = refs.size();
  refs.resize(base + count[slots]);
  std::vector<int32_t> next(count.begin(), count.end() - 1);
  for (int64_t e = 0; e < entries; ++e)
    if (slot[e] >= 0) refs[base + next[slot[e]]++] = static_cast<int32_t>(e);
}

EpochPlan planEpoch(const FusionLayout& L, const FusionInputs& in, const RankSamples& s, int64_t batchSize) {
  EpochPlan e;
  BatchPlanner planner(L.numUsers, L.numItems);
  BatchPlan plan;
  const int64_t width = s.negatives + 1;
  std::vector<int32_t> entrySlot;
  for (int64_t begin = 0; begin < s.size; begin += batchSize) {
    const int64_t end = std::min(s.size, begin + batchSize), n = end - begin;
    planner.plan(L, in, s, begin, end, plan);
    e.users.insert(e.users.end(), plan.users.begin(), plan.users.end());
    e.items.insert(e.items.end(), plan.items.begin(), plan.items.end());
    e.posItems.insert(e.posItems.end(), plan.posItems.begin(), plan.posItems.end());
    e.userOff.push_back(static_cast<int64_t>(e.users.size()));
    e.itemOff.push_back(static_cast<int64_t>(e.items.size()));
    e.posOff.push_back(static_cast<int64_t>(e.posItems.size()));
    e.userSlot.insert(e.userSlot.end(), plan.userSlot.begin(), plan.userSlot.end());
    e.itemSlot.insert(e.itemSlot.end(), plan.itemSlot.begin(), plan.itemSlot.end());
    e.posSlot.insert(e.posSlot.end(), plan.posSlot.begin(), plan.posSlot.end());
    e.c1.insert(e.c1.end(), plan.c1.begin(), plan.c1.end());
    e.c2.insert(e.c2.end(), plan.c2.begin(), plan.c2.end());
    e.userRefOff.push_back(static_cast<int64_t>(e.userRefs.size()));
    e.itemRefOff.push_back(static_cast<int64_t>(e.itemRefs.size()));
    e.posRefOff.push_back(static_cast<int64_t>(e.posRefs.size()));
    appendRefs(plan.userSlot.data(), n, plan.users.size(), e.userRefPtr, e.userRefs);
    // Item refs in the CPU trainer's order: per positive its width entries, then (history term, excluded
    // positive) the exclusion term into the positive's own row, encoded as entry q (width + 1) + width.
    entrySlot.assign(n * (width + 1), -1);
    for (int64_t q = 0; q < n; ++q) {
      for (int64_t k = 0; k < width; ++k) entrySlot[q * (width + 1) + k] = plan.itemSlot[q * width + k];
      if (in.hasHistory() && plan.c2[q] != 0.0f) entrySlot[q * (width + 1) + width] = plan.itemSlot[q * width];
    }
    appendRefs(entrySlot.data(), n * (width + 1), plan.items.size(), e.itemRefPtr, e.itemRefs);
    e.histOff.push_back(static_cast<int64_t>(e.histSlot.size()));
    e.itemHistOff.push_back(static_cast<int64_t>(e.itemHistRefs.size()));
    if (in.hasHistory()) {
      e.histPtr.insert(e.histPtr.end(), plan.userHistPtr.begin(), plan.userHistPtr.end());
      e.histSlot.insert(e.histSlot.end(), plan.histSlot.begin(), plan.histSlot.end());
      e.histShare.insert(e.histShare.end(), plan.histShare.begin(), plan.histShare.end());
      for (size_t a = 0; a + 1 < plan.userHistPtr.size(); ++a)
        for (int32_t h = plan.userHistPtr[a]; h < plan.userHistPtr[a + 1]; ++h) e.histUser.push_back(static_cast<int32_t>(a));
      appendRefs(plan.histSlot.data(), plan.histSlot.size(), plan.items.size(), e.itemHistPtr, e.itemHistRefs);
    }
    appendRefs(plan.posSlot.data(), n, plan.posItems.size(), e.posRefPtr, e.posRefs);
    e.maxUsers = std::max<int64_t>(e.maxUsers, plan.users.size());
    e.maxItems = std::max<int64_t>(e.maxItems, plan.items.size());
    e.maxPos = std::max<int64_t>(e.maxPos, plan.posItems.size());
  }
  return e;
}

// A device copy of a host vector.
template <class T>
struct HostCopy : DeviceBuffer<T> {
  HostCopy(const std::vector<T>& host, cudaStream_t s) : DeviceBuffer<T>(host.size(), s) { this->upload(host.data(), host.size()); }
};

// ---- kernels ----

// out[r] = W . src[index[r]] for the rows of one list (W: R x ds).
__global__ void projectKernel(const float* W, int64_t R, int64_t ds, const float* src, const int32_t* index, float* out) {
  extern __shared__ float row[];
  const int64_t r = blockIdx.x;
  const float* x = src + static_cast<int64_t>(index[r]) * ds;
  for (int64_t t = threadIdx.x; t < ds; t += blockDim.x) row[t] = x[t];
  __syncthreads();
  for (int64_t o = threadIdx.x; o < R; o += blockDim.x) {
    float acc = 0;
    for (int64_t t = 0; t < ds; ++t) acc += W[o * ds + t] * row[t];
    out[r * R + o] = acc;
  }
}

struct PositiveArgs {
  Dims d;
  const float* params;
  const int32_t* users;  // the batch's samples (offset to the batch)
  const int32_t* pos;
  const int32_t* neg;
  const int32_t* userSlot;
  const int32_t* itemSlot;
  const int32_t* posSlot;
  const float* c1;
  const float* c2;
  const float* Y;
  const float* X;
  const float* XU;
  const float* H;         // nu x dc history terms of the batch's users, or null (no history term)
  const float* masks;     // explicit masks (gradient op) or null
  uint64_t seed;
  int64_t firstSample;    // global index of the batch's first sample (dropout stream)
  DropoutParams dropout;
  int loss;               // RankLoss
  float margin;
  double scale;
  // Outputs per positive.
  float* zd;              // B x F: the dropped-out user vector
  float* dzu;             // B x F: d loss / d z_u (before dropout)
  float* yhat;            // B x R
  float* dr;              // B x width
  double* lossOut;        // B
  double* wcOut;          // B: the positive's part of d loss / d wc
  double* wsOut;          // B
};

__global__ void positiveKernel(PositiveArgs a) {
  extern __shared__ float sh[];
  const Dims& d = a.d;
  const int64_t q = blockIdx.x;
  float* yhat = sh;                   // R
  float* mask = yhat + d.R;           // F
  float* zd = mask + d.F;             // F
  float* zk = zd + d.F;               // width x F
  float* r = zk + d.width * d.F;      // width
  float* dr = r + d.width;            // width
  float* hhat = dr + d.width;         // dc: the history term without the positive
  const int32_t u = a.users[q];
  const float* Pu = a.params + d.P + static_cast<int64_t>(u) * d.dc;
  const float wc = a.params[d.wc], ws = a.params[d.ws];
  const int32_t us = a.userSlot[q], ps = a.posSlot[q];
  const float c1 = a.c1[q], c2 = a.c2[q];
  for (int64_t o = threadIdx.x; o < d.R; o += blockDim.x)
    yhat[o] = c1 * a.Y[us * d.R + o] + (ps >= 0 ? c2 * a.XU[ps * d.R + o] : 0.0f);
  const float* Qpos = a.params + d.Q + static_cast<int64_t>(a.pos[q]) * d.dc;
  for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x)
    hhat[t] = a.H ? c1 * a.H[us * d.dc + t] + (c2 != 0.0f ? c2 * Qpos[t] : 0.0f) : 0.0f;
  if (a.masks) {
    for (int64_t t = threadIdx.x; t < d.F; t += blockDim.x) mask[t] = a.masks[q * d.F + t];
  } else if (threadIdx.x == 0) {
    dropoutMaskDevice(a.seed, train::kDropoutStream + static_cast<uint64_t>(a.firstSample + q), a.dropout, d.F, mask);
  }
  __syncthreads();
  for (int64_t t = threadIdx.x; t < d.F; t += blockDim.x) {
    const float z = t < d.dc ? wc * (Pu[t] + hhat[t] + (d.E ? yhat[t] : 0.0f)) : ws * yhat[d.E + t - d.dc];
    zd[t] = z * mask[t];
  }
  for (int64_t e = threadIdx.x; e < d.width * d.F; e += blockDim.x) {
    const int64_t k = e / d.F, t = e % d.F;
    const int32_t item = k == 0 ? a.pos[q] : a.neg[q * d.N + k - 1];
    const int32_t slot = a.itemSlot[q * d.width + k];
    const float* x = d.R ? a.X + static_cast<int64_t>(slot) * d.R : nullptr;
    zk[e] = t < d.dc ? a.params[d.Q + static_cast<int64_t>(item) * d.dc + t] + (d.E ? x[t] : 0.0f) : x[d.E + t - d.dc];
  }
  __syncthreads();
  for (int64_t k = threadIdx.x; k < d.width; k += blockDim.x) {
    const int32_t item = k == 0 ? a.pos[q] : a.neg[q * d.N + k - 1];
    float acc = 0;
    for (int64_t t = 0; t < d.F; ++t) acc += zd[t] * zk[k * d.F + t];
    r[k] = acc + a.params[d.bias + item];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0;
    for (int64_t k = 0; k < d.width; ++k) dr[k] = 0.0f;
    if (a.loss == static_cast<int>(RankLoss::Softmax)) {
      float mx = r[0];
      for (int64_t k = 1; k < d.width; ++k) mx = fmaxf(mx, r[k]);
      double z = 0;
      for (int64_t k = 0; k < d.width; ++k) z += exp(static_cast<double>(r[k]) - mx);
      l = mx + log(z) - r[0];
      for (int64_t k = 0; k < d.width; ++k)
        dr[k] = static_cast<float>((exp(static_cast<double>(r[k]) - mx) / z - (k == 0 ? 1.0 : 0.0)) * a.scale);
    } else {
      for (int64_t k = 1; k < d.width; ++k) {
        const double diff = static_cast<double>(r[0]) - r[k];
        double g;
        if (a.loss == static_cast<int>(RankLoss::Hinge)) {
          const double gap = a.margin - diff;
          if (!(gap > 0)) continue;
          l += gap;
          g = 1.0;
        } else {
          l += diff < 0 ? -diff + log1p(exp(diff)) : log1p(exp(-diff));
          const float x = static_cast<float>(-diff);
          g = x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
        }
        dr[0] -= static_cast<float>(g * a.scale);
        dr[k] += static_cast<float>(g * a.scale);
      }
    }
    a.lossOut[q] = l;
  }
  __syncthreads();
  for (int64_t k = threadIdx.x; k < d.width; k += blockDim.x) a.dr[q * d.width + k] = dr[k];
  for (int64_t o = threadIdx.x; o < d.R; o += blockDim.x) a.yhat[q * d.R + o] = yhat[o];
  for (int64_t t = threadIdx.x; t < d.F; t += blockDim.x) {
    float acc = 0;
    for (int64_t k = 0; k < d.width; ++k)
      if (dr[k] != 0.0f) acc += dr[k] * zk[k * d.F + t];
    a.zd[q * d.F + t] = zd[t];
    a.dzu[q * d.F + t] = acc * mask[t];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const float* dzu = a.dzu + q * d.F;
    double gwc = 0, gws = 0;
    for (int64_t t = 0; t < d.dc; ++t) gwc += static_cast<double>(dzu[t]) * (Pu[t] + hhat[t] + (d.E ? yhat[t] : 0.0f));
    for (int64_t t = 0; t < d.Lr; ++t) gws += static_cast<double>(dzu[d.dc + t]) * yhat[d.E + t];
    a.wcOut[q] = gwc;
    a.wsOut[q] = gws;
  }
}

// h_u of each user slot: sum over its history entries of share x Q row, in history order.
__global__ void historyKernel(Dims d, const float* params, const int32_t* items, const int32_t* histPtr, const int32_t* histSlot,
                             const float* histShare, float* H) {
  const int64_t s = blockIdx.x;
  for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) {
    float acc = 0;
    for (int32_t h = histPtr[s]; h < histPtr[s + 1]; ++h)
      acc += histShare[h] * params[d.Q + static_cast<int64_t>(items[histSlot[h]]) * d.dc + t];
    H[s * d.dc + t] = acc;
  }
}

struct ReduceArgs {
  Dims d;
  const float* params;
  const int32_t* users;     // distinct rows of the batch
  const int32_t* items;
  const int32_t* userRefPtr;
  const int32_t* userRefs;
  const int32_t* itemRefPtr;
  const int32_t* itemRefs;
  const int32_t* posRefPtr;
  const int32_t* posRefs;
  const float* c1;
  const float* c2;
  const float* zd;
  const float* dzu;
  const float* dr;
  float reg;
  // The history term (null without it): per user slot its entries, their item slots, shares and user
  // slots, and per item slot the entries that feed it.
  const int32_t* histPtr;
  const int32_t* histUser;
  const float* histShare;
  const int32_t* itemHistPtr;
  const int32_t* itemHistRefs;
  float* GH;   // nu x dc: d loss / d h_u
  float* gP;   // nu x dc
  float* GY;   // nu x R
  float* gQ;   // ni x dc
  float* GX;   // ni x R
  float* gb;   // ni
  float* GXU;  // np x R
  double* userSquares;  // nu: |P_u|^2
  double* itemSquares;  // ni: |Q_i|^2 + b_i^2
};

__device__ inline float dyhatOf(const Dims& d, const float* dzu, float wc, float ws, int64_t o) {
  return o < d.E ? wc * dzu[o] : ws * dzu[d.dc + o - d.E];
}

__global__ void userReduceKernel(ReduceArgs a) {
  const Dims& d = a.d;
  const int64_t s = blockIdx.x;
  const float wc = a.params[d.wc], ws = a.params[d.ws];
  const int32_t b = a.userRefPtr[s], e = a.userRefPtr[s + 1];
  const float* Pu = a.params + d.P + static_cast<int64_t>(a.users[s]) * d.dc;
  for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) {
    float acc = 0, gh = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t q = a.userRefs[j];
      acc += wc * a.dzu[q * d.F + t];
      gh += a.c1[q] * (wc * a.dzu[q * d.F + t]);
    }
    a.gP[s * d.dc + t] = acc + a.reg * Pu[t];
    if (a.GH) a.GH[s * d.dc + t] = gh;
  }
  for (int64_t o = threadIdx.x; o < d.R; o += blockDim.x) {
    float acc = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t q = a.userRefs[j];
      if (a.c1[q] != 0.0f) acc += a.c1[q] * dyhatOf(d, a.dzu + q * d.F, wc, ws, o);
    }
    a.GY[s * d.R + o] = acc;
  }
  if (threadIdx.x == 0) {
    double sq = 0;
    for (int64_t t = 0; t < d.dc; ++t) sq += static_cast<double>(Pu[t]) * Pu[t];
    a.userSquares[s] = sq;
  }
}

__global__ void itemReduceKernel(ReduceArgs a) {
  const Dims& d = a.d;
  const int64_t s = blockIdx.x;
  const int32_t b = a.itemRefPtr[s], e = a.itemRefPtr[s + 1];
  const int64_t item = a.items[s];
  const float* Qi = a.params + d.Q + item * d.dc;
  const float wc = a.params[d.wc];
  const int64_t stride = d.width + 1;  // refs: q (width + 1) + k; k == width is the exclusion term
  for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) {
    float acc = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t ref = a.itemRefs[j], q = ref / stride, k = ref % stride;
      if (k == d.width) {
        acc += a.c2[q] * (wc * a.dzu[q * d.F + t]);
        continue;
      }
      const float g = a.dr[q * d.width + k];
      if (g != 0.0f) acc += g * a.zd[q * d.F + t];
    }
    if (a.GH)
      for (int32_t j = a.itemHistPtr[s]; j < a.itemHistPtr[s + 1]; ++j) {
        const int32_t h = a.itemHistRefs[j];
        acc += a.histShare[h] * a.GH[static_cast<int64_t>(a.histUser[h]) * d.dc + t];
      }
    a.gQ[s * d.dc + t] = acc + a.reg * Qi[t];
  }
  for (int64_t o = threadIdx.x; o < d.R; o += blockDim.x) {
    const int64_t col = o < d.E ? o : d.dc + o - d.E;
    float acc = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t ref = a.itemRefs[j], q = ref / stride, k = ref % stride;
      if (k == d.width) continue;
      const float g = a.dr[q * d.width + k];
      if (g != 0.0f) acc += g * a.zd[q * d.F + col];
    }
    a.GX[s * d.R + o] = acc;
  }
  if (threadIdx.x == 0) {
    float acc = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t ref = a.itemRefs[j], q = ref / stride, k = ref % stride;
      if (k != d.width) acc += a.dr[q * d.width + k];
    }
    const float bias = a.params[d.bias + item];
    a.gb[s] = acc + a.reg * bias;
    double sq = static_cast<double>(bias) * bias;
    for (int64_t t = 0; t < d.dc; ++t) sq += static_cast<double>(Qi[t]) * Qi[t];
    a.itemSquares[s] = sq;
  }
}

__global__ void posReduceKernel(ReduceArgs a) {
  const Dims& d = a.d;
  const int64_t s = blockIdx.x;
  const float wc = a.params[d.wc], ws = a.params[d.ws];
  const int32_t b = a.posRefPtr[s], e = a.posRefPtr[s + 1];
  for (int64_t o = threadIdx.x; o < d.R; o += blockDim.x) {
    float acc = 0;
    for (int32_t j = b; j < e; ++j) {
      const int64_t q = a.posRefs[j];
      acc += a.c2[q] * dyhatOf(d, a.dzu + q * d.F, wc, ws, o);
    }
    a.GXU[s * d.R + o] = acc;
  }
}

// dW[o][t] over the slot lists in order (users, then positive items for Wu; items for Wi), plus L2.
__global__ void denseKernel(Dims d, const float* params, const float* userSem, const float* itemSem, const int32_t* users,
                            int64_t nu, const int32_t* items, int64_t ni, const int32_t* posItems, int64_t np,
                            const float* GY, const float* GX, const float* GXU, float reg, float* dWu, float* dWi) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= d.R * d.ds) return;
  const int64_t o = k / d.ds, t = k % d.ds;
  float u = 0, i = 0;
  for (int64_t s = 0; s < nu; ++s) {
    const float g = GY[s * d.R + o];
    if (g != 0.0f) u += g * userSem[static_cast<int64_t>(users[s]) * d.ds + t];
  }
  for (int64_t s = 0; s < np; ++s) {
    const float g = GXU[s * d.R + o];
    if (g != 0.0f) u += g * itemSem[static_cast<int64_t>(posItems[s]) * d.ds + t];
  }
  for (int64_t s = 0; s < ni; ++s) {
    const float g = GX[s * d.R + o];
    if (g != 0.0f) i += g * itemSem[static_cast<int64_t>(items[s]) * d.ds + t];
  }
  dWu[k] = u + reg * params[d.Wu + k];
  dWi[k] = i + reg * params[d.Wi + k];
}

// The batch loss and the scalar gradients, summed in order by one thread.
__global__ void finishKernel(Dims d, const float* params, const double* lossOut, const double* wcOut, const double* wsOut,
                             int64_t B, const double* userSquares, int64_t nu, const double* itemSquares, int64_t ni,
                             double scale, float reg, double* batchLoss, float* scalars) {
  double loss = 0, gwc = 0, gws = 0;
  for (int64_t q = 0; q < B; ++q) {
    loss += lossOut[q];
    gwc += wcOut[q];
    gws += wsOut[q];
  }
  loss *= scale;
  if (reg > 0) {
    double sq = 0;
    for (int64_t s = 0; s < nu; ++s) sq += userSquares[s];
    for (int64_t s = 0; s < ni; ++s) sq += itemSquares[s];
    for (int64_t k = 0; k < 2 * d.R * d.ds; ++k) sq += static_cast<double>(params[d.Wu + k]) * params[d.Wu + k];
    loss += 0.5 * reg * sq;
  }
  *batchLoss = loss;
  scalars[0] = static_cast<float>(gwc);
  scalars[1] = static_cast<float>(gws);
}

struct AdamStep {
  float beta1, beta2, stepSize, epsHat;
  float keep;  // 1 - lr x weightDecay (decoupled decay, applied before the step)
};

// The CPU trainer's adamW (native/ops/fusion.cc) for one parameter.
__device__ inline void adamOne(float* p, float g, float* m, float* v, const AdamStep& a, bool decayed = true) {
  *m = a.beta1 * *m + (1.0f - a.beta1) * g;
  *v = a.beta2 * *v + (1.0f - a.beta2) * g * g;
  *p = *p * (decayed ? a.keep : 1.0f) - a.stepSize * *m / (sqrtf(*v) + a.epsHat);
}

__global__ void adamRowsKernel(Dims d, float* params, float* m, float* v, const int32_t* users, int64_t nu,
                               const int32_t* items, int64_t ni, const float* gP, const float* gQ, const float* gb, AdamStep a) {
  const int64_t s = blockIdx.x;
  if (s < nu) {
    const int64_t at = d.P + static_cast<int64_t>(users[s]) * d.dc;
    for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) adamOne(params + at + t, gP[s * d.dc + t], m + at + t, v + at + t, a);
  } else {
    const int64_t j = s - nu;
    const int64_t at = d.Q + static_cast<int64_t>(items[j]) * d.dc;
    for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) adamOne(params + at + t, gQ[j * d.dc + t], m + at + t, v + at + t, a);
    if (threadIdx.x == 0) {
      const int64_t b = d.bias + items[j];
      adamOne(params + b, gb[j], m + b, v + b, a);
    }
  }
}

__global__ void adamDenseKernel(Dims d, float* params, float* m, float* v, const float* dWu, const float* dWi,
                                const float* scalars, AdamStep a) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n = d.R * d.ds;
  if (k < n) {
    adamOne(params + d.Wu + k, dWu[k], m + d.Wu + k, v + d.Wu + k, a);
    adamOne(params + d.Wi + k, dWi[k], m + d.Wi + k, v + d.Wi + k, a);
  }
  if (k == 0) {
    adamOne(params + d.wc, scalars[0], m + d.wc, v + d.wc, a, false);
    if (d.Lr) adamOne(params + d.ws, scalars[1], m + d.ws, v + d.ws, a, false);
  }
}

// The gradient op's dense output: zeros outside the batch rows.
__global__ void scatterKernel(Dims d, const int32_t* users, int64_t nu, const int32_t* items, int64_t ni, const float* gP,
                              const float* gQ, const float* gb, float* grad) {
  const int64_t s = blockIdx.x;
  if (s < nu) {
    for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) grad[d.P + static_cast<int64_t>(users[s]) * d.dc + t] = gP[s * d.dc + t];
  } else {
    const int64_t j = s - nu;
    for (int64_t t = threadIdx.x; t < d.dc; t += blockDim.x) grad[d.Q + static_cast<int64_t>(items[j]) * d.dc + t] = gQ[j * d.dc + t];
    if (threadIdx.x == 0) grad[d.bias + items[j]] = gb[j];
  }
}

AdamStep adamStep(const FusionHyper& h, int64_t step) {
  const train::AdamConfig& c = h.adam;
  const double c1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(step));
  const double c2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(step));
  return {c.beta1, c.beta2, static_cast<float>(c.lr * std::sqrt(c2) / c1), static_cast<float>(c.eps * std::sqrt(c2)),
          1.0f - c.lr * h.weightDecay};
}

DropoutParams dropoutOf(float p) {
  DropoutParams d;
  if (p > 0.0f) {
    d.threshold = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 65536.0));
    d.keep = 1.0f / (1.0f - p);
  }
  return d;
}

// Runs the epoch (adam) or one gradient (grad != null) on the device.
double runFusion(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                 const RankSamples& s, const FusionHyper& h, uint64_t seed, const float* masks, float* grad,
                 const char* op) {
  requireGpu(op);
  if (h.batchSize < 1) fail(ErrorCode::OutOfRange, std::string(op) + ": batchSize must be at least 1");
  train::validateFusion(L, in, s, op);
  if (grad) std::fill(grad, grad + L.total, 0.0f);
  if (s.size == 0) return 0.0;
  const int64_t batchSize = grad ? s.size : h.batchSize;
  const EpochPlan plan = planEpoch(L, in, s, batchSize);
  const Dims d = dimsOf(L, s.negatives);
  const int64_t batches = static_cast<int64_t>(plan.userOff.size()) - 1;
  Stream stream;
  const cudaStream_t st = stream.get();
  DeviceBuffer<float> dParams(L.total, st), dM(grad ? 0 : L.total, st), dV(grad ? 0 : L.total, st);
  dParams.upload(params, L.total);
  if (!grad) {
    dM.upload(m, L.total);
    dV.upload(v, L.total);
  }
  DeviceBuffer<float> itemSem(d.R ? L.numItems * d.ds : 0, st), userSem(d.R ? L.numUsers * d.ds : 0, st);
  if (d.R) {
    itemSem.upload(in.itemSem, L.numItems * d.ds);
    userSem.upload(in.userSem, L.numUsers * d.ds);
  }
  DeviceBuffer<int32_t> sUsers(s.size, st), sPos(s.size, st), sNeg(s.size * d.N, st);
  sUsers.upload(s.users, s.size);
  sPos.upload(s.pos, s.size);
  sNeg.upload(s.neg, s.size * d.N);
  DeviceBuffer<float> dMasks(masks ? s.size * d.F : 0, st);
  if (masks) dMasks.upload(masks, s.size * d.F);
  HostCopy<int32_t> users(plan.users, st), items(plan.items, st), posItems(plan.posItems, st);
  HostCopy<int32_t> userSlot(plan.userSlot, st), itemSlot(plan.itemSlot, st), posSlot(plan.posSlot, st);
  HostCopy<float> c1(plan.c1, st), c2(plan.c2, st);
  HostCopy<int32_t> userRefPtr(plan.userRefPtr, st), userRefs(plan.userRefs, st);
  HostCopy<int32_t> itemRefPtr(plan.itemRefPtr, st), itemRefs(plan.itemRefs, st);
  HostCopy<int32_t> posRefPtr(plan.posRefPtr, st), posRefs(plan.posRefs, st);
  const bool history = in.hasHistory();
  HostCopy<int32_t> histPtr(plan.histPtr, st), histSlot(plan.histSlot, st), histUser(plan.histUser, st);
  HostCopy<int32_t> itemHistPtr(plan.itemHistPtr, st), itemHistRefs(plan.itemHistRefs, st);
  HostCopy<float> histShare(plan.histShare, st);
  DeviceBuffer<float> H(history ? std::max<int64_t>(1, plan.maxUsers * d.dc) : 0, st), GH(history ? std::max<int64_t>(1, plan.maxUsers * d.dc) : 0, st);
  const int64_t B = std::min(batchSize, s.size);
  // Per-batch work buffers, sized for the largest batch.
  DeviceBuffer<float> Y(std::max<int64_t>(1, plan.maxUsers * d.R), st), X(std::max<int64_t>(1, plan.maxItems * d.R), st),
      XU(std::max<int64_t>(1, plan.maxPos * d.R), st);
  DeviceBuffer<float> zd(B * d.F, st), dzu(B * d.F, st), yhat(std::max<int64_t>(1, B * d.R), st), dr(B * d.width, st);
  DeviceBuffer<double> lossOut(B, st), wcOut(B, st), wsOut(B, st);
  DeviceBuffer<float> gP(std::max<int64_t>(1, plan.maxUsers * d.dc), st), GY(std::max<int64_t>(1, plan.maxUsers * d.R), st),
      gQ(std::max<int64_t>(1, plan.maxItems * d.dc), st), GX(std::max<int64_t>(1, plan.maxItems * d.R), st),
      gb(std::max<int64_t>(1, plan.maxItems), st), GXU(std::max<int64_t>(1, plan.maxPos * d.R), st);
  DeviceBuffer<double> userSquares(std::max<int64_t>(1, plan.maxUsers), st), itemSquares(std::max<int64_t>(1, plan.maxItems), st);
  DeviceBuffer<float> dWu(std::max<int64_t>(1, d.R * d.ds), st), dWi(std::max<int64_t>(1, d.R * d.ds), st), scalars(2, st);
  DeviceBuffer<double> batchLoss(batches, st);
  const bool softmax = h.loss == RankLoss::Softmax;
  const size_t positiveShared = (d.R + 3 * d.F + d.width * d.F + 2 * d.width + d.dc) * sizeof(float);
  if (positiveShared > 48 * 1024)
    fail(ErrorCode::OutOfRange, std::string(op) + ": the fused width x negatives is too large for one block's shared memory");
  int64_t adamCount = step ? *step : 0;
  const int64_t denseBlocks = (d.R * d.ds + kThreads - 1) / kThreads;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * batchSize, n = std::min(batchSize, s.size - first);
    const int64_t nu = plan.userOff[b + 1] - plan.userOff[b], ni = plan.itemOff[b + 1] - plan.itemOff[b];
    const int64_t np = plan.posOff[b + 1] - plan.posOff[b];
    const int32_t* bUsers = users.data() + plan.userOff[b];
    const int32_t* bItems = items.data() + plan.itemOff[b];
    const int32_t* bPos = posItems.data() + plan.posOff[b];
    if (d.R) {
      const size_t sh = d.ds * sizeof(float);
      projectKernel<<<nu, kThreads, sh, st>>>(dParams.data() + d.Wu, d.R, d.ds, userSem.data(), bUsers, Y.data());
      checkLaunch("projectKernel", st);
      projectKernel<<<ni, kThreads, sh, st>>>(dParams.data() + d.Wi, d.R, d.ds, itemSem.data(), bItems, X.data());
      checkLaunch("projectKernel", st);
      if (np > 0) {
        projectKernel<<<np, kThreads, sh, st>>>(dParams.data() + d.Wu, d.R, d.ds, itemSem.data(), bPos, XU.data());
        checkLaunch("projectKernel", st);
      }
    }
    // The history terms of the batch's users (their entries start at histOff[b]; pointers at userOff[b] + b).
    const int32_t* bHistPtr = history ? histPtr.data() + plan.userOff[b] + b : nullptr;
    const int64_t histAt = plan.histOff[b];
    if (history) {
      // Entry indices are relative to the batch: shift the slot/share/user arrays by histAt.
      historyKernel<<<nu, kThreads, 0, st>>>(d, dParams.data(), bItems, bHistPtr, histSlot.data() + histAt, histShare.data() + histAt, H.data());
      checkLaunch("historyKernel", st);
    }
    const double scale = softmax ? 1.0 / static_cast<double>(n) : 1.0 / static_cast<double>(n * std::max<int64_t>(d.N, 1));
    PositiveArgs pa{d, dParams.data(), sUsers.data() + first, sPos.data() + first, sNeg.data() + first * d.N,
                    userSlot.data() + first, itemSlot.data() + first * d.width, posSlot.data() + first,
                    c1.data() + first, c2.data() + first, Y.data(), X.data(), XU.data(), history ? H.data() : nullptr,
                    masks ? dMasks.data() + first * d.F : nullptr, seed, first, dropoutOf(h.dropout),
                    static_cast<int>(h.loss), h.margin, scale, zd.data(), dzu.data(), yhat.data(), dr.data(),
                    lossOut.data(), wcOut.data(), wsOut.data()};
    positiveKernel<<<n, kThreads, positiveShared, st>>>(pa);
    checkLaunch("positiveKernel", st);
    const int64_t userPtrAt = plan.userOff[b] + b, itemPtrAt = plan.itemOff[b] + b, posPtrAt = plan.posOff[b] + b;
    ReduceArgs ra{d, dParams.data(), bUsers, bItems, userRefPtr.data() + userPtrAt, userRefs.data() + plan.userRefOff[b],
                  itemRefPtr.data() + itemPtrAt, itemRefs.data() + plan.itemRefOff[b], posRefPtr.data() + posPtrAt,
                  posRefs.data() + plan.posRefOff[b],
                  c1.data() + first, c2.data() + first, zd.data(), dzu.data(), dr.data(), h.reg,
                  bHistPtr, history ? histUser.data() + histAt : nullptr, history ? histShare.data() + histAt : nullptr,
                  history ? itemHistPtr.data() + plan.itemOff[b] + b : nullptr, history ? itemHistRefs.data() + plan.itemHistOff[b] : nullptr,
                  history ? GH.data() : nullptr, gP.data(), GY.data(), gQ.data(), GX.data(), gb.data(), GXU.data(), userSquares.data(), itemSquares.data()};
    userReduceKernel<<<nu, kThreads, 0, st>>>(ra);
    checkLaunch("userReduceKernel", st);
    itemReduceKernel<<<ni, kThreads, 0, st>>>(ra);
    checkLaunch("itemReduceKernel", st);
    if (np > 0) {
      posReduceKernel<<<np, kThreads, 0, st>>>(ra);
      checkLaunch("posReduceKernel", st);
    }
    if (d.R) {
      denseKernel<<<denseBlocks, kThreads, 0, st>>>(d, dParams.data(), userSem.data(), itemSem.data(), bUsers, nu, bItems, ni,
                                                     bPos, np, GY.data(), GX.data(), GXU.data(), h.reg, dWu.data(), dWi.data());
      checkLaunch("denseKernel", st);
    }
    finishKernel<<<1, 1, 0, st>>>(d, dParams.data(), lossOut.data(), wcOut.data(), wsOut.data(), n, userSquares.data(), nu,
                                  itemSquares.data(), ni, scale, h.reg, batchLoss.data() + b, scalars.data());
    checkLaunch("finishKernel", st);
    if (grad) {
      DeviceBuffer<float> dGrad(L.total, st);
      dGrad.fill(0);
      scatterKernel<<<nu + ni, kThreads, 0, st>>>(d, bUsers, nu, bItems, ni, gP.data(), gQ.data(), gb.data(), dGrad.data());
      checkLaunch("scatterKernel", st);
      if (d.R) {
        SEMREC_CUDA_CHECK(cudaMemcpyAsync(dGrad.data() + d.Wu, dWu.data(), d.R * d.ds * sizeof(float), cudaMemcpyDeviceToDevice, st));
        SEMREC_CUDA_CHECK(cudaMemcpyAsync(dGrad.data() + d.Wi, dWi.data(), d.R * d.ds * sizeof(float), cudaMemcpyDeviceToDevice, st));
      }
      SEMREC_CUDA_CHECK(cudaMemcpyAsync(dGrad.data() + d.wc, scalars.data(), 2 * sizeof(float), cudaMemcpyDeviceToDevice, st));
      dGrad.download(grad, L.total);
      stream.sync();
    } else {
      const AdamStep a = adamStep(h, ++adamCount);
      adamRowsKernel<<<nu + ni, kThreads, 0, st>>>(d, dParams.data(), dM.data(), dV.data(), bUsers, nu, bItems, ni, gP.data(),
                                                   gQ.data(), gb.data(), a);
      checkLaunch("adamRowsKernel", st);
      adamDenseKernel<<<std::max<int64_t>(1, denseBlocks), kThreads, 0, st>>>(d, dParams.data(), dM.data(), dV.data(), dWu.data(),
                                                                            dWi.data(), scalars.data(), a);
      checkLaunch("adamDenseKernel", st);
    }
  }
  std::vector<double> losses(batches);
  batchLoss.download(losses.data(), batches);
  if (!grad) {
    dParams.download(params, L.total);
    dM.download(m, L.total);
    dV.download(v, L.total);
    *step = adamCount;
  }
  stream.sync();
  double total = 0;
  for (int64_t b = 0; b < batches; ++b) total += losses[b] * static_cast<double>(std::min(batchSize, s.size - b * batchSize));
  const double loss = grad ? losses[0] : total / static_cast<double>(s.size);
  train::checkFiniteLoss(loss, op);
  return loss;
}

// Fused vectors: a block per row.
// hPtr/hItems/hShare: the requested users' history entries (row r's at hPtr[r]..hPtr[r+1]), or null.
__global__ void userVectorsKernel(Dims d, const float* params, const int32_t* users, const float* Y, const int32_t* hPtr,
                                  const int32_t* hItems, const float* hShare, float* out) {
  const int64_t r = blockIdx.x;
  const float wc = params[d.wc], ws = params[d.ws];
  const float* Pu = params + d.P + static_cast<int64_t>(users[r]) * d.dc;
  for (int64_t t = threadIdx.x; t < d.F; t += blockDim.x) {
    if (t >= d.dc) {
      out[r * d.F + t] = ws * Y[r * d.R + d.E + t - d.dc];
      continue;
    }
    float h = 0;
    if (hPtr)
      for (int32_t e = hPtr[r]; e < hPtr[r + 1]; ++e) h += hShare[e] * params[d.Q + static_cast<int64_t>(hItems[e]) * d.dc + t];
    out[r * d.F + t] = wc * (Pu[t] + h + (d.E ? Y[r * d.R + t] : 0.0f));
  }
}

__global__ void itemVectorsKernel(Dims d, const float* params, const float* X, float* out, float* bias) {
  const int64_t i = blockIdx.x;
  const float* Qi = params + d.Q + i * d.dc;
  for (int64_t t = threadIdx.x; t < d.F; t += blockDim.x)
    out[i * d.F + t] = t < d.dc ? Qi[t] + (d.E ? X[i * d.R + t] : 0.0f) : X[i * d.R + d.E + t - d.dc];
  if (threadIdx.x == 0) bias[i] = params[d.bias + i];
}

}  // namespace
}  // namespace cuda

namespace train {

double fusionGradientCuda(const FusionLayout& L, const float* params, const FusionInputs& in, const RankSamples& s,
                          const FusionHyper& h, uint64_t seed, const float* masks, float* grad, const ExecConfig&) {
  return cuda::runFusion(L, const_cast<float*>(params), nullptr, nullptr, nullptr, in, s, h, seed, masks, grad,
                         "fusionGradient");
}

double fusionEpochCuda(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                       const RankSamples& s, const FusionHyper& h, uint64_t seed, const ExecConfig&) {
  return cuda::runFusion(L, params, m, v, step, in, s, h, seed, nullptr, nullptr, "fusionEpoch");
}

void fusionVectorsCuda(const FusionLayout& L, const float* params, const float* itemSem, const int32_t* users,
                       const float* userSem, int64_t count, const FusionInputs& history, float* userOut, float* itemOut,
                       float* itemBias, const ExecConfig&) {
  using namespace cuda;
  requireGpu("fusionVectors");
  for (int64_t r = 0; r < count; ++r)
    if (users[r] < 0 || users[r] >= L.numUsers)
      fail(ErrorCode::OutOfRange, "fusionVectors: users[" + std::to_string(r) + "] = " + std::to_string(users[r]) +
                                      " is outside [0, " + std::to_string(L.numUsers) + ")");
  validateHistory(L, history, "fusionVectors");
  // The requested users' history rows with their shares (w / sum w, as the CPU computes them).
  std::vector<int32_t> hPtr{0}, hItems;
  std::vector<float> hShare;
  if (history.hasHistory()) {
    for (int64_t r = 0; r < count; ++r) {
      const int32_t u = users[r];
      double total = 0;
      for (int32_t e = history.historyIndptr[u]; e < history.historyIndptr[u + 1]; ++e) total += history.historyWeight[e];
      for (int32_t e = history.historyIndptr[u]; e < history.historyIndptr[u + 1]; ++e) {
        if (!(total > 0)) continue;
        hItems.push_back(history.historyItems[e]);
        hShare.push_back(static_cast<float>(history.historyWeight[e] / total));
      }
      hPtr.push_back(static_cast<int32_t>(hItems.size()));
    }
  }
  const Dims d = dimsOf(L, 0);
  Stream stream;
  const cudaStream_t st = stream.get();
  DeviceBuffer<float> dParams(L.total, st);
  dParams.upload(params, L.total);
  if (count > 0) {
    DeviceBuffer<float> sem(d.R ? count * d.ds : 0, st), Y(std::max<int64_t>(1, count * d.R), st), out(count * d.F, st);
    DeviceBuffer<int32_t> dUsers(count, st);
    dUsers.upload(users, count);
    if (d.R) {
      sem.upload(userSem, count * d.ds);
      for (int64_t r0 = 0; r0 < count; r0 += int64_t{65535} * 64) {
        const int64_t rows = std::min(count - r0, int64_t{65535} * 64);
        gemmNT(sem.data() + r0 * d.ds, rows, dParams.data() + d.Wu, d.R, d.ds, nullptr, Y.data() + r0 * d.R, st);
      }
    }
    HostCopy<int32_t> dhPtr(history.hasHistory() ? hPtr : std::vector<int32_t>{}, st), dhItems(hItems, st);
    HostCopy<float> dhShare(hShare, st);
    userVectorsKernel<<<count, kThreads, 0, st>>>(d, dParams.data(), dUsers.data(), Y.data(), history.hasHistory() ? dhPtr.data() : nullptr,
                                                  dhItems.data(), dhShare.data(), out.data());
    checkLaunch("userVectorsKernel", st);
    out.download(userOut, count * d.F);
    stream.sync();
  }
  if (itemOut && L.numItems > 0) {
    DeviceBuffer<float> sem(d.R ? L.numItems * d.ds : 0, st), X(std::max<int64_t>(1, L.numItems * d.R), st),
        out(L.numItems * d.F, st), bias(L.numItems, st);
    if (d.R) {
      sem.upload(itemSem, L.numItems * d.ds);
      for (int64_t r0 = 0; r0 < L.numItems; r0 += int64_t{65535} * 64) {
        const int64_t rows = std::min(L.numItems - r0, int64_t{65535} * 64);
        gemmNT(sem.data() + r0 * d.ds, rows, dParams.data() + d.Wi, d.R, d.ds, nullptr, X.data() + r0 * d.R, st);
      }
    }
    itemVectorsKernel<<<L.numItems, kThreads, 0, st>>>(d, dParams.data(), X.data(), out.data(), bias.data());
    checkLaunch("itemVectorsKernel", st);
    out.download(itemOut, L.numItems * d.F);
    if (itemBias) bias.download(itemBias, L.numItems);
    stream.sync();
  } else if (itemBias) {
    for (int64_t i = 0; i < L.numItems; ++i) itemBias[i] = params[L.bias + i];
  }
}

}  // namespace train
}  // namespace semrec
