// LightGCN (He et al. 2020): embeddings E0 of users and items (one node table: users 0..U-1, then
// items U..U+I-1) propagated over the symmetrically normalised user-item graph,
//   E_{k+1} = A E_k,  A[u, U+i] = A[U+i, u] = 1 / sqrt(deg(u) deg(i)),   final = (E_0 + ... + E_L) / (L + 1),
// scored by final[u] . final[U+i], trained with the BPR loss and an L2 penalty on the batch's E0 rows:
//   loss = mean_b softplus(-(final[u].final[i] - final[u].final[j])) + reg/2 mean_b (|E0_u|^2 + |E0_i|^2 + |E0_j|^2)
// The backward pass goes through the same propagation: A is symmetric, so dloss/dE0 = sum_k A^k G / (L + 1)
// for G = dloss/dfinal, plus the penalty's gradient.
#pragma once

#include <cstdint>
#include <vector>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

struct LightGcnGraph {
  std::vector<int32_t> indptr, indices;
  std::vector<float> weights;
  int64_t numUsers = 0, numItems = 0;
  int64_t numNodes() const { return numUsers + numItems; }
};

// The normalised adjacency of the positive pairs (each user's items sorted and unique).
LightGcnGraph lightgcnGraph(const Positives& positives, int64_t numUsers);

// out = A in (numNodes x dim), rows in parallel (deterministic).
void propagate(const LightGcnGraph& g, const float* in, float* out, int64_t dim, const ExecConfig& config);

// final = (E_0 + ... + E_layers) / (layers + 1).
void lightgcnForward(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float* final,
                     const ExecConfig& config);

// Loss of the triples (as one batch) and its gradient with respect to E0 (numNodes x dim).
double lightgcnGradient(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float reg,
                        const TripleView& batch, float* grad, const ExecConfig& config);

struct LightGcnHyper {
  AdamConfig adam;         // RecBole's LightGCN: Adam, lr 1e-3
  float reg = 1e-4f;       // the LightGCN paper's L2 coefficient on E0
  int64_t layers = 3;
  int64_t batchSize = 2048;  // RecBole's train_batch_size
};

// One epoch: mini-batches of the triples in order, each a forward/backward through the whole graph and one
// dense Adam step on E0 (step = ++*step). Bit-reproducible for any thread count and on every vector
// path (AVX-512, AVX2, baseline). Returns the mean loss.
double lightgcnEpoch(const LightGcnGraph& g, float* E0, float* m, float* v, int64_t* step, int64_t dim,
                     const TripleView& triples, const LightGcnHyper& h, const ExecConfig& config);

}  // namespace semrec::train
