// Content checks shared by every op. They run on the worker thread (inside the op), so large inputs
// are checked without blocking the JS thread; messages name the argument as the caller wrote it.
#pragma once

#include <cstdint>
#include <string>

#include "semrec/views.h"

namespace semrec {

// indptr has rows+1 non-decreasing entries from 0 to nnz; every index is in [0, cols).
void validateCsr(const CsrView& csr, int64_t cols, const std::string& name);

// Throws NanInput (or OutOfRange for +-Inf when finiteRequired) naming name[row, col] of the first bad value.
void validateFinite(const float* data, int64_t rows, int64_t cols, const std::string& name);

}  // namespace semrec
