// The core's register-blocked GEMM micro-kernel (defined in native/ops/score.cc), for every op whose inner
// loop is a small dense product: C[r][j] = A_r . B_j (+ bias[j]) over `dim`, with B packed into panels
// of 16 or 32 columns so one step of the reduction is two vector loads. Scoring (users . items^T) and
// NeuMF's MLP layers run on it.
//
// Paths, picked once at load (semrec/cpu_isa.h): AVX-512 (12 rows of A x panels of 32 columns per call),
// AVX2 + FMA (6 x 16), portable C++ (6 x 16). Each output is summed in the order t = 0 .. dim-1, with one
// fused multiply-add per step on both vector paths, so AVX-512 and AVX2 give the same bits.
#pragma once

#include <cstdint>

namespace semrec::gemm {

// The most columns per panel and rows of A per call of any path (scratch sizes).
constexpr int64_t kMaxPanel = 32;
constexpr int64_t kMaxStripRows = 12;

// Rows of A one kernel() call handles, and columns of B per packed panel, on this CPU.
int64_t stripRows();
int64_t panelWidth();

// Floats pack() writes for `cols` columns of length `dim` (whole panels).
inline int64_t packedFloats(int64_t cols, int64_t dim) {
  const int64_t w = panelWidth();
  return (cols + w - 1) / w * w * dim;
}

// Packs columns [0, cols) of B, column j being B[j * ldb + 0 .. dim), into panels of w = panelWidth()
// columns: packed[p * dim * w + t * w + j] = B[(p * w + j) * ldb + t], zero past `cols`.
void pack(const float* B, int64_t ldb, int64_t cols, int64_t dim, float* packed);

// C[r * ldc + j] = A[r * lda + 0 .. dim) . panel column j (+ bias[j] when bias is not null), for r < rows
// (<= stripRows()) and j < cols (<= panelWidth()). `panel` is one panel written by pack(); bias, when
// given, is read for a whole panel width.
void kernel(const float* A, int64_t lda, int64_t rows, const float* panel, int64_t dim, const float* bias, float* C,
            int64_t ldc, int64_t cols);

// C = A B^T (+ bias): rows x cols of C (row stride ldc), A row-major (lda), B packed by pack() (its column
// 0 at packedB's start), bias indexed by column. Serial: callers parallelise over blocks.
void multiply(const float* A, int64_t lda, int64_t rows, const float* packedB, int64_t cols, int64_t dim,
              const float* bias, float* C, int64_t ldc);

}  // namespace semrec::gemm
