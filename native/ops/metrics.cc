// CPU ranking metrics. One streaming pass per user row finds the top-maxK list and the full rank of the
// user's best truth item; everything else is O(users x K) arithmetic on those lists.
#include "semrec/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/parallel.h"
#include "semrec/ranking.h"
#include "semrec/validate.h"

namespace semrec {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

int64_t rowGrain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(cols, 1)); }

int64_t firstNan(const float* row, int64_t cols) {
  for (int64_t j = 0; j < cols; ++j)
    if (std::isnan(row[j])) return j;
  return -1;
}

}  // namespace

std::vector<double> rankDiscounts(int64_t maxRank) {
  std::vector<double> discount(maxRank + 1, 0.0);
  for (int64_t r = 1; r <= maxRank; ++r) discount[r] = 1.0 / std::log2(static_cast<double>(r) + 1.0);
  return discount;
}

std::vector<std::string> MetricLayout::perUserKeys() const {
  static const char* const names[kSlotsPerK] = {"precision", "recall", "ndcg", "map", "hit", "mrr"};
  std::vector<std::string> keys;
  keys.reserve(numPerUser());
  for (int32_t k : ks)
    for (int m = 0; m < kSlotsPerK; ++m) keys.push_back(std::string(names[m]) + "@" + std::to_string(k));
  if (fullMrr) keys.emplace_back("mrr");
  if (ild)
    for (int32_t k : ks) keys.push_back("ild@" + std::to_string(k));
  return keys;
}

OwnedCsr cleanTruth(const CsrView& truth, const CsrView& exclude, const ExecConfig& config) {
  const int64_t rows = truth.rows;
  OwnedCsr clean;
  clean.indptr.assign(rows + 1, 0);
  auto cleanRow = [&](int64_t r, std::vector<int32_t>& t, std::vector<int32_t>& ex, std::vector<int32_t>& out) {
    sortedUnique(truth.rowBegin(r), truth.rowLength(r), t);
    out.clear();
    const int32_t* e = exclude.rowBegin(r);
    const int64_t numExcluded = exclude.rowLength(r);
    if (static_cast<int64_t>(t.size()) * numExcluded <= 512) {  // short rows: compare directly, no sort
      for (const int32_t item : t)
        if (std::find(e, e + numExcluded, item) == e + numExcluded) out.push_back(item);
      return;
    }
    sortedUnique(e, numExcluded, ex);
    std::set_difference(t.begin(), t.end(), ex.begin(), ex.end(), std::back_inserter(out));
  };
  parallelFor(rows, 1024, config.numThreads, [&](int64_t b, int64_t e, int) {
    std::vector<int32_t> t, ex, out;
    for (int64_t r = b; r < e; ++r) {
      cleanRow(r, t, ex, out);
      clean.indptr[r + 1] = static_cast<int32_t>(out.size());
    }
  });
  for (int64_t r = 0; r < rows; ++r) clean.indptr[r + 1] += clean.indptr[r];
  clean.indices.resize(clean.indptr[rows]);
  parallelFor(rows, 1024, config.numThreads, [&](int64_t b, int64_t e, int) {
    std::vector<int32_t> t, ex, out;
    for (int64_t r = b; r < e; ++r) {
      cleanRow(r, t, ex, out);
      std::copy(out.begin(), out.end(), clean.indices.begin() + clean.indptr[r]);
    }
  });
  return clean;
}

void metricsFromLists(const TopKListView& lists, const OwnedCsr& truth, const int64_t* fullRanks,
                      const MetricLayout& layout, MetricsOutput& out, const ExecConfig& config) {
  // Ranks never exceed the list width, nor ideal counts min(|T|, K) (|T| <= numItems): K itself never
  // sizes this, and without users the width is backed by no input at all.
  const std::vector<double> discount = rankDiscounts(lists.rows > 0 ? std::min<int64_t>(layout.maxK(), lists.k) : 0);
  std::vector<double> idcg(discount.size(), 0.0);  // idcg[n] = discount[1] + ... + discount[n]
  for (size_t r = 1; r < discount.size(); ++r) idcg[r] = idcg[r - 1] + discount[r];
  const size_t numK = layout.ks.size();
  parallelFor(lists.rows, 4096, config.numThreads, [&](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      const int32_t* t = truth.indices.data() + truth.indptr[u];
      const int64_t numTruth = truth.indptr[u + 1] - truth.indptr[u];
      if (numTruth == 0) {
        for (size_t s = 0; s < layout.ks.size() * kSlotsPerK + (layout.fullMrr ? 1 : 0); ++s) out.perUser[s][u] = kNaN;
        continue;
      }
      const int32_t* list = lists.cols + u * lists.k;
      int64_t hits = 0, firstHit = 0;
      double dcg = 0, precisionSum = 0;
      size_t kIndex = 0;
      auto record = [&](size_t ki) {
        const int64_t K = layout.ks[ki];
        const int64_t ideal = std::min<int64_t>(numTruth, K);
        out.perUser[layout.slot(ki, kPrecision)][u] = static_cast<float>(static_cast<double>(hits) / K);
        out.perUser[layout.slot(ki, kRecall)][u] = static_cast<float>(static_cast<double>(hits) / numTruth);
        out.perUser[layout.slot(ki, kNdcg)][u] = static_cast<float>(dcg / idcg[ideal]);
        out.perUser[layout.slot(ki, kMap)][u] = static_cast<float>(precisionSum / ideal);
        out.perUser[layout.slot(ki, kHit)][u] = hits > 0 ? 1.0f : 0.0f;
        out.perUser[layout.slot(ki, kMrrAtK)][u] = firstHit > 0 ? static_cast<float>(1.0 / firstHit) : 0.0f;
      };
      for (int64_t p = 0; p < lists.k && list[p] >= 0; ++p) {
        const int64_t rank = p + 1;
        while (kIndex < numK && rank > layout.ks[kIndex]) record(kIndex++);
        if (kIndex == numK) break;
        if (std::binary_search(t, t + numTruth, list[p])) {
          ++hits;
          dcg += discount[rank];
          precisionSum += static_cast<double>(hits) / rank;
          if (firstHit == 0) firstHit = rank;
        }
      }
      while (kIndex < numK) record(kIndex++);
      if (layout.fullMrr) out.perUser[layout.mrrSlot()][u] = static_cast<float>(1.0 / fullRanks[u]);
    }
  });
}

void finishMetrics(const TopKListView& lists, int64_t numItems, const OwnedCsr& truth, const FeatureView& features,
                   const MetricLayout& layout, MetricsOutput& out, const ExecConfig& config) {
  const int64_t users = lists.rows;
  const size_t numK = layout.ks.size();
  auto evaluated = [&](int64_t u) { return truth.indptr[u + 1] > truth.indptr[u]; };

  if (layout.ild) {
    // Unit-length copies of the item vectors; a zero vector stays zero (cosine 0, distance 1).
    std::vector<float> unit(static_cast<size_t>(features.rows * features.dim));
    parallelFor(features.rows, 1024, config.numThreads, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* v = features.data + i * features.dim;
        double norm = 0;
        for (int64_t d = 0; d < features.dim; ++d) norm += static_cast<double>(v[d]) * v[d];
        const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
        for (int64_t d = 0; d < features.dim; ++d) unit[i * features.dim + d] = static_cast<float>(v[d] * inv);
      }
    });
    parallelFor(users, 256, config.numThreads, [&](int64_t b, int64_t e, int) {
      for (int64_t u = b; u < e; ++u) {
        if (!evaluated(u)) {
          for (size_t ki = 0; ki < numK; ++ki) out.perUser[layout.ildSlot(ki)][u] = kNaN;
          continue;
        }
        const int32_t* list = lists.cols + u * lists.k;
        double distanceSum = 0;  // over pairs among the first p items
        size_t kIndex = 0;
        int64_t p = 0;
        auto record = [&](size_t ki, int64_t n) {
          const double pairs = static_cast<double>(n) * (n - 1) / 2;
          out.perUser[layout.ildSlot(ki)][u] = n < 2 ? 0.0f : static_cast<float>(distanceSum / pairs);
        };
        for (; p < lists.k && list[p] >= 0; ++p) {
          while (kIndex < numK && p + 1 > layout.ks[kIndex]) record(kIndex++, p);
          if (kIndex == numK) break;
          const float* a = unit.data() + static_cast<int64_t>(list[p]) * features.dim;
          for (int64_t q = 0; q < p; ++q) {
            const float* c = unit.data() + static_cast<int64_t>(list[q]) * features.dim;
            double dot = 0;
            for (int64_t d = 0; d < features.dim; ++d) dot += static_cast<double>(a[d]) * c[d];
            distanceSum += 1.0 - dot;
          }
        }
        while (kIndex < numK) record(kIndex++, p);
      }
    });
  }

  // Aggregate diversity: an item counts for K when some evaluated user has it within their first K.
  // Each distinct listed item's best position, from a table over the items when that is no larger than
  // a few times the lists (the usual case), else from the sorted list entries: numItems alone (an
  // argument, not an input array) never sizes an allocation.
  int64_t evaluatedUsers = 0;
  for (int64_t u = 0; u < users; ++u) evaluatedUsers += evaluated(u) ? 1 : 0;
  out.distinctItems.assign(numK, 0);
  auto count = [&](int32_t pos) {
    for (size_t ki = 0; ki < numK; ++ki)
      if (pos < layout.ks[ki]) ++out.distinctItems[ki];
  };
  constexpr int64_t kDenseTableSlack = 65536;  // a table this small is always cheaper than sorting
  if (numItems <= 8 * users * lists.k + kDenseTableSlack) {
    std::vector<int32_t> bestPosition(static_cast<size_t>(numItems), std::numeric_limits<int32_t>::max());
    for (int64_t u = 0; u < users; ++u) {
      if (!evaluated(u)) continue;
      const int32_t* list = lists.cols + u * lists.k;
      for (int64_t p = 0; p < lists.k && list[p] >= 0; ++p)
        bestPosition[list[p]] = std::min<int32_t>(bestPosition[list[p]], static_cast<int32_t>(p));
    }
    for (int32_t pos : bestPosition) count(pos);
  } else {
    std::vector<std::pair<int32_t, int32_t>> placed;  // (item, position)
    for (int64_t u = 0; u < users; ++u) {
      if (!evaluated(u)) continue;
      const int32_t* list = lists.cols + u * lists.k;
      for (int64_t p = 0; p < lists.k && list[p] >= 0; ++p) placed.emplace_back(list[p], static_cast<int32_t>(p));
    }
    std::sort(placed.begin(), placed.end());
    for (size_t i = 0; i < placed.size(); ++i)
      if (i == 0 || placed[i].first != placed[i - 1].first) count(placed[i].second);
  }
  out.evaluatedUsers = evaluatedUsers;

  // Means in user order, in double: deterministic whatever the thread count.
  out.mean.assign(layout.numPerUser(), 0.0);
  for (size_t s = 0; s < layout.numPerUser(); ++s) {
    double sum = 0;
    const float* values = out.perUser[s];
    for (int64_t u = 0; u < users; ++u)
      if (evaluated(u)) sum += values[u];
    out.mean[s] = evaluatedUsers > 0 ? sum / static_cast<double>(evaluatedUsers) : kNaN;
  }
}

void rankingMetricsCpu(const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                       const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                       const ExecConfig& config) {
  const int64_t users = scores.rows, cols = scores.cols, width = layout.listWidth(scores.cols);
  const OwnedCsr clean = cleanTruth(truth, exclude, config);
  std::vector<int32_t> lists(static_cast<size_t>(users * width));
  std::vector<int64_t> fullRanks(static_cast<size_t>(users), 0);
  parallelFor(users, rowGrain(cols), config.numThreads, [&](int64_t b, int64_t e, int) {
    TopKSelector selector(width);
    std::vector<int32_t> excluded;
    for (int64_t u = b; u < e; ++u) {
      const float* row = scores.row(u);
      const int32_t* t = clean.indices.data() + clean.indptr[u];
      const int64_t numTruth = clean.indptr[u + 1] - clean.indptr[u];
      if (u + 1 < e) {  // the next user's truth cells are read before its row is: fetch them meanwhile
        const float* next = scores.row(u + 1);
        for (int32_t i = clean.indptr[u + 1]; i < clean.indptr[u + 2]; ++i) __builtin_prefetch(next + clean.indices[i]);
      }
      int64_t nanCol = -1;
      if (numTruth == 0) {  // skipped, but its scores must still be valid
        nanCol = firstNan(row, cols);
        std::fill_n(lists.begin() + u * width, width, -1);
      } else {
        sortedUnique(exclude.rowBegin(u), exclude.rowLength(u), excluded);
        selector.reset(width);
        // The best truth item: its full-ranking position (for `mrr`) is counted during the same scan.
        int32_t best = t[0];
        for (int64_t i = 1; i < numTruth; ++i)
          if (ranksBefore(row[t[i]], t[i], row[best], best)) best = t[i];
        RankCounter rank{row[best], best};
        nanCol = selector.offer(row, 0, cols, &excluded, layout.fullMrr ? &rank : nullptr);
        if (nanCol < 0) {
          selector.finish(lists.data() + u * width, nullptr, width);
          // The scan counted excluded columns too: take back those that rank before the best item.
          for (const int32_t e : excluded)
            if (ranksBefore(row[e], e, row[best], best)) --rank.before;
          fullRanks[u] = rank.before + 1;
        }
      }
      if (nanCol >= 0)
        fail(ErrorCode::NanInput, "rankingMetrics: scores[" + std::to_string(u) + ", " + std::to_string(nanCol) +
                                      "] is NaN; scores must not contain NaN");
    }
  });
  const TopKListView view{lists.data(), users, width};
  metricsFromLists(view, clean, fullRanks.data(), layout, out, config);
  finishMetrics(view, cols, clean, features, layout, out, config);
}

Device rankingMetrics(Device device, const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                      const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                      const ExecConfig& config) {
  validateCsr(truth, scores.cols, "rankingMetrics: truth");
  validateCsr(exclude, scores.cols, "rankingMetrics: exclude");
  if (layout.ild) validateFinite(features.data, features.rows, features.dim, "rankingMetrics: itemFeatures");
  const Device used =
      resolveDevice(device, static_cast<double>(scores.rows) * scores.cols, "rankingMetrics");
  if (used == Device::Cuda)
    rankingMetricsCuda(scores, truth, exclude, features, layout, out, config);
  else
    rankingMetricsCpu(scores, truth, exclude, features, layout, out, config);
  return used;
}

void rankingMetricsFromTopK(const TopKListView& lists, int64_t numItems, const CsrView& truth,
                            const CsrView& exclude, const FeatureView& features, const MetricLayout& layout,
                            MetricsOutput& out, const ExecConfig& config) {
  validateCsr(truth, numItems, "rankingMetricsFromTopK: truth");
  validateCsr(exclude, numItems, "rankingMetricsFromTopK: exclude");
  if (layout.ild) validateFinite(features.data, features.rows, features.dim, "rankingMetricsFromTopK: itemFeatures");
  // A list is a ranking: ids in range, no repeats, and -1 only as trailing padding. Excluded ids are
  // dropped here (they take no rank), exactly as the full-ranking op never ranks them.
  std::vector<int32_t> filtered(static_cast<size_t>(lists.rows * lists.k), -1);
  parallelFor(lists.rows, 1024, config.numThreads, [&](int64_t b, int64_t e, int) {
    std::vector<int32_t> excluded, seen;
    for (int64_t u = b; u < e; ++u) {
      const int32_t* list = lists.cols + u * lists.k;
      sortedUnique(exclude.rowBegin(u), exclude.rowLength(u), excluded);
      seen.clear();
      bool padding = false;
      int64_t kept = 0;
      for (int64_t p = 0; p < lists.k; ++p) {
        const int32_t item = list[p];
        auto where = [&] { return "rankingMetricsFromTopK: topK.indices[" + std::to_string(u * lists.k + p) + "]"; };
        if (item < -1 || item >= numItems)
          fail(ErrorCode::OutOfRange, where() + " = " + std::to_string(item) + " is outside [-1, " +
                                          std::to_string(numItems) + ")");
        if (item == -1) {
          padding = true;
          continue;
        }
        if (padding)
          fail(ErrorCode::InvalidArgValue, where() + " = " + std::to_string(item) + " follows -1 padding in row " +
                                               std::to_string(u) + "; -1 may only pad the end of a list");
        seen.push_back(item);
        if (!std::binary_search(excluded.begin(), excluded.end(), item)) filtered[u * lists.k + kept++] = item;
      }
      std::sort(seen.begin(), seen.end());
      const auto dup = std::adjacent_find(seen.begin(), seen.end());
      if (dup != seen.end())
        fail(ErrorCode::InvalidArgValue, "rankingMetricsFromTopK: row " + std::to_string(u) + " of topK.indices lists item " +
                                             std::to_string(*dup) + " twice");
    }
  });
  const OwnedCsr clean = cleanTruth(truth, exclude, config);
  const TopKListView view{filtered.data(), lists.rows, lists.k};
  metricsFromLists(view, clean, nullptr, layout, out, config);
  finishMetrics(view, numItems, clean, features, layout, out, config);
}

}  // namespace semrec
