// LightGCN propagation, hand-derived backward pass and Adam epochs (see semrec/train_lightgcn.h).
//
// What makes an epoch fast (README "Training near the hardware limit" has the profiles behind each point):
//  - the propagation gathers one output row at a time into registers (AVX-512 or AVX2 over the embedding
//    dimension, 64 floats per pass, the next rows prefetched), so each output row is written once;
//  - each mini-batch computes only what its loss needs: the full layers 1..L-1, then layer L and the final
//    embeddings for the batch's nodes alone; the first backward layer reads only the batch's rows of G when
//    they are few (the other rows of G are zero);
//  - the last backward layer, the sum over layers, the L2 penalty and the Adam step are one pass per row;
//  - one thread team per call runs the ~8 phases of every mini-batch (no thread start per phase), and
//    every buffer is allocated once per call, none per mini-batch.
//
// Results are bit-identical to the plain scalar loops this file used to run, on every vector path: every
// element is accumulated in the same order with a multiply then an add (floating-point contraction into
// FMA is switched off below), and a skipped term is always an exact +0. The one exception is the
// reported loss, whose L2 part is now summed per node rather than per triple (equal to ~1e-15 relative).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "semrec/train_lightgcn.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "semrec/cpu_isa.h"
#include "semrec/parallel.h"
#include "semrec/thread_team.h"

namespace semrec::train {

LightGcnGraph lightgcnGraph(const Positives& p, int64_t numUsers) {
  LightGcnGraph g;
  g.numUsers = numUsers;
  g.numItems = p.numItems;
  const CsrView& c = p.byUser;
  std::vector<int64_t> itemDegree(p.numItems, 0);
  for (int64_t e = 0; e < c.nnz; ++e) ++itemDegree[c.indices[e]];
  const int64_t nodes = g.numNodes();
  g.indptr.assign(nodes + 1, 0);
  for (int64_t u = 0; u < numUsers; ++u) g.indptr[u + 1] = c.indptr[u + 1] - c.indptr[u];
  for (int64_t i = 0; i < p.numItems; ++i) g.indptr[numUsers + i + 1] = static_cast<int32_t>(itemDegree[i]);
  for (int64_t n = 0; n < nodes; ++n) g.indptr[n + 1] += g.indptr[n];
  g.indices.resize(g.indptr[nodes]);
  g.weights.resize(g.indptr[nodes]);
  std::vector<int32_t> fill(g.indptr.begin(), g.indptr.end() - 1);
  for (int64_t u = 0; u < numUsers; ++u) {
    const double du = static_cast<double>(c.indptr[u + 1] - c.indptr[u]);
    for (int32_t e = c.indptr[u]; e < c.indptr[u + 1]; ++e) {
      const int32_t i = c.indices[e];
      const float w = static_cast<float>(1.0 / std::sqrt(du * static_cast<double>(itemDegree[i])));
      const int32_t itemNode = static_cast<int32_t>(numUsers + i);
      g.indices[fill[u]] = itemNode;
      g.weights[fill[u]++] = w;
      g.indices[fill[itemNode]] = static_cast<int32_t>(u);  // users visited in ascending order: rows stay sorted
      g.weights[fill[itemNode]++] = w;
    }
  }
  return g;
}

namespace {

// ---- row kernels ----
// gatherRow: out[0..dim) = sum over row n's edges e, in CSR order, of weight[e] * in[indices[e]], each
// term a multiply then an add starting from +0 (the scalar loop `o[t] += w * x[t]`). With `live`, edges to
// rows that are not live are skipped: those rows are zero, and adding w * (+0) = +0 never changes a sum.

// Rows whose neighbours are fetched this many edges ahead (a row of 64 floats is four cache lines).
constexpr int32_t kPrefetchEdges = 4;
// Columns per pass over a row's edges: 64 floats = 4 AVX-512 or 8 AVX2 registers of accumulators.
constexpr int64_t kColumnsPerPass = 64;

template <bool kSkip>
void gatherRowBaseline(const LightGcnGraph& g, int64_t n, const float* in, int64_t dim, float* out, const uint8_t* live) {
  std::fill(out, out + dim, 0.0f);
  for (int32_t e = g.indptr[n]; e < g.indptr[n + 1]; ++e) {
    const int32_t j = g.indices[e];
    if (kSkip && !live[j]) continue;
    const float w = g.weights[e];
    const float* x = in + static_cast<int64_t>(j) * dim;
    for (int64_t t = 0; t < dim; ++t) out[t] += w * x[t];
  }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) inline __mmask16 lanes16(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff)
                         : remaining <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << remaining) - 1);
}

// One pass over row n's edges for the columns [c0, c0 + 64) (masked past `width` when kMasked).
template <bool kSkip, bool kMasked>
__attribute__((target("avx512f"))) inline void gatherPassAvx512(const LightGcnGraph& g, int64_t n, const float* in,
                                                                 int64_t dim, int64_t c0, int64_t width, float* out,
                                                                 const uint8_t* live) {
  const int32_t e0 = g.indptr[n], e1 = g.indptr[n + 1];
  const int32_t* idx = g.indices.data();
  const float* wt = g.weights.data();
  const __mmask16 k0 = lanes16(width), k1 = lanes16(width - 16), k2 = lanes16(width - 32), k3 = lanes16(width - 48);
  auto load = [&](const float* p, __mmask16 k) { return kMasked ? _mm512_maskz_loadu_ps(k, p) : _mm512_loadu_ps(p); };
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  for (int32_t e = e0; e < e1; ++e) {
    const int32_t j = idx[e];
    if (kSkip && !live[j]) continue;
    if (!kSkip && e + kPrefetchEdges < e1) {
      const char* ahead = reinterpret_cast<const char*>(in + static_cast<int64_t>(idx[e + kPrefetchEdges]) * dim + c0);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
      _mm_prefetch(ahead + 128, _MM_HINT_T0);
      _mm_prefetch(ahead + 192, _MM_HINT_T0);
    }
    const float* x = in + static_cast<int64_t>(j) * dim + c0;
    const __m512 w = _mm512_set1_ps(wt[e]);
    a0 = _mm512_add_ps(a0, _mm512_mul_ps(w, load(x, k0)));
    a1 = _mm512_add_ps(a1, _mm512_mul_ps(w, load(x + 16, k1)));
    a2 = _mm512_add_ps(a2, _mm512_mul_ps(w, load(x + 32, k2)));
    a3 = _mm512_add_ps(a3, _mm512_mul_ps(w, load(x + 48, k3)));
  }
  if (kMasked) {
    _mm512_mask_storeu_ps(out + c0, k0, a0);
    _mm512_mask_storeu_ps(out + c0 + 16, k1, a1);
    _mm512_mask_storeu_ps(out + c0 + 32, k2, a2);
    _mm512_mask_storeu_ps(out + c0 + 48, k3, a3);
  } else {
    _mm512_storeu_ps(out + c0, a0);
    _mm512_storeu_ps(out + c0 + 16, a1);
    _mm512_storeu_ps(out + c0 + 32, a2);
    _mm512_storeu_ps(out + c0 + 48, a3);
  }
}

template <bool kSkip>
__attribute__((target("avx512f"))) void gatherRowAvx512(const LightGcnGraph& g, int64_t n, const float* in, int64_t dim,
                                                         float* out, const uint8_t* live) {
  int64_t c0 = 0;
  for (; c0 + kColumnsPerPass <= dim; c0 += kColumnsPerPass)
    gatherPassAvx512<kSkip, false>(g, n, in, dim, c0, kColumnsPerPass, out, live);
  if (c0 < dim) gatherPassAvx512<kSkip, true>(g, n, in, dim, c0, dim - c0, out, live);
}

template <bool kSkip>
__attribute__((target("avx2,fma"))) void gatherRowAvx2(const LightGcnGraph& g, int64_t n, const float* in, int64_t dim,
                                                        float* out, const uint8_t* live) {
  const int32_t e0 = g.indptr[n], e1 = g.indptr[n + 1];
  const int32_t* idx = g.indices.data();
  const float* wt = g.weights.data();
  int64_t c0 = 0;
  for (; c0 + kColumnsPerPass <= dim; c0 += kColumnsPerPass) {
    __m256 a[8];
    for (auto& r : a) r = _mm256_setzero_ps();
    for (int32_t e = e0; e < e1; ++e) {
      const int32_t j = idx[e];
      if (kSkip && !live[j]) continue;
      if (!kSkip && e + kPrefetchEdges < e1) {
        const char* ahead = reinterpret_cast<const char*>(in + static_cast<int64_t>(idx[e + kPrefetchEdges]) * dim + c0);
        _mm_prefetch(ahead, _MM_HINT_T0);
        _mm_prefetch(ahead + 64, _MM_HINT_T0);
        _mm_prefetch(ahead + 128, _MM_HINT_T0);
        _mm_prefetch(ahead + 192, _MM_HINT_T0);
      }
      const float* x = in + static_cast<int64_t>(j) * dim + c0;
      const __m256 w = _mm256_set1_ps(wt[e]);
      for (int k = 0; k < 8; ++k) a[k] = _mm256_add_ps(a[k], _mm256_mul_ps(w, _mm256_loadu_ps(x + 8 * k)));
    }
    for (int k = 0; k < 8; ++k) _mm256_storeu_ps(out + c0 + 8 * k, a[k]);
  }
  if (c0 == dim) return;
  // The last columns (fewer than 64), eight at a time, with masked loads and stores for the rest.
  const int64_t width = dim - c0;
  __m256i mask[8];
  __m256 a[8];
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int k = 0; k < 8; ++k) {
    mask[k] = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(width - 8 * k)), iota);
    a[k] = _mm256_setzero_ps();
  }
  const int parts = static_cast<int>((width + 7) / 8);
  for (int32_t e = e0; e < e1; ++e) {
    const int32_t j = idx[e];
    if (kSkip && !live[j]) continue;
    const float* x = in + static_cast<int64_t>(j) * dim + c0;
    const __m256 w = _mm256_set1_ps(wt[e]);
    for (int k = 0; k < parts; ++k) a[k] = _mm256_add_ps(a[k], _mm256_mul_ps(w, _mm256_maskload_ps(x + 8 * k, mask[k])));
  }
  for (int k = 0; k < parts; ++k) _mm256_maskstore_ps(out + c0 + 8 * k, mask[k], a[k]);
}

// Adam on one row, lane by lane the formula of adamUpdate (train_common.h), so the bits are the same.
__attribute__((target("avx512f"))) void adamRowAvx512(float* p, const float* g, float* m, float* v, int64_t n,
                                                       const AdamStep& s) {
  const __m512 b1 = _mm512_set1_ps(s.beta1), c1 = _mm512_set1_ps(1.0f - s.beta1);
  const __m512 b2 = _mm512_set1_ps(s.beta2), c2 = _mm512_set1_ps(1.0f - s.beta2);
  const __m512 step = _mm512_set1_ps(s.stepSize), eps = _mm512_set1_ps(s.epsHat);
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) {
    const __m512 gt = _mm512_loadu_ps(g + t);
    const __m512 mt = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + t)), _mm512_mul_ps(c1, gt));
    const __m512 vt = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + t)), _mm512_mul_ps(_mm512_mul_ps(c2, gt), gt));
    _mm512_storeu_ps(m + t, mt);
    _mm512_storeu_ps(v + t, vt);
    const __m512 delta = _mm512_div_ps(_mm512_mul_ps(step, mt), _mm512_add_ps(_mm512_maskz_sqrt_ps(0xffff, vt), eps));
    _mm512_storeu_ps(p + t, _mm512_sub_ps(_mm512_loadu_ps(p + t), delta));
  }
  adamUpdate(p + t, g + t, m + t, v + t, n - t, s);
}

__attribute__((target("avx2,fma"))) void adamRowAvx2(float* p, const float* g, float* m, float* v, int64_t n,
                                                      const AdamStep& s) {
  const __m256 b1 = _mm256_set1_ps(s.beta1), c1 = _mm256_set1_ps(1.0f - s.beta1);
  const __m256 b2 = _mm256_set1_ps(s.beta2), c2 = _mm256_set1_ps(1.0f - s.beta2);
  const __m256 step = _mm256_set1_ps(s.stepSize), eps = _mm256_set1_ps(s.epsHat);
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    const __m256 gt = _mm256_loadu_ps(g + t);
    const __m256 mt = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + t)), _mm256_mul_ps(c1, gt));
    const __m256 vt = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + t)), _mm256_mul_ps(_mm256_mul_ps(c2, gt), gt));
    _mm256_storeu_ps(m + t, mt);
    _mm256_storeu_ps(v + t, vt);
    const __m256 delta = _mm256_div_ps(_mm256_mul_ps(step, mt), _mm256_add_ps(_mm256_sqrt_ps(vt), eps));
    _mm256_storeu_ps(p + t, _mm256_sub_ps(_mm256_loadu_ps(p + t), delta));
  }
  adamUpdate(p + t, g + t, m + t, v + t, n - t, s);
}

// x_s = final_u . (final_i - final_j) for 16 (8) triples at once, one triple per lane, each lane summing
// over t in order as the scalar loop does; rows are gathered by 32-bit offsets into `F` (the caller
// checks that numNodes * dim fits).
__attribute__((target("avx512f"))) void tripleDotsAvx512(const float* F, const int32_t* users, const int32_t* pos,
                                                          const int32_t* neg, int64_t numUsers, int64_t d, int64_t count,
                                                          float* x) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i dim = _mm512_set1_epi32(static_cast<int>(d)), one = _mm512_set1_epi32(1);
  const __m512i items = _mm512_set1_epi32(static_cast<int>(numUsers));
  for (int64_t s0 = 0; s0 < count; s0 += 16) {
    const __mmask16 k = _mm512_cmpgt_epi32_mask(_mm512_set1_epi32(static_cast<int>(count - s0)), lane);
    __m512i ou = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(k, users + s0), dim);
    __m512i oi = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_maskz_loadu_epi32(k, pos + s0), items), dim);
    __m512i oj = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_maskz_loadu_epi32(k, neg + s0), items), dim);
    __m512 acc = _mm512_setzero_ps();
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t t = 0; t < d; ++t) {
      const __m512 fu = _mm512_mask_i32gather_ps(zero, k, ou, F, 4);
      const __m512 fi = _mm512_mask_i32gather_ps(zero, k, oi, F, 4);
      const __m512 fj = _mm512_mask_i32gather_ps(zero, k, oj, F, 4);
      acc = _mm512_add_ps(acc, _mm512_mul_ps(fu, _mm512_sub_ps(fi, fj)));
      ou = _mm512_add_epi32(ou, one);
      oi = _mm512_add_epi32(oi, one);
      oj = _mm512_add_epi32(oj, one);
    }
    _mm512_mask_storeu_ps(x + s0, k, acc);
  }
}

__attribute__((target("avx2,fma"))) void tripleDotsAvx2(const float* F, const int32_t* users, const int32_t* pos,
                                                         const int32_t* neg, int64_t numUsers, int64_t d, int64_t count,
                                                         float* x) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i dim = _mm256_set1_epi32(static_cast<int>(d)), one = _mm256_set1_epi32(1);
  const __m256i items = _mm256_set1_epi32(static_cast<int>(numUsers));
  for (int64_t s0 = 0; s0 < count; s0 += 8) {
    const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(8, count - s0))), lane);
    __m256i ou = _mm256_mullo_epi32(_mm256_maskload_epi32(users + s0, k), dim);
    __m256i oi = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_maskload_epi32(pos + s0, k), items), dim);
    __m256i oj = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_maskload_epi32(neg + s0, k), items), dim);
    const __m256 mask = _mm256_castsi256_ps(k), zero = _mm256_setzero_ps();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t t = 0; t < d; ++t) {
      const __m256 fu = _mm256_mask_i32gather_ps(zero, F, ou, mask, 4);
      const __m256 fi = _mm256_mask_i32gather_ps(zero, F, oi, mask, 4);
      const __m256 fj = _mm256_mask_i32gather_ps(zero, F, oj, mask, 4);
      acc = _mm256_add_ps(acc, _mm256_mul_ps(fu, _mm256_sub_ps(fi, fj)));
      ou = _mm256_add_epi32(ou, one);
      oi = _mm256_add_epi32(oi, one);
      oj = _mm256_add_epi32(oj, one);
    }
    _mm256_maskstore_ps(x + s0, k, acc);
  }
}
#endif

void tripleDotsBaseline(const float* F, const int32_t* users, const int32_t* pos, const int32_t* neg, int64_t numUsers,
                        int64_t d, int64_t count, float* x) {
  for (int64_t s = 0; s < count; ++s) {
    const float* fu = F + static_cast<int64_t>(users[s]) * d;
    const float* fi = F + (numUsers + pos[s]) * d;
    const float* fj = F + (numUsers + neg[s]) * d;
    float acc = 0;
    for (int64_t t = 0; t < d; ++t) acc += fu[t] * (fi[t] - fj[t]);
    x[s] = acc;
  }
}

using GatherRowFn = void (*)(const LightGcnGraph&, int64_t, const float*, int64_t, float*, const uint8_t*);
using AdamRowFn = void (*)(float*, const float*, float*, float*, int64_t, const AdamStep&);
using TripleDotsFn = void (*)(const float*, const int32_t*, const int32_t*, const int32_t*, int64_t, int64_t, int64_t,
                              float*);

struct Kernels {
  GatherRowFn gather = gatherRowBaseline<false>;
  GatherRowFn gatherLive = gatherRowBaseline<true>;
  AdamRowFn adam = [](float* p, const float* g, float* m, float* v, int64_t n, const AdamStep& s) {
    adamUpdate(p, g, m, v, n, s);
  };
  TripleDotsFn tripleDots = tripleDotsBaseline;
};

Kernels pickKernels() {
  Kernels k;
#if defined(__x86_64__)
  if (cpuIsa() == CpuIsa::Avx512) {
    k.gather = gatherRowAvx512<false>;
    k.gatherLive = gatherRowAvx512<true>;
    k.adam = adamRowAvx512;
    k.tripleDots = tripleDotsAvx512;
  } else if (cpuIsa() == CpuIsa::Avx2) {
    k.gather = gatherRowAvx2<false>;
    k.gatherLive = gatherRowAvx2<true>;
    k.adam = adamRowAvx2;
    k.tripleDots = tripleDotsAvx2;
  }
#endif
  return k;
}

const Kernels& kernels() {
  static const Kernels k = pickKernels();
  return k;
}

// ---- element-wise row operations (SEMREC_VECTOR_CLONES: the same bits at every vector width) ----

// final = (E_0 + E_1 + ... + E_{L-1} + top) * inv, added in that order; `layers` holds E_1..E_{L-1}.
SEMREC_VECTOR_CLONES void finalRow(float* __restrict f, const float* e0, const float* const* layers, int64_t middle,
                                const float* top, float inv, int64_t d) {
  for (int64_t t = 0; t < d; ++t) f[t] = e0[t];
  for (int64_t k = 0; k < middle; ++k) {
    const float* ek = layers[k];
    for (int64_t t = 0; t < d; ++t) f[t] += ek[t];
  }
  if (top)
    for (int64_t t = 0; t < d; ++t) f[t] += top[t];
  for (int64_t t = 0; t < d; ++t) f[t] *= inv;
}

// G_u += c (f_i - f_j); G_i += c f_u; G_j -= c f_u (one triple's share of dloss/dfinal).
SEMREC_VECTOR_CLONES void scatterTriple(float* Gu, float* Gi, float* Gj, const float* fu, const float* fi, const float* fj,
                                     float c, int64_t d) {
  for (int64_t t = 0; t < d; ++t) Gu[t] += c * (fi[t] - fj[t]);
  for (int64_t t = 0; t < d; ++t) Gi[t] += c * fu[t];
  for (int64_t t = 0; t < d; ++t) Gj[t] -= c * fu[t];
}

// grad = G s + b_1 s + ... + b_{L-1} s + top s, then + penalty e once per use; `layers` holds b_1..b_{L-1}.
SEMREC_VECTOR_CLONES void gradientRow(float* __restrict out, const float* Gn, const float* const* layers, int64_t middle,
                                   const float* top, float s, const float* e, float penalty, int32_t uses, int64_t d) {
  for (int64_t t = 0; t < d; ++t) out[t] = Gn[t] * s;
  for (int64_t k = 0; k < middle; ++k) {
    const float* bk = layers[k];
    for (int64_t t = 0; t < d; ++t) out[t] += bk[t] * s;
  }
  if (top)
    for (int64_t t = 0; t < d; ++t) out[t] += top[t] * s;
  for (int32_t use = 0; use < uses; ++use)
    for (int64_t t = 0; t < d; ++t) out[t] += penalty * e[t];
}

// |e|^2 in double, as eight interleaved partial sums added pairwise: one fixed order on every path.
double squaredNorm(const float* e, int64_t d) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t t = 0;
  for (; t + 8 <= d; t += 8)
    for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(e[t + k]) * e[t + k];
  for (int k = 0; t < d; ++t, ++k) part[k] += static_cast<double>(e[t]) * e[t];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Rows per chunk of a parallel phase (a row is ~60 gathered rows on ml-100k: a chunk is a few microseconds).
constexpr int64_t kRowGrain = 32;
// The first backward layer reads only the batch's rows of G when they are at most this share of all rows.
constexpr int64_t kSparseShare = 4;

// Buffers of one call, reused by every mini-batch.
struct Workspace {
  int64_t dim, layers, numNodes;
  std::vector<float> layer;       // layers - 1 full layers: E_1..E_{L-1} forward, then A^k G backward
  std::vector<float> final;       // numNodes x dim; rows of the batch's nodes
  std::vector<float> G;           // numNodes x dim; dloss/dfinal, zero outside the batch's nodes
  std::vector<int32_t> nodes;     // the batch's distinct nodes, in first-use order
  std::vector<int32_t> uses;      // per node: how often the batch uses it (its L2 penalty counts that often)
  std::vector<uint8_t> live;      // per node: 1 for the batch's nodes
  std::vector<double> normSq;     // per batch node (same order as `nodes`): |E0_n|^2
  std::vector<float> coef;        // per triple: dloss/dx
  std::vector<double> tripleLoss;  // per triple: softplus(-x)
  std::vector<std::vector<float>> rowScratch;  // per worker: two rows
  std::vector<std::vector<const float*>> rowPointers;  // per worker: one row of each middle layer

  Workspace(const LightGcnGraph& g, int64_t dim_, int64_t layers_, int workers)
      : dim(dim_),
        layers(layers_),
        numNodes(g.numNodes()),
        layer(static_cast<size_t>(std::max<int64_t>(0, layers_ - 1) * g.numNodes() * dim_)),
        final(static_cast<size_t>(g.numNodes() * dim_)),
        G(static_cast<size_t>(g.numNodes() * dim_), 0.0f),
        uses(g.numNodes(), 0),
        live(g.numNodes(), 0),
        rowScratch(workers, std::vector<float>(static_cast<size_t>(2 * dim_))),
        rowPointers(workers, std::vector<const float*>(static_cast<size_t>(std::max<int64_t>(1, layers_)))) {}

  float* layerRows(int64_t k) { return layer.data() + (k - 1) * numNodes * dim; }  // k = 1..layers-1
};

// Marks the batch's nodes (first-use order) and counts their uses; clears the previous batch's marks and
// its rows of G (the only rows of G that are not zero).
void markBatch(const LightGcnGraph& g, const TripleView& b, Workspace& w) {
  for (int32_t n : w.nodes) {
    w.live[n] = 0;
    w.uses[n] = 0;
    std::fill(w.G.begin() + static_cast<int64_t>(n) * w.dim, w.G.begin() + (static_cast<int64_t>(n) + 1) * w.dim, 0.0f);
  }
  w.nodes.clear();
  auto use = [&](int64_t n) {
    if (!w.live[n]) {
      w.live[n] = 1;
      w.nodes.push_back(static_cast<int32_t>(n));
    }
    ++w.uses[n];
  };
  for (int64_t s = 0; s < b.size; ++s) {
    use(b.users[s]);
    use(g.numUsers + b.pos[s]);
    use(g.numUsers + b.neg[s]);
  }
}

// Forward pass for the rows `rows` (all nodes when null): E_k = A E_{k-1} for k < L on every node, then
// layer L and final = (E_0 + ... + E_L) / (L + 1) for the requested rows only. Also |E0_n|^2 of the
// requested rows when normSq is given.
void forward(ThreadTeam& team, const LightGcnGraph& g, const float* E0, Workspace& w, const int32_t* rows,
             int64_t numRows, std::vector<double>* normSq) {
  const Kernels& kern = kernels();
  const int64_t d = w.dim, L = w.layers, N = w.numNodes;
  for (int64_t k = 1; k < L; ++k) {
    const float* in = k == 1 ? E0 : w.layerRows(k - 1);
    float* out = w.layerRows(k);
    team.parallelFor(N, kRowGrain, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) kern.gather(g, n, in, d, out + n * d, nullptr);
    });
  }
  const float inv = 1.0f / static_cast<float>(L + 1);
  const float* last = L == 1 ? E0 : L > 1 ? w.layerRows(L - 1) : nullptr;
  if (normSq) normSq->resize(static_cast<size_t>(numRows));
  team.parallelFor(numRows, kRowGrain, [&](int64_t r0, int64_t r1, int worker) {
    float* top = w.rowScratch[worker].data();
    const float** middle = w.rowPointers[worker].data();
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = rows ? rows[r] : r;
      if (L > 0) kern.gather(g, n, last, d, top, nullptr);
      for (int64_t k = 1; k < L; ++k) middle[k - 1] = w.layerRows(k) + n * d;
      finalRow(w.final.data() + n * d, E0 + n * d, middle, std::max<int64_t>(0, L - 1), L > 0 ? top : nullptr, inv, d);
      if (normSq) (*normSq)[r] = squaredNorm(E0 + n * d, d);
    }
  });
}

// dloss/dx of every triple (x = final_u . (final_i - final_j)), and G = dloss/dfinal on the batch's rows,
// accumulated triple by triple in batch order. Returns the summed softplus(-x).
double bprGradient(ThreadTeam& team, const LightGcnGraph& g, const TripleView& b, Workspace& w) {
  const int64_t d = w.dim;
  const float inv = b.size > 0 ? 1.0f / static_cast<float>(b.size) : 0.0f;
  const TripleDotsFn dots = w.numNodes * d <= INT32_MAX ? kernels().tripleDots : tripleDotsBaseline;
  w.coef.resize(b.size);
  w.tripleLoss.resize(b.size);
  team.parallelFor(b.size, 256, [&](int64_t s0, int64_t s1, int) {
    float* x = w.coef.data() + s0;
    dots(w.final.data(), b.users + s0, b.pos + s0, b.neg + s0, g.numUsers, d, s1 - s0, x);
    for (int64_t s = s0; s < s1; ++s) {
      const float xs = w.coef[s];
      w.tripleLoss[s] = softplus(-static_cast<double>(xs));
      w.coef[s] = -sigmoid(-xs) * inv;
    }
  });
  double loss = 0;
  for (int64_t s = 0; s < b.size; ++s) {
    loss += w.tripleLoss[s];
    const int64_t u = b.users[s], i = g.numUsers + b.pos[s], j = g.numUsers + b.neg[s];
    scatterTriple(w.G.data() + u * d, w.G.data() + i * d, w.G.data() + j * d, w.final.data() + u * d,
                  w.final.data() + i * d, w.final.data() + j * d, w.coef[s], d);
  }
  return loss;
}

// The backward pass: grad = (G + A G + ... + A^L G) / (L + 1) (summed in that order) plus the penalty's
// gradient, reg/|batch| E0_n once per use of node n. With Adam, each row's step is taken as soon as its
// gradient is complete; otherwise the gradient is written to `gradOut`.
void backward(ThreadTeam& team, const LightGcnGraph& g, float* E0, float reg, int64_t batchSize, Workspace& w,
              float* gradOut, float* m, float* v, const AdamStep* adam) {
  const Kernels& kern = kernels();
  const int64_t d = w.dim, L = w.layers, N = w.numNodes;
  const bool sparseG = static_cast<int64_t>(w.nodes.size()) * kSparseShare < N;
  for (int64_t k = 1; k < L; ++k) {
    const float* in = k == 1 ? w.G.data() : w.layerRows(k - 1);
    float* out = w.layerRows(k);
    const GatherRowFn gather = k == 1 && sparseG ? kern.gatherLive : kern.gather;
    team.parallelFor(N, kRowGrain, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) gather(g, n, in, d, out + n * d, w.live.data());
    });
  }
  const float scale = 1.0f / static_cast<float>(L + 1);
  const float penalty = reg * (batchSize > 0 ? 1.0f / static_cast<float>(batchSize) : 0.0f);
  const float* last = L == 1 ? w.G.data() : L > 1 ? w.layerRows(L - 1) : nullptr;
  const GatherRowFn lastGather = L == 1 && sparseG ? kern.gatherLive : kern.gather;
  team.parallelFor(N, kRowGrain, [&](int64_t n0, int64_t n1, int worker) {
    float* top = w.rowScratch[worker].data();
    float* row = w.rowScratch[worker].data() + d;
    const float** middle = w.rowPointers[worker].data();
    for (int64_t n = n0; n < n1; ++n) {
      if (L > 0) lastGather(g, n, last, d, top, w.live.data());
      for (int64_t k = 1; k < L; ++k) middle[k - 1] = w.layerRows(k) + n * d;
      float* out = gradOut ? gradOut + n * d : row;
      gradientRow(out, w.G.data() + n * d, middle, std::max<int64_t>(0, L - 1), L > 0 ? top : nullptr, scale, E0 + n * d,
                  penalty, w.uses[n], d);
      if (adam) kern.adam(E0 + n * d, out, m + n * d, v + n * d, d, *adam);
    }
  });
}

// One mini-batch: forward, loss, backward, and the Adam step (or the gradient into gradOut). Returns the
// batch's mean loss.
double batchStep(ThreadTeam& team, const LightGcnGraph& g, float* E0, float reg, const TripleView& b, Workspace& w,
                 float* gradOut, float* m, float* v, const AdamStep* adam) {
  markBatch(g, b, w);
  forward(team, g, E0, w, w.nodes.data(), static_cast<int64_t>(w.nodes.size()), &w.normSq);
  const double tripleLoss = bprGradient(team, g, b, w);
  double penalty = 0;
  for (size_t r = 0; r < w.nodes.size(); ++r) penalty += static_cast<double>(w.uses[w.nodes[r]]) * w.normSq[r];
  backward(team, g, E0, reg, b.size, w, gradOut, m, v, adam);
  return b.size > 0 ? (tripleLoss + 0.5 * reg * penalty) / static_cast<double>(b.size) : 0.0;
}

}  // namespace

void propagate(const LightGcnGraph& g, const float* in, float* out, int64_t dim, const ExecConfig& config) {
  const GatherRowFn gather = kernels().gather;
  parallelFor(g.numNodes(), 256, config.numThreads, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; ++n) gather(g, n, in, dim, out + n * dim, nullptr);
  });
}

void lightgcnForward(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float* final,
                     const ExecConfig& config) {
  ThreadTeam team(config.numThreads);
  Workspace w(g, dim, layers, team.size());
  forward(team, g, E0, w, nullptr, g.numNodes(), nullptr);
  std::copy(w.final.begin(), w.final.end(), final);
}

double lightgcnGradient(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float reg,
                        const TripleView& batch, float* grad, const ExecConfig& config) {
  ThreadTeam team(config.numThreads);
  Workspace w(g, dim, layers, team.size());
  // E0 is only read when no Adam step is taken.
  return batchStep(team, g, const_cast<float*>(E0), reg, batch, w, grad, nullptr, nullptr, nullptr);
}

double lightgcnEpoch(const LightGcnGraph& g, float* E0, float* m, float* v, int64_t* step, int64_t dim,
                     const TripleView& triples, const LightGcnHyper& h, const ExecConfig& config) {
  ThreadTeam team(config.numThreads);
  Workspace w(g, dim, h.layers, team.size());
  const int64_t batch = std::max<int64_t>(1, h.batchSize);
  double total = 0;
  for (int64_t begin = 0; begin < triples.size; begin += batch) {
    const int64_t n = std::min(batch, triples.size - begin);
    const TripleView b{triples.users + begin, triples.pos + begin, triples.neg + begin, n};
    const AdamStep adam = adamStep(h.adam, ++*step);
    total += batchStep(team, g, E0, h.reg, b, w, nullptr, m, v, &adam) * static_cast<double>(n);
  }
  const double loss = triples.size > 0 ? total / static_cast<double>(triples.size) : 0.0;
  checkFiniteLoss(loss, "lightgcnEpoch");
  return loss;
}

}  // namespace semrec::train
