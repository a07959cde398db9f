// Item-based k-nearest-neighbours (Sarwar et al. 2001) as RecBole's ItemKNN computes it, on binary
// interactions: cosine similarity with shrinkage,
//   sim(j, i) = |U_j & U_i| / (|U_j|^0.5 |U_i|^0.5 + shrink),
// each target item j keeping its `neighbors` most similar items i != j (semrec ranking order: higher
// similarity, then lower index; zero similarities dropped), and
//   score(u, j) = sum of sim(j, i) over the user's items i that are among j's neighbours.
#pragma once

#include <cstdint>
#include <vector>

#include "semrec/views.h"

namespace semrec::train {

struct ItemNeighbors {
  std::vector<int32_t> indptr, indices;  // row j: the neighbours of target item j, best first
  std::vector<float> similarity;
};

// byItem: users of each item; byUser: items of each user (both sorted, unique).
ItemNeighbors itemKnnNeighbors(const CsrView& byItem, const CsrView& byUser, int64_t neighbors, float shrink,
                               const ExecConfig& config);

// Scores of users[0..count) against every item (count x numItems), from the neighbour lists
// (numItems rows: indptr/indices/similarity) and each user's items (userItems, rows over all users).
void itemKnnScore(const CsrView& neighbors, const float* similarity, const CsrView& userItems, const int32_t* users,
                  int64_t count, float* out, const ExecConfig& config);

}  // namespace semrec::train
