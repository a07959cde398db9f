// CPU scoring: users . items^T (+ bias) in register-blocked tiles (an AVX2/FMA GEMM micro-kernel where the
// CPU has it); top-k consumes the tiles as they are made, so the full score matrix never exists.
#include "semrec/score.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string>
#include <vector>

#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/ranking.h"
#include "semrec/validate.h"

namespace semrec {

namespace {

// The generic path: four users share each item load; the compiler vectorises the reduction over dim.
// tile[(u - u0) * ldt + (i - i0)] = users[u] . items[i] + bias[i] for u in [u0, u1), i in [i0, i1).
void scoreTileGeneric(const EmbeddingView& e, int64_t u0, int64_t u1, int64_t i0, int64_t i1, float* tile, int64_t ldt) {
  const int64_t d = e.dim;
  for (int64_t i = i0; i < i1; ++i) {
    const float* b = e.items + i * d;
    const float bias = e.itemBias ? e.itemBias[i] : 0.0f;
    float* out = tile + (i - i0);
    int64_t u = u0;
    for (; u + 4 <= u1; u += 4) {
      const float* a0 = e.users + u * d;
      const float* a1 = a0 + d;
      const float* a2 = a1 + d;
      const float* a3 = a2 + d;
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t t = 0; t < d; ++t) {
        const float bt = b[t];
        s0 += a0[t] * bt;
        s1 += a1[t] * bt;
        s2 += a2[t] * bt;
        s3 += a3[t] * bt;
      }
      out[(u - u0) * ldt] = s0 + bias;
      out[(u + 1 - u0) * ldt] = s1 + bias;
      out[(u + 2 - u0) * ldt] = s2 + bias;
      out[(u + 3 - u0) * ldt] = s3 + bias;
    }
    for (; u < u1; ++u) {
      const float* a = e.users + u * d;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t t = 0; t < d; ++t) s += a[t] * b[t];
      out[(u - u0) * ldt] = s + bias;
    }
  }
}

#if defined(__x86_64__)
// The AVX2/FMA path: the classic register-blocked GEMM micro-kernel. Items are packed into panels of 16
// (dim x 16, so one step of the reduction is two vector loads), and each step broadcasts one value of
// 6 users into 12 accumulators: 12 FMAs per 8 loads, which keeps both FMA pipes busy.
constexpr int64_t kPanel = 16;
constexpr int64_t kKernelRows = 6;

// packed[p * dim * 16 + t * 16 + j] = items[i0 + 16p + j][t], zero past i1.
void packItems(const EmbeddingView& e, int64_t i0, int64_t i1, float* packed) {
  const int64_t d = e.dim;
  const int64_t panels = (i1 - i0 + kPanel - 1) / kPanel;
  for (int64_t p = 0; p < panels; ++p) {
    float* panel = packed + p * d * kPanel;
    for (int64_t j = 0; j < kPanel; ++j) {
      const int64_t i = i0 + p * kPanel + j;
      if (i < i1) {
        const float* src = e.items + i * d;
        for (int64_t t = 0; t < d; ++t) panel[t * kPanel + j] = src[t];
      } else {
        for (int64_t t = 0; t < d; ++t) panel[t * kPanel + j] = 0.0f;
      }
    }
  }
}

// c[r][j] = a_r . panel column j (+ bias[j]) for r < rows (<= 6), j < cols (<= 16).
__attribute__((target("avx2,fma"))) void kernel6x16(const float* a, int64_t lda, int64_t rows, const float* panel,
                                                     int64_t dim, const float* bias, float* c, int64_t ldc,
                                                     int64_t cols) {
  const float* r0 = a;  // rows past `rows` re-read row 0; their results are not stored
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
  alignas(32) float row[kKernelRows][kPanel];
  _mm256_store_ps(row[0], _mm256_add_ps(c00, bias0));
  _mm256_store_ps(row[0] + 8, _mm256_add_ps(c01, bias1));
  _mm256_store_ps(row[1], _mm256_add_ps(c10, bias0));
  _mm256_store_ps(row[1] + 8, _mm256_add_ps(c11, bias1));
  _mm256_store_ps(row[2], _mm256_add_ps(c20, bias0));
  _mm256_store_ps(row[2] + 8, _mm256_add_ps(c21, bias1));
  _mm256_store_ps(row[3], _mm256_add_ps(c30, bias0));
  _mm256_store_ps(row[3] + 8, _mm256_add_ps(c31, bias1));
  _mm256_store_ps(row[4], _mm256_add_ps(c40, bias0));
  _mm256_store_ps(row[4] + 8, _mm256_add_ps(c41, bias1));
  _mm256_store_ps(row[5], _mm256_add_ps(c50, bias0));
  _mm256_store_ps(row[5] + 8, _mm256_add_ps(c51, bias1));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = row[r][j];
}

const bool kHaveAvx2Fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
const bool kHaveAvx2Fma = false;
#endif

// Scores users [u0, u1) against items [i0, i1) into tile (row stride ldt). `packed` is scratch for the
// item block, packed once and reused by every 6-user strip.
void scoreBlock(const EmbeddingView& e, int64_t u0, int64_t u1, int64_t i0, int64_t i1, std::vector<float>& packed,
                float* tile, int64_t ldt) {
#if defined(__x86_64__)
  if (kHaveAvx2Fma) {
    const int64_t panels = (i1 - i0 + kPanel - 1) / kPanel;
    packed.resize(static_cast<size_t>(panels * e.dim * kPanel));
    packItems(e, i0, i1, packed.data());
    float biasPad[kPanel];
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t first = i0 + p * kPanel;
      const int64_t cols = std::min(kPanel, i1 - first);
      const float* bias = nullptr;
      if (e.itemBias) {
        for (int64_t j = 0; j < kPanel; ++j) biasPad[j] = j < cols ? e.itemBias[first + j] : 0.0f;
        bias = biasPad;
      }
      for (int64_t u = u0; u < u1; u += kKernelRows) {
        kernel6x16(e.users + u * e.dim, e.dim, std::min(kKernelRows, u1 - u), packed.data() + p * e.dim * kPanel, e.dim,
                   bias, tile + (u - u0) * ldt + (first - i0), ldt, cols);
      }
    }
    return;
  }
#endif
  (void)packed;
  scoreTileGeneric(e, u0, u1, i0, i1, tile, ldt);
}

// Users per work chunk: they share each packed item block (16 six-user strips).
constexpr int64_t kUserChunk = 96;

// Items per block: the packed block (items x dim floats) stays within about 128 KiB of cache.
int64_t itemBlock(int64_t dim) { return std::clamp<int64_t>((32768 / std::max<int64_t>(dim, 1)) / 16 * 16, 16, 512); }

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
