// Scoring on the GPU: a shared-memory tiled "NT" SGEMM (users . items^T + bias) into a chunk of rows,
// followed, for scoreTopK, by the row selection. Only one chunk of the score matrix exists at a time.
#include <algorithm>
#include <climits>

#include "common.cuh"
#include "gemm.cuh"
#include "select.cuh"
#include "semrec/score.h"

namespace semrec {

namespace cuda {
namespace {

constexpr int kTile = 64;     // output tile: 64 users x 64 items per block
constexpr int kDepth = 16;    // dimensions staged in shared memory per step
constexpr int kThreads = 256; // 16 x 16 threads, 4 x 4 outputs each

__global__ void __launch_bounds__(kThreads) scoreTileKernel(const float* users, int64_t numUsers, const float* items,
                                                            int64_t numItems, int64_t dim, const float* bias,
                                                            float* out) {
  __shared__ float userTile[kDepth][kTile + 1];  // +1: threads storing one column hit distinct banks
  __shared__ float itemTile[kDepth][kTile + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t userBase = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t itemBase = static_cast<int64_t>(blockIdx.x) * kTile;
  float acc[4][4] = {};

  for (int64_t t0 = 0; t0 < dim; t0 += kDepth) {
    for (int l = threadIdx.x; l < kTile * kDepth; l += kThreads) {
      const int r = l / kDepth, c = l % kDepth;  // consecutive threads read consecutive dimensions
      const int64_t t = t0 + c;
      const int64_t u = userBase + r, i = itemBase + r;
      userTile[c][r] = (u < numUsers && t < dim) ? users[u * dim + t] : 0.0f;
      itemTile[c][r] = (i < numItems && t < dim) ? items[i * dim + t] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kDepth; ++c) {
      float a[4], b[4];
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        a[x] = userTile[c][ty * 4 + x];
        b[x] = itemTile[c][tx * 4 + x];
      }
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) acc[x][y] += a[x] * b[y];
    }
    __syncthreads();
  }
#pragma unroll
  for (int x = 0; x < 4; ++x) {
    const int64_t u = userBase + ty * 4 + x;
    if (u >= numUsers) continue;
#pragma unroll
    for (int y = 0; y < 4; ++y) {
      const int64_t i = itemBase + tx * 4 + y;
      if (i < numItems) out[u * numItems + i] = acc[x][y] + (bias ? bias[i] : 0.0f);
    }
  }
}


// Items and bias live on the device for the whole call; users go up one chunk at a time.
struct DeviceItems {
  DeviceBuffer<float> items, bias;
  DeviceItems(const EmbeddingView& e, cudaStream_t s) : items(e.numItems * e.dim, s), bias(e.itemBias ? e.numItems : 0, s) {
    items.upload(e.items, e.numItems * e.dim);
    if (e.itemBias) bias.upload(e.itemBias, e.numItems);
  }
};

constexpr int64_t kMaxChunkUsers = int64_t{65535} * kTile;  // gridDim.y limit

}  // namespace

void gemmNT(const float* a, int64_t rows, const float* b, int64_t cols, int64_t depth, const float* bias, float* out,
            cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  if ((rows + kTile - 1) / kTile > 65535)
    throw Error(ErrorCode::Internal, "gemmNT: " + std::to_string(rows) + " rows exceed one launch; split them");
  const dim3 grid(static_cast<unsigned>((cols + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
  scoreTileKernel<<<grid, kThreads, 0, stream>>>(a, rows, b, cols, depth, bias, out);
  checkLaunch("scoreTileKernel", stream);
}

}  // namespace cuda

void scoreMatrixCuda(const EmbeddingView& e, float* out, const ExecConfig&) {
  using namespace cuda;
  requireGpu("scoreMatrix");
  if (e.numUsers == 0 || e.numItems == 0) return;
  Stream stream;
  const cudaStream_t s = stream.get();
  DeviceItems items(e, s);
  const int64_t chunk = std::min(rowsPerChunk(e.numUsers, (e.numItems + e.dim) * sizeof(float)), kMaxChunkUsers);
  DeviceBuffer<float> users(chunk * e.dim, s), scores(chunk * e.numItems, s);
  for (int64_t u0 = 0; u0 < e.numUsers; u0 += chunk) {
    const int64_t n = std::min(chunk, e.numUsers - u0);
    users.upload(e.users + u0 * e.dim, n * e.dim);
    gemmNT(users.data(), n, items.items.data(), e.numItems, e.dim, e.itemBias ? items.bias.data() : nullptr,
                scores.data(), s);
    scores.download(out + u0 * e.numItems, n * e.numItems);
  }
  stream.sync();
}

void scoreTopKCuda(const EmbeddingView& e, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
                   const ExecConfig&) {
  using namespace cuda;
  requireGpu("scoreTopK");
  if (e.numUsers == 0) return;
  Stream stream;
  const cudaStream_t s = stream.get();
  DeviceItems items(e, s);
  const DeviceCsr excluded(exclude, s);
  const int64_t selWidth = std::max<int64_t>(1, std::min(k, e.numItems));
  const size_t bytesPerRow = (e.numItems + e.dim) * sizeof(float) + k * 8 + selWidth * 16;
  const int64_t chunk = std::min({rowsPerChunk(e.numUsers, bytesPerRow), kMaxChunkUsers, INT_MAX / selWidth});
  DeviceBuffer<float> users(chunk * e.dim, s), scores(chunk * e.numItems, s);
  DeviceBuffer<int32_t> chunkCols(chunk * k, s);
  DeviceBuffer<float> chunkOut(chunk * k, s);
  DeviceBuffer<unsigned long long> nanPosition(1, s);
  nanPosition.fill(0xFF);
  for (int64_t u0 = 0; u0 < e.numUsers; u0 += chunk) {
    const int64_t n = std::min(chunk, e.numUsers - u0);
    users.upload(e.users + u0 * e.dim, n * e.dim);
    if (e.numItems > 0)
      gemmNT(users.data(), n, items.items.data(), e.numItems, e.dim, e.itemBias ? items.bias.data() : nullptr,
                  scores.data(), s);
    RowSelectArgs args = rowChunk(scores.data(), n, e.numItems, u0, excluded, k, nanPosition.data());
    args.outCols = chunkCols.data();
    args.outScores = chunkOut.data();
    selectRows(args, s);
    chunkCols.download(outCols + u0 * k, n * k);
    chunkOut.download(outScores + u0 * k, n * k);
  }
  throwIfNan(nanPosition.data(), s, "scoreTopK", "the score matrix (users . items^T overflowed)");
}

}  // namespace semrec
