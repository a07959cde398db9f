// The hot loop of every CPU top-k: find the columns of a row that beat the current k-th score and
// insert them. 32 scores at a time are compared at once; a block with no candidate costs a few
// instructions (the common case once the threshold has settled), and candidates are visited through
// the block's bit mask instead of rescanning it. AVX2 and SSE2 versions, chosen once per process.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "semrec/ranking.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEMREC_X86 1
#endif

namespace semrec {

namespace {

// Bit t is set when !(v[t] <= threshold): greater, or NaN.
#ifdef SEMREC_X86
__attribute__((target("avx2"))) uint32_t candidateMaskAvx2(const float* v, float threshold) {
  const __m256 t = _mm256_set1_ps(threshold);
  uint32_t mask = 0;
  for (int b = 0; b < 4; ++b)
    mask |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + 8 * b), t, _CMP_NLE_UQ))) << (8 * b);
  return mask;
}
uint32_t candidateMaskSse2(const float* v, float threshold) {
  const __m128 t = _mm_set1_ps(threshold);
  uint32_t mask = 0;
  for (int b = 0; b < 8; ++b)
    mask |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(v + 4 * b), t))) << (4 * b);
  return mask;
}
// Bits of v[t] > value and of v[t] >= value (for counting the columns that rank before a given one).
__attribute__((target("avx2"))) void compareMasksAvx2(const float* v, float value, uint32_t& greater, uint32_t& atLeast) {
  const __m256 x = _mm256_set1_ps(value);
  greater = atLeast = 0;
  for (int b = 0; b < 4; ++b) {
    const __m256 y = _mm256_loadu_ps(v + 8 * b);
    greater |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(y, x, _CMP_GT_OQ))) << (8 * b);
    atLeast |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(y, x, _CMP_GE_OQ))) << (8 * b);
  }
}
void compareMasksSse2(const float* v, float value, uint32_t& greater, uint32_t& atLeast) {
  const __m128 x = _mm_set1_ps(value);
  greater = atLeast = 0;
  for (int b = 0; b < 8; ++b) {
    const __m128 y = _mm_loadu_ps(v + 4 * b);
    greater |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpgt_ps(y, x))) << (4 * b);
    atLeast |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpge_ps(y, x))) << (4 * b);
  }
}
#else
void compareMasksPortable(const float* v, float value, uint32_t& greater, uint32_t& atLeast) {
  greater = atLeast = 0;
  for (int t = 0; t < 32; ++t) {
    greater |= static_cast<uint32_t>(v[t] > value) << t;
    atLeast |= static_cast<uint32_t>(v[t] >= value) << t;
  }
}
uint32_t candidateMaskPortable(const float* v, float threshold) {
  uint32_t mask = 0;
  for (int t = 0; t < 32; ++t) mask |= static_cast<uint32_t>(!(v[t] <= threshold)) << t;
  return mask;
}
#endif

// ranksBefore without short-circuit branches: candidates arrive at random, so branches on their
// scores mispredict; flag arithmetic does not.
inline bool before(const Scored& a, const Scored& b) {
  return (a.score > b.score) | ((a.score == b.score) & (a.col < b.col));
}

// Replaces the worst entry (heap[0]) with x, which ranks before it, and sifts x down.
inline void replaceWorst(Scored* heap, int64_t n, const Scored& x) {
  int64_t i = 0;
  for (;;) {
    const int64_t left = 2 * i + 1;
    if (left >= n) break;
    const int64_t worse = (left + 1 < n && before(heap[left], heap[left + 1])) ? left + 1 : left;
    if (!before(x, heap[worse])) break;
    heap[i] = heap[worse];
    i = worse;
  }
  heap[i] = x;
}

// Membership in a sorted exclusion list, by a branch-free binary search (conditional moves only);
// consulted only for the rare columns that beat the threshold.
inline bool isExcluded(const int32_t* begin, const int32_t* end, int64_t col) {
  int64_t length = end - begin;
  if (length <= 0) return false;
  const int32_t* base = begin;
  while (length > 1) {
    const int64_t half = length / 2;
    base = base[half] <= col ? base + half : base;
    length -= half;
  }
  return *base == col;
}

// Inserts x (which ranks before the last entry) into the best-first sorted array, dropping the last:
// the position is a branch-free count, the shift a short copy.
inline void insertSorted(Scored* sorted, int64_t n, const Scored& x) {
  int64_t position = 0;
  for (int64_t i = 0; i < n; ++i) position += before(sorted[i], x);
  Scored carry = x;  // a rotation, not a shifted copy: GCC would turn that into a memmove call
  for (int64_t i = position; i < n; ++i) std::swap(carry, sorted[i]);
}

// Columns of block [blockCol, blockCol + 32) ranking before (value, col): higher score, or equal score
// and a lower column.
inline int64_t rankBeforeInBlock(uint32_t greater, uint32_t atLeast, int64_t blockCol, int64_t col) {
  if (blockCol + 32 <= col) return __builtin_popcount(atLeast);
  if (blockCol > col) return __builtin_popcount(greater);
  const uint32_t left = (1u << (col - blockCol)) - 1;  // columns left of `col` win ties
  return __builtin_popcount((atLeast & left) | (greater & ~left));
}

template <uint32_t (*Mask)(const float*, float), void (*Compare)(const float*, float, uint32_t&, uint32_t&),
          bool kSortedArray, bool kCountRank>
__attribute__((always_inline)) inline int64_t scanImpl(const float* v, int64_t count, int64_t firstCol, Scored* heap,
                                                       int64_t heapSize, float& threshold, const int32_t* exBegin,
                                                       const int32_t* exEnd, RankCounter* rank) {
  float thr = threshold;
  int64_t ranked = 0;
  auto consider = [&](int64_t j) -> bool {  // false: NaN at j
    const float s = v[j];
    if (s <= thr) return true;  // the threshold rose since the block was tested
    if (std::isnan(s)) return false;
    if (isExcluded(exBegin, exEnd, firstCol + j)) return true;
    if (kSortedArray) {
      insertSorted(heap, heapSize, {s, static_cast<int32_t>(firstCol + j)});
      thr = heap[heapSize - 1].score;
    } else {
      replaceWorst(heap, heapSize, {s, static_cast<int32_t>(firstCol + j)});
      thr = heap[0].score;
    }
    return true;
  };
  auto finish = [&](int64_t result) {
    threshold = thr;
    if (kCountRank) rank->before += ranked;
    return result;
  };
  int64_t j = 0;
  for (; j + 32 <= count; j += 32) {
    if (kCountRank) {
      uint32_t greater, atLeast;
      Compare(v + j, rank->score, greater, atLeast);
      ranked += rankBeforeInBlock(greater, atLeast, firstCol + j, rank->col);
    }
    uint32_t mask = Mask(v + j, thr);
    while (mask != 0) {
      const int t = __builtin_ctz(mask);
      mask &= mask - 1;
      if (!consider(j + t)) return finish(firstCol + j + t);
    }
  }
  for (; j < count; ++j) {
    if (kCountRank) ranked += ranksBefore(v[j], static_cast<int32_t>(firstCol + j), rank->score, static_cast<int32_t>(rank->col));
    if (!(v[j] <= thr) && !consider(j)) return finish(firstCol + j);
  }
  return finish(-1);
}

using ScanFn = int64_t (*)(const float*, int64_t, int64_t, Scored*, int64_t, float&, const int32_t*, const int32_t*,
                           RankCounter*);

// One compiled loop per instruction set x selection layout x rank counting, chosen per call.
#define SEMREC_SCAN_VARIANT(name, attributes, isa, sorted, count)                                                \
  attributes int64_t name(const float* v, int64_t n, int64_t firstCol, Scored* entries, int64_t size, float& thr, \
                          const int32_t* exBegin, const int32_t* exEnd, RankCounter* rank) {                      \
    return scanImpl<candidateMask##isa, compareMasks##isa, sorted, count>(v, n, firstCol, entries, size, thr,      \
                                                                           exBegin, exEnd, rank);                  \
  }
#define SEMREC_SCAN_VARIANTS(isa, attributes)                                 \
  SEMREC_SCAN_VARIANT(scanHeap##isa, attributes, isa, false, false)           \
  SEMREC_SCAN_VARIANT(scanSorted##isa, attributes, isa, true, false)          \
  SEMREC_SCAN_VARIANT(scanHeapCount##isa, attributes, isa, false, true)       \
  SEMREC_SCAN_VARIANT(scanSortedCount##isa, attributes, isa, true, true)      \
  ScanFn pick##isa(bool sorted, bool count) {                                 \
    return sorted ? (count ? scanSortedCount##isa : scanSorted##isa)          \
                  : (count ? scanHeapCount##isa : scanHeap##isa);             \
  }
#ifdef SEMREC_X86
SEMREC_SCAN_VARIANTS(Avx2, __attribute__((target("avx2"))))
SEMREC_SCAN_VARIANTS(Sse2, )
ScanFn pickScan(bool sorted, bool count) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? pickAvx2(sorted, count) : pickSse2(sorted, count);
}
#else
SEMREC_SCAN_VARIANTS(Portable, )
ScanFn pickScan(bool sorted, bool count) { return pickPortable(sorted, count); }
#endif
#undef SEMREC_SCAN_VARIANTS
#undef SEMREC_SCAN_VARIANT

}  // namespace

int64_t scanCandidates(const float* values, int64_t count, int64_t firstCol, Scored* entries, int64_t n,
                       float& threshold, const int32_t* excludedBegin, const int32_t* excludedEnd, RankCounter* rank) {
  static const ScanFn scans[2][2] = {{pickScan(false, false), pickScan(false, true)},
                                     {pickScan(true, false), pickScan(true, true)}};
  const ScanFn scan = scans[n <= kSortedSelectionMaxK][rank != nullptr];
  return scan(values, count, firstCol, entries, n, threshold, excludedBegin, excludedEnd, rank);
}

}  // namespace semrec
