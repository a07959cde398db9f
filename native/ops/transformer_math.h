// Vector kernels of the transformer trainer (native/ops only; see transformer_math.cc).
#pragma once

#include <cstdint>

namespace semrec::seq::math {

// C[M x N] = (or +=) op(A) . B with op(A) = A (M x K, row stride lda) or A^T (A stored K x M, row stride lda);
// B is K x N (row stride ldb), C is M x N (row stride ldc). All row-major.
void gemm(bool transA, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool accumulate);

// x[i] = e^x[i] (relative error below 2e-7 on [-87, 88]; inputs are clamped to it).
void expInPlace(float* x, int64_t n);
float expScalar(float x);

// GELU as BERT defines it, x/2 (1 + erf(x / sqrt 2)), erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
void geluForward(const float* x, float* y, int64_t n);
// dy[i] *= GELU'(x[i]).
void geluBackward(const float* x, float* dy, int64_t n);

// Row-wise LayerNorm of rows x dim: y = (x - mean) / sqrt(var + eps) * gamma + beta; stats = (mean, 1/std) per row.
void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* stats, int64_t rows,
                      int64_t dim, float eps);
// dx from dy (x and stats as in the forward); adds into dGamma and dBeta.
void layerNormBackward(const float* x, const float* gamma, const float* stats, const float* dy, float* dx,
                       float* dGamma, float* dBeta, int64_t rows, int64_t dim);

// out[j] += sum over rows of x[r, j].
void addColumnSums(const float* x, int64_t rows, int64_t dim, float* out);

// dst (cols x rows) = src (rows x cols)^T.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst);

}  // namespace semrec::seq::math
