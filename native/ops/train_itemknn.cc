// Item-KNN neighbourhoods and scoring (see semrec/train_itemknn.h).
#include "semrec/train_itemknn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "semrec/parallel.h"
#include "semrec/ranking.h"

namespace semrec::train {

ItemNeighbors itemKnnNeighbors(const CsrView& byItem, const CsrView& byUser, int64_t neighbors, float shrink,
                               const ExecConfig& config) {
  const int64_t numItems = byItem.rows;
  std::vector<std::vector<Scored>> rows(numItems);
  parallelFor(numItems, 16, config.numThreads, [&](int64_t j0, int64_t j1, int) {
    std::vector<int32_t> count(numItems, 0);
    std::vector<int32_t> touched;
    for (int64_t j = j0; j < j1; ++j) {
      touched.clear();
      for (int32_t e = byItem.indptr[j]; e < byItem.indptr[j + 1]; ++e) {
        const int32_t u = byItem.indices[e];
        for (int32_t f = byUser.indptr[u]; f < byUser.indptr[u + 1]; ++f) {
          const int32_t i = byUser.indices[f];
          if (count[i]++ == 0) touched.push_back(i);
        }
      }
      const double normJ = std::sqrt(static_cast<double>(byItem.indptr[j + 1] - byItem.indptr[j]));
      std::vector<Scored>& out = rows[j];
      out.reserve(touched.size());
      for (int32_t i : touched) {
        const int32_t c = count[i];
        count[i] = 0;
        if (i == j) continue;
        const double normI = std::sqrt(static_cast<double>(byItem.indptr[i + 1] - byItem.indptr[i]));
        const double denominator = normJ * normI + shrink;
        if (denominator <= 0) continue;
        const float s = static_cast<float>(c / denominator);
        if (s > 0) out.push_back({s, i});
      }
      const auto better = [](const Scored& a, const Scored& b) { return ranksBefore(a, b); };
      if (static_cast<int64_t>(out.size()) > neighbors) {
        std::nth_element(out.begin(), out.begin() + neighbors, out.end(), better);
        out.resize(neighbors);
      }
      std::sort(out.begin(), out.end(), better);
    }
  });
  ItemNeighbors n;
  n.indptr.assign(numItems + 1, 0);
  for (int64_t j = 0; j < numItems; ++j) n.indptr[j + 1] = n.indptr[j] + static_cast<int32_t>(rows[j].size());
  n.indices.resize(n.indptr[numItems]);
  n.similarity.resize(n.indptr[numItems]);
  for (int64_t j = 0; j < numItems; ++j) {
    int32_t at = n.indptr[j];
    for (const Scored& s : rows[j]) {
      n.indices[at] = s.col;
      n.similarity[at++] = s.score;
    }
  }
  return n;
}

void itemKnnScore(const CsrView& nb, const float* similarity, const CsrView& userItems, const int32_t* users,
                  int64_t count, float* out, const ExecConfig& config) {
  const int64_t numItems = nb.rows;
  // Transpose: for each neighbour item i, the targets j that list it (so a user's items drive the sum).
  std::vector<int32_t> tIndptr(numItems + 1, 0), tTarget(nb.nnz);
  std::vector<float> tSim(nb.nnz);
  for (int64_t e = 0; e < nb.nnz; ++e) ++tIndptr[nb.indices[e] + 1];
  for (int64_t i = 0; i < numItems; ++i) tIndptr[i + 1] += tIndptr[i];
  std::vector<int32_t> fill(tIndptr.begin(), tIndptr.end() - 1);
  for (int64_t j = 0; j < numItems; ++j)
    for (int32_t e = nb.indptr[j]; e < nb.indptr[j + 1]; ++e) {
      const int32_t i = nb.indices[e];
      tTarget[fill[i]] = static_cast<int32_t>(j);
      tSim[fill[i]++] = similarity[e];
    }
  parallelFor(count, 8, config.numThreads, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = out + r * numItems;
      std::fill(row, row + numItems, 0.0f);
      const int32_t u = users[r];
      for (int32_t e = userItems.indptr[u]; e < userItems.indptr[u + 1]; ++e) {
        const int32_t i = userItems.indices[e];
        for (int32_t t = tIndptr[i]; t < tIndptr[i + 1]; ++t) row[tTarget[t]] += tSim[t];
      }
    }
  });
}

}  // namespace semrec::train
