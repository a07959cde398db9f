// Shared pieces of the native trainers: a seeded random stream, sample sets that do not depend on the
// number of threads, negative sampling against a user's positives, and the optimiser steps.
//
// Reproducibility contract of every trainer built on these pieces:
//  - an epoch's samples (order, negatives) are a function of its seed alone: they are drawn in fixed
//    chunks of kSampleChunk, chunk c from the stream Rng(seed, c), whichever thread runs the chunk;
//  - with numThreads == 1 an epoch is bit-reproducible from (parameters, seed);
//  - with more threads the per-sample SGD trainers (mf, bpr, vbpr, lightfm) update shared parameters
//    without locks (Hogwild, Recht et al. 2011): the same samples are used, but the interleaving of
//    updates, and so the last bits of the result, vary from run to run. The mini-batch trainers
//    (neumf, lightgcn) reduce gradients in a fixed order and stay bit-reproducible for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "semrec/parallel.h"
#include "semrec/views.h"

namespace semrec::train {

// Samples drawn from one random stream (see the contract above).
constexpr int64_t kSampleChunk = 1024;
// Draws before a negative sample is accepted even though the user interacted with it (only a user
// who interacted with nearly every item gets there).
constexpr int kMaxNegativeTries = 64;

// SplitMix64 step (Steele, Lea & Flood 2014): mixes a counter into well-distributed 64-bit words.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** 1.0 (Blackman & Vigna 2018), seeded through SplitMix64 from (seed, stream).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (uint64_t& word : s_) word = splitmix64(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform integer in [0, n), n >= 1: Lemire's multiply-shift with rejection (unbiased).
  uint32_t below(uint32_t n) {
    uint64_t m = static_cast<uint64_t>(static_cast<uint32_t>(next() >> 32)) * n;
    uint32_t low = static_cast<uint32_t>(m);
    if (low < n) {
      const uint32_t threshold = static_cast<uint32_t>(-n) % n;
      while (low < threshold) {
        m = static_cast<uint64_t>(static_cast<uint32_t>(next() >> 32)) * n;
        low = static_cast<uint32_t>(m);
      }
    }
    return static_cast<uint32_t>(m >> 32);
  }
  // Uniform float in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Each user's positive items, sorted ascending and unique (built by the TypeScript side).
struct Positives {
  CsrView byUser;
  int64_t numItems = 0;
  bool contains(int32_t user, int32_t item) const;
};

// Checks the structure of positives (sorted, unique, in range): the samplers rely on it.
void validatePositives(const Positives& positives, const std::string& name);

// A uniformly drawn item the user has not interacted with (see kMaxNegativeTries).
int32_t sampleNegative(Rng& rng, const Positives& positives, int32_t user);

// One epoch's samples: a permutation of the positive pairs (user, item), each with `negatives`
// negative items. Pair p of the permutation is (users[order[p]], items[order[p]]).
struct PairSamples {
  const int32_t* users = nullptr;
  const int32_t* items = nullptr;
  int64_t numPairs = 0;
};

// Runs body(begin, end) -> double over [0, n) in chunks of kSampleChunk spread over the threads; returns
// the chunks' results added in chunk order, so the total does not depend on which thread ran which chunk.
template <class Body>
double forEachChunk(int64_t n, const ExecConfig& config, Body&& body) {
  const int64_t chunks = (n + kSampleChunk - 1) / kSampleChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallelFor(chunks, 1, config.numThreads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) partial[c] = body(c, c * kSampleChunk, std::min(n, (c + 1) * kSampleChunk));
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// Fisher-Yates permutation of [0, n) from Rng(seed, kOrderStream).
void shuffledOrder(uint64_t seed, int64_t n, int32_t* out);
constexpr uint64_t kOrderStream = 0xffffffffULL;

// Draws `negatives` negatives per position of `order`, chunk by chunk (thread-count independent):
// out[p * negatives + n] for position p.
void sampleNegatives(uint64_t seed, const PairSamples& pairs, const int32_t* order, const Positives& positives,
                     int64_t negatives, int32_t* out, const ExecConfig& config);

// (user, positive item, negative item) training triples.
struct TripleView {
  const int32_t* users = nullptr;
  const int32_t* pos = nullptr;
  const int32_t* neg = nullptr;
  int64_t size = 0;
};
struct Triples {
  std::vector<int32_t> users, pos, neg;
  TripleView view() const { return {users.data(), pos.data(), neg.data(), static_cast<int64_t>(users.size())}; }
};

// One epoch of BPR triples: the positive pairs in shuffled order, one negative each.
Triples drawTriples(uint64_t seed, const PairSamples& pairs, const Positives& positives, const ExecConfig& config);

// Checks that every id of the triples is in range (user < numUsers, items < numItems).
void validateTriples(const TripleView& t, int64_t numUsers, int64_t numItems, const std::string& name);

// Adam (Kingma & Ba 2015) on n parameters with bias correction for step t >= 1. The sparse ("lazy")
// variant applies the same formula to the rows that received a gradient, like TensorFlow's LazyAdam.
struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;    // Kingma & Ba's defaults
  float beta2 = 0.999f;
  float eps = 1e-8f;
};
// The constants of one Adam step (bias corrections folded into the step size and epsilon), computed once
// per step when the update is applied row by row.
struct AdamStep {
  float beta1, beta2, stepSize, epsHat;
};
inline AdamStep adamStep(const AdamConfig& c, int64_t step) {
  const double c1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(step));
  const double c2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(step));
  return {c.beta1, c.beta2, static_cast<float>(c.lr * std::sqrt(c2) / c1), static_cast<float>(c.eps * std::sqrt(c2))};
}
inline void adamUpdate(float* param, const float* grad, float* m, float* v, int64_t n, const AdamStep& s) {
  for (int64_t t = 0; t < n; ++t) {
    m[t] = s.beta1 * m[t] + (1.0f - s.beta1) * grad[t];
    v[t] = s.beta2 * v[t] + (1.0f - s.beta2) * grad[t] * grad[t];
    param[t] -= s.stepSize * m[t] / (std::sqrt(v[t]) + s.epsHat);
  }
}
inline void adamUpdate(float* param, const float* grad, float* m, float* v, int64_t n, const AdamConfig& c,
                       int64_t step) {
  adamUpdate(param, grad, m, v, n, adamStep(c, step));
}

// Vector kernels of the trainers' inner loops, compiled for AVX2+FMA and baseline x86-64 (picked at load time).
float dot(const float* a, const float* b, int64_t n);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n);

inline float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x)); }
// log(1 + e^x) without overflow.
inline double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// Throws InvalidArgValue when a trainer produced a non-finite loss (learning rate too high).
void checkFiniteLoss(double loss, const char* op);

}  // namespace semrec::train
