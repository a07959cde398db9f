// The sequential recommenders' transformer on the GPU: the CUDA twin of native/ops/transformer.cc (same model,
// same dropout masks, same batches; results equal up to float summation order). A batch's activations live on
// the device for all of its tokens at once; the linear layers are tiled SGEMMs over every token of the batch,
// attention runs one thread per (query token, head), LayerNorm one warp per row. Gradients of parameters
// shared across tokens are summed with atomics (not bit-reproducible, unlike the CPU's fixed-order sums).
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common.cuh"
#include "semrec/transformer.h"

namespace semrec::seq {

namespace {

using semrec::cuda::checkLaunch;
using semrec::cuda::DeviceBuffer;

constexpr int kTile = 64, kDepth = 16, kGemmThreads = 256;
constexpr int kThreads = 256;
constexpr int64_t kLogitFloats = int64_t{1} << 26;  // score rows materialised at once: 256 MiB

unsigned blocksFor(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// C[M x N] (+)= op(A) . op(B), all row-major; op(A) is M x K, op(B) is K x N.
template <bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads) gemmKernel(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                                                           const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  __shared__ float aTile[kDepth][kTile + 1];
  __shared__ float bTile[kDepth][kTile + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTile, j0 = static_cast<int64_t>(blockIdx.y) * kTile;
  float sum[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kDepth) {
    for (int l = threadIdx.x; l < kTile * kDepth; l += kGemmThreads) {
      const int r = l / kDepth, c = l % kDepth;
      const int64_t i = i0 + r, j = j0 + r, k = k0 + c;
      aTile[c][r] = (i < M && k < K) ? (TA ? A[k * lda + i] : A[i * lda + k]) : 0.0f;
      bTile[c][r] = (j < N && k < K) ? (TB ? B[j * ldb + k] : B[k * ldb + j]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kDepth; ++c) {
      float a[4], b[4];
#pragma unroll
      for (int x = 0; x < 4; ++x) a[x] = aTile[c][ty * 4 + x], b[x] = bTile[c][tx * 4 + x];
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) sum[x][y] += a[x] * b[y];
    }
    __syncthreads();
  }
#pragma unroll
  for (int x = 0; x < 4; ++x) {
    const int64_t i = i0 + ty * 4 + x;
    if (i >= M) continue;
#pragma unroll
    for (int y = 0; y < 4; ++y) {
      const int64_t j = j0 + tx * 4 + y;
      if (j < N) C[i * ldc + j] = (acc ? C[i * ldc + j] : 0.0f) + sum[x][y];
    }
  }
}

void gemm(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
          int64_t ldb, float* C, int64_t ldc, bool acc) {
  if (M <= 0 || N <= 0) return;
  const dim3 grid(static_cast<unsigned>((M + kTile - 1) / kTile), static_cast<unsigned>((N + kTile - 1) / kTile));
  if (!ta && !tb) gemmKernel<false, false><<<grid, kGemmThreads, 0, s>>>(M, N, K, A, lda, B, ldb, C, ldc, acc);
  if (ta && !tb) gemmKernel<true, false><<<grid, kGemmThreads, 0, s>>>(M, N, K, A, lda, B, ldb, C, ldc, acc);
  if (!ta && tb) gemmKernel<false, true><<<grid, kGemmThreads, 0, s>>>(M, N, K, A, lda, B, ldb, C, ldc, acc);
  if (ta && tb) gemmKernel<true, true><<<grid, kGemmThreads, 0, s>>>(M, N, K, A, lda, B, ldb, C, ldc, acc);
  checkLaunch("transformer gemmKernel", s);
}

__device__ __forceinline__ void geluAndSlope(float x, float& value, float& slope) {
  const float u = fabsf(x) * 0.70710678118654752f;
  const float e = expf(-0.5f * x * x);
  const float t = 1.0f / (1.0f + 0.3275911f * u);
  const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  float erfv = 1.0f - poly * e;
  if (x < 0) erfv = -erfv;
  value = 0.5f * x * (1.0f + erfv);
  slope = 0.5f * (1.0f + erfv) + x * e * 0.398942280401432678f;
}

__global__ void setRowsKernel(float* y, const float* b, int64_t rows, int64_t dim) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < rows * dim) y[i] = b[i % dim];
}
__global__ void addKernel(float* y, const float* x, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] += x[i];
}
__global__ void geluForwardKernel(const float* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) {
    float v, s;
    geluAndSlope(x[i], v, s);
    y[i] = v;
  }
}
__global__ void geluBackwardKernel(const float* x, float* dy, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) {
    float v, s;
    geluAndSlope(x[i], v, s);
    dy[i] *= s;
  }
}
// Row r is absolute token t0 + r.
__global__ void dropoutKernel(float* x, int64_t rows, int64_t dim, int64_t t0, uint64_t seed, uint32_t site, uint32_t thr,
                              float scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * dim) return;
  const int64_t r = i / dim, j = i % dim;
  x[i] *= dropoutFactor(dropoutBase(seed, site, t0 + r), j, thr, scale);
}
__global__ void embeddingKernel(const float* P, int64_t tokOff, int64_t posOff, const int32_t* tokens, const int32_t* pos,
                                float* e, int64_t n, int64_t H) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * H) return;
  const int64_t t = i / H, j = i % H;
  e[i] = P[tokOff + static_cast<int64_t>(tokens[t]) * H + j] + P[posOff + static_cast<int64_t>(pos[t]) * H + j];
}
__global__ void embeddingBackwardKernel(float* G, int64_t tokOff, int64_t posOff, const int32_t* tokens, const int32_t* pos,
                                        const float* de, int64_t n, int64_t H) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * H) return;
  const int64_t t = i / H, j = i % H;
  atomicAdd(G + tokOff + static_cast<int64_t>(tokens[t]) * H + j, de[i]);
  atomicAdd(G + posOff + static_cast<int64_t>(pos[t]) * H + j, de[i]);
}

// One warp per row.
__global__ void layerNormForwardKernel(const float* x, const float* g, const float* b, float* y, float* stats, int64_t rows,
                                       int64_t dim, float eps) {
  const int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* xr = x + r * dim;
  float s = 0;
  for (int64_t j = lane; j < dim; j += 32) s += xr[j];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float mean = s / dim;
  float v = 0;
  for (int64_t j = lane; j < dim; j += 32) v += (xr[j] - mean) * (xr[j] - mean);
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const float rstd = rsqrtf(v / dim + eps);
  for (int64_t j = lane; j < dim; j += 32) y[r * dim + j] = (xr[j] - mean) * rstd * g[j] + b[j];
  if (lane == 0) stats[2 * r] = mean, stats[2 * r + 1] = rstd;
}
__global__ void layerNormBackwardKernel(const float* x, const float* g, const float* stats, const float* dy, float* dx,
                                        float* dg, float* db, int64_t rows, int64_t dim) {
  const int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float mean = stats[2 * r], rstd = stats[2 * r + 1];
  float sumD = 0, sumDX = 0;
  for (int64_t j = lane; j < dim; j += 32) {
    const float xhat = (x[r * dim + j] - mean) * rstd, d = dy[r * dim + j] * g[j];
    sumD += d;
    sumDX += d * xhat;
    atomicAdd(dg + j, dy[r * dim + j] * xhat);
    atomicAdd(db + j, dy[r * dim + j]);
  }
  for (int o = 16; o > 0; o >>= 1) {
    sumD += __shfl_xor_sync(0xffffffffu, sumD, o);
    sumDX += __shfl_xor_sync(0xffffffffu, sumDX, o);
  }
  sumD /= dim;
  sumDX /= dim;
  for (int64_t j = lane; j < dim; j += 32) {
    const float xhat = (x[r * dim + j] - mean) * rstd;
    dx[r * dim + j] = rstd * (dy[r * dim + j] * g[j] - sumD - xhat * sumDX);
  }
}

// out[j] += sum over rows of x[r, j]: one thread per (column, chunk of rows).
__global__ void columnSumKernel(const float* x, int64_t rows, int64_t dim, float* out) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j >= dim) return;
  const int64_t chunk = (rows + gridDim.y - 1) / gridDim.y, r0 = blockIdx.y * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
  float s = 0;
  for (int64_t r = r0; r < r1; ++r) s += x[r * dim + j];
  if (r1 > r0) atomicAdd(out + j, s);
}
void columnSums(cudaStream_t s, const float* x, int64_t rows, int64_t dim, float* out) {
  if (rows <= 0) return;
  const dim3 grid(blocksFor(dim), static_cast<unsigned>(std::min<int64_t>(1024, (rows + 63) / 64)));
  columnSumKernel<<<grid, kThreads, 0, s>>>(x, rows, dim, out);
  checkLaunch("columnSumKernel", s);
}

struct AttnShape {
  int64_t n, H, heads, maxLen;
  bool causal;
  int64_t t0;  // absolute index of token 0 (dropout)
  uint64_t seed;
  uint32_t site, thr;
  float scale;
};

// One thread per (token, head): scores, softmax (kept), dropout, context.
__global__ void attentionForwardKernel(AttnShape a, const int32_t* segStart, const int32_t* segLen, const float* q,
                                       const float* k, const float* v, float* probs, float* ctx) {
  const int64_t id = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (id >= a.n * a.heads) return;
  const int64_t t = id / a.heads, h = id % a.heads, d = a.H / a.heads;
  const int64_t start = segStart[t], pos = t - start, jmax = a.causal ? pos + 1 : segLen[t];
  const float inv = rsqrtf(static_cast<float>(d));
  float* p = probs + (t * a.heads + h) * a.maxLen;
  const float* qt = q + t * a.H + h * d;
  float mx = -INFINITY;
  for (int64_t j = 0; j < jmax; ++j) {
    const float* kj = k + (start + j) * a.H + h * d;
    float s = 0;
    for (int64_t e = 0; e < d; ++e) s += qt[e] * kj[e];
    p[j] = s * inv;
    mx = fmaxf(mx, p[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < jmax; ++j) sum += (p[j] = expf(p[j] - mx));
  const uint64_t base = a.thr > 0 ? dropoutBase(a.seed, a.site, a.t0 + t) : 0;
  float* ct = ctx + t * a.H + h * d;
  for (int64_t e = 0; e < d; ++e) ct[e] = 0.0f;
  for (int64_t j = 0; j < jmax; ++j) {
    p[j] /= sum;
    const float pj = a.thr > 0 ? p[j] * dropoutFactor(base, h * a.maxLen + j, a.thr, a.scale) : p[j];
    if (pj == 0.0f) continue;
    const float* vj = v + (start + j) * a.H + h * d;
    for (int64_t e = 0; e < d; ++e) ct[e] += pj * vj[e];
  }
}

__global__ void attentionBackwardKernel(AttnShape a, const int32_t* segStart, const int32_t* segLen, const float* q,
                                        const float* k, const float* v, const float* probs, const float* dctx, float* dq,
                                        float* dk, float* dv) {
  const int64_t id = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (id >= a.n * a.heads) return;
  const int64_t t = id / a.heads, h = id % a.heads, d = a.H / a.heads;
  const int64_t start = segStart[t], pos = t - start, jmax = a.causal ? pos + 1 : segLen[t];
  const float inv = rsqrtf(static_cast<float>(d));
  const float* p = probs + (t * a.heads + h) * a.maxLen;
  const float* dct = dctx + t * a.H + h * d;
  const uint64_t base = a.thr > 0 ? dropoutBase(a.seed, a.site, a.t0 + t) : 0;
  auto maskOf = [&](int64_t j) { return a.thr > 0 ? dropoutFactor(base, h * a.maxLen + j, a.thr, a.scale) : 1.0f; };
  auto dpOf = [&](int64_t j, float mask) {
    if (mask == 0.0f) return 0.0f;
    const float* vj = v + (start + j) * a.H + h * d;
    float s = 0;
    for (int64_t e = 0; e < d; ++e) s += dct[e] * vj[e];
    return s * mask;
  };
  float dot = 0;
  for (int64_t j = 0; j < jmax; ++j) {
    const float mask = maskOf(j);
    dot += p[j] * dpOf(j, mask);
    if (mask != 0.0f)
      for (int64_t e = 0; e < d; ++e) atomicAdd(dv + (start + j) * a.H + h * d + e, p[j] * mask * dct[e]);
  }
  const float* qt = q + t * a.H + h * d;
  float* dqt = dq + t * a.H + h * d;
  for (int64_t j = 0; j < jmax; ++j) {
    const float ds = p[j] * (dpOf(j, maskOf(j)) - dot) * inv;
    if (ds == 0.0f) continue;
    const float* kj = k + (start + j) * a.H + h * d;
    for (int64_t e = 0; e < d; ++e) {
      dqt[e] += ds * kj[e];
      atomicAdd(dk + (start + j) * a.H + h * d + e, ds * qt[e]);
    }
  }
}

__global__ void gatherRowsKernel(const float* src, const int32_t* rows, float* dst, int64_t n, int64_t H, bool scatter) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * H) return;
  const int64_t r = i / H, j = i % H;
  if (scatter)
    dst[static_cast<int64_t>(rows[r]) * H + j] = src[i];
  else
    dst[i] = src[static_cast<int64_t>(rows[r]) * H + j];
}

// One block per score row: softmax cross-entropy, the row's loss, and its gradient (scaled) in place.
__global__ void softmaxRowKernel(float* logits, int64_t N, const int32_t* targets, float scale, double* rowLoss) {
  __shared__ float red[kThreads];
  float* row = logits + blockIdx.x * N;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) mx = fmaxf(mx, row[i]);
  red[threadIdx.x] = mx;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + o]);
    __syncthreads();
  }
  mx = red[0];
  __syncthreads();
  float sum = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) sum += expf(row[i] - mx);
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
    __syncthreads();
  }
  sum = red[0];
  const int32_t target = targets[blockIdx.x];
  if (threadIdx.x == 0) rowLoss[blockIdx.x] = log(static_cast<double>(sum)) + mx - row[target];
  __syncthreads();
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) row[i] = expf(row[i] - mx) / sum * scale - (i == target ? scale : 0.0f);
}

// bce: one thread per target against its negative.
__global__ void bceKernel(const float* z, const int32_t* targetTok, const int32_t* pos, const int32_t* neg, const float* E,
                          const float* bias, float* dz, float* dE, float* dBias, int64_t nt, int64_t H, float scale,
                          double* rowLoss) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= nt) return;
  const float* zr = z + static_cast<int64_t>(targetTok[r]) * H;
  float* dzr = dz + static_cast<int64_t>(targetTok[r]) * H;
  const int64_t ip = pos[r], in = neg[r];
  float sp = bias ? bias[ip] : 0.0f, sn = bias ? bias[in] : 0.0f;
  for (int64_t j = 0; j < H; ++j) sp += zr[j] * E[ip * H + j], sn += zr[j] * E[in * H + j];
  auto softplus = [](double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); };
  rowLoss[r] = softplus(-sp) + softplus(sn);
  const float gp = (1.0f / (1.0f + expf(-sp)) - 1.0f) * scale, gn = scale / (1.0f + expf(-sn));
  for (int64_t j = 0; j < H; ++j) {
    dzr[j] += gp * E[ip * H + j] + gn * E[in * H + j];
    atomicAdd(dE + ip * H + j, gp * zr[j]);
    atomicAdd(dE + in * H + j, gn * zr[j]);
  }
  if (dBias) atomicAdd(dBias + ip, gp), atomicAdd(dBias + in, gn);
}

__global__ void adamKernel(float* p, float* g, float* m, float* v, int64_t n, float factor, float wd, float beta1,
                           float beta2, float stepSize, float epsHat) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float grad = g[i] * factor + wd * p[i];
  m[i] = beta1 * m[i] + (1.0f - beta1) * grad;
  v[i] = beta2 * v[i] + (1.0f - beta2) * grad * grad;
  p[i] -= stepSize * m[i] / (sqrtf(v[i]) + epsHat);
}

__global__ void sumSquaresKernel(const float* g, int64_t n, double* partial) {
  __shared__ double red[kThreads];
  double s = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    s += static_cast<double>(g[i]) * g[i];
  red[threadIdx.x] = s;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = red[0];
}

// ---- the model on the device ----

struct Acts {
  DeviceBuffer<float> hin, q, k, v, probs, ctx, r1, st1, a, f1, g, r2, st2, out;
  Acts(int64_t n, const TransformerConfig& c, cudaStream_t s)
      : hin(n * c.hidden, s), q(n * c.hidden, s), k(n * c.hidden, s), v(n * c.hidden, s),
        probs(n * c.heads * c.maxLength, s), ctx(n * c.hidden, s), r1(n * c.hidden, s), st1(n * 2, s), a(n * c.hidden, s),
        f1(n * c.inner, s), g(n * c.inner, s), r2(n * c.hidden, s), st2(n * 2, s), out(n * c.hidden, s) {}
};

// One batch of consecutive segments, uploaded with what the kernels index by.
struct Batch {
  int64_t n = 0, t0 = 0;
  DeviceBuffer<int32_t> tokens, pos, segStart, segLen, targetTok, targetItem, negItem;
  int64_t nt = 0;
  Batch(const SegmentBatch& b, int64_t s0, int64_t s1, cudaStream_t s)
      : n(b.offsets[s1] - b.offsets[s0]), t0(b.offsets[s0]), tokens(n, s), pos(n, s), segStart(n, s), segLen(n, s),
        targetTok(n, s), targetItem(n, s), negItem(n, s) {
    std::vector<int32_t> p(n), st(n), len(n), tt, ti, tn;
    for (int64_t seg = s0; seg < s1; ++seg)
      for (int64_t t = b.offsets[seg]; t < b.offsets[seg + 1]; ++t) {
        const int64_t local = t - t0;
        p[local] = static_cast<int32_t>(t - b.offsets[seg]);
        st[local] = static_cast<int32_t>(b.offsets[seg] - t0);
        len[local] = static_cast<int32_t>(b.offsets[seg + 1] - b.offsets[seg]);
        if (b.targets && b.targets[t] >= 0) {
          tt.push_back(static_cast<int32_t>(local));
          ti.push_back(b.targets[t]);
          if (b.negatives) tn.push_back(b.negatives[t]);
        }
      }
    nt = static_cast<int64_t>(tt.size());
    tokens.upload(b.tokens + t0, n);
    pos.upload(p.data(), n);
    segStart.upload(st.data(), n);
    segLen.upload(len.data(), n);
    targetTok.upload(tt.data(), nt);
    targetItem.upload(ti.data(), nt);
    if (b.negatives) negItem.upload(tn.data(), nt);
    cudaStreamSynchronize(s);  // the host vectors die at the end of this constructor
  }
};

struct DeviceTransformer {
  const TransformerConfig& c;
  TransformerLayout L;
  cudaStream_t s;
  explicit DeviceTransformer(const TransformerConfig& config, cudaStream_t stream)
      : c(config), L(TransformerLayout::make(config)), s(stream) {}

  void dropout(float* x, int64_t rows, int64_t dim, int64_t t0, uint64_t seed, uint32_t site, float p) {
    if (p <= 0 || rows == 0) return;
    const uint32_t thr = dropoutThreshold(p);
    dropoutKernel<<<blocksFor(rows * dim), kThreads, 0, s>>>(x, rows, dim, t0, seed, site, thr, dropoutScale(thr));
    checkLaunch("dropoutKernel", s);
  }
  void linear(const float* x, int64_t n, int64_t in, const float* W, const float* b, int64_t out, float* y) {
    setRowsKernel<<<blocksFor(n * out), kThreads, 0, s>>>(y, b, n, out);
    checkLaunch("setRowsKernel", s);
    gemm(s, false, false, n, out, in, x, in, W, out, y, out, true);
  }
  void layerNorm(const float* x, const float* g, const float* b, float* y, float* stats, int64_t n) {
    layerNormForwardKernel<<<blocksFor(n * 32), kThreads, 0, s>>>(x, g, b, y, stats, n, c.hidden, c.layerNormEps);
    checkLaunch("layerNormForwardKernel", s);
  }

  // Forward pass of the batch; z (n x H) is the final representation.
  void forward(const float* P, Batch& bt, std::vector<std::unique_ptr<Acts>>& acts, DeviceBuffer<float>& embSum, DeviceBuffer<float>& embStats,
               DeviceBuffer<float>& headPre, DeviceBuffer<float>& headAct, DeviceBuffer<float>& headStats,
               DeviceBuffer<float>& z, bool training, uint64_t seed) {
    const int64_t n = bt.n, H = c.hidden, I = c.inner;
    const float hp = training ? c.hiddenDropout : 0.0f, ap = training ? c.attnDropout : 0.0f;
    embeddingKernel<<<blocksFor(n * H), kThreads, 0, s>>>(P, L.tokenEmb, L.posEmb, bt.tokens.data(), bt.pos.data(),
                                                          embSum.data(), n, H);
    checkLaunch("embeddingKernel", s);
    layerNorm(embSum.data(), P + L.embLnG, P + L.embLnB, acts[0]->hin.data(), embStats.data(), n);
    dropout(acts[0]->hin.data(), n, H, bt.t0, seed, dropoutSite(0, kSiteEmbedding), hp);
    const uint32_t athr = dropoutThreshold(ap);
    for (int64_t k = 0; k < c.layers; ++k) {
      Acts& a = *acts[k];
      const auto& y = L.layers[k];
      linear(a.hin.data(), n, H, P + y.wq, P + y.bq, H, a.q.data());
      linear(a.hin.data(), n, H, P + y.wk, P + y.bk, H, a.k.data());
      linear(a.hin.data(), n, H, P + y.wv, P + y.bv, H, a.v.data());
      const AttnShape shape{n, H, c.heads, c.maxLength, c.causal, bt.t0, seed, dropoutSite(k, kSiteAttnProbs),
                            ap > 0 ? athr : 0u, dropoutScale(athr)};
      attentionForwardKernel<<<blocksFor(n * c.heads), kThreads, 0, s>>>(shape, bt.segStart.data(), bt.segLen.data(), a.q.data(),
                                                                        a.k.data(), a.v.data(), a.probs.data(), a.ctx.data());
      checkLaunch("attentionForwardKernel", s);
      linear(a.ctx.data(), n, H, P + y.wo, P + y.bo, H, a.r1.data());
      dropout(a.r1.data(), n, H, bt.t0, seed, dropoutSite(k, kSiteAttnOut), hp);
      addKernel<<<blocksFor(n * H), kThreads, 0, s>>>(a.r1.data(), a.hin.data(), n * H);
      layerNorm(a.r1.data(), P + y.ln1g, P + y.ln1b, a.a.data(), a.st1.data(), n);
      linear(a.a.data(), n, H, P + y.w1, P + y.b1, I, a.f1.data());
      geluForwardKernel<<<blocksFor(n * I), kThreads, 0, s>>>(a.f1.data(), a.g.data(), n * I);
      linear(a.g.data(), n, I, P + y.w2, P + y.b2, H, a.r2.data());
      dropout(a.r2.data(), n, H, bt.t0, seed, dropoutSite(k, kSiteFfnOut), hp);
      addKernel<<<blocksFor(n * H), kThreads, 0, s>>>(a.r2.data(), a.a.data(), n * H);
      float* out = k + 1 < c.layers ? acts[k + 1]->hin.data() : a.out.data();
      layerNorm(a.r2.data(), P + y.ln2g, P + y.ln2b, out, a.st2.data(), n);
    }
    const float* last = acts[c.layers - 1]->out.data();
    if (c.outputHead) {
      linear(last, n, H, P + L.wh, P + L.bh, H, headPre.data());
      geluForwardKernel<<<blocksFor(n * H), kThreads, 0, s>>>(headPre.data(), headAct.data(), n * H);
      layerNorm(headAct.data(), P + L.lnhG, P + L.lnhB, z.data(), headStats.data(), n);
    } else {
      SEMREC_CUDA_CHECK(cudaMemcpyAsync(z.data(), last, n * H * sizeof(float), cudaMemcpyDeviceToDevice, s));
    }
    checkLaunch("transformer forward", s);
  }

  // Loss (summed over targets) and gradient (scaled by `scale`) of one batch, added into G.
  double gradient(const float* P, const SegmentBatch& b, int64_t s0, int64_t s1, uint64_t seed, float scale, float* G) {
    Batch bt(b, s0, s1, s);
    const int64_t n = bt.n, H = c.hidden, I = c.inner, N = c.numItems;
    std::vector<std::unique_ptr<Acts>> acts;
    for (int64_t k = 0; k < c.layers; ++k) acts.push_back(std::make_unique<Acts>(n, c, s));
    DeviceBuffer<float> embSum(n * H, s), embStats(n * 2, s), z(n * H, s);
    DeviceBuffer<float> headPre(c.outputHead ? n * H : 0, s), headAct(c.outputHead ? n * H : 0, s),
        headStats(c.outputHead ? n * 2 : 0, s);
    forward(P, bt, acts, embSum, embStats, headPre, headAct, headStats, z, true, seed);
    // Loss and dz.
    DeviceBuffer<float> dh(n * H, s), dr(n * H, s), da(n * H, s), dinner(n * I, s), dq(n * H, s), dk(n * H, s),
        dv(n * H, s), dctx(n * H, s);
    dh.fill(0);
    DeviceBuffer<double> rowLoss(std::max<int64_t>(1, bt.nt), s);
    const float* E = P + L.tokenEmb;
    const float* bias = c.outputHead ? P + L.outBias : nullptr;
    float* dE = G + L.tokenEmb;
    float* dBias = c.outputHead ? G + L.outBias : nullptr;
    if (bt.nt > 0 && b.negatives) {
      bceKernel<<<blocksFor(bt.nt), kThreads, 0, s>>>(z.data(), bt.targetTok.data(), bt.targetItem.data(), bt.negItem.data(), E,
                                                      bias, dh.data(), dE, dBias, bt.nt, H, scale, rowLoss.data());
      checkLaunch("bceKernel", s);
    } else if (bt.nt > 0) {
      DeviceBuffer<float> zt(bt.nt * H, s), dzt(bt.nt * H, s);
      gatherRowsKernel<<<blocksFor(bt.nt * H), kThreads, 0, s>>>(z.data(), bt.targetTok.data(), zt.data(), bt.nt, H, false);
      const int64_t rowsAtOnce = std::max<int64_t>(1, std::min<int64_t>(bt.nt, kLogitFloats / N));
      DeviceBuffer<float> logits(rowsAtOnce * N, s);
      for (int64_t r0 = 0; r0 < bt.nt; r0 += rowsAtOnce) {
        const int64_t rows = std::min(rowsAtOnce, bt.nt - r0);
        if (bias) {
          setRowsKernel<<<blocksFor(rows * N), kThreads, 0, s>>>(logits.data(), bias, rows, N);
          checkLaunch("setRowsKernel", s);
        }
        gemm(s, false, true, rows, N, H, zt.data() + r0 * H, H, E, H, logits.data(), N, bias != nullptr);
        softmaxRowKernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(logits.data(), N, bt.targetItem.data() + r0, scale,
                                                                          rowLoss.data() + r0);
        checkLaunch("softmaxRowKernel", s);
        gemm(s, false, false, rows, H, N, logits.data(), N, E, H, dzt.data() + r0 * H, H, false);
        gemm(s, true, false, N, H, rows, logits.data(), N, zt.data() + r0 * H, H, dE, H, true);
        if (dBias) columnSums(s, logits.data(), rows, N, dBias);
      }
      gatherRowsKernel<<<blocksFor(bt.nt * H), kThreads, 0, s>>>(dzt.data(), bt.targetTok.data(), dh.data(), bt.nt, H, true);
      checkLaunch("gatherRowsKernel", s);
    }
    // Backward.
    auto lnBack = [&](const float* x, int64_t gOff, int64_t bOff, const float* stats, const float* dy, float* dx) {
      layerNormBackwardKernel<<<blocksFor(n * 32), kThreads, 0, s>>>(x, P + gOff, stats, dy, dx, G + gOff, G + bOff, n, H);
      checkLaunch("layerNormBackwardKernel", s);
    };
    // dX (n x in) = dY W^T (+=), dW += X^T dY, db += colsum dY.
    auto linBack = [&](const float* x, int64_t in, int64_t wOff, int64_t bOff, int64_t out, const float* dy, float* dx, bool accDx) {
      columnSums(s, dy, n, out, G + bOff);
      gemm(s, true, false, in, out, n, x, in, dy, out, G + wOff, out, true);
      gemm(s, false, true, n, in, out, dy, out, P + wOff, out, dx, in, accDx);
    };
    const float hp = c.hiddenDropout, ap = c.attnDropout;
    if (c.outputHead) {
      lnBack(headAct.data(), L.lnhG, L.lnhB, headStats.data(), dh.data(), dr.data());
      geluBackwardKernel<<<blocksFor(n * H), kThreads, 0, s>>>(headPre.data(), dr.data(), n * H);
      linBack(acts[c.layers - 1]->out.data(), H, L.wh, L.bh, H, dr.data(), dh.data(), false);
    }
    const uint32_t athr = dropoutThreshold(ap);
    for (int64_t k = c.layers - 1; k >= 0; --k) {
      Acts& a = *acts[k];
      const auto& y = L.layers[k];
      lnBack(a.r2.data(), y.ln2g, y.ln2b, a.st2.data(), dh.data(), dr.data());
      SEMREC_CUDA_CHECK(cudaMemcpyAsync(da.data(), dr.data(), n * H * sizeof(float), cudaMemcpyDeviceToDevice, s));
      dropout(dr.data(), n, H, bt.t0, seed, dropoutSite(k, kSiteFfnOut), hp);
      linBack(a.g.data(), I, y.w2, y.b2, H, dr.data(), dinner.data(), false);
      geluBackwardKernel<<<blocksFor(n * I), kThreads, 0, s>>>(a.f1.data(), dinner.data(), n * I);
      linBack(a.a.data(), H, y.w1, y.b1, I, dinner.data(), da.data(), true);
      lnBack(a.r1.data(), y.ln1g, y.ln1b, a.st1.data(), da.data(), dr.data());
      SEMREC_CUDA_CHECK(cudaMemcpyAsync(dh.data(), dr.data(), n * H * sizeof(float), cudaMemcpyDeviceToDevice, s));
      dropout(dr.data(), n, H, bt.t0, seed, dropoutSite(k, kSiteAttnOut), hp);
      linBack(a.ctx.data(), H, y.wo, y.bo, H, dr.data(), dctx.data(), false);
      dq.fill(0), dk.fill(0), dv.fill(0);
      const AttnShape shape{n, H, c.heads, c.maxLength, c.causal, bt.t0, seed, dropoutSite(k, kSiteAttnProbs),
                            ap > 0 ? athr : 0u, dropoutScale(athr)};
      attentionBackwardKernel<<<blocksFor(n * c.heads), kThreads, 0, s>>>(shape, bt.segStart.data(), bt.segLen.data(),
                                                                         a.q.data(), a.k.data(), a.v.data(), a.probs.data(),
                                                                         dctx.data(), dq.data(), dk.data(), dv.data());
      checkLaunch("attentionBackwardKernel", s);
      linBack(a.hin.data(), H, y.wq, y.bq, H, dq.data(), dh.data(), true);
      linBack(a.hin.data(), H, y.wk, y.bk, H, dk.data(), dh.data(), true);
      linBack(a.hin.data(), H, y.wv, y.bv, H, dv.data(), dh.data(), true);
    }
    dropout(dh.data(), n, H, bt.t0, seed, dropoutSite(0, kSiteEmbedding), hp);
    lnBack(embSum.data(), L.embLnG, L.embLnB, embStats.data(), dh.data(), dr.data());
    embeddingBackwardKernel<<<blocksFor(n * H), kThreads, 0, s>>>(G, L.tokenEmb, L.posEmb, bt.tokens.data(), bt.pos.data(),
                                                                  dr.data(), n, H);
    checkLaunch("embeddingBackwardKernel", s);
    std::vector<double> losses(bt.nt);
    if (bt.nt > 0) rowLoss.download(losses.data(), bt.nt);
    SEMREC_CUDA_CHECK(cudaStreamSynchronize(s));
    double loss = 0;
    for (double l : losses) loss += l;
    return loss;
  }
};

int64_t countTargets(const SegmentBatch& b, int64_t s0, int64_t s1) {
  int64_t n = 0;
  for (int64_t t = b.offsets[s0]; t < b.offsets[s1]; ++t) n += b.targets[t] >= 0;
  return n;
}

}  // namespace

double transformerGradientCuda(const TransformerConfig& c, const float* params, const SegmentBatch& b, uint64_t dropoutSeed,
                               float* grad, const ExecConfig&) {
  cuda::requireGpu("transformerGradient");
  validateConfig(c);
  validateSegments(c, b, "transformerGradient");
  cuda::Stream stream;
  DeviceTransformer m(c, stream.get());
  const int64_t total = m.L.total;
  DeviceBuffer<float> P(total, stream.get()), G(total, stream.get());
  P.upload(params, total);
  G.fill(0);
  double loss = 0;
  const int64_t targets = b.numSegments > 0 ? countTargets(b, 0, b.numSegments) : 0;
  if (b.numSegments > 0)
    loss = m.gradient(P.data(), b, 0, b.numSegments, dropoutSeed, targets > 0 ? 1.0f / targets : 0.0f, G.data());
  G.download(grad, total);
  stream.sync();
  return targets > 0 ? loss / targets : 0.0;
}

double transformerEpochCuda(const TransformerConfig& c, float* params, float* m, float* v, int64_t* step,
                            const SegmentBatch& b, const TransformerHyper& h, uint64_t seed, const ExecConfig&) {
  cuda::requireGpu("transformerEpoch");
  validateConfig(c);
  validateSegments(c, b, "transformerEpoch");
  cuda::Stream stream;
  const cudaStream_t s = stream.get();
  DeviceTransformer model(c, s);
  const int64_t total = model.L.total;
  DeviceBuffer<float> P(total, s), M(total, s), V(total, s), G(total, s);
  P.upload(params, total);
  M.upload(m, total);
  V.upload(v, total);
  constexpr int kNormBlocks = 1024;
  DeviceBuffer<double> partial(kNormBlocks, s);
  std::vector<double> partialHost(kNormBlocks);
  const int64_t batchTargets = std::max<int64_t>(1, h.batchTargets);
  double lossSum = 0;
  int64_t targetSum = 0, batchIndex = 0, s0 = 0;
  while (s0 < b.numSegments) {
    int64_t s1 = s0, targets = 0;
    while (s1 < b.numSegments && (h.batchBySegments ? s1 - s0 < batchTargets : targets < batchTargets))
      targets += countTargets(b, s1, s1 + 1), ++s1;
    const uint64_t batchSeed = mix64(seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(++batchIndex));
    if (targets > 0) {
      G.fill(0);
      lossSum += model.gradient(P.data(), b, s0, s1, batchSeed, 1.0f / targets, G.data());
      targetSum += targets;
      float factor = 1.0f;
      if (h.clipNorm > 0) {
        sumSquaresKernel<<<kNormBlocks, kThreads, 0, s>>>(G.data(), total, partial.data());
        checkLaunch("sumSquaresKernel", s);
        partial.download(partialHost.data(), kNormBlocks);
        stream.sync();
        double sq = 0;
        for (double x : partialHost) sq += x;
        const double coef = h.clipNorm / (std::sqrt(sq) + 1e-6);
        if (coef < 1.0) factor = static_cast<float>(coef);
      }
      const int64_t t = ++*step;
      const double c1 = 1.0 - std::pow(static_cast<double>(h.adam.beta1), static_cast<double>(t));
      const double c2 = 1.0 - std::pow(static_cast<double>(h.adam.beta2), static_cast<double>(t));
      adamKernel<<<blocksFor(total), kThreads, 0, s>>>(P.data(), G.data(), M.data(), V.data(), total, factor, h.weightDecay,
                                                      h.adam.beta1, h.adam.beta2, static_cast<float>(h.adam.lr * std::sqrt(c2) / c1),
                                                      static_cast<float>(h.adam.eps * std::sqrt(c2)));
      checkLaunch("adamKernel", s);
    }
    s0 = s1;
  }
  P.download(params, total);
  M.download(m, total);
  V.download(v, total);
  stream.sync();
  const double loss = targetSum > 0 ? lossSum / static_cast<double>(targetSum) : 0.0;
  train::checkFiniteLoss(loss, "transformerEpoch");
  return loss;
}

void transformerEncodeCuda(const TransformerConfig& c, const float* params, const int32_t* tokens, const int32_t* offsets,
                           int64_t numSegments, float* out, const ExecConfig&) {
  cuda::requireGpu("transformerEncode");
  validateConfig(c);
  const SegmentBatch b{tokens, offsets, nullptr, nullptr, numSegments};
  validateSegments(c, b, "transformerEncode");
  if (numSegments == 0) return;
  cuda::Stream stream;
  const cudaStream_t s = stream.get();
  DeviceTransformer model(c, s);
  const int64_t total = model.L.total, H = c.hidden;
  DeviceBuffer<float> P(total, s);
  P.upload(params, total);
  // Chunks of segments bound the activations (~4 KiB per token and layer at hidden 64).
  constexpr int64_t kChunkTokens = int64_t{1} << 18;
  int64_t s0 = 0;
  while (s0 < numSegments) {
    int64_t s1 = s0 + 1;
    while (s1 < numSegments && offsets[s1 + 1] - offsets[s0] <= kChunkTokens) ++s1;
    Batch bt(b, s0, s1, s);
    std::vector<std::unique_ptr<Acts>> acts;
    for (int64_t k = 0; k < c.layers; ++k) acts.push_back(std::make_unique<Acts>(bt.n, c, s));
    DeviceBuffer<float> embSum(bt.n * H, s), embStats(bt.n * 2, s), z(bt.n * H, s);
    DeviceBuffer<float> headPre(c.outputHead ? bt.n * H : 0, s), headAct(c.outputHead ? bt.n * H : 0, s),
        headStats(c.outputHead ? bt.n * 2 : 0, s);
    model.forward(P.data(), bt, acts, embSum, embStats, headPre, headAct, headStats, z, false, 0);
    std::vector<int32_t> lastTok(s1 - s0);
    for (int64_t seg = s0; seg < s1; ++seg) lastTok[seg - s0] = offsets[seg + 1] - 1 - offsets[s0];
    DeviceBuffer<int32_t> rows(s1 - s0, s);
    rows.upload(lastTok.data(), s1 - s0);
    DeviceBuffer<float> zLast((s1 - s0) * H, s);
    gatherRowsKernel<<<blocksFor((s1 - s0) * H), kThreads, 0, s>>>(z.data(), rows.data(), zLast.data(), s1 - s0, H, false);
    checkLaunch("gatherRowsKernel", s);
    zLast.download(out + s0 * H, (s1 - s0) * H);
    stream.sync();
    s0 = s1;
  }
}

}  // namespace semrec::seq
