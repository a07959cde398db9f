// LLM-Rec's preference vectors: per user, the weighted sum of the semantic vectors of the items they
// interacted with (weights: signal strength x time decay, computed by ts/preference) and the sum of
// the weights; the preference vector is sums[u] / totals[u]. One pass over every interaction.
#pragma once

#include <cstdint>

#include "semrec/views.h"

namespace semrec {

// byUser: each user's interactions (indices = item ids, any order); weights: one per interaction (>= 0).
// vectors: numItems x dim. sums: byUser.rows x dim; totals: byUser.rows. Accumulated in double.
void preferenceSums(const CsrView& byUser, const float* weights, const MatrixView& vectors, float* sums, float* totals,
                    const ExecConfig& config);

}  // namespace semrec
