// The one ranking order of semrec, and the bounded selector every CPU op ranks with.
// Order: higher score first; equal scores by lower column index. NaN never enters a ranking.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace semrec {

inline bool ranksBefore(float scoreA, int32_t colA, float scoreB, int32_t colB) {
  return scoreA > scoreB || (scoreA == scoreB && colA < colB);
}

struct Scored {
  float score;
  int32_t col;
};

inline bool ranksBefore(const Scored& a, const Scored& b) { return ranksBefore(a.score, a.col, b.score, b.col); }

// Up to this k a selection is a best-first sorted array (insertion = a branch-free position count and a
// short copy); above it, a binary heap with the worst entry at the root.
constexpr int64_t kSortedSelectionMaxK = 64;

// Counts, while a row is scanned, the columns that rank before (score, col): the full-ranking position
// of one item (rankingMetrics' `mrr`) without a second pass. Excluded columns are counted too; callers
// take those back.
struct RankCounter {
  float score;
  int64_t col;
  int64_t before = 0;
};

// The selection's hot loop (native/ops/select.cc, SIMD): offers values[0..count) as columns firstCol..
// to a full selection of n entries (laid out as kSortedSelectionMaxK says) whose worst scores
// `threshold`, skipping columns in the sorted range [excludedBegin, excludedEnd), and feeds `rank`
// when given. Updates threshold; returns the column of the first NaN met (stopping there), or -1.
int64_t scanCandidates(const float* values, int64_t count, int64_t firstCol, Scored* entries, int64_t n,
                       float& threshold, const int32_t* excludedBegin, const int32_t* excludedEnd,
                       RankCounter* rank = nullptr);

// Keeps the best k of the columns offered so far. Columns must be offered in ascending order: then a
// newcomer that merely equals the current k-th score loses the tie, so one strict compare against a
// cached threshold decides almost every column (32 at a time in scanCandidates), and NaN, which fails
// every compare, takes the slow path where it is caught. Excluded columns are still read (a NaN there
// is still an error) but only looked up when they would otherwise enter the selection, which is rare.
class TopKSelector {
 public:
  explicit TopKSelector(int64_t k = 1) { reset(k); }

  void reset(int64_t k) {
    k_ = std::max<int64_t>(k, 0);
    heap_.clear();
    heap_.reserve(static_cast<size_t>(std::min<int64_t>(k_, 1 << 16)));
    threshold_ = -std::numeric_limits<float>::infinity();
  }

  // Offers values[0..count) as columns firstCol..firstCol+count, skipping those in `excluded` (sorted,
  // unique; may be null), and counting into `rank` when given. Returns the column of the first NaN met,
  // or -1. Stops at a NaN.
  int64_t offer(const float* values, int64_t firstCol, int64_t count, const std::vector<int32_t>* excluded = nullptr,
                RankCounter* rank = nullptr) {
    if (k_ == 0) return firstNan(values, count, firstCol);
    auto isExcluded = [&](int64_t col) {
      return excluded != nullptr && std::binary_search(excluded->begin(), excluded->end(), static_cast<int32_t>(col));
    };
    int64_t j = 0;
    while (static_cast<int64_t>(heap_.size()) < k_ && j < count) {
      const float s = values[j];
      if (std::isnan(s)) return firstCol + j;
      if (rank) rank->before += ranksBefore(s, static_cast<int32_t>(firstCol + j), rank->score, static_cast<int32_t>(rank->col));
      if (!isExcluded(firstCol + j)) {
        heap_.push_back({s, static_cast<int32_t>(firstCol + j)});
        if (static_cast<int64_t>(heap_.size()) == k_) {
          if (k_ <= kSortedSelectionMaxK) {
            std::sort(heap_.begin(), heap_.end(), [](const Scored& a, const Scored& b) { return ranksBefore(a, b); });
            threshold_ = heap_.back().score;
          } else {
            std::make_heap(heap_.begin(), heap_.end(), worstOnTop);
            threshold_ = heap_.front().score;
          }
        }
      }
      ++j;
    }
    if (j >= count) return -1;
    const int32_t* exBegin = excluded ? excluded->data() : nullptr;
    const int32_t* exEnd = excluded ? excluded->data() + excluded->size() : nullptr;
    return scanCandidates(values + j, count - j, firstCol + j, heap_.data(), k_, threshold_, exBegin, exEnd, rank);
  }

  int64_t size() const { return static_cast<int64_t>(heap_.size()); }

  // Writes the selection best-first into out*[0..width), padding with (-1, -inf). width >= size().
  void finish(int32_t* outCols, float* outScores, int64_t width) {
    std::sort(heap_.begin(), heap_.end(), [](const Scored& a, const Scored& b) { return ranksBefore(a, b); });
    const int64_t n = size();
    for (int64_t i = 0; i < n; ++i) {
      outCols[i] = heap_[i].col;
      if (outScores) outScores[i] = heap_[i].score;
    }
    for (int64_t i = n; i < width; ++i) {
      outCols[i] = -1;
      if (outScores) outScores[i] = -std::numeric_limits<float>::infinity();
    }
  }

 private:
  // std heaps keep the "largest" element in front; with this comparator that is the worst-ranked one.
  static bool worstOnTop(const Scored& a, const Scored& b) { return ranksBefore(a, b); }

  static int64_t firstNan(const float* v, int64_t n, int64_t firstCol) {
    for (int64_t j = 0; j < n; ++j)
      if (std::isnan(v[j])) return firstCol + j;
    return -1;
  }

  int64_t k_ = 0;
  float threshold_ = 0;
  std::vector<Scored> heap_;
};

// Sorted, de-duplicated copy of one CSR row (exclusions or truth), reusing `out`'s storage.
inline void sortedUnique(const int32_t* begin, int64_t length, std::vector<int32_t>& out) {
  out.assign(begin, begin + length);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace semrec
