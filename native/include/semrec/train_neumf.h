// NeuMF (He et al. 2017, "Neural Collaborative Filtering"): GMF and MLP towers joined by one output
// unit, trained on (user, item, label) samples with binary cross-entropy, mini-batch Adam and
// hand-written back-propagation.
//   gmf = gmfUser[u] * gmfItem[i] (elementwise);  a0 = [mlpUser[u]; mlpItem[i]]
//   a_l = relu(W_l a_{l-1} + b_l), l = 1..L;      logit = wOut . [gmf; a_L] + bOut
//   loss = log(1 + e^logit) - label * logit       (binary cross-entropy on sigmoid(logit))
// All parameters live in one flat array laid out by NeuMfLayout (the TypeScript side mirrors it).
#pragma once

#include <cstdint>
#include <vector>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

struct NeuMfLayout {
  int64_t numUsers = 0, numItems = 0, gmfDim = 0, mlpDim = 0;
  std::vector<int64_t> hidden;  // output sizes of the MLP layers
  // Offsets into the flat parameter array.
  int64_t gmfUser = 0, gmfItem = 0, mlpUser = 0, mlpItem = 0, embeddingEnd = 0;
  std::vector<int64_t> weight, bias;  // per layer: W_l (hidden[l] x in_l, row-major), b_l
  int64_t outWeight = 0, outBias = 0, total = 0;

  int64_t inputs(size_t layer) const { return layer == 0 ? 2 * mlpDim : hidden[layer - 1]; }
  int64_t lastWidth() const { return hidden.empty() ? 2 * mlpDim : hidden.back(); }
  static NeuMfLayout make(int64_t numUsers, int64_t numItems, int64_t gmfDim, int64_t mlpDim,
                          const std::vector<int64_t>& hidden);
};

struct NeuMfHyper {
  AdamConfig adam;       // lr 1e-3 by default (the NCF paper's Adam setting)
  float reg = 0.0f;      // L2 on the embedding rows of a batch, added to their gradient
  int64_t batchSize = 256;
};

// (user, item, label) samples, label 1 or 0.
struct PointSamples {
  const int32_t* users = nullptr;
  const int32_t* items = nullptr;
  const float* labels = nullptr;
  int64_t size = 0;
};

// One epoch of mini-batches over the samples in order: per batch, the mean loss gradient of the
// batch, then Adam on the dense weights and lazy Adam (only rows the batch touched) on the
// embeddings, with step = ++*step. params, m, v: layout.total floats. Returns the mean loss.
// Gradients of a batch are summed in a fixed order: bit-reproducible for any thread count.
double neumfEpoch(const NeuMfLayout& layout, float* params, float* m, float* v, int64_t* step,
                  const PointSamples& samples, const NeuMfHyper& h, const ExecConfig& config);

// Loss and gradient (mean over the samples) without updating anything; grad: layout.total floats.
double neumfGradient(const NeuMfLayout& layout, const float* params, const PointSamples& samples, float reg,
                     float* grad, const ExecConfig& config);

// logits of users[0..numUsers) against every item: out is numUsers x numItems.
void neumfScore(const NeuMfLayout& layout, const float* params, const int32_t* users, int64_t numUsers, float* out,
                const ExecConfig& config);

// One positive sample (label 1) and `negatives` samples (label 0) per positive pair, pairs in shuffled
// order, as drawn by sampleNegatives from `seed`.
struct OwnedPointSamples {
  std::vector<int32_t> users, items;
  std::vector<float> labels;
  PointSamples view() const {
    return {users.data(), items.data(), labels.data(), static_cast<int64_t>(users.size())};
  }
};
OwnedPointSamples drawPointSamples(uint64_t seed, const PairSamples& pairs, const Positives& positives,
                                   int64_t negatives, const ExecConfig& config);

}  // namespace semrec::train
