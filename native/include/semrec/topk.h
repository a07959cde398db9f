// Row-wise top-k of a dense score matrix, in the order of semrec/ranking.h.
#pragma once

#include <cstdint>

#include "semrec/views.h"

namespace semrec {

// Writes rows x k (column, score) pairs best-first; a row with fewer than k eligible columns is padded
// with (-1, -inf). Columns listed in `exclude` (CSR over rows) are never returned. Any NaN in `scores`
// (excluded cells included) is an error.
void topKCpu(const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
             const ExecConfig& config);
void topKCuda(const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
              const ExecConfig& config);

// Validates, picks the device, runs; returns the device that ran.
Device topK(Device device, const MatrixView& scores, const CsrView& exclude, int64_t k, int32_t* outCols,
            float* outScores, const ExecConfig& config);

}  // namespace semrec
