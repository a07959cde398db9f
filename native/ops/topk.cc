// CPU top-k: one bounded selector per row over the row's eligible runs; rows spread over threads.
#include "semrec/topk.h"

#include <cmath>
#include <string>
#include <vector>

#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/ranking.h"
#include "semrec/validate.h"

namespace semrec {

namespace {
// Rows per work chunk: about 64K scores, enough to amortise the chunk hand-out.
int64_t rowGrain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(cols, 1)); }
}  // namespace

void topKCpu(const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
             const ExecConfig& config) {
  const int64_t cols = scores.cols;
  parallelFor(scores.rows, rowGrain(cols), config.numThreads, [&](int64_t begin, int64_t end, int) {
    TopKSelector selector(k);
    std::vector<int32_t> excluded;
    for (int64_t r = begin; r < end; ++r) {
      const float* row = scores.row(r);
      sortedUnique(exclude.rowBegin(r), exclude.rowLength(r), excluded);
      selector.reset(k);
      const int64_t nanCol = selector.offer(row, 0, cols, &excluded);
      if (nanCol >= 0)
        fail(ErrorCode::NanInput, "topK: scores[" + std::to_string(r) + ", " + std::to_string(nanCol) +
                                      "] is NaN; scores must not contain NaN");
      selector.finish(outCols + r * k, outScores + r * k, k);
    }
  });
}

Device topK(Device device, const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols,
            float* outScores, const ExecConfig& config) {
  validateCsr(exclude, scores.cols, "topK: exclude");
  const Device used = resolveDevice(device, static_cast<double>(scores.rows) * scores.cols, "topK");
  if (used == Device::Cuda)
    topKCuda(scores, exclude, k, outCols, outScores, config);
  else
    topKCpu(scores, exclude, k, outCols, outScores, config);
  return used;
}

}  // namespace semrec
