// GPU top-k per row: one block per row. Eligibility (exclusions, NaN) goes into a per-block bitmap, a
// radix select over the unique 64-bit ranking keys finds the k-th key exactly (8 passes of 8 bits; no
// tie handling is needed because keys are unique), the keys at or above it are gathered, then sorted
// (bitonic in shared memory for k <= 2048, CUB segmented sort beyond) and decoded to (column, score).
#include <cub/device/device_segmented_sort.cuh>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "common.cuh"
#include "select.cuh"
#include "semrec/device.h"

namespace semrec::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kSharedSortMax = 2048;  // keys sorted in shared memory (16 KiB)

__device__ __forceinline__ bool excluded(const uint32_t* bitmap, int64_t col) {
  return (bitmap[col >> 5] >> (col & 31)) & 1u;
}

// 0 for cells that may not be ranked (excluded or NaN).
__device__ __forceinline__ uint64_t eligibleKey(const float* row, const uint32_t* bitmap, int64_t col) {
  const float v = row[col];
  if (isnan(v) || excluded(bitmap, col)) return 0;
  return rankKey(v, col);
}

__device__ unsigned long long blockSum(unsigned long long value, unsigned long long* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xFFFFFFFFu, value, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  unsigned long long total = 0;
  for (int w = 0; w < kWarps; ++w) total += shared[w];
  __syncthreads();
  return total;
}

__device__ unsigned long long blockMax(unsigned long long value, unsigned long long* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const unsigned long long other = __shfl_down_sync(0xFFFFFFFFu, value, offset);
    value = other > value ? other : value;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  unsigned long long best = 0;
  for (int w = 0; w < kWarps; ++w) best = shared[w] > best ? shared[w] : best;
  __syncthreads();
  return best;
}

__global__ void __launch_bounds__(kThreads) selectKernel(RowSelectArgs a, uint32_t* bitmaps, int64_t words,
                                                         uint64_t* selected, int64_t selWidth, int32_t* selCount) {
  __shared__ unsigned int hist[256];
  __shared__ unsigned long long reduce[kWarps];
  __shared__ unsigned long long prefixShared;
  __shared__ long long remainingShared;
  __shared__ unsigned long long counter;
  uint32_t* bitmap = bitmaps + static_cast<int64_t>(blockIdx.x) * words;
  const int tid = threadIdx.x;

  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const float* row = a.scores + r * a.cols;

    for (int64_t w = tid; w < words; w += kThreads) bitmap[w] = 0;
    __syncthreads();
    if (a.excludeIndptr) {
      for (int64_t e = a.excludeIndptr[r] + tid; e < a.excludeIndptr[r + 1]; e += kThreads) {
        const int32_t c = a.excludeIndices[e];
        atomicOr(&bitmap[c >> 5], 1u << (c & 31));
      }
    }
    __syncthreads();

    bool evaluate = true;
    unsigned long long bestKey = 0;
    if (a.truthIndptr) {
      const int64_t tb = a.truthIndptr[r], te = a.truthIndptr[r + 1];
      evaluate = te > tb;
      unsigned long long local = 0;
      for (int64_t e = tb + tid; e < te; e += kThreads) {
        const int32_t t = a.truthIndices[e];
        const float v = row[t];
        const unsigned long long key = isnan(v) ? 0ull : rankKey(v, t);
        local = key > local ? key : local;
      }
      bestKey = blockMax(local, reduce);
    }

    unsigned long long eligibleLocal = 0, beforeLocal = 0;
    for (int64_t j = tid; j < a.cols; j += kThreads) {
      const float v = row[j];
      if (isnan(v)) {
        atomicMin(a.nanPosition, (static_cast<unsigned long long>(a.firstRow + r) << 32) | static_cast<unsigned long long>(j));
        continue;
      }
      if (excluded(bitmap, j)) continue;
      ++eligibleLocal;
      if (rankKey(v, j) > bestKey) ++beforeLocal;
    }
    const long long eligible = static_cast<long long>(blockSum(eligibleLocal, reduce));
    const long long before = static_cast<long long>(blockSum(beforeLocal, reduce));
    if (tid == 0 && a.fullRanks) a.fullRanks[r] = evaluate ? before + 1 : 0;
    const long long kk = evaluate ? (a.k < eligible ? a.k : eligible) : 0;
    if (tid == 0) selCount[r] = static_cast<int32_t>(kk);

    if (kk > 0) {
      unsigned long long threshold = 1;  // every eligible key is >= 1: take them all
      if (kk < eligible) {
        if (tid == 0) {
          prefixShared = 0;
          remainingShared = kk;
        }
        __syncthreads();
        for (int shift = 56; shift >= 0; shift -= 8) {
          for (int i = tid; i < 256; i += kThreads) hist[i] = 0;
          __syncthreads();
          const unsigned long long prefix = prefixShared;
          const unsigned long long highMask = shift == 56 ? 0ull : (~0ull << (shift + 8));
          for (int64_t j = tid; j < a.cols; j += kThreads) {
            const unsigned long long key = eligibleKey(row, bitmap, j);
            if (key != 0 && (key & highMask) == prefix) atomicAdd(&hist[(key >> shift) & 0xFFu], 1u);
          }
          __syncthreads();
          if (tid == 0) {
            long long remaining = remainingShared;
            int digit = 255;
            for (; digit > 0; --digit) {
              if (static_cast<long long>(hist[digit]) >= remaining) break;
              remaining -= hist[digit];
            }
            prefixShared = prefix | (static_cast<unsigned long long>(digit) << shift);
            remainingShared = remaining;
          }
          __syncthreads();
        }
        threshold = prefixShared;
      }
      if (tid == 0) counter = 0;
      __syncthreads();
      for (int64_t j = tid; j < a.cols; j += kThreads) {
        const unsigned long long key = eligibleKey(row, bitmap, j);
        if (key != 0 && key >= threshold) {
          const unsigned long long pos = atomicAdd(&counter, 1ull);
          if (pos < static_cast<unsigned long long>(kk)) selected[r * selWidth + static_cast<int64_t>(pos)] = key;
        }
      }
    }
    __syncthreads();  // the next row reuses the bitmap and the shared state
  }
}

// Sorts each row's selected keys (descending) in shared memory and writes (column, score) pairs.
__global__ void __launch_bounds__(kThreads) sortDecodeKernel(RowSelectArgs a, const uint64_t* selected,
                                                             int64_t selWidth, const int32_t* selCount, int n) {
  extern __shared__ unsigned long long keys[];
  const int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const int kk = selCount[r];
    for (int i = tid; i < n; i += kThreads) keys[i] = i < kk ? selected[r * selWidth + i] : 0ull;
    __syncthreads();
    for (int size = 2; size <= n; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = tid; i < n / 2; i += kThreads) {
          const int lo = 2 * i - (i & (stride - 1));
          const int hi = lo + stride;
          const bool descending = (lo & size) == 0;
          const unsigned long long x = keys[lo], y = keys[hi];
          if ((x < y) == descending) {
            keys[lo] = y;
            keys[hi] = x;
          }
        }
        __syncthreads();
      }
    }
    for (int64_t p = tid; p < a.k; p += kThreads) {
      const int64_t o = r * a.k + p;
      if (p < kk) {
        const int32_t col = keyColumn(keys[p]);
        a.outCols[o] = col;
        if (a.outScores) a.outScores[o] = a.scores[r * a.cols + col];
      } else {
        a.outCols[o] = -1;
        if (a.outScores) a.outScores[o] = -INFINITY;
      }
    }
    __syncthreads();
  }
}

// Decodes keys already sorted (descending) per row by CUB.
__global__ void decodeKernel(RowSelectArgs a, const uint64_t* sorted, int64_t selWidth, const int32_t* selCount) {
  const int64_t total = a.rows * a.k;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = o / a.k, p = o % a.k;
    if (p < selCount[r]) {
      const int32_t col = keyColumn(sorted[r * selWidth + p]);
      a.outCols[o] = col;
      if (a.outScores) a.outScores[o] = a.scores[r * a.cols + col];
    } else {
      a.outCols[o] = -1;
      if (a.outScores) a.outScores[o] = -INFINITY;
    }
  }
}

__global__ void segmentOffsetsKernel(int64_t rows, int64_t selWidth, const int32_t* selCount, int* begins, int* ends) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    begins[r] = static_cast<int>(r * selWidth);
    ends[r] = static_cast<int>(r * selWidth + selCount[r]);
  }
}

int multiProcessors() {
  int device = 0, sms = 0;
  SEMREC_CUDA_CHECK(cudaGetDevice(&device));
  SEMREC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return std::max(sms, 1);
}

int64_t nextPow2(int64_t n) {
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

void checkLaunch(const char* kernel, cudaStream_t stream) {
  const cudaError_t launch = cudaGetLastError();
  if (launch != cudaSuccess) throwCudaError(launch, kernel, __FILE__, __LINE__);
  static const bool syncCheck = [] {
    const char* v = std::getenv("SEMREC_CUDA_SYNC_CHECK");
    return v != nullptr && std::string(v) == "1";
  }();
  if (syncCheck) {
    const cudaError_t run = cudaStreamSynchronize(stream);
    if (run != cudaSuccess) throwCudaError(run, kernel, __FILE__, __LINE__);
  }
}

void requireGpu(const char* op) {
  if (!cudaUsable())
    throw Error(ErrorCode::CudaUnavailable, std::string(op) + ": CUDA is unavailable: " + deviceInfo().reason);
}

size_t workingSetBytes() {
  size_t freeBytes = 0, totalBytes = 0;
  SEMREC_CUDA_CHECK(cudaMemGetInfo(&freeBytes, &totalBytes));
  return std::max<size_t>(std::min<size_t>(freeBytes / 4, size_t{2} << 30), size_t{64} << 20);
}

int64_t rowsPerChunk(int64_t rows, size_t bytesPerRow) {
  const size_t perRow = std::max<size_t>(bytesPerRow, 1);
  return std::max<int64_t>(1, std::min<int64_t>(rows, static_cast<int64_t>(workingSetBytes() / perRow)));
}

void throwIfNan(const unsigned long long* nanPositionDevice, cudaStream_t stream, const char* op, const char* what) {
  unsigned long long position = 0;
  SEMREC_CUDA_CHECK(cudaMemcpyAsync(&position, nanPositionDevice, sizeof(position), cudaMemcpyDeviceToHost, stream));
  SEMREC_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (position != ~0ull)
    throw Error(ErrorCode::NanInput, std::string(op) + ": " + what + "[" + std::to_string(position >> 32) + ", " +
                                         std::to_string(position & 0xFFFFFFFFull) + "] is NaN; scores must not contain NaN");
}

RowSelectArgs rowChunk(const float* scores, int64_t rows, int64_t cols, int64_t firstRow, const DeviceCsr& exclude,
                       int64_t k, unsigned long long* nanPosition) {
  RowSelectArgs args;
  args.scores = scores;
  args.rows = rows;
  args.cols = cols;
  args.firstRow = firstRow;
  args.excludeIndptr = exclude.indptrFrom(firstRow);
  args.excludeIndices = exclude.indices();
  args.k = k;
  args.nanPosition = nanPosition;
  return args;
}

void selectRows(const RowSelectArgs& a, cudaStream_t stream) {
  if (a.rows == 0) return;
  const int64_t selWidth = std::max<int64_t>(1, std::min(a.k, a.cols));
  const int64_t words = std::max<int64_t>(1, (a.cols + 31) / 32);
  // Enough blocks to fill the GPU, bounded so the per-block bitmaps stay small.
  const int64_t bitmapBudget = int64_t{256} << 20;
  const int64_t grid = std::max<int64_t>(
      1, std::min<int64_t>({a.rows, int64_t{8} * multiProcessors(), bitmapBudget / (words * 4)}));

  DeviceBuffer<uint32_t> bitmaps(static_cast<size_t>(grid * words), stream);
  DeviceBuffer<uint64_t> selected(static_cast<size_t>(a.rows * selWidth), stream);
  DeviceBuffer<int32_t> selCount(static_cast<size_t>(a.rows), stream);

  selectKernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a, bitmaps.data(), words, selected.data(),
                                                                       selWidth, selCount.data());
  checkLaunch("selectKernel", stream);

  if (selWidth <= kSharedSortMax) {
    const int n = static_cast<int>(nextPow2(selWidth));
    const int64_t sortGrid = std::min<int64_t>(a.rows, int64_t{32} * multiProcessors());
    sortDecodeKernel<<<static_cast<unsigned>(sortGrid), kThreads, n * sizeof(unsigned long long), stream>>>(
        a, selected.data(), selWidth, selCount.data(), n);
    checkLaunch("sortDecodeKernel", stream);
    return;
  }
  if (a.rows * selWidth > std::numeric_limits<int>::max())
    throw Error(ErrorCode::Internal, "selectRows: chunk too large for a segmented sort");
  DeviceBuffer<uint64_t> sorted(selected.size(), stream);
  DeviceBuffer<int> begins(static_cast<size_t>(a.rows), stream), ends(static_cast<size_t>(a.rows), stream);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((a.rows + 255) / 256, 4096));
  segmentOffsetsKernel<<<blocks, 256, 0, stream>>>(a.rows, selWidth, selCount.data(), begins.data(), ends.data());
  checkLaunch("segmentOffsetsKernel", stream);
  size_t tempBytes = 0;
  SEMREC_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeysDescending(
      nullptr, tempBytes, selected.data(), sorted.data(), static_cast<int>(a.rows * selWidth), static_cast<int>(a.rows),
      begins.data(), ends.data(), stream));
  DeviceBuffer<unsigned char> temp(std::max<size_t>(tempBytes, 1), stream);
  SEMREC_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeysDescending(
      temp.data(), tempBytes, selected.data(), sorted.data(), static_cast<int>(a.rows * selWidth),
      static_cast<int>(a.rows), begins.data(), ends.data(), stream));
  const unsigned decodeBlocks = static_cast<unsigned>(std::min<int64_t>((a.rows * a.k + 255) / 256, 65535));
  decodeKernel<<<decodeBlocks, 256, 0, stream>>>(a, sorted.data(), selWidth, selCount.data());
  checkLaunch("decodeKernel", stream);
}

}  // namespace semrec::cuda
