// LightGCN propagation, hand-derived backward pass and Adam epochs (see semrec/train_lightgcn.h).
#include "semrec/train_lightgcn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "semrec/parallel.h"

namespace semrec::train {

LightGcnGraph lightgcnGraph(const Positives& p, int64_t numUsers) {
  LightGcnGraph g;
  g.numUsers = numUsers;
  g.numItems = p.numItems;
  const CsrView& c = p.byUser;
  std::vector<int64_t> itemDegree(p.numItems, 0);
  for (int64_t e = 0; e < c.nnz; ++e) ++itemDegree[c.indices[e]];
  const int64_t nodes = g.numNodes();
  g.indptr.assign(nodes + 1, 0);
  for (int64_t u = 0; u < numUsers; ++u) g.indptr[u + 1] = c.indptr[u + 1] - c.indptr[u];
  for (int64_t i = 0; i < p.numItems; ++i) g.indptr[numUsers + i + 1] = static_cast<int32_t>(itemDegree[i]);
  for (int64_t n = 0; n < nodes; ++n) g.indptr[n + 1] += g.indptr[n];
  g.indices.resize(g.indptr[nodes]);
  g.weights.resize(g.indptr[nodes]);
  std::vector<int32_t> fill(g.indptr.begin(), g.indptr.end() - 1);
  for (int64_t u = 0; u < numUsers; ++u) {
    const double du = static_cast<double>(c.indptr[u + 1] - c.indptr[u]);
    for (int32_t e = c.indptr[u]; e < c.indptr[u + 1]; ++e) {
      const int32_t i = c.indices[e];
      const float w = static_cast<float>(1.0 / std::sqrt(du * static_cast<double>(itemDegree[i])));
      const int32_t itemNode = static_cast<int32_t>(numUsers + i);
      g.indices[fill[u]] = itemNode;
      g.weights[fill[u]++] = w;
      g.indices[fill[itemNode]] = static_cast<int32_t>(u);  // users visited in ascending order: rows stay sorted
      g.weights[fill[itemNode]++] = w;
    }
  }
  return g;
}

void propagate(const LightGcnGraph& g, const float* in, float* out, int64_t dim, const ExecConfig& config) {
  parallelFor(g.numNodes(), 256, config.numThreads, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; ++n) {
      float* o = out + n * dim;
      std::fill(o, o + dim, 0.0f);
      for (int32_t e = g.indptr[n]; e < g.indptr[n + 1]; ++e) {
        const float w = g.weights[e];
        const float* x = in + static_cast<int64_t>(g.indices[e]) * dim;
        for (int64_t t = 0; t < dim; ++t) o[t] += w * x[t];
      }
    }
  });
}

namespace {

// final = (E_0 + ... + E_L) / (L + 1), with cur and next as scratch (numNodes x dim each).
void forwardInto(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float* final,
                 std::vector<float>& cur, std::vector<float>& next, const ExecConfig& config) {
  const int64_t size = g.numNodes() * dim;
  std::copy(E0, E0 + size, cur.begin());
  std::copy(E0, E0 + size, final);
  for (int64_t k = 0; k < layers; ++k) {
    propagate(g, cur.data(), next.data(), dim, config);
    for (int64_t t = 0; t < size; ++t) final[t] += next[t];
    cur.swap(next);
  }
  const float inv = 1.0f / static_cast<float>(layers + 1);
  for (int64_t t = 0; t < size; ++t) final[t] *= inv;
}

}  // namespace

void lightgcnForward(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float* final,
                     const ExecConfig& config) {
  std::vector<float> cur(g.numNodes() * dim), next(g.numNodes() * dim);
  forwardInto(g, E0, dim, layers, final, cur, next, config);
}

namespace {

struct Buffers {
  std::vector<float> final, cur, next;
  explicit Buffers(int64_t size) : final(size), cur(size), next(size) {}
};

double gradientInto(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float reg,
                    const TripleView& b, float* grad, Buffers& buf, const ExecConfig& config) {
  const int64_t size = g.numNodes() * dim;
  forwardInto(g, E0, dim, layers, buf.final.data(), buf.cur, buf.next, config);
  // G = dloss/dfinal (rows of the batch's nodes), gathered in cur.
  std::vector<float>& G = buf.cur;
  std::fill(G.begin(), G.end(), 0.0f);
  const float inv = b.size > 0 ? 1.0f / static_cast<float>(b.size) : 0.0f;
  double loss = 0;
  for (int64_t s = 0; s < b.size; ++s) {
    const int64_t u = b.users[s], i = g.numUsers + b.pos[s], j = g.numUsers + b.neg[s];
    const float* fu = buf.final.data() + u * dim;
    const float* fi = buf.final.data() + i * dim;
    const float* fj = buf.final.data() + j * dim;
    float x = 0;
    for (int64_t t = 0; t < dim; ++t) x += fu[t] * (fi[t] - fj[t]);
    loss += softplus(-static_cast<double>(x));
    const float c = -sigmoid(-x) * inv;  // dloss/dx
    for (int64_t t = 0; t < dim; ++t) {
      G[u * dim + t] += c * (fi[t] - fj[t]);
      G[i * dim + t] += c * fu[t];
      G[j * dim + t] -= c * fu[t];
    }
  }
  // dloss/dE0 = sum_k A^k G / (L + 1).
  const float scale = 1.0f / static_cast<float>(layers + 1);
  for (int64_t t = 0; t < size; ++t) grad[t] = G[t] * scale;
  std::vector<float>& src = buf.cur;
  std::vector<float>& dst = buf.next;
  for (int64_t k = 0; k < layers; ++k) {
    propagate(g, src.data(), dst.data(), dim, config);
    for (int64_t t = 0; t < size; ++t) grad[t] += dst[t] * scale;
    src.swap(dst);
  }
  double penalty = 0;
  for (int64_t s = 0; s < b.size; ++s) {
    for (const int64_t node : {static_cast<int64_t>(b.users[s]), g.numUsers + b.pos[s], g.numUsers + b.neg[s]}) {
      const float* e = E0 + node * dim;
      float* gr = grad + node * dim;
      for (int64_t t = 0; t < dim; ++t) {
        penalty += static_cast<double>(e[t]) * e[t];
        gr[t] += reg * inv * e[t];
      }
    }
  }
  return b.size > 0 ? (loss + 0.5 * reg * penalty) / static_cast<double>(b.size) : 0.0;
}

}  // namespace

double lightgcnGradient(const LightGcnGraph& g, const float* E0, int64_t dim, int64_t layers, float reg,
                        const TripleView& batch, float* grad, const ExecConfig& config) {
  Buffers buf(g.numNodes() * dim);
  return gradientInto(g, E0, dim, layers, reg, batch, grad, buf, config);
}

double lightgcnEpoch(const LightGcnGraph& g, float* E0, float* m, float* v, int64_t* step, int64_t dim,
                     const TripleView& triples, const LightGcnHyper& h, const ExecConfig& config) {
  const int64_t size = g.numNodes() * dim;
  Buffers buf(size);
  std::vector<float> grad(size);
  const int64_t batch = std::max<int64_t>(1, h.batchSize);
  double total = 0;
  for (int64_t begin = 0; begin < triples.size; begin += batch) {
    const int64_t n = std::min(batch, triples.size - begin);
    const TripleView b{triples.users + begin, triples.pos + begin, triples.neg + begin, n};
    total += gradientInto(g, E0, dim, h.layers, h.reg, b, grad.data(), buf, config) * static_cast<double>(n);
    const int64_t t = ++*step;
    parallelFor(size, 1 << 14, config.numThreads, [&](int64_t a, int64_t e, int) {
      adamUpdate(E0 + a, grad.data() + a, m + a, v + a, e - a, h.adam, t);
    });
  }
  const double loss = triples.size > 0 ? total / static_cast<double>(triples.size) : 0.0;
  checkFiniteLoss(loss, "lightgcnEpoch");
  return loss;
}

}  // namespace semrec::train
