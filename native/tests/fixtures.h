// Random inputs for the Node-free native tests and benchmark: scores with deliberate ties, CSR
// exclusions and truth, embeddings. Deterministic per seed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "semrec/views.h"

namespace semrec::fixtures {

struct Csr {
  std::vector<int32_t> indptr{0};
  std::vector<int32_t> indices;
  CsrView view() const {
    return {indptr.data(), indices.data(), static_cast<int64_t>(indptr.size()) - 1, static_cast<int64_t>(indices.size()), true};
  }
};

class Random {
 public:
  explicit Random(uint64_t seed) : gen_(seed) {}
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen_); }
  float uniform() { return std::uniform_real_distribution<float>(-1.0f, 1.0f)(gen_); }
  // One of 17 values in [-2, 2]: long runs of equal scores, so the tie rule is exercised everywhere.
  float tied() { return static_cast<float>(integer(-8, 8)) / 4.0f; }

  std::vector<float> scores(int64_t rows, int64_t cols, bool ties) {
    std::vector<float> s(static_cast<size_t>(rows * cols));
    for (float& v : s) v = ties ? tied() : uniform();
    return s;
  }
  // Small integers: dot products are exact in float whatever the summation order.
  std::vector<float> integerVectors(int64_t rows, int64_t dim) {
    std::vector<float> v(static_cast<size_t>(rows * dim));
    for (float& x : v) x = static_cast<float>(integer(-3, 3));
    return v;
  }
  // Each row lists up to maxPerRow random columns (duplicates possible, order random).
  Csr csr(int64_t rows, int64_t cols, int64_t maxPerRow) {
    Csr c;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = cols == 0 ? 0 : integer(0, maxPerRow);
      for (int64_t i = 0; i < n; ++i) c.indices.push_back(static_cast<int32_t>(integer(0, cols - 1)));
      c.indptr.push_back(static_cast<int32_t>(c.indices.size()));
    }
    return c;
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace semrec::fixtures
