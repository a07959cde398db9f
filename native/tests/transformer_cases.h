// Node-free cases of the sequential recommenders' transformer (semrec/transformer.h): the CPU gradient
// against finite differences of the CPU loss (directional derivatives along random directions, with the
// same dropout masks), Adam epochs that lower the loss, thread-count independence, and every CUDA twin
// against the CPU (gradient, epoch, encode) on random models with dropout. Included by native_tests.cc.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "fixtures.h"
#include "semrec/device.h"
#include "semrec/transformer.h"

namespace semrec::transformer_cases {

using RunCase = std::function<void(const std::string&, bool, const std::function<void()>&)>;

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

struct Problem {
  seq::TransformerConfig config;
  std::vector<float> params;
  std::vector<int32_t> tokens, offsets{0}, targets, negatives;
  seq::SegmentBatch batch() const {
    return {tokens.data(), offsets.data(), targets.data(), negatives.empty() ? nullptr : negatives.data(),
            static_cast<int64_t>(offsets.size()) - 1};
  }
};

// A random model and random segments: causal next-item targets (SASRec) or masked positions (BERT4Rec).
inline Problem makeProblem(uint64_t seed, bool causal, bool bce, float dropout, int64_t segments, int64_t items = 23,
                           int64_t hidden = 8, int64_t heads = 2, int64_t layers = 2, int64_t maxLength = 7) {
  fixtures::Random rng(seed);
  Problem p;
  seq::TransformerConfig& c = p.config;
  c.numItems = items;
  c.numTokens = causal ? items : items + 1;
  c.maxLength = maxLength;
  c.hidden = hidden;
  c.heads = heads;
  c.inner = 3 * hidden;
  c.layers = layers;
  c.causal = causal;
  c.outputHead = !causal;
  c.hiddenDropout = dropout;
  c.attnDropout = dropout;
  c.layerNormEps = 1e-5f;  // FD in float: a tiny eps would make LayerNorm of near-constant rows ill-conditioned
  const auto L = seq::TransformerLayout::make(c);
  p.params.resize(L.total);
  for (float& v : p.params) v = 0.3f * rng.uniform();
  for (int64_t s = 0; s < segments; ++s) {
    const int64_t len = rng.integer(1, maxLength);
    for (int64_t t = 0; t < len; ++t) {
      const int32_t item = static_cast<int32_t>(rng.integer(0, items - 1));
      if (causal) {
        p.tokens.push_back(item);
        p.targets.push_back(rng.integer(0, 3) == 0 ? -1 : static_cast<int32_t>(rng.integer(0, items - 1)));
      } else {
        const bool masked = rng.integer(0, 2) == 0;
        p.tokens.push_back(masked ? static_cast<int32_t>(items) : item);
        p.targets.push_back(masked ? item : -1);
      }
      if (bce) p.negatives.push_back(static_cast<int32_t>(rng.integer(0, items - 1)));
    }
    p.offsets.push_back(static_cast<int32_t>(p.tokens.size()));
  }
  return p;
}

inline double lossAt(const Problem& p, const std::vector<float>& params, uint64_t seed) {
  std::vector<float> g(params.size());
  return seq::transformerGradient(p.config, params.data(), p.batch(), seed, g.data(), ExecConfig{1});
}

inline void directionalDerivatives(const Problem& p, uint64_t seed, const std::string& name) {
  std::vector<float> grad(p.params.size());
  seq::transformerGradient(p.config, p.params.data(), p.batch(), seed, grad.data(), ExecConfig{1});
  fixtures::Random rng(seed + 1);
  for (int dir = 0; dir < 4; ++dir) {
    std::vector<float> u(p.params.size());
    for (float& x : u) x = rng.uniform();
    // Step 1e-2 in a direction of norm ~sqrt(n)/sqrt(3): central differences are exact to O(eps^2) and the
    // float loss's rounding (~1e-7 relative) stays far below the derivative being measured.
    const double eps = 1e-2 / std::sqrt(static_cast<double>(u.size()));
    std::vector<float> plus = p.params, minus = p.params;
    for (size_t i = 0; i < u.size(); ++i) plus[i] += static_cast<float>(eps) * u[i], minus[i] -= static_cast<float>(eps) * u[i];
    const double fd = (lossAt(p, plus, seed) - lossAt(p, minus, seed)) / (2 * eps);
    double an = 0;
    for (size_t i = 0; i < u.size(); ++i) an += static_cast<double>(grad[i]) * u[i];
    require(std::fabs(fd - an) <= 2e-3 + 2e-2 * std::fabs(an),
            name + ": directional derivative " + std::to_string(an) + " vs finite difference " + std::to_string(fd));
  }
}

inline void expectClose(const std::vector<float>& want, const std::vector<float>& got, double tol, const std::string& what) {
  require(want.size() == got.size(), what + ": size differs");
  for (size_t i = 0; i < want.size(); ++i)
    require(std::fabs(want[i] - got[i]) <= tol * (1 + std::fabs(want[i])),
            what + ": element " + std::to_string(i) + " " + std::to_string(want[i]) + " vs " + std::to_string(got[i]));
}

inline void addCases(const RunCase& runCase) {
  for (bool causal : {true, false})
    for (bool bce : {false, true})
      for (float dropout : {0.0f, 0.3f}) {
        const std::string name = std::string("cpu transformer gradient vs finite differences: ") +
                                 (causal ? "causal" : "bidirectional+head") + (bce ? ", bce" : ", ce") +
                                 (dropout > 0 ? ", dropout" : "");
        runCase(name, false, [=] {
          const Problem p = makeProblem(11 + causal * 2 + bce * 4 + (dropout > 0) * 8, causal, bce, dropout, 9);
          directionalDerivatives(p, 77, name);
        });
      }
  runCase("cpu transformer gradient is the same for 1 and 3 threads", false, [] {
    const Problem p = makeProblem(5, false, false, 0.2f, 200, 31, 16, 2, 2, 12);
    std::vector<float> g1(p.params.size()), g3(p.params.size());
    const double l1 = seq::transformerGradient(p.config, p.params.data(), p.batch(), 3, g1.data(), ExecConfig{1});
    const double l3 = seq::transformerGradient(p.config, p.params.data(), p.batch(), 3, g3.data(), ExecConfig{3});
    require(l1 == l3 && g1 == g3, "results differ between thread counts");
  });
  runCase("cpu transformer epochs lower the training loss", false, [] {
    Problem p = makeProblem(6, true, false, 0.1f, 60, 17, 16, 2, 2, 10);
    for (float& v : p.params) v *= 0.1f;
    // A learnable rule: the next item is the current one plus one.
    for (size_t t = 0; t < p.tokens.size(); ++t) p.targets[t] = (p.tokens[t] + 1) % 17;
    const auto L = seq::TransformerLayout::make(p.config);
    std::vector<float> m(L.total), v(L.total);
    int64_t step = 0;
    seq::TransformerHyper h;
    h.adam.lr = 1e-2f;
    h.batchTargets = 64;
    h.clipNorm = 5.0f;
    const double first = seq::transformerEpoch(p.config, p.params.data(), m.data(), v.data(), &step, p.batch(), h, 1, ExecConfig{2});
    double last = first;
    for (int e = 0; e < 30; ++e)
      last = seq::transformerEpoch(p.config, p.params.data(), m.data(), v.data(), &step, p.batch(), h, 2 + e, ExecConfig{2});
    require(last < 0.3 * first, "loss went from " + std::to_string(first) + " to " + std::to_string(last));
  });

  runCase("cpu transformer epoch counts batches in segments with batchBySegments", false, [] {
    Problem p = makeProblem(8, false, false, 0.0f, 25, 17, 8, 2, 1, 6);
    const auto L = seq::TransformerLayout::make(p.config);
    std::vector<float> m(L.total), v(L.total);
    int64_t step = 0;
    seq::TransformerHyper h;
    h.batchTargets = 10;
    h.batchBySegments = true;
    seq::transformerEpoch(p.config, p.params.data(), m.data(), v.data(), &step, p.batch(), h, 1, ExecConfig{2});
    require(step == 3, "25 segments in batches of 10 took " + std::to_string(step) + " Adam steps, not 3");
  });

  // ---- CUDA twins against the CPU ----
  for (bool causal : {true, false})
    for (bool bce : {false, true}) {
      const std::string name = std::string("cuda transformer gradient parity: ") + (causal ? "causal" : "bidirectional+head") +
                               (bce ? ", bce" : ", ce") + ", dropout";
      runCase(name, true, [=] {
        // hidden 64, 2 heads, inner 256 (RecBole's shape), 300 items, segments up to 50 tokens.
        const Problem p = makeProblem(101 + causal + 2 * bce, causal, bce, 0.2f, 40, 300, 64, 2, 2, 50);
        std::vector<float> gc(p.params.size()), gg(p.params.size());
        const double lc = seq::transformerGradient(p.config, p.params.data(), p.batch(), 9, gc.data(), ExecConfig{4});
        const double lg = seq::transformerGradientCuda(p.config, p.params.data(), p.batch(), 9, gg.data(), ExecConfig{4});
        // Same masks and maths; only float summation order differs (relative 1e-3 covers 64- to 300-term sums).
        require(std::fabs(lc - lg) <= 1e-4 * (1 + std::fabs(lc)), name + ": loss " + std::to_string(lc) + " vs " + std::to_string(lg));
        expectClose(gc, gg, 1e-3, name + ": gradient");
      });
    }
  runCase("cuda transformer epoch parity (Adam, clipping)", true, [] {
    Problem p = makeProblem(120, true, false, 0.2f, 80, 200, 32, 2, 2, 20);
    const auto L = seq::TransformerLayout::make(p.config);
    std::vector<float> pc = p.params, pg = p.params, mc(L.total), vc(L.total), mg(L.total), vg(L.total);
    int64_t sc = 0, sg = 0;
    seq::TransformerHyper h;
    h.batchTargets = 100;
    h.clipNorm = 1.0f;
    const double lc = seq::transformerEpoch(p.config, pc.data(), mc.data(), vc.data(), &sc, p.batch(), h, 4, ExecConfig{4});
    const double lg = seq::transformerEpochCuda(p.config, pg.data(), mg.data(), vg.data(), &sg, p.batch(), h, 4, ExecConfig{4});
    require(sc == sg, "step counts differ");
    require(std::fabs(lc - lg) <= 1e-4 * (1 + std::fabs(lc)), "loss differs");
    // Adam divides by sqrt(v): parameters after a few steps agree to ~1e-3 of a step (lr 1e-3).
    expectClose(pc, pg, 2e-4, "parameters after one epoch");
  });
  runCase("cuda transformer encode parity", true, [] {
    const Problem p = makeProblem(130, false, false, 0.0f, 70, 150, 64, 4, 2, 50);
    std::vector<float> zc((p.offsets.size() - 1) * 64), zg(zc.size());
    seq::transformerEncode(p.config, p.params.data(), p.tokens.data(), p.offsets.data(), p.offsets.size() - 1, zc.data(), ExecConfig{4});
    seq::transformerEncodeCuda(p.config, p.params.data(), p.tokens.data(), p.offsets.data(), p.offsets.size() - 1, zg.data(), ExecConfig{4});
    expectClose(zc, zg, 1e-4, "encoded representations");
  });
}

}  // namespace semrec::transformer_cases
