// Measurement helpers for benchmarks (not part of the public API).
#pragma once

#include <cstdint>

#include "semrec/views.h"

namespace semrec {

// Reads every value once with all threads and returns their sum: the memory-bandwidth floor any op
// that must look at each score at least once is measured against.
double readOnlyPass(const float* data, int64_t count, const ExecConfig& config);

}  // namespace semrec
