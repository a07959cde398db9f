// The transformer encoder of the sequential recommenders (SASRec, Kang & McAuley 2018; BERT4Rec, Sun et al.
// 2019) as RecBole builds it (recbole/model/layers.py TransformerEncoder), forward and hand-written
// backward, trained by mini-batch Adam with optional gradient-norm clipping.
//
//   e_t   = tokenEmb[x_t] + posEmb[t];            h = dropout(LN(e))
//   layer: a = LN(h + dropout(MHA(h)));           h = LN(a + dropout(GELU(a W1 + b1) W2 + b2))
//          MHA: per head softmax(Q K^T / sqrt(d) + mask) (attention dropout) V, then W_o; causal or bidirectional
//   head (BERT4Rec only): z = LN(GELU(h Wh + bh));  SASRec: z = h
//   score(t, i) = z_t . tokenEmb[i] (+ outBias[i])  (output layer tied to the item embeddings)
//   loss: cross-entropy over all items at every position with a target ("ce"), or binary cross-entropy of the
//         target against one sampled negative ("bce", the SASRec paper's loss); the mean over targets.
//
// Sequences are "segments" of 1..maxLength tokens, never padded: token t of a segment sits at position t.
// Dropout masks are a pure function of (seed, site, token index in the call, element) — the same on the
// CPU and the GPU and for any number of threads. Gradients of a batch are summed in a fixed order
// (fixed lanes of slices), so training is bit-reproducible for any thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::seq {

struct TransformerConfig {
  int64_t numItems = 0;    // scored items: token ids [0, numItems) are items
  int64_t numTokens = 0;   // rows of the token embedding (numItems, + 1 mask token for BERT4Rec)
  int64_t maxLength = 50;  // position embeddings, and the longest segment
  int64_t hidden = 64, heads = 2, inner = 256, layers = 2;
  bool causal = true;       // SASRec: position t attends to 0..t; BERT4Rec: to every position
  bool outputHead = false;  // BERT4Rec: dense + GELU + LayerNorm before the tied output, and an output bias
  float hiddenDropout = 0, attnDropout = 0;
  float layerNormEps = 1e-12f;  // RecBole's layer_norm_eps
};

// Offsets of every parameter in the one flat float array (the TypeScript side mirrors this layout).
// Weight matrices are stored in x out, row-major: y = x W + b.
struct TransformerLayout {
  struct Layer {
    int64_t wq, bq, wk, bk, wv, bv, wo, bo, ln1g, ln1b, w1, b1, w2, b2, ln2g, ln2b;
  };
  int64_t tokenEmb = 0, posEmb = 0, embLnG = 0, embLnB = 0;
  std::vector<Layer> layers;
  int64_t wh = -1, bh = -1, lnhG = -1, lnhB = -1, outBias = -1;  // outputHead only
  int64_t total = 0;
  static TransformerLayout make(const TransformerConfig& c);
};

// Throws InvalidArgValue / OutOfRange naming the field when the configuration is unusable.
void validateConfig(const TransformerConfig& c);

// Training segments: segment s is tokens[offsets[s] .. offsets[s + 1]); targets[t] is the item token t
// predicts (-1: no loss there); negatives[t] the sampled negative of the bce loss (null for ce).
struct SegmentBatch {
  const int32_t* tokens = nullptr;
  const int32_t* offsets = nullptr;
  const int32_t* targets = nullptr;
  const int32_t* negatives = nullptr;
  int64_t numSegments = 0;
  int64_t numTokens() const { return numSegments > 0 ? offsets[numSegments] : 0; }
};

// Checks lengths (1..maxLength), token ids, targets and negatives; names the first bad entry.
void validateSegments(const TransformerConfig& c, const SegmentBatch& b, const char* op);

struct TransformerHyper {
  train::AdamConfig adam;     // RecBole: Adam, lr 1e-3, no weight decay
  // Batch size of one Adam step: targets, or with batchBySegments segments (RecBole's train_batch_size counts
  // sequences: one target each for SASRec, every masked position of each for BERT4Rec).
  int64_t batchTargets = 2048;
  bool batchBySegments = false;
  float clipNorm = 0;         // clip the batch gradient's global L2 norm to this (0: no clipping, RecBole's default)
  float weightDecay = 0;      // L2 penalty added to the gradient (torch Adam's weight_decay)
};

// Loss and the mean gradient over all targets of the segments, dropout drawn from dropoutSeed (set the
// config's dropout rates to 0 for the deterministic model). grad: layout.total floats.
double transformerGradient(const TransformerConfig& c, const float* params, const SegmentBatch& b,
                           uint64_t dropoutSeed, float* grad, const ExecConfig& config);

// One epoch: the segments in the order given, cut into batches of consecutive segments holding at least
// batchTargets targets (or exactly batchTargets segments with batchBySegments, the last batch shorter); per batch the mean gradient (dropout seeded from seed and the batch), optional
// clipping, then Adam with step = ++*step. params, m, v: layout.total floats. Returns the mean loss.
double transformerEpoch(const TransformerConfig& c, float* params, float* m, float* v, int64_t* step,
                        const SegmentBatch& b, const TransformerHyper& h, uint64_t seed, const ExecConfig& config);

// Inference (no dropout): z of the last token of every segment (numSegments x hidden, row-major).
void transformerEncode(const TransformerConfig& c, const float* params, const int32_t* tokens, const int32_t* offsets,
                       int64_t numSegments, float* out, const ExecConfig& config);

// The CUDA twins (cuda/transformer.cu): same arguments, same results up to float summation order.
double transformerGradientCuda(const TransformerConfig& c, const float* params, const SegmentBatch& b,
                               uint64_t dropoutSeed, float* grad, const ExecConfig& config);
double transformerEpochCuda(const TransformerConfig& c, float* params, float* m, float* v, int64_t* step,
                            const SegmentBatch& b, const TransformerHyper& h, uint64_t seed, const ExecConfig& config);
void transformerEncodeCuda(const TransformerConfig& c, const float* params, const int32_t* tokens,
                           const int32_t* offsets, int64_t numSegments, float* out, const ExecConfig& config);

// ---- pieces shared by the CPU and CUDA implementations (host and device) ----

// Dropout sites: one per (layer, place); the embedding's is 0.
enum DropoutSite : uint32_t { kSiteEmbedding = 0, kSiteAttnProbs = 1, kSiteAttnOut = 2, kSiteFfnOut = 3 };
inline uint32_t dropoutSite(int64_t layer, DropoutSite place) {
  return place == kSiteEmbedding ? 0u : static_cast<uint32_t>(1 + layer * 3 + (place - 1));
}

// Quantised keep threshold: an element is dropped when its 16 random bits are below it.
inline uint32_t dropoutThreshold(float p) {
  const double t = static_cast<double>(p) * 65536.0 + 0.5;
  return t >= 65536.0 ? 65536u : static_cast<uint32_t>(t);
}
// Scale of kept elements: 1 / (keep probability), the quantised one, so the expectation is unchanged.
inline float dropoutScale(uint32_t threshold) {
  return threshold >= 65536u ? 0.0f : static_cast<float>(65536.0 / (65536.0 - threshold));
}

#if defined(__CUDACC__)
#define SEMREC_HD __host__ __device__ __forceinline__
#else
#define SEMREC_HD inline
#endif

SEMREC_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// The random word w of the dropout stream of (seed, site, token): 4 elements' 16-bit draws.
SEMREC_HD uint64_t dropoutBase(uint64_t seed, uint32_t site, int64_t token) {
  return mix64(seed ^ mix64(static_cast<uint64_t>(token) * 0x9e3779b97f4a7c15ULL + site * 0xd1b54a32d192ed03ULL));
}
SEMREC_HD uint64_t dropoutWord(uint64_t base, int64_t w) { return mix64(base + static_cast<uint64_t>(w + 1) * 0x9e3779b97f4a7c15ULL); }
// Multiplier of element e (0 when dropped, else the scale).
SEMREC_HD float dropoutFactor(uint64_t base, int64_t e, uint32_t threshold, float scale) {
  const uint32_t bits = static_cast<uint32_t>(dropoutWord(base, e >> 2) >> ((e & 3) * 16)) & 0xffffu;
  return bits < threshold ? 0.0f : scale;
}

}  // namespace semrec::seq
