// The semantic adapter's InfoNCE steps on the GPU (the CUDA twin of native/ops/adapter.cc; contracts in
// semrec/adapter.h). The dense products go through the shared tiled GEMM (gemm.cuh); every other sum
// runs in the CPU trainer's order, one thread per output, so the two agree within float rounding.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common.cuh"
#include "gemm.cuh"
#include "rng.cuh"
#include "semrec/adapter.h"
#include "semrec/validate.h"

namespace semrec {

namespace cuda {
namespace {

using train::AdapterHyper;
using train::AdapterLayout;

constexpr int kThreads = 128;
constexpr float kMinNorm = 1e-12f;

struct Shape {
  int64_t D, ds, K, MR, M, bias, total;
};

Shape shapeOf(const AdapterLayout& L) { return {L.inDim, L.outDim, L.experts, L.matrixRows, L.M, L.bias, L.total}; }

// Rows [0, B) of view A and [B, 2B) of view B, noised: xd[row] = x[src] * mask.
__global__ void gatherKernel(Shape s, const float* x, const int32_t* viewA, const int32_t* viewB, int64_t first, int64_t B,
                             const float* masks, uint64_t seed, DropoutParams dropout, float* mask, float* xd) {
  const int64_t row = blockIdx.x;
  const int64_t view = row / B, p = row % B;
  const int32_t src = (view == 0 ? viewA : viewB)[first + p];
  float* m = mask + row * s.D;
  if (masks) {
    for (int64_t d = threadIdx.x; d < s.D; d += blockDim.x) m[d] = masks[row * s.D + d];
  } else if (threadIdx.x == 0) {
    dropoutMaskDevice(seed, train::kAdapterDropoutStream + 2 * static_cast<uint64_t>(first + p) + view, dropout, s.D, m);
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < s.D; d += blockDim.x) xd[row * s.D + d] = x[static_cast<int64_t>(src) * s.D + d] * m[d];
}

// c[k ds + t] = Wt_k[t] . b_k
__global__ void biasProjectionKernel(Shape s, const float* params, float* c) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= s.K * s.ds) return;
  const int64_t k = j / s.ds;
  float acc = 0;
  for (int64_t d = 0; d < s.D; ++d) acc += params[s.M + j * s.D + d] * params[s.bias + k * s.D + d];
  c[j] = acc;
}

// Gate softmax, mixture, norm and unit vector of one row.
__global__ void rowForwardKernel(Shape s, const float* out, const float* c, float* gate, float* z, float* norm) {
  extern __shared__ float h[];
  const int64_t r = blockIdx.x;
  const float* o = out + r * s.MR;
  float* g = gate + r * s.K;
  if (threadIdx.x == 0) {
    float mx = o[s.K * s.ds];
    for (int64_t k = 1; k < s.K; ++k) mx = fmaxf(mx, o[s.K * s.ds + k]);
    double sum = 0;
    for (int64_t k = 0; k < s.K; ++k) sum += (g[k] = expf(o[s.K * s.ds + k] - mx));
    for (int64_t k = 0; k < s.K; ++k) g[k] = static_cast<float>(g[k] / sum);
  }
  __syncthreads();
  for (int64_t t = threadIdx.x; t < s.ds; t += blockDim.x) {
    float acc = 0;
    for (int64_t k = 0; k < s.K; ++k) acc += g[k] * (o[k * s.ds + t] - c[k * s.ds + t]);
    h[t] = acc;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sq = 0;
    for (int64_t t = 0; t < s.ds; ++t) sq += h[t] * h[t];
    norm[r] = fmaxf(sqrtf(sq), kMinNorm);
  }
  __syncthreads();
  for (int64_t t = threadIdx.x; t < s.ds; t += blockDim.x) z[r * s.ds + t] = h[t] / norm[r];
}

// S[p][q] = za_p . zb_q / tau (in double, as the CPU keeps it).
__global__ void similarityKernel(Shape s, const float* z, int64_t B, double invTau, double* S) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= B * B) return;
  const int64_t p = k / B, q = k % B;
  float acc = 0;
  for (int64_t t = 0; t < s.ds; ++t) acc += z[p * s.ds + t] * z[(B + q) * s.ds + t];
  S[k] = acc * invTau;
}

// Row p's and column p's softmax and their loss terms.
__global__ void softmaxKernel(const double* S, int64_t B, double* rowP, double* colP, double* lossTerms) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= B) return;
  double mx = S[p * B], mc = S[p];
  for (int64_t q = 1; q < B; ++q) {
    mx = fmax(mx, S[p * B + q]);
    mc = fmax(mc, S[q * B + p]);
  }
  double zr = 0, zc = 0;
  for (int64_t q = 0; q < B; ++q) {
    zr += (rowP[p * B + q] = exp(S[p * B + q] - mx));
    zc += (colP[q * B + p] = exp(S[q * B + p] - mc));
  }
  for (int64_t q = 0; q < B; ++q) {
    rowP[p * B + q] /= zr;
    colP[q * B + p] /= zc;
  }
  lossTerms[p] = (mx + log(zr) - S[p * B + p]) + (mc + log(zc) - S[p * B + p]);
}

// dz of every row: view A rows sum over q, view B rows over p, in the CPU's order.
__global__ void dzKernel(Shape s, const float* z, int64_t B, double invTau, const double* rowP, const double* colP, float* dz) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= 2 * B * s.ds) return;
  const int64_t r = k / s.ds, t = k % s.ds;
  float acc = 0;
  if (r < B) {
    const int64_t p = r;
    for (int64_t q = 0; q < B; ++q) {
      const float g = static_cast<float>((rowP[p * B + q] + colP[p * B + q] - (p == q ? 2.0 : 0.0)) / (2.0 * B) * invTau);
      if (g != 0.0f) acc += g * z[(B + q) * s.ds + t];
    }
  } else {
    const int64_t q = r - B;
    for (int64_t p = 0; p < B; ++p) {
      const float g = static_cast<float>((rowP[p * B + q] + colP[p * B + q] - (p == q ? 2.0 : 0.0)) / (2.0 * B) * invTau);
      if (g != 0.0f) acc += g * z[p * s.ds + t];
    }
  }
  dz[k] = acc;
}

// Back through the normalisation, the mixture and the gate: d2[r] = [g_k dh ... ; g_k (dg_k - mean)].
__global__ void rowBackwardKernel(Shape s, const float* out, const float* c, const float* gate, const float* z,
                                  const float* norm, const float* dz, float* d2) {
  extern __shared__ float dh[];
  const int64_t r = blockIdx.x;
  const float* zr = z + r * s.ds;
  const float* dzr = dz + r * s.ds;
  const float n = norm[r];
  __shared__ float proj;
  if (threadIdx.x == 0) {
    float acc = 0;
    for (int64_t t = 0; t < s.ds; ++t) acc += zr[t] * dzr[t];
    proj = n > kMinNorm ? acc : 0.0f;
  }
  __syncthreads();
  for (int64_t t = threadIdx.x; t < s.ds; t += blockDim.x) dh[t] = (dzr[t] - zr[t] * proj) / n;
  __syncthreads();
  const float* g = gate + r * s.K;
  const float* o = out + r * s.MR;
  float* d = d2 + r * s.MR;
  for (int64_t j = threadIdx.x; j < s.K * s.ds; j += blockDim.x) d[j] = g[j / s.ds] * dh[j % s.ds];
  if (threadIdx.x == 0) {
    double mean = 0;
    double dg[64];
    for (int64_t k = 0; k < s.K; ++k) {
      double acc = 0;
      for (int64_t t = 0; t < s.ds; ++t) acc += static_cast<double>(o[k * s.ds + t] - c[k * s.ds + t]) * dh[t];
      dg[k] = acc;
      mean += g[k] * acc;
    }
    for (int64_t k = 0; k < s.K; ++k) d[s.K * s.ds + k] = static_cast<float>(g[k] * (dg[k] - mean));
  }
}

__global__ void transposeKernel(const float* a, int64_t rows, int64_t cols, float* out) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= rows * cols) return;
  const int64_t r = k / cols, c = k % cols;
  out[c * rows + r] = a[k];
}

__global__ void colSumKernel(Shape s, const float* d2, int64_t rows, double* colSum) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= s.K * s.ds) return;
  double acc = 0;
  for (int64_t r = 0; r < rows; ++r) acc += d2[r * s.MR + j];
  colSum[j] = acc;
}

// The whitening biases: dWt_k[t] -= colSum b_k, db_k -= sum_t colSum_t Wt_k[t].
__global__ void biasGradKernel(Shape s, const float* params, const double* colSum, float* grad) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= s.K * s.D) return;
  const int64_t k = j / s.D, d = j % s.D;
  const float b = params[s.bias + k * s.D + d];
  float db = 0;
  for (int64_t t = 0; t < s.ds; ++t) {
    const float cs = static_cast<float>(colSum[k * s.ds + t]);
    grad[s.M + (k * s.ds + t) * s.D + d] += -cs * b;
    db += -cs * params[s.M + (k * s.ds + t) * s.D + d];
  }
  grad[s.bias + j] = db;
}

__global__ void adamKernel(float* params, const float* grad, float* m, float* v, int64_t n, float beta1, float beta2,
                           float stepSize, float epsHat) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  m[k] = beta1 * m[k] + (1.0f - beta1) * grad[k];
  v[k] = beta2 * v[k] + (1.0f - beta2) * grad[k] * grad[k];
  params[k] -= stepSize * m[k] / (sqrtf(v[k]) + epsHat);
}

unsigned blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

DropoutParams dropoutOf(float p) {
  DropoutParams d;
  if (p > 0.0f) {
    d.threshold = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 65536.0));
    d.keep = 1.0f / (1.0f - p);
  }
  return d;
}

// Work buffers for batches of up to maxB pairs.
struct Workspace {
  DeviceBuffer<float> mask, xd, out, c, gate, z, norm, dz, d2, d2t, xdt;
  DeviceBuffer<double> S, rowP, colP, lossTerms, colSum;
  Workspace(const Shape& s, int64_t maxB, cudaStream_t st)
      : mask(2 * maxB * s.D, st), xd(2 * maxB * s.D, st), out(2 * maxB * s.MR, st), c(s.K * s.ds, st), gate(2 * maxB * s.K, st),
        z(2 * maxB * s.ds, st), norm(2 * maxB, st), dz(2 * maxB * s.ds, st), d2(2 * maxB * s.MR, st), d2t(2 * maxB * s.MR, st),
        xdt(2 * maxB * s.D, st), S(maxB * maxB, st), rowP(maxB * maxB, st), colP(maxB * maxB, st), lossTerms(maxB, st),
        colSum(s.K * s.ds, st) {}
};

// Gradient of one batch into grad (device, total floats); returns nothing: the loss terms stay in ws.
void batchGradient(const Shape& s, const float* params, const float* x, const int32_t* viewA, const int32_t* viewB,
                   int64_t first, int64_t B, const AdapterHyper& h, uint64_t seed, const float* masks, float* grad,
                   Workspace& ws, cudaStream_t st) {
  const int64_t rows = 2 * B;
  const double invTau = 1.0 / h.temperature;
  SEMREC_CUDA_CHECK(cudaMemsetAsync(grad, 0, s.total * sizeof(float), st));
  gatherKernel<<<rows, kThreads, 0, st>>>(s, x, viewA, viewB, first, B, masks, seed, dropoutOf(h.dropout), ws.mask.data(), ws.xd.data());
  checkLaunch("gatherKernel", st);
  gemmNT(ws.xd.data(), rows, params + s.M, s.MR, s.D, nullptr, ws.out.data(), st);
  biasProjectionKernel<<<blocks(s.K * s.ds), kThreads, 0, st>>>(s, params, ws.c.data());
  checkLaunch("biasProjectionKernel", st);
  rowForwardKernel<<<rows, kThreads, s.ds * sizeof(float), st>>>(s, ws.out.data(), ws.c.data(), ws.gate.data(), ws.z.data(), ws.norm.data());
  checkLaunch("rowForwardKernel", st);
  similarityKernel<<<blocks(B * B), kThreads, 0, st>>>(s, ws.z.data(), B, invTau, ws.S.data());
  checkLaunch("similarityKernel", st);
  softmaxKernel<<<blocks(B), kThreads, 0, st>>>(ws.S.data(), B, ws.rowP.data(), ws.colP.data(), ws.lossTerms.data());
  checkLaunch("softmaxKernel", st);
  dzKernel<<<blocks(rows * s.ds), kThreads, 0, st>>>(s, ws.z.data(), B, invTau, ws.rowP.data(), ws.colP.data(), ws.dz.data());
  checkLaunch("dzKernel", st);
  rowBackwardKernel<<<rows, kThreads, s.ds * sizeof(float), st>>>(s, ws.out.data(), ws.c.data(), ws.gate.data(), ws.z.data(),
                                                                  ws.norm.data(), ws.dz.data(), ws.d2.data());
  checkLaunch("rowBackwardKernel", st);
  transposeKernel<<<blocks(rows * s.MR), kThreads, 0, st>>>(ws.d2.data(), rows, s.MR, ws.d2t.data());
  checkLaunch("transposeKernel", st);
  transposeKernel<<<blocks(rows * s.D), kThreads, 0, st>>>(ws.xd.data(), rows, s.D, ws.xdt.data());
  checkLaunch("transposeKernel", st);
  gemmNT(ws.d2t.data(), s.MR, ws.xdt.data(), s.D, rows, nullptr, grad + s.M, st);
  colSumKernel<<<blocks(s.K * s.ds), kThreads, 0, st>>>(s, ws.d2.data(), rows, ws.colSum.data());
  checkLaunch("colSumKernel", st);
  biasGradKernel<<<blocks(s.K * s.D), kThreads, 0, st>>>(s, params, ws.colSum.data(), grad);
  checkLaunch("biasGradKernel", st);
}

double batchLoss(Workspace& ws, int64_t B, cudaStream_t st) {
  std::vector<double> terms(B);
  ws.lossTerms.download(terms.data(), B);
  SEMREC_CUDA_CHECK(cudaStreamSynchronize(st));
  double loss = 0;
  for (double t : terms) loss += t;
  return loss / (2.0 * B);
}

void validate(const AdapterLayout& L, const MatrixView& x, const int32_t* viewA, const int32_t* viewB, int64_t pairs,
              const AdapterHyper& h, const char* op) {
  if (x.cols != L.inDim)
    fail(ErrorCode::InvalidArgValue, std::string(op) + ": vectors have " + std::to_string(x.cols) + " columns, the adapter reads " +
                                         std::to_string(L.inDim));
  if (!(h.temperature > 0.0f) || !std::isfinite(h.temperature))
    fail(ErrorCode::OutOfRange, std::string(op) + ": temperature must be a finite number > 0");
  if (L.experts > 64) fail(ErrorCode::OutOfRange, std::string(op) + ": the CUDA adapter supports at most 64 experts");
  if (L.outDim > 12 * 1024) fail(ErrorCode::OutOfRange, std::string(op) + ": outDim is too large for the CUDA adapter");
  validateFinite(x.data, x.rows, x.cols, std::string(op) + ": vectors");
  for (int64_t p = 0; p < pairs; ++p)
    for (const int32_t* view : {viewA, viewB})
      if (view[p] < 0 || view[p] >= x.rows)
        fail(ErrorCode::OutOfRange, std::string(op) + ": " + (view == viewA ? "viewA[" : "viewB[") + std::to_string(p) +
                                        "] = " + std::to_string(view[p]) + " is outside [0, " + std::to_string(x.rows) + ")");
}

struct DeviceViews {
  DeviceBuffer<float> x;
  DeviceBuffer<int32_t> a, b;
  DeviceViews(const MatrixView& v, const int32_t* viewA, const int32_t* viewB, int64_t pairs, cudaStream_t st)
      : x(v.rows * v.cols, st), a(pairs, st), b(pairs, st) {
    x.upload(v.data, v.rows * v.cols);
    a.upload(viewA, pairs);
    b.upload(viewB, pairs);
  }
};

}  // namespace
}  // namespace cuda

namespace train {

double adapterGradientCuda(const AdapterLayout& L, const float* params, const MatrixView& x, const int32_t* viewA,
                           const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed, const float* masks,
                           float* grad, const ExecConfig&) {
  using namespace cuda;
  requireGpu("adapterGradient");
  validate(L, x, viewA, viewB, pairs, h, "adapterGradient");
  std::fill(grad, grad + L.total, 0.0f);
  if (pairs == 0) return 0.0;
  const Shape s = shapeOf(L);
  Stream stream;
  const cudaStream_t st = stream.get();
  DeviceViews views(x, viewA, viewB, pairs, st);
  DeviceBuffer<float> dParams(L.total, st), dGrad(L.total, st), dMasks(masks ? 2 * pairs * L.inDim : 0, st);
  dParams.upload(params, L.total);
  if (masks) dMasks.upload(masks, 2 * pairs * L.inDim);
  Workspace ws(s, pairs, st);
  batchGradient(s, dParams.data(), views.x.data(), views.a.data(), views.b.data(), 0, pairs, h, seed,
                masks ? dMasks.data() : nullptr, dGrad.data(), ws, st);
  dGrad.download(grad, L.total);
  return batchLoss(ws, pairs, st);
}

double adapterEpochCuda(const AdapterLayout& L, float* params, float* m, float* v, int64_t* step, const MatrixView& x,
                        const int32_t* viewA, const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed,
                        const ExecConfig&) {
  using namespace cuda;
  requireGpu("adapterEpoch");
  validate(L, x, viewA, viewB, pairs, h, "adapterEpoch");
  if (h.batchSize < 2) fail(ErrorCode::OutOfRange, "adapterEpoch: batchSize must be at least 2 (in-batch negatives)");
  if (pairs == 0) return 0.0;
  const Shape s = shapeOf(L);
  Stream stream;
  const cudaStream_t st = stream.get();
  DeviceViews views(x, viewA, viewB, pairs, st);
  DeviceBuffer<float> dParams(L.total, st), dM(L.total, st), dV(L.total, st), dGrad(L.total, st);
  dParams.upload(params, L.total);
  dM.upload(m, L.total);
  dV.upload(v, L.total);
  const int64_t maxB = std::min(h.batchSize, pairs);
  Workspace ws(s, maxB, st);
  double total = 0;
  for (int64_t first = 0; first < pairs; first += h.batchSize) {
    const int64_t B = std::min(h.batchSize, pairs - first);
    batchGradient(s, dParams.data(), views.x.data(), views.a.data(), views.b.data(), first, B, h, seed, nullptr, dGrad.data(), ws, st);
    const int64_t t = ++*step;
    const double c1 = 1.0 - std::pow(static_cast<double>(h.adam.beta1), static_cast<double>(t));
    const double c2 = 1.0 - std::pow(static_cast<double>(h.adam.beta2), static_cast<double>(t));
    adamKernel<<<blocks(L.total), kThreads, 0, st>>>(dParams.data(), dGrad.data(), dM.data(), dV.data(), L.total, h.adam.beta1,
                                                     h.adam.beta2, static_cast<float>(h.adam.lr * std::sqrt(c2) / c1),
                                                     static_cast<float>(h.adam.eps * std::sqrt(c2)));
    checkLaunch("adamKernel", st);
    total += batchLoss(ws, B, st) * static_cast<double>(B);
  }
  dParams.download(params, L.total);
  dM.download(m, L.total);
  dV.download(v, L.total);
  stream.sync();
  const double loss = total / static_cast<double>(pairs);
  checkFiniteLoss(loss, "adapterEpoch");
  return loss;
}

}  // namespace train
}  // namespace semrec
