// Non-owning views over caller memory (JS TypedArrays, or plain buffers in the native test program).
#pragma once

#include <cstdint>

namespace semrec {

// Row-major rows x cols float matrix.
struct MatrixView {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  const float* row(int64_t r) const { return data + r * cols; }
};

// Compressed sparse rows: the columns of row r are indices[indptr[r] .. indptr[r+1]).
// `present == false` means "no matrix given" (for example: nothing excluded).
struct CsrView {
  const int32_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  int64_t rows = 0;
  int64_t nnz = 0;
  bool present = false;
  int64_t rowLength(int64_t r) const { return present ? indptr[r + 1] - indptr[r] : 0; }
  const int32_t* rowBegin(int64_t r) const { return present ? indices + indptr[r] : nullptr; }
};

// Execution settings copied into every call (no process-global knobs).
struct ExecConfig {
  int numThreads = 1;  // CPU worker threads for this call (>= 1)
};

// Where an op runs. Auto picks CUDA when a usable GPU exists and the work is large enough.
enum class Device { Auto = 0, Cpu = 1, Cuda = 2 };

}  // namespace semrec
