// CPU scoring: users . items^T (+ bias) in register-blocked tiles (the GEMM micro-kernel of semrec/gemm.h,
// AVX-512 or AVX2/FMA where the CPU has them); top-k consumes the tiles as they are made, so the full score
// matrix never exists.
#include "semrec/score.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string>
#include <vector>

#include "semrec/cpu_isa.h"
#include "semrec/device.h"
#include "semrec/gemm.h"
#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/ranking.h"
#include "semrec/validate.h"

namespace semrec {

namespace gemm {

namespace {

// One strip of A against one panel: 6 rows x 16 columns (AVX2, portable) or 12 x 32 (AVX-512); each step
// of the reduction broadcasts one value of every row against the panel's row. Rows past `rows` re-read
// row 0 and are not stored.

// The portable path: the compiler vectorises the 16 columns.
constexpr int64_t kPanel = 16;  // panel width of the AVX2 and portable paths

void kernelGeneric(const float* a, int64_t lda, int64_t rows, const float* panel, int64_t dim, const float* bias,
                   float* c, int64_t ldc, int64_t cols) {
  float acc[6][kPanel] = {};
  for (int64_t t = 0; t < dim; ++t) {
    const float* b = panel + t * kPanel;
    for (int64_t r = 0; r < rows; ++r) {
      const float x = a[r * lda + t];
      for (int64_t j = 0; j < kPanel; ++j) acc[r][j] += x * b[j];
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = acc[r][j] + (bias ? bias[j] : 0.0f);
}

#if defined(__x86_64__)
// The AVX2/FMA path: the classic register-blocked micro-kernel. Each step of the reduction is two vector
// loads of the panel and 6 broadcasts into 12 accumulators: 12 FMAs per 8 loads, which keeps both FMA
// pipes busy.
__attribute__((target("avx2,fma"))) void kernel6x16(const float* a, int64_t lda, int64_t rows, const float* panel,
                                                     int64_t dim, const float* bias, float* c, int64_t ldc,
                                                     int64_t cols) {
  const float* r0 = a;
  const float* r1 = rows > 1 ? a + lda : a;
  const float* r2 = rows > 2 ? a + 2 * lda : a;
  const float* r3 = rows > 3 ? a + 3 * lda : a;
  const float* r4 = rows > 4 ? a + 4 * lda : a;
  const float* r5 = rows > 5 ? a + 5 * lda : a;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t t = 0; t < dim; ++t) {
    const __m256 b0 = _mm256_loadu_ps(panel + t * kPanel);
    const __m256 b1 = _mm256_loadu_ps(panel + t * kPanel + 8);
    __m256 x = _mm256_broadcast_ss(r0 + t);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(r1 + t);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(r2 + t);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(r3 + t);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(r4 + t);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(r5 + t);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
  }
  const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
  const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
  const __m256 out[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (cols == kPanel) {
    for (int64_t r = 0; r < rows; ++r) {
      _mm256_storeu_ps(c + r * ldc, _mm256_add_ps(out[r][0], bias0));
      _mm256_storeu_ps(c + r * ldc + 8, _mm256_add_ps(out[r][1], bias1));
    }
    return;
  }
  alignas(32) float row[kPanel];
  for (int64_t r = 0; r < rows; ++r) {
    _mm256_store_ps(row, _mm256_add_ps(out[r][0], bias0));
    _mm256_store_ps(row + 8, _mm256_add_ps(out[r][1], bias1));
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = row[j];
  }
}

// The AVX-512 path: panels of 32 columns (two 16-wide registers per row), 12 rows per step: 24 FMAs per
// 14 loads (the panel row and 12 broadcasts), so the FMA pipes, not the loads, set the pace. (Panels of 16
// with 12 rows ran at half the speed here: 13 loads per 12 FMAs.)
__attribute__((target("avx512f"))) void kernel12x32(const float* a, int64_t lda, int64_t rows, const float* panel,
                                                     int64_t dim, const float* bias, float* c, int64_t ldc,
                                                     int64_t cols) {
  constexpr int64_t kWidth = 32;
  const float* r[12];
  for (int64_t k = 0; k < 12; ++k) r[k] = a + (k < rows ? k : 0) * lda;
  __m512 lo[12], hi[12];
  for (int64_t k = 0; k < 12; ++k) lo[k] = hi[k] = _mm512_setzero_ps();
  for (int64_t t = 0; t < dim; ++t) {
    const __m512 b0 = _mm512_loadu_ps(panel + t * kWidth);
    const __m512 b1 = _mm512_loadu_ps(panel + t * kWidth + 16);
#pragma GCC unroll 12
    for (int64_t k = 0; k < 12; ++k) {
      const __m512 x = _mm512_set1_ps(r[k][t]);
      lo[k] = _mm512_fmadd_ps(x, b0, lo[k]);
      hi[k] = _mm512_fmadd_ps(x, b1, hi[k]);
    }
  }
  const __mmask16 keepLo = cols >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 keepHi =
      cols >= 32 ? static_cast<__mmask16>(0xffff) : cols <= 16 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << (cols - 16)) - 1);
  const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(keepLo, bias) : _mm512_setzero_ps();
  const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(keepHi, bias + 16) : _mm512_setzero_ps();
  for (int64_t k = 0; k < rows; ++k) {
    _mm512_mask_storeu_ps(c + k * ldc, keepLo, _mm512_add_ps(lo[k], bias0));
    _mm512_mask_storeu_ps(c + k * ldc + 16, keepHi, _mm512_add_ps(hi[k], bias1));
  }
}
#endif

using KernelFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t);

struct Kernel {
  KernelFn fn = kernelGeneric;
  int64_t rows = 6, width = 16;
};

Kernel pickKernel() {
#if defined(__x86_64__)
  if (cpuIsa() == CpuIsa::Avx512) return {kernel12x32, 12, 32};
  if (cpuIsa() == CpuIsa::Avx2) return {kernel6x16, 6, 16};
#endif
  return {};
}

const Kernel& best() {
  static const Kernel k = pickKernel();
  return k;
}

}  // namespace

int64_t stripRows() { return best().rows; }

int64_t panelWidth() { return best().width; }

void pack(const float* B, int64_t ldb, int64_t cols, int64_t dim, float* packed) {
  const int64_t w = panelWidth();
  const int64_t panels = (cols + w - 1) / w;
  for (int64_t p = 0; p < panels; ++p) {
    float* panel = packed + p * dim * w;
    for (int64_t j = 0; j < w; ++j) {
      const int64_t col = p * w + j;
      if (col < cols) {
        const float* src = B + col * ldb;
        for (int64_t t = 0; t < dim; ++t) panel[t * w + j] = src[t];
      } else {
        for (int64_t t = 0; t < dim; ++t) panel[t * w + j] = 0.0f;
      }
    }
  }
}

void kernel(const float* A, int64_t lda, int64_t rows, const float* panel, int64_t dim, const float* bias, float* C,
            int64_t ldc, int64_t cols) {
  best().fn(A, lda, rows, panel, dim, bias, C, ldc, cols);
}

void multiply(const float* A, int64_t lda, int64_t rows, const float* packedB, int64_t cols, int64_t dim,
              const float* bias, float* C, int64_t ldc) {
  const Kernel& k = best();
  const int64_t panels = (cols + k.width - 1) / k.width;
  float biasPad[kMaxPanel];
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t first = p * k.width;
    const int64_t width = std::min(k.width, cols - first);
    const float* b = nullptr;
    if (bias) {
      for (int64_t j = 0; j < k.width; ++j) biasPad[j] = j < width ? bias[first + j] : 0.0f;
      b = biasPad;
    }
    for (int64_t r = 0; r < rows; r += k.rows)
      k.fn(A + r * lda, lda, std::min(k.rows, rows - r), packedB + p * dim * k.width, dim, b, C + r * ldc + first, ldc,
           width);
  }
}

}  // namespace gemm

namespace {

// Scores users [u0, u1) against items [i0, i1) into tile (row stride ldt). `packed` is scratch for the
// item block, packed once and reused by every strip of users.
void scoreBlock(const EmbeddingView& e, int64_t u0, int64_t u1, int64_t i0, int64_t i1, std::vector<float>& packed,
                float* tile, int64_t ldt) {
  packed.resize(static_cast<size_t>(gemm::packedFloats(i1 - i0, e.dim)));
  gemm::pack(e.items + i0 * e.dim, e.dim, i1 - i0, e.dim, packed.data());
  gemm::multiply(e.users + u0 * e.dim, e.dim, u1 - u0, packed.data(), i1 - i0, e.dim, e.itemBias ? e.itemBias + i0 : nullptr,
                 tile, ldt);
}

// Users per work chunk: they share each packed item block (16 six-user or 8 twelve-user strips).
constexpr int64_t kUserChunk = 96;

// Items per block: the packed block (items x dim floats) stays within about 128 KiB of cache (a whole
// number of 32-column panels).
int64_t itemBlock(int64_t dim) { return std::clamp<int64_t>((32768 / std::max<int64_t>(dim, 1)) / 32 * 32, 32, 512); }

void validateEmbeddings(const EmbeddingView& e, const char* op) {
  validateFinite(e.users, e.numUsers, e.dim, std::string(op) + ": users");
  validateFinite(e.items, e.numItems, e.dim, std::string(op) + ": items");
  if (e.itemBias) validateFinite(e.itemBias, 1, e.numItems, std::string(op) + ": itemBias");
}

}  // namespace

void scoreMatrixCpu(const EmbeddingView& e, float* out, const ExecConfig& config) {
  const int64_t block = itemBlock(e.dim);
  parallelFor(e.numUsers, kUserChunk, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    std::vector<float> packed;
    for (int64_t i0 = 0; i0 < e.numItems; i0 += block) {
      const int64_t i1 = std::min(i0 + block, e.numItems);
      scoreBlock(e, u0, u1, i0, i1, packed, out + u0 * e.numItems + i0, e.numItems);
    }
  });
}

void scoreTopKCpu(const EmbeddingView& e, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
                  const ExecConfig& config) {
  const int64_t block = itemBlock(e.dim);
  parallelFor(e.numUsers, kUserChunk, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    const int64_t users = u1 - u0;
    std::vector<TopKSelector> selectors(users, TopKSelector(k));
    std::vector<std::vector<int32_t>> excluded(users);
    for (int64_t u = u0; u < u1; ++u) sortedUnique(exclude.rowBegin(u), exclude.rowLength(u), excluded[u - u0]);
    std::vector<float> tile(users * block), packed;
    for (int64_t i0 = 0; i0 < e.numItems; i0 += block) {
      const int64_t i1 = std::min(i0 + block, e.numItems);
      scoreBlock(e, u0, u1, i0, i1, packed, tile.data(), block);
      for (int64_t u = u0; u < u1; ++u) {
        const float* tileRow = tile.data() + (u - u0) * block;  // items i0..i1
        const int64_t nanItem = selectors[u - u0].offer(tileRow, i0, i1 - i0, &excluded[u - u0]);
        if (nanItem >= 0)
          fail(ErrorCode::NanInput, "scoreTopK: the score of user " + std::to_string(u) + " and item " +
                                        std::to_string(nanItem) +
                                        " is NaN (the dot product overflowed: users/items are too large)");
      }
    }
    for (int64_t u = u0; u < u1; ++u) selectors[u - u0].finish(outCols + u * k, outScores + u * k, k);
  });
}

Device scoreMatrix(Device device, const EmbeddingView& e, float* out, const ExecConfig& config) {
  validateEmbeddings(e, "scoreMatrix");
  const double work = static_cast<double>(e.numUsers) * e.numItems * e.dim;
  const Device used = resolveDevice(device, work, "scoreMatrix");
  if (used == Device::Cuda)
    scoreMatrixCuda(e, out, config);
  else
    scoreMatrixCpu(e, out, config);
  return used;
}

Device scoreTopK(Device device, const EmbeddingView& e, const CsrView& exclude, int64_t k, int32_t* outCols,
                 float* outScores, const ExecConfig& config) {
  validateEmbeddings(e, "scoreTopK");
  validateCsr(exclude, e.numItems, "scoreTopK: exclude");
  const double work = static_cast<double>(e.numUsers) * e.numItems * e.dim;
  const Device used = resolveDevice(device, work, "scoreTopK");
  if (used == Device::Cuda)
    scoreTopKCuda(e, exclude, k, outCols, outScores, config);
  else
    scoreTopKCpu(e, exclude, k, outCols, outScores, config);
  return used;
}

}  // namespace semrec
