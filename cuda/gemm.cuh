// The shared-memory tiled "NT" SGEMM of cuda/score.cu, for every kernel that needs a dense product:
// out (rows x cols, row-major) = a (rows x depth) . b^T (b: cols x depth) + bias (cols, or null).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace semrec::cuda {

// Enqueued on `stream`. rows must fit one launch (at most 65535 x 64); callers chunk larger products.
void gemmNT(const float* a, int64_t rows, const float* b, int64_t cols, int64_t depth, const float* bias, float* out,
            cudaStream_t stream);

}  // namespace semrec::cuda
