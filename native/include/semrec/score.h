// Dot-product scoring of users against items (scores = users . items^T + itemBias), dense or top-k.
#pragma once

#include <cstdint>

#include "semrec/views.h"

namespace semrec {

struct EmbeddingView {
  const float* users = nullptr;     // numUsers x dim, row-major
  int64_t numUsers = 0;
  const float* items = nullptr;     // numItems x dim, row-major
  int64_t numItems = 0;
  int64_t dim = 0;
  const float* itemBias = nullptr;  // numItems, or null
};

// out: numUsers x numItems row-major.
void scoreMatrixCpu(const EmbeddingView& emb, float* out, const ExecConfig& config);
void scoreMatrixCuda(const EmbeddingView& emb, float* out, const ExecConfig& config);
Device scoreMatrix(Device device, const EmbeddingView& emb, float* out, const ExecConfig& config);

// Top-k of each user's scores, computed block-wise: the numUsers x numItems matrix never exists.
void scoreTopKCpu(const EmbeddingView& emb, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
                  const ExecConfig& config);
void scoreTopKCuda(const EmbeddingView& emb, const CsrView& exclude, int64_t k, int32_t* outCols, float* outScores,
                   const ExecConfig& config);
Device scoreTopK(Device device, const EmbeddingView& emb, const CsrView& exclude, int64_t k, int32_t* outCols,
                 float* outScores, const ExecConfig& config);

}  // namespace semrec
