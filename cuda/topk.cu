// topK on the GPU: score rows are uploaded in chunks that fit the working set and selected per row.
#include <algorithm>
#include <climits>

#include "common.cuh"
#include "select.cuh"
#include "semrec/topk.h"

namespace semrec {

void topKCuda(const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
              const ExecConfig&) {
  using namespace cuda;
  requireGpu("topK");
  const int64_t rows = scores.rows, cols = scores.cols;
  if (rows == 0) return;
  Stream stream;
  const cudaStream_t s = stream.get();

  const DeviceCsr excluded(exclude, s);
  const int64_t selWidth = std::max<int64_t>(1, std::min(k, cols));
  const size_t bytesPerRow = cols * sizeof(float) + k * (sizeof(int32_t) + sizeof(float)) + selWidth * 16;
  const int64_t chunk = std::min<int64_t>(rowsPerChunk(rows, bytesPerRow), INT_MAX / selWidth);

  DeviceBuffer<float> chunkScores(chunk * cols, s);
  DeviceBuffer<int32_t> chunkCols(chunk * k, s);
  DeviceBuffer<float> chunkOut(chunk * k, s);
  DeviceBuffer<unsigned long long> nanPosition(1, s);
  nanPosition.fill(0xFF);

  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    chunkScores.upload(scores.data + r0 * cols, n * cols);
    RowSelectArgs args = rowChunk(chunkScores.data(), n, cols, r0, excluded, k, nanPosition.data());
    args.outCols = chunkCols.data();
    args.outScores = chunkOut.data();
    selectRows(args, s);
    chunkCols.download(outCols + r0 * k, n * k);
    chunkOut.download(outScores + r0 * k, n * k);
  }
  throwIfNan(nanPosition.data(), s, "topK", "scores");
}

}  // namespace semrec
