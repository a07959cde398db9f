// VBPR (He & McAuley 2016) with item content vectors in place of image features, trained by BPR SGD.
// score(u, i) = itemBias[i] + gammaU[u] . gammaI[i] + thetaU[u] . (E^T f_i) + featureBias . f_i
// where f_i is row i of `features` (numItems x numFeatures) and E is numFeatures x contentDim.
#pragma once

#include <cstdint>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

struct VbprModel {
  float* gammaU = nullptr;       // numUsers x dim
  float* gammaI = nullptr;       // numItems x dim
  float* thetaU = nullptr;       // numUsers x contentDim
  float* E = nullptr;            // numFeatures x contentDim
  float* itemBias = nullptr;     // numItems
  float* featureBias = nullptr;  // numFeatures (the paper's beta')
  const float* features = nullptr;  // numItems x numFeatures
  int64_t numUsers = 0, numItems = 0, dim = 0, contentDim = 0, numFeatures = 0;
};
struct VbprHyper {
  float lr = 0.05f;
  float reg = 0.01f;         // gammaU, gammaI, thetaU
  float regBias = 0.01f;     // itemBias, featureBias
  float regContent = 0.0f;   // E
};
// One SGD epoch over the triples in order. Per triple (u, i, j) with d = f_i - f_j, c = E^T d,
// x = score(u, i) - score(u, j) and g = sigmoid(-x):
//   gammaU += lr (g (gammaI[i] - gammaI[j]) - reg gammaU);  gammaI[i] += lr (g gammaU_old - reg gammaI[i])
//   gammaI[j] += lr (-g gammaU_old - reg gammaI[j]);         thetaU += lr (g c - reg thetaU)
//   E[f] += lr (g d_f thetaU_old - regContent E[f])  and  featureBias[f] += lr (g d_f - regBias featureBias[f])
//     for the features f with d_f != 0 only (sparse features stay cheap; dense ones touch every row);
//   itemBias[i] += lr (g - regBias itemBias[i]);  itemBias[j] += lr (-g - regBias itemBias[j]).
// Returns the mean of -log sigmoid(x) before each update.
double vbprEpoch(const VbprModel& model, const TripleView& triples, const VbprHyper& h, const ExecConfig& config);

// The item side of the score as plain dot-product factors: itemFactors[i] = [gammaI[i], E^T f_i]
// (numItems x (dim + contentDim)) and itemOffset[i] = itemBias[i] + featureBias . f_i.
void vbprItemFactors(const VbprModel& model, float* itemFactors, float* itemOffset, const ExecConfig& config);

}  // namespace semrec::train
