// LLM-Rec's semantic adapter: parametric whitening plus a mixture-of-experts projection on top of frozen
// sentence vectors (in the spirit of UniSRec, Hou et al. 2022), trained with InfoNCE over in-batch
// negatives (SimCSE, Gao et al. 2021): two views of one item are pulled together, the other items of the
// batch pushed apart.
//
//   input x (D), dropout-noised while training: xd = x * mask
//   gate     g = softmax(G xd)                       G: K x D
//   expert   e_k = Wt_k (xd - b_k)                   Wt_k: ds x D (whitening bias b_k and projection)
//   output   h = sum_k g_k e_k,   z = h / |h|        (unit vectors)
//   InfoNCE  S = Z_a Z_b^T / tau over the B pairs of a batch;
//            loss = (1 / 2B) sum_p [ -S_pp + log sum_q e^{S_pq}  +  -S_pp + log sum_q e^{S_qp} ]
//
// Parameters, one flat float array: M = [Wt_1; ...; Wt_K; G] ((K ds + K) x D, row-major), then the
// biases b_1..b_K (K x D). One GEMM with M gives every expert's output and the gate logits of a batch.
#pragma once

#include <cstdint>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

struct AdapterLayout {
  int64_t inDim = 0;    // D: encoder width
  int64_t outDim = 0;   // ds: adapted width
  int64_t experts = 0;  // K
  int64_t matrixRows = 0, M = 0, bias = 0, total = 0;
  static AdapterLayout make(int64_t inDim, int64_t outDim, int64_t experts);
};

struct AdapterHyper {
  AdamConfig adam;
  float temperature = 0.07f;  // UniSRec's InfoNCE temperature
  float dropout = 0.1f;       // SimCSE's dropout noise (its only augmentation)
  int64_t batchSize = 256;
};

// Dropout stream of the adapter: the mask of row (2 pair + view) of an epoch is
// Rng(seed, kAdapterDropoutStream + 2 pair + view), drawn as dropoutMask draws (fusion.h).
constexpr uint64_t kAdapterDropoutStream = 0x61646170ULL << 32;  // "adap"

// Unit-norm adapted vectors of rows x inDim inputs (no dropout): out is rows x outDim.
void adapterApply(const AdapterLayout& L, const float* params, const MatrixView& x, float* out, const ExecConfig& config);

// Loss and gradient (layout.total floats) of one batch: pairs (viewA[p], viewB[p]) of rows of `vectors`.
// masks: 2 x pairs x inDim dropout masks (rows of view A, then of view B), or null to draw them from seed
// (pair p of this call is pair p of the stream).
double adapterGradient(const AdapterLayout& L, const float* params, const MatrixView& vectors, const int32_t* viewA,
                       const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed, const float* masks,
                       float* grad, const ExecConfig& config);

// One epoch of InfoNCE steps over the pairs in order, in batches of h.batchSize, dense Adam with
// step = ++*step per batch. Bit-reproducible for any thread count (every sum has a fixed order).
// Returns the mean batch loss (weighted by batch size).
double adapterEpoch(const AdapterLayout& L, float* params, float* m, float* v, int64_t* step, const MatrixView& vectors,
                    const int32_t* viewA, const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed,
                    const ExecConfig& config);

// Draws one dropout mask (see fusion.h dropoutMask) for stream `stream`.
void dropoutMaskStream(uint64_t seed, uint64_t stream, float p, int64_t width, float* out);

// CUDA twins (cuda/adapter.cu; stubs in CPU-only builds).
double adapterGradientCuda(const AdapterLayout& L, const float* params, const MatrixView& vectors, const int32_t* viewA,
                           const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed, const float* masks,
                           float* grad, const ExecConfig& config);
double adapterEpochCuda(const AdapterLayout& L, float* params, float* m, float* v, int64_t* step, const MatrixView& vectors,
                        const int32_t* viewA, const int32_t* viewB, int64_t pairs, const AdapterHyper& h, uint64_t seed,
                        const ExecConfig& config);

}  // namespace semrec::train
