// Vector kernels of the transformer trainer: a register-blocked GEMM, exp, GELU and LayerNorm rows, each
// compiled for AVX2+FMA and for baseline x86-64 (picked at load time), like train_common.cc's dot/axpy.
#include "transformer_math.h"

#include <algorithm>
#include <cmath>

namespace semrec::seq::math {

namespace {

constexpr int kCols = 16;  // two 8-float vectors of C per row
constexpr int kRows = 6;   // 6 x 16 accumulators: 12 vector registers, leaving room for B and A

// C[R x 16] (+)= op(A)[R x K] . B[K x 16]; A row r at A + r * lda (or column r of the stored K x M when TransA).
template <int R, bool TransA>
__attribute__((always_inline)) inline void block(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                                                 float* C, int64_t ldc, bool accumulate) {
  float acc[R][kCols];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < kCols; ++j) acc[r][j] = accumulate ? C[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    for (int r = 0; r < R; ++r) {
      const float a = TransA ? A[k * lda + r] : A[r * lda + k];
#pragma omp simd
      for (int j = 0; j < kCols; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < kCols; ++j) C[r * ldc + j] = acc[r][j];
}

// The last columns (fewer than 16): a plain loop.
template <bool TransA>
__attribute__((always_inline)) inline void tail(int64_t rows, int64_t cols, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float* C, int64_t ldc, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float s = accumulate ? C[r * ldc + j] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s += (TransA ? A[k * lda + r] : A[r * lda + k]) * B[k * ldb + j];
      C[r * ldc + j] = s;
    }
}

template <bool TransA>
__attribute__((always_inline)) inline void gemmImpl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                     int64_t ldc, bool accumulate) {
  const int64_t fullCols = N - N % kCols;
  for (int64_t i0 = 0; i0 < M; i0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, M - i0);
    const float* a = TransA ? A + i0 : A + i0 * lda;
    float* c = C + i0 * ldc;
    for (int64_t j0 = 0; j0 < fullCols; j0 += kCols) {
      switch (rows) {
        case 6: block<6, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
        case 5: block<5, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
        case 4: block<4, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
        case 3: block<3, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
        case 2: block<2, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
        default: block<1, TransA>(K, a, lda, B + j0, ldb, c + j0, ldc, accumulate); break;
      }
    }
    if (fullCols < N) tail<TransA>(rows, N - fullCols, K, a, lda, B + fullCols, ldb, c + fullCols, ldc, accumulate);
  }
}

// e^x for x <= 0 mostly (softmax after subtracting the max), valid on [-87, 88]: Cody-Waite reduction by ln 2
// and a degree-6 polynomial (relative error below 2e-7), 2^n from the exponent bits. Branch-free, so it vectorises.
__attribute__((always_inline)) inline float expApprox(float x) {
  x = std::min(88.0f, std::max(-87.0f, x));
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union {
    int32_t i;
    float f;
  } scale;
  scale.i = (static_cast<int32_t>(n) + 127) << 23;
  return p * scale.f;
}

// erf(x / sqrt 2) and the normal density's exp(-x^2 / 2), by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
__attribute__((always_inline)) inline void erfAndGauss(float x, float& erfOut, float& gaussExp) {
  const float u = std::fabs(x) * 0.70710678118654752f;
  const float e = expApprox(-0.5f * x * x);
  const float t = 1.0f / (1.0f + 0.3275911f * u);
  const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float y = 1.0f - poly * e;
  erfOut = x < 0 ? -y : y;
  gaussExp = e;
}

constexpr float kInvSqrt2Pi = 0.398942280401432678f;

}  // namespace

__attribute__((target_clones("arch=haswell", "default"))) void gemm(bool transA, int64_t M, int64_t N, int64_t K,
                                                                     const float* A, int64_t lda, const float* B,
                                                                     int64_t ldb, float* C, int64_t ldc,
                                                                     bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (transA)
    gemmImpl<true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  else
    gemmImpl<false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

__attribute__((target_clones("arch=haswell", "default"))) void expInPlace(float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = expApprox(x[i]);
}

float expScalar(float x) { return expApprox(x); }

__attribute__((target_clones("arch=haswell", "default"))) void geluForward(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float erfv, g;
    erfAndGauss(x[i], erfv, g);
    y[i] = 0.5f * x[i] * (1.0f + erfv);
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void geluBackward(const float* x, float* dy, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float erfv, g;
    erfAndGauss(x[i], erfv, g);
    dy[i] *= 0.5f * (1.0f + erfv) + x[i] * g * kInvSqrt2Pi;
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void layerNormForward(const float* x, const float* gamma,
                                                                                const float* beta, float* y,
                                                                                float* stats, int64_t rows,
                                                                                int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float mean = 0;
#pragma omp simd reduction(+ : mean)
    for (int64_t j = 0; j < dim; ++j) mean += xr[j];
    mean /= static_cast<float>(dim);
    float var = 0;
#pragma omp simd reduction(+ : var)
    for (int64_t j = 0; j < dim; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    var /= static_cast<float>(dim);
    const float rstd = 1.0f / std::sqrt(var + eps);
    float* yr = y + r * dim;
#pragma omp simd
    for (int64_t j = 0; j < dim; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void layerNormBackward(const float* x, const float* gamma,
                                                                                 const float* stats, const float* dy,
                                                                                 float* dx, float* dGamma, float* dBeta,
                                                                                 int64_t rows, int64_t dim) {
  const float invDim = 1.0f / static_cast<float>(dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    const float* dyr = dy + r * dim;
    float* dxr = dx + r * dim;
    const float mean = stats[2 * r], rstd = stats[2 * r + 1];
    float sumD = 0, sumDX = 0;
#pragma omp simd reduction(+ : sumD, sumDX)
    for (int64_t j = 0; j < dim; ++j) {
      const float xhat = (xr[j] - mean) * rstd;
      const float d = dyr[j] * gamma[j];
      sumD += d;
      sumDX += d * xhat;
      dGamma[j] += dyr[j] * xhat;
      dBeta[j] += dyr[j];
    }
    sumD *= invDim;
    sumDX *= invDim;
#pragma omp simd
    for (int64_t j = 0; j < dim; ++j) {
      const float xhat = (xr[j] - mean) * rstd;
      dxr[j] = rstd * (dyr[j] * gamma[j] - sumD - xhat * sumDX);
    }
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void addColumnSums(const float* x, int64_t rows, int64_t dim,
                                                                             float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
#pragma omp simd
    for (int64_t j = 0; j < dim; ++j) out[j] += xr[j];
  }
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile)
      for (int64_t r = r0; r < std::min(rows, r0 + kTile); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kTile); ++c) dst[c * rows + r] = src[r * cols + c];
}

}  // namespace semrec::seq::math
