// Preference-vector sums (see semrec/preference.h).
#include "semrec/preference.h"

#include <cmath>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/validate.h"

namespace semrec {

void preferenceSums(const CsrView& byUser, const float* weights, const MatrixView& vectors, float* sums, float* totals,
                    const ExecConfig& config) {
  validateCsr(byUser, vectors.rows, "preferenceSums: byUser");
  validateFinite(vectors.data, vectors.rows, vectors.cols, "preferenceSums: vectors");
  for (int64_t e = 0; e < byUser.nnz; ++e)
    if (!(weights[e] >= 0.0f) || !std::isfinite(weights[e]))
      fail(ErrorCode::OutOfRange, "preferenceSums: weights[" + std::to_string(e) + "] = " + std::to_string(weights[e]) +
                                      " must be a finite number >= 0");
  const int64_t d = vectors.cols;
  parallelFor(byUser.rows, 256, config.numThreads, [&](int64_t u0, int64_t u1, int) {
    std::vector<double> acc(d);
    for (int64_t u = u0; u < u1; ++u) {
      std::fill(acc.begin(), acc.end(), 0.0);
      double total = 0;
      for (int32_t e = byUser.indptr[u]; e < byUser.indptr[u + 1]; ++e) {
        const double w = weights[e];
        if (w == 0) continue;
        const float* x = vectors.row(byUser.indices[e]);
        for (int64_t t = 0; t < d; ++t) acc[t] += w * x[t];
        total += w;
      }
      for (int64_t t = 0; t < d; ++t) sums[u * d + t] = static_cast<float>(acc[t]);
      totals[u] = static_cast<float>(total);
    }
  });
}

}  // namespace semrec
