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

// Keeps the best k of the columns offered so far. Columns must be offered in ascending order: then a
// newcomer that merely equals the current k-th score loses the tie, so one strict compare against a
// cached threshold decides almost every column, and NaN (which fails every compare) takes the slow
// path where it is caught.
class TopKSelector {
 public:
  explicit TopKSelector(int64_t k = 1) { reset(k); }

  void reset(int64_t k) {
    k_ = std::max<int64_t>(k, 0);
    heap_.clear();
    heap_.reserve(static_cast<size_t>(std::min<int64_t>(k_, 1 << 16)));
    threshold_ = -std::numeric_limits<float>::infinity();
  }

  // Offers values[0..count) as columns firstCol..firstCol+count. Returns the column of the first NaN
  // met, or -1. Stops at a NaN.
  int64_t offer(const float* values, int64_t firstCol, int64_t count) {
    int64_t j = 0;
    const int64_t k = k_;
    if (k == 0) return firstNan(values, count, firstCol);
    while (static_cast<int64_t>(heap_.size()) < k && j < count) {
      const float s = values[j];
      if (std::isnan(s)) return firstCol + j;
      heap_.push_back({s, static_cast<int32_t>(firstCol + j)});
      ++j;
      if (static_cast<int64_t>(heap_.size()) == k) {
        std::make_heap(heap_.begin(), heap_.end(), worstOnTop);
        threshold_ = heap_.front().score;
      }
    }
    float threshold = threshold_;
    for (; j < count; ++j) {
      const float s = values[j];
      if (!(s <= threshold)) {  // s > threshold, or NaN
        if (std::isnan(s)) return firstCol + j;
        std::pop_heap(heap_.begin(), heap_.end(), worstOnTop);
        heap_.back() = {s, static_cast<int32_t>(firstCol + j)};
        std::push_heap(heap_.begin(), heap_.end(), worstOnTop);
        threshold = heap_.front().score;
      }
    }
    threshold_ = threshold;
    return -1;
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

// Calls fn(segBegin, segEnd) for the maximal runs of [begin, end) not in `excluded` (sorted, unique).
template <class Fn>
inline void forEachEligibleRun(int64_t begin, int64_t end, const std::vector<int32_t>& excluded, Fn&& fn) {
  auto it = std::lower_bound(excluded.begin(), excluded.end(), static_cast<int32_t>(std::min<int64_t>(begin, INT32_MAX)));
  int64_t pos = begin;
  for (; it != excluded.end() && *it < end; ++it) {
    if (*it > pos) fn(pos, static_cast<int64_t>(*it));
    pos = static_cast<int64_t>(*it) + 1;
  }
  if (pos < end) fn(pos, end);
}

}  // namespace semrec
