// The sequential recommenders' transformer in the Node-free benchmark: one training epoch and one encode
// pass on workloads shaped like MovieLens-100K under RecBole's SASRec / BERT4Rec defaults (1,682 items,
// hidden 64, 2 heads, inner 256, 2 layers, max length 50, batches of 2,048 targets), on the CPU and, when a
// GPU is usable, on CUDA. Included by native_bench.cc.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "../tests/fixtures.h"
#include "semrec/transformer.h"

namespace semrec::transformer_bench {

struct Workload {
  seq::TransformerConfig config;
  std::vector<int32_t> tokens, offsets{0}, targets;
  int64_t numTargets = 0;
  seq::SegmentBatch batch() const {
    return {tokens.data(), offsets.data(), targets.data(), nullptr, static_cast<int64_t>(offsets.size()) - 1};
  }
};

// causal: SASRec's windows (each user's history cut into windows of 50, every position predicting the next
// item); otherwise BERT4Rec's prefixes (every prefix, its last 50 items, 20% of positions masked).
inline Workload makeWorkload(bool causal, int64_t users, fixtures::Random& rng) {
  Workload w;
  seq::TransformerConfig& c = w.config;
  c.numItems = 1682;
  c.numTokens = causal ? 1682 : 1683;
  c.maxLength = 50;
  c.causal = causal;
  c.outputHead = !causal;
  c.hiddenDropout = c.attnDropout = causal ? 0.5f : 0.2f;  // RecBole's defaults
  for (int64_t u = 0; u < users; ++u) {
    const int64_t n = rng.integer(18, 200);  // ml-100k: 20 to 737 ratings, 104 on average (minus validation, test)
    std::vector<int32_t> seq(n);
    for (auto& x : seq) x = static_cast<int32_t>(rng.integer(0, 1681));
    if (causal) {
      for (int64_t end = n - 1; end > 0; end -= 50) {
        const int64_t begin = std::max<int64_t>(0, end - 50);
        for (int64_t t = begin; t < end; ++t) w.tokens.push_back(seq[t]), w.targets.push_back(seq[t + 1]), ++w.numTargets;
        w.offsets.push_back(static_cast<int32_t>(w.tokens.size()));
      }
    } else {
      for (int64_t end = 2; end <= n; ++end) {
        for (int64_t t = std::max<int64_t>(0, end - 50); t < end; ++t) {
          const bool masked = rng.integer(0, 4) == 0;
          w.tokens.push_back(masked ? 1682 : seq[t]);
          w.targets.push_back(masked ? seq[t] : -1);
          w.numTargets += masked;
        }
        w.offsets.push_back(static_cast<int32_t>(w.tokens.size()));
      }
    }
  }
  return w;
}

// Multiply-adds x 2 of a training pass: forward of every token, the score rows of every target, backward ~2x.
inline double epochFlops(const Workload& w) {
  const auto& c = w.config;
  const double tokens = static_cast<double>(w.tokens.size());
  const double perToken = c.layers * (4.0 * c.hidden * c.hidden + 2.0 * c.hidden * c.inner + 2.0 * 25 * c.hidden);
  return 3.0 * 2.0 * (tokens * perToken + static_cast<double>(w.numTargets) * c.hidden * c.numItems);
}

using Emit = std::function<void(const std::string&, const char*, int64_t, int64_t, int64_t, int64_t, double, double)>;
using Time = std::function<double(int, const std::function<void()>&)>;

inline void run(bool quick, bool gpu, int runs, const ExecConfig& config, const Emit& emit, const Time& time) {
  fixtures::Random rng(7);
  for (bool causal : {true, false}) {
    // BERT4Rec's prefixes are ~40x the tokens of SASRec's windows: fewer users keep its runs short.
    const int64_t users = quick ? (causal ? 100 : 5) : (causal ? 943 : 60);
    const Workload w = makeWorkload(causal, users, rng);
    const auto L = seq::TransformerLayout::make(w.config);
    std::vector<float> params(L.total), m(L.total), v(L.total);
    for (float& x : params) x = 0.02f * rng.uniform();
    seq::TransformerHyper h;
    const std::string name = causal ? "sasrecEpoch" : "bert4recEpoch";
    const int64_t segs = static_cast<int64_t>(w.offsets.size()) - 1;
    int64_t step = 0;
    const int epochRuns = std::max(1, runs / 3);
    emit(name, "cpu", segs, w.config.numItems, w.config.hidden, static_cast<int64_t>(w.tokens.size()),
         time(epochRuns, [&] { seq::transformerEpoch(w.config, params.data(), m.data(), v.data(), &step, w.batch(), h, 1, config); }),
         epochFlops(w));
    if (gpu)
      emit(name, "cuda", segs, w.config.numItems, w.config.hidden, static_cast<int64_t>(w.tokens.size()),
           time(epochRuns, [&] { seq::transformerEpochCuda(w.config, params.data(), m.data(), v.data(), &step, w.batch(), h, 1, config); }),
           epochFlops(w));
  }
}

}  // namespace semrec::transformer_bench
