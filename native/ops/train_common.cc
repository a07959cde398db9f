// Sampling shared by the native trainers (see semrec/train_common.h for the reproducibility contract).
#include "semrec/train_common.h"

#include <algorithm>
#include <string>

#include "semrec/error.h"
#include "semrec/parallel.h"

namespace semrec::train {

__attribute__((target_clones("arch=haswell", "default"))) float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t t = 0; t < n; ++t) s += a[t] * b[t];
  return s;
}

__attribute__((target_clones("arch=haswell", "default"))) void axpy(float alpha, const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t t = 0; t < n; ++t) y[t] += alpha * x[t];
}

bool Positives::contains(int32_t user, int32_t item) const {
  const int32_t* begin = byUser.indices + byUser.indptr[user];
  const int32_t* end = byUser.indices + byUser.indptr[user + 1];
  return std::binary_search(begin, end, item);
}

void validatePositives(const Positives& p, const std::string& name) {
  const CsrView& c = p.byUser;
  if (!c.present) fail(ErrorCode::InvalidArgType, name + " is required");
  if (c.indptr[0] != 0 || c.indptr[c.rows] != c.nnz)
    fail(ErrorCode::InvalidArgValue, name + ".indptr must start at 0 and end at indices.length (" +
                                         std::to_string(c.nnz) + ")");
  for (int64_t u = 0; u < c.rows; ++u) {
    const int32_t b = c.indptr[u], e = c.indptr[u + 1];
    if (e < b) fail(ErrorCode::InvalidArgValue, name + ".indptr decreases at row " + std::to_string(u));
    for (int32_t t = b; t < e; ++t) {
      const int32_t item = c.indices[t];
      if (item < 0 || item >= p.numItems)
        fail(ErrorCode::OutOfRange, name + ".indices[" + std::to_string(t) + "] = " + std::to_string(item) +
                                        " is outside [0, " + std::to_string(p.numItems) + ")");
      if (t > b && item <= c.indices[t - 1])
        fail(ErrorCode::InvalidArgValue, name + ": the items of user " + std::to_string(u) +
                                             " must be sorted ascending without duplicates");
    }
  }
}

int32_t sampleNegative(Rng& rng, const Positives& positives, int32_t user) {
  const uint32_t n = static_cast<uint32_t>(positives.numItems);
  int32_t item = static_cast<int32_t>(rng.below(n));
  for (int tries = 1; tries < kMaxNegativeTries && positives.contains(user, item); ++tries)
    item = static_cast<int32_t>(rng.below(n));
  return item;
}

void shuffledOrder(uint64_t seed, int64_t n, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(i);
  Rng rng(seed, kOrderStream);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = rng.below(static_cast<uint32_t>(i + 1));
    std::swap(out[i], out[j]);
  }
}

void sampleNegatives(uint64_t seed, const PairSamples& pairs, const int32_t* order, const Positives& positives,
                     int64_t negatives, int32_t* out, const ExecConfig& config) {
  const int64_t chunks = (pairs.numPairs + kSampleChunk - 1) / kSampleChunk;
  parallelFor(chunks, 1, config.numThreads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      Rng rng(seed, static_cast<uint64_t>(c));
      const int64_t end = std::min(pairs.numPairs, (c + 1) * kSampleChunk);
      for (int64_t p = c * kSampleChunk; p < end; ++p) {
        const int32_t user = pairs.users[order[p]];
        for (int64_t n = 0; n < negatives; ++n) out[p * negatives + n] = sampleNegative(rng, positives, user);
      }
    }
  });
}

Triples drawTriples(uint64_t seed, const PairSamples& pairs, const Positives& positives, const ExecConfig& config) {
  std::vector<int32_t> order(pairs.numPairs);
  shuffledOrder(seed, pairs.numPairs, order.data());
  Triples t;
  t.neg.resize(pairs.numPairs);
  sampleNegatives(seed, pairs, order.data(), positives, 1, t.neg.data(), config);
  t.users.resize(pairs.numPairs);
  t.pos.resize(pairs.numPairs);
  for (int64_t p = 0; p < pairs.numPairs; ++p) {
    t.users[p] = pairs.users[order[p]];
    t.pos[p] = pairs.items[order[p]];
  }
  return t;
}

void validateTriples(const TripleView& t, int64_t numUsers, int64_t numItems, const std::string& name) {
  for (int64_t p = 0; p < t.size; ++p) {
    if (t.users[p] < 0 || t.users[p] >= numUsers)
      fail(ErrorCode::OutOfRange, name + ".users[" + std::to_string(p) + "] = " + std::to_string(t.users[p]) +
                                      " is outside [0, " + std::to_string(numUsers) + ")");
    if (t.pos[p] < 0 || t.pos[p] >= numItems || t.neg[p] < 0 || t.neg[p] >= numItems)
      fail(ErrorCode::OutOfRange, name + ": item of triple " + std::to_string(p) + " is outside [0, " +
                                      std::to_string(numItems) + ")");
  }
}

void checkFiniteLoss(double loss, const char* op) {
  if (!std::isfinite(loss))
    fail(ErrorCode::InvalidArgValue, std::string(op) + ": the training loss became " +
                                         (std::isnan(loss) ? "NaN" : "infinite") +
                                         "; the learning rate is too high for this data (lower it)");
}

}  // namespace semrec::train
