// CPU scoring: users . items^T (+ bias) in register-blocked tiles; top-k consumes tiles as they are made.
#include "semrec/score.h"

#include <algorithm>
#include <string>
#include <vector>

#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/ranking.h"
#include "semrec/validate.h"

namespace semrec {

namespace {

constexpr int64_t kUserBlock = 16;   // users per work chunk: their vectors stay in L1/L2 across an item block
constexpr int64_t kItemBlock = 256;  // items per tile: the tile (16 x 256 floats) stays in L1

// tile[(u - u0) * ldt + (i - i0)] = users[u] . items[i] + bias[i] for u in [u0, u1), i in [i0, i1).
// Four users share each item load; the compiler vectorises the reduction over dim.
__attribute__((target_clones("arch=haswell", "default"))) void scoreTile(const EmbeddingView& e, int64_t u0,
                                                                         int64_t u1, int64_t i0, int64_t i1,
                                                                         float* tile, int64_t ldt) {
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

void validateEmbeddings(const EmbeddingView& e, const char* op) {
  validateFinite(e.users, e.numUsers, e.dim, std::string(op) + ": users");
  validateFinite(e.items, e.numItems, e.dim, std::string(op) + ": items");
  if (e.itemBias) validateFinite(e.itemBias, 1, e.numItems, std::string(op) + ": itemBias");
}

}  // namespace

void scoreMatrixCpu(const EmbeddingView& e, float* out, const ExecConfig& config) {
  parallelFor(e.numUsers, kUserBlock, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    for (int64_t i0 = 0; i0 < e.numItems; i0 += kItemBlock) {
      const int64_t i1 = std::min(i0 + kItemBlock, e.numItems);
      scoreTile(e, u0, u1, i0, i1, out + u0 * e.numItems + i0, e.numItems);
    }
  });
}

void scoreTopKCpu(const EmbeddingView& e, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
                  const ExecConfig& config) {
  parallelFor(e.numUsers, kUserBlock, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    const int64_t users = u1 - u0;
    std::vector<TopKSelector> selectors(users, TopKSelector(k));
    std::vector<std::vector<int32_t>> excluded(users);
    for (int64_t u = u0; u < u1; ++u) sortedUnique(exclude.rowBegin(u), exclude.rowLength(u), excluded[u - u0]);
    std::vector<float> tile(users * kItemBlock);
    for (int64_t i0 = 0; i0 < e.numItems; i0 += kItemBlock) {
      const int64_t i1 = std::min(i0 + kItemBlock, e.numItems);
      scoreTile(e, u0, u1, i0, i1, tile.data(), kItemBlock);
      for (int64_t u = u0; u < u1; ++u) {
        const float* tileRow = tile.data() + (u - u0) * kItemBlock;  // items i0..i1
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
