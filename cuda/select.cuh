// Row-wise top-k selection on the GPU, shared by topK, scoreTopK and rankingMetrics.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace semrec::cuda {

struct RowSelectArgs {
  const float* scores = nullptr;  // device, rows x cols row-major
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t firstRow = 0;           // global index of row 0, for error messages
  // Device CSR over these rows (indptr already offset to row 0; indices absolute). Null: none.
  const int32_t* excludeIndptr = nullptr;
  const int32_t* excludeIndices = nullptr;
  // Metrics only: cleaned truth (sorted, unique, nothing excluded) as device CSR like exclude. Rows with
  // empty truth are not ranked (all padding, fullRank 0). fullRanks receives each row's 1-based rank of
  // its best truth item.
  const int32_t* truthIndptr = nullptr;
  const int32_t* truthIndices = nullptr;
  int64_t* fullRanks = nullptr;
  int64_t k = 1;                  // output row width
  int32_t* outCols = nullptr;     // device rows x k
  float* outScores = nullptr;     // device rows x k, or null
  unsigned long long* nanPosition = nullptr;  // device; min over (globalRow << 32 | col) of NaN cells
};

class DeviceCsr;

// The arguments for rows [firstRow, firstRow + rows) of a device score chunk, with the call's exclusions;
// callers add the outputs (and truth, for metrics).
RowSelectArgs rowChunk(const float* scores, int64_t rows, int64_t cols, int64_t firstRow, const DeviceCsr& exclude,
                       int64_t k, unsigned long long* nanPosition);

// Enqueues the selection on `stream`. Callers initialise *nanPosition to ~0ull and check it afterwards.
void selectRows(const RowSelectArgs& args, cudaStream_t stream);

// Rows that fit one call's working set when each row needs `bytesPerRow` bytes (at least 1).
int64_t rowsPerChunk(int64_t rows, size_t bytesPerRow);

// Throws NanInput if the selection saw a NaN (reads *nanPosition; synchronises the stream).
void throwIfNan(const unsigned long long* nanPositionDevice, cudaStream_t stream, const char* op, const char* what);

}  // namespace semrec::cuda
