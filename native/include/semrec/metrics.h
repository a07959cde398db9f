// Batch ranking metrics over full rankings (binary relevance). Definitions (rank r starts at 1):
//   precision@K = hits/K             recall@K = hits/|T|          hit@K = [hits > 0]
//   ndcg@K = sum_{hits r<=K} 1/log2(r+1) / sum_{r=1}^{min(|T|,K)} 1/log2(r+1)
//   map@K = (sum_{hits r<=K} hits_up_to_r / r) / min(|T|,K)
//   mrr@K = 1/r of the first hit if r <= K else 0;   mrr = 1/r of the first hit in the whole ranking
// T is the user's truth minus excluded items; users with empty T are skipped (NaN per user, not in means).
// Beyond accuracy: ild@K (mean pairwise cosine distance of the top-K, 0 below two items; needs item
// features), aggregateDiversity@K (distinct items over evaluated users' top-K) and coverage@K (that / numItems).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "semrec/views.h"

namespace semrec {

enum MetricSlot : int { kPrecision = 0, kRecall, kNdcg, kMap, kHit, kMrrAtK, kSlotsPerK };

struct MetricLayout {
  std::vector<int32_t> ks;  // ascending, unique, >= 1
  bool fullMrr = true;      // the full-ranking `mrr` (not available from top-K lists)
  bool ild = false;         // ild@K (needs item features)

  int32_t maxK() const { return ks.empty() ? 0 : ks.back(); }
  // Width of the best-first lists a full ranking over numItems items needs: a cut-off beyond the number
  // of items sees every item already (precision@K still divides by K), so K never sizes an allocation.
  int64_t listWidth(int64_t numItems) const {
    return std::max<int64_t>(1, std::min<int64_t>(maxK(), numItems));
  }
  size_t slot(size_t kIndex, MetricSlot m) const { return kIndex * kSlotsPerK + m; }
  size_t mrrSlot() const { return ks.size() * kSlotsPerK; }
  size_t ildSlot(size_t kIndex) const { return ks.size() * kSlotsPerK + (fullMrr ? 1 : 0) + kIndex; }
  size_t numPerUser() const { return ks.size() * kSlotsPerK + (fullMrr ? 1 : 0) + (ild ? ks.size() : 0); }
  // Metric names in slot order ("precision@10", ..., "mrr", "ild@10").
  std::vector<std::string> perUserKeys() const;
};

struct FeatureView {
  const float* data = nullptr;  // rows x dim, row-major; null when not given
  int64_t rows = 0;
  int64_t dim = 0;
};

struct MetricsOutput {
  std::vector<float*> perUser;          // numPerUser() caller-owned arrays of numUsers floats
  std::vector<double> mean;             // numPerUser() means over evaluated users (filled by the op)
  int64_t evaluatedUsers = 0;
  std::vector<int64_t> distinctItems;   // per K: aggregate diversity
};

// Top-K lists as produced by topK: rows x k best-first, -1 padding.
struct TopKListView {
  const int32_t* cols = nullptr;
  int64_t rows = 0;
  int64_t k = 0;
};

// scores: numUsers x numItems. truth, exclude: CSR over users.
void rankingMetricsCpu(const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                       const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                       const ExecConfig& config);
void rankingMetricsCuda(const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                        const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                        const ExecConfig& config);
Device rankingMetrics(Device device, const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                      const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                      const ExecConfig& config);

// Metrics of precomputed top-K lists (no full-ranking mrr: layout.fullMrr must be false). Excluded items
// found in a list are skipped without taking a rank. CPU only: the work is O(users x K).
void rankingMetricsFromTopK(const TopKListView& lists, int64_t numItems, const CsrView& truth,
                            const CsrView& exclude, const FeatureView& features, const MetricLayout& layout,
                            MetricsOutput& out, const ExecConfig& config);

// ---- building blocks shared by the CPU op and the CUDA op's host side (and their tests) ----

// truth minus excluded, sorted and unique per user. Returns CSR storage (indptr has rows+1 entries).
struct OwnedCsr {
  std::vector<int32_t> indptr;
  std::vector<int32_t> indices;
  CsrView view() const {
    return {indptr.data(), indices.data(), static_cast<int64_t>(indptr.size()) - 1,
            static_cast<int64_t>(indices.size()), true};
  }
};
OwnedCsr cleanTruth(const CsrView& truth, const CsrView& exclude, const ExecConfig& config);

// discount[r] = 1/log2(r+1) for r = 1..maxRank (discount[0] = 0). The CPU and CUDA paths share this table,
// so both add exactly the same doubles and agree to the bit.
std::vector<double> rankDiscounts(int64_t maxRank);

// Per-user accuracy metrics from best-first lists (eligible items only; -1 ends a list) and, when
// layout.fullMrr, each user's 1-based full rank of its best truth item (0 = user skipped).
void metricsFromLists(const TopKListView& lists, const OwnedCsr& cleanTruth, const int64_t* fullRanks,
                      const MetricLayout& layout, MetricsOutput& out, const ExecConfig& config);

// Means, aggregate diversity and (with features) ILD, after the per-user accuracy values exist.
void finishMetrics(const TopKListView& lists, int64_t numItems, const OwnedCsr& cleanTruth,
                   const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                   const ExecConfig& config);

}  // namespace semrec
