#include "semrec/probe.h"

#include <mutex>

#include "semrec/parallel.h"

namespace semrec {

double readOnlyPass(const float* data, int64_t count, const ExecConfig& config) {
  double total = 0;
  std::mutex mutex;
  // Same chunking as the ops' row scans (about 64K values per chunk).
  parallelFor(count, int64_t{1} << 16, config.numThreads, [&](int64_t begin, int64_t end, int) {
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = begin; i < end; ++i) acc += data[i];
    std::lock_guard<std::mutex> lock(mutex);
    total += acc;
  });
  return total;
}

}  // namespace semrec
