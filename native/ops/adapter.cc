// The semantic adapter on the CPU: forward, InfoNCE backward and Adam epochs (see semrec/adapter.h).
// Every product of a batch goes through the core's GEMM (scoreMatrixCpu), whose outputs are each summed
// by one thread in a fixed order: results do not depend on the number of threads.
#include "semrec/adapter.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/score.h"
#include "semrec/validate.h"

namespace semrec::train {

AdapterLayout AdapterLayout::make(int64_t inDim, int64_t outDim, int64_t experts) {
  AdapterLayout l;
  l.inDim = inDim;
  l.outDim = outDim;
  l.experts = experts;
  l.matrixRows = experts * outDim + experts;
  l.M = 0;
  l.bias = l.matrixRows * inDim;
  l.total = l.bias + experts * inDim;
  return l;
}

namespace {

// Norms below this are treated as this (an all-zero expert output has no direction).
constexpr float kMinNorm = 1e-12f;

// a (rows x cols) -> out (cols x rows).
void transpose(const float* a, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = a[r * cols + c];
}

struct Forward {
  std::vector<float> out;   // rows x matrixRows: Wt_k xd and gate logits
  std::vector<float> c;     // K x ds: Wt_k b_k
  std::vector<float> gate;  // rows x K
  std::vector<float> h, z;  // rows x ds
  std::vector<float> norm;  // rows
};

// Forward pass of `rows` inputs xd (rows x D).
void forward(const AdapterLayout& L, const float* params, const float* xd, int64_t rows, Forward& f,
             const ExecConfig& config) {
  const int64_t D = L.inDim, ds = L.outDim, K = L.experts, MR = L.matrixRows;
  f.out.resize(rows * MR);
  scoreMatrixCpu({xd, rows, params + L.M, MR, D, nullptr}, f.out.data(), config);
  f.c.resize(K * ds);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t t = 0; t < ds; ++t) f.c[k * ds + t] = dot(params + L.M + (k * ds + t) * D, params + L.bias + k * D, D);
  f.gate.resize(rows * K);
  f.h.resize(rows * ds);
  f.z.resize(rows * ds);
  f.norm.resize(rows);
  parallelFor(rows, 64, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* o = f.out.data() + r * MR;
      float* g = f.gate.data() + r * K;
      float mx = o[K * ds];
      for (int64_t k = 1; k < K; ++k) mx = std::max(mx, o[K * ds + k]);
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += (g[k] = std::exp(o[K * ds + k] - mx));
      for (int64_t k = 0; k < K; ++k) g[k] = static_cast<float>(g[k] / sum);
      float* h = f.h.data() + r * ds;
      std::fill(h, h + ds, 0.0f);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t t = 0; t < ds; ++t) h[t] += g[k] * (o[k * ds + t] - f.c[k * ds + t]);
      const float n = std::max(std::sqrt(dot(h, h, ds)), kMinNorm);
      f.norm[r] = n;
      for (int64_t t = 0; t < ds; ++t) f.z[r * ds + t] = h[t] / n;
    }
  });
}

void validateViews(const MatrixView& x, const int32_t* viewA, const int32_t* viewB, int64_t pairs, const char* op) {
  for (int64_t p = 0; p < pairs; ++p)
    for (const int32_t* view : {viewA, viewB})
      if (view[p] < 0 || view[p] >= x.rows)
        fail(ErrorCode::OutOfRange, std::string(op) + ": " + (view == viewA ? "viewA[" : "viewB[") + std::to_string(p) +
                                        "] = " + std::to_string(view[p]) + " is outside [0, " + std::to_string(x.rows) + ")");
}

void validateInputs(const AdapterLayout& L, const MatrixView& x, const AdapterHyper& h, const char* op) {
  if (x.cols != L.inDim)
    fail(ErrorCode::InvalidArgValue, std::string(op) + ": vectors have " + std::to_string(x.cols) + " columns, the adapter reads " +
                                         std::to_string(L.inDim));
  if (!(h.temperature > 0.0f) || !std::isfinite(h.temperature))
    fail(ErrorCode::OutOfRange, std::string(op) + ": temperature must be a finite number > 0");
  if (!(h.dropout >= 0.0f && h.dropout < 1.0f)) fail(ErrorCode::OutOfRange, std::string(op) + ": dropout must be in [0, 1)");
  validateFinite(x.data, x.rows, x.cols, std::string(op) + ": vectors");
}

// Loss and gradient of one batch: rows [0, B) are view A, [B, 2B) view B. xd: 2B x D noised inputs.
double batchGradient(const AdapterLayout& L, const float* params, const float* xd, int64_t B, const AdapterHyper& h,
                     float* grad, Forward& f, const ExecConfig& config) {
  const int64_t D = L.inDim, ds = L.outDim, K = L.experts, MR = L.matrixRows, rows = 2 * B;
  std::fill(grad, grad + L.total, 0.0f);
  if (B == 0) return 0.0;
  forward(L, params, xd, rows, f, config);
  const float* za = f.z.data();
  const float* zb = f.z.data() + B * ds;
  const double invTau = 1.0 / h.temperature;
  // Similarities and both softmaxes, in double: B x B is small.
  std::vector<double> S(B * B), rowP(B * B), colP(B * B);
  for (int64_t p = 0; p < B; ++p)
    for (int64_t q = 0; q < B; ++q) S[p * B + q] = dot(za + p * ds, zb + q * ds, ds) * invTau;
  double loss = 0;
  for (int64_t p = 0; p < B; ++p) {
    double mx = S[p * B], mc = S[p];
    for (int64_t q = 1; q < B; ++q) {
      mx = std::max(mx, S[p * B + q]);
      mc = std::max(mc, S[q * B + p]);
    }
    double zr = 0, zc = 0;
    for (int64_t q = 0; q < B; ++q) {
      zr += (rowP[p * B + q] = std::exp(S[p * B + q] - mx));
      zc += (colP[q * B + p] = std::exp(S[q * B + p] - mc));
    }
    for (int64_t q = 0; q < B; ++q) {
      rowP[p * B + q] /= zr;
      colP[q * B + p] /= zc;
    }
    loss += (mx + std::log(zr) - S[p * B + p]) + (mc + std::log(zc) - S[p * B + p]);
  }
  loss /= 2.0 * B;
  // dS = (rowP + colP - 2 I) / 2B; dZa = dS Zb / tau; dZb = dS^T Za / tau.
  std::vector<float> dz(rows * ds, 0.0f);
  for (int64_t p = 0; p < B; ++p)
    for (int64_t q = 0; q < B; ++q) {
      const double g = (rowP[p * B + q] + colP[p * B + q] - (p == q ? 2.0 : 0.0)) / (2.0 * B) * invTau;
      if (g == 0) continue;
      axpy(static_cast<float>(g), zb + q * ds, dz.data() + p * ds, ds);
      axpy(static_cast<float>(g), za + p * ds, dz.data() + (B + q) * ds, ds);
    }
  // Per row: through the normalisation, the mixture and the gate. d2: rows x MR (expert and gate grads).
  std::vector<float> d2(rows * MR);
  parallelFor(rows, 64, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> dh(ds);
    std::vector<double> dg(K);
    for (int64_t r = r0; r < r1; ++r) {
      const float* z = f.z.data() + r * ds;
      const float* dzr = dz.data() + r * ds;
      const float n = f.norm[r];
      const float proj = n > kMinNorm ? dot(z, dzr, ds) : 0.0f;
      for (int64_t t = 0; t < ds; ++t) dh[t] = (dzr[t] - z[t] * proj) / n;
      const float* g = f.gate.data() + r * K;
      const float* o = f.out.data() + r * MR;
      float* out = d2.data() + r * MR;
      double mean = 0;
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t t = 0; t < ds; ++t) {
          out[k * ds + t] = g[k] * dh[t];
          s += static_cast<double>(o[k * ds + t] - f.c[k * ds + t]) * dh[t];
        }
        dg[k] = s;
        mean += g[k] * s;
      }
      for (int64_t k = 0; k < K; ++k) out[K * ds + k] = static_cast<float>(g[k] * (dg[k] - mean));
    }
  });
  // dM = d2^T xd: one GEMM over the batch rows.
  std::vector<float> d2t(MR * rows), xdt(D * rows);
  transpose(d2.data(), rows, MR, d2t.data());
  transpose(xd, rows, D, xdt.data());
  scoreMatrixCpu({d2t.data(), MR, xdt.data(), D, rows, nullptr}, grad + L.M, config);
  // The whitening biases: e_k = Wt_k xd - Wt_k b_k.
  std::vector<double> colSum(K * ds, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < K * ds; ++j) colSum[j] += d2[r * MR + j];
  for (int64_t k = 0; k < K; ++k) {
    float* db = grad + L.bias + k * D;
    const float* b = params + L.bias + k * D;
    for (int64_t t = 0; t < ds; ++t) {
      const float cs = static_cast<float>(colSum[k * ds + t]);
      const float* wrow = params + L.M + (k * ds + t) * D;
      float* gw = grad + L.M + (k * ds + t) * D;
      axpy(-cs, b, gw, D);
      axpy(-cs, wrow, db, D);
    }
  }
  return loss;
}

// Gathers 2B rows (view A then view B) with their dropout masks; pair p of the batch is `first + p`
// of the stream.
void noisedBatch(const AdapterLayout& L, const MatrixView& x, const int32_t* viewA, const int32_t* viewB, int64_t first,
                 int64_t B, const AdapterHyper& h, uint64_t seed, const float* masks, std::vector<float>& xd) {
  const int64_t D = L.inDim;
  xd.resize(2 * B * D);
  std::vector<float> mask(D);
  for (int64_t view = 0; view < 2; ++view)
    for (int64_t p = 0; p < B; ++p) {
      const int64_t row = view * B + p;
      const int32_t src = (view == 0 ? viewA : viewB)[first + p];
      if (masks)
        std::copy(masks + row * D, masks + (row + 1) * D, mask.begin());
      else
        dropoutMaskStream(seed, kAdapterDropoutStream + 2 * static_cast<uint64_t>(first + p) + view, h.dropout, D, mask.data());
      const float* in = x.row(src);
      float* out = xd.data() + row * D;
      for (int64_t d = 0; d < D; ++d) out[d] = in[d] * mask[d];
    }
}

}  // namespace

void adapterApply(const AdapterLayout& L, const float* params, const MatrixView& x, float* out, const ExecConfig& config) {
  if (x.cols != L.inDim)
    fail(ErrorCode::InvalidArgValue, "adapterApply: inputs have " + std::to_string(x.cols) + " columns, the adapter reads " +
                                         std::to_string(L.inDim));
  validateFinite(x.data, x.rows, x.cols, "adapterApply: vectors");
  constexpr int64_t kChunk = 4096;
  Forward f;
  for (int64_t r0 = 0; r0 < x.rows; r0 += kChunk) {
    const int64_t rows = std::min(kChunk, x.rows - r0);
    forward(L, params, x.data + r0 * L.inDim, rows, f, config);
    std::copy(f.z.begin(), f.z.begin() + rows * L.outDim, out + r0 * L.outDim);
  }
}

double adapterGradient(const AdapterLayout& L, const float* params, const MatrixView& x, const int32_t* viewA,
                       const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed, const float* masks,
                       float* grad, const ExecConfig& config) {
  validateInputs(L, x, h, "adapterGradient");
  validateViews(x, viewA, viewB, pairs, "adapterGradient");
  std::vector<float> xd;
  noisedBatch(L, x, viewA, viewB, 0, pairs, h, seed, masks, xd);
  Forward f;
  return batchGradient(L, params, xd.data(), pairs, h, grad, f, config);
}

double adapterEpoch(const AdapterLayout& L, float* params, float* m, float* v, int64_t* step, const MatrixView& x,
                    const int32_t* viewA, const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed,
                    const ExecConfig& config) {
  validateInputs(L, x, h, "adapterEpoch");
  validateViews(x, viewA, viewB, pairs, "adapterEpoch");
  if (h.batchSize < 2) fail(ErrorCode::OutOfRange, "adapterEpoch: batchSize must be at least 2 (in-batch negatives)");
  std::vector<float> xd, grad(L.total);
  Forward f;
  double total = 0;
  for (int64_t first = 0; first < pairs; first += h.batchSize) {
    const int64_t B = std::min(h.batchSize, pairs - first);
    noisedBatch(L, x, viewA, viewB, first, B, h, seed, nullptr, xd);
    total += batchGradient(L, params, xd.data(), B, h, grad.data(), f, config) * static_cast<double>(B);
    adamUpdate(params, grad.data(), m, v, L.total, h.adam, ++*step);
  }
  const double loss = pairs > 0 ? total / static_cast<double>(pairs) : 0.0;
  checkFiniteLoss(loss, "adapterEpoch");
  return loss;
}

}  // namespace semrec::train
