// LLM-Rec's fused ranker: collaborative ID embeddings fused with semantic vectors (adapted item text
// vectors and the users' preference vectors), trained with a pairwise loss over sampled negatives by
// mini-batch Adam. Three fusion modes (LLM-Rec, Table 3):
//
//   projections  y_u = Wu p_u   (user preference vector p_u, ds -> R rows)
//                x_i = Wi s_i   (adapted item vector s_i,    ds -> R rows)
//   R = E + L rows, E = dc (early part, when the mode has it), L = lateDim (late part, when it has it)
//
//   history      h_u = sum_j a_j Q_j over the user's history items j, a_j = w_j / sum w (the profile's
//                weights: the collaborative counterpart of p_u, as SVD++ and FISM add it; optional)
//   fused user   z_u = [ wc (P_u + h_u + y_u[0:E]) ; ws y_u[E:E+L] ]      width F = dc + L
//   fused item   z_i = [ Q_i + x_i[0:E]      ; x_i[E:E+L]      ]
//   score        r_ui = z_u . z_i + b_i
//
//   early:  E = dc, L = 0: each side's [ID embedding ; semantic vector] projected into one space by
//           [I | W] (a learned block on the ID side would only re-parametrise the free embeddings);
//   late:   E = 0, L = lateDim: wc (P_u . Q_i) + ws (Wu p_u) . (Wi s_i), two scores with learned weights;
//   hybrid: both. Without semantic vectors (ds = 0) every mode is matrix factorisation with weight wc.
//
// Training (one mini-batch of B positives, N negatives each, mean over the B x N pairs):
//   hinge (LLM-Rec, Eq. 10):  l = max(0, margin - (r_ui - r_uj))
//   bpr:                      l = log(1 + exp(-(r_ui - r_uj)))
//   softmax (sampled):        l = -r_ui + log(exp(r_ui) + sum_j exp(r_uj)), one term per positive (mean over B)
// plus (reg / 2) (|P_u|^2 per distinct user of the batch + (|Q_i|^2 + b_i^2) per distinct item + |Wu|^2 + |Wi|^2).
// Dropout on the fused user vector (inverted: kept values scaled by 1 / (1 - p)). The optimiser is Adam
// with optional decoupled weight decay (AdamW, Loshchilov & Hutter 2019): each updated parameter first
// shrinks by lr x weightDecay, the batch rows only (like the lazy moments) and the dense part always.
//
// Target exclusion: a user's preference vector averages the items of their history, the positive i
// among them; trained on that, the model learns to recognise an item in its own profile, which a
// held-out item never is. With pair weights w_ui (the interaction's weight in the profile) and the
// user's total weight Z_u the user side uses the profile without i:
//   p_u^(-i) = (Z_u p_u - w_ui s_i) / (Z_u - w_ui),  so  y_u^(-i) = (Z_u y_u - w_ui Wu s_i) / (Z_u - w_ui)
// (0 when the history holds nothing else), and likewise h_u^(-i) = (Z_u h_u - w_ui Q_i) / (Z_u - w_ui) when
// the history term is on (userWeight[u] must then be the sum of the user's history weights). Inference
// uses the whole profile.
//
// Every parameter lives in one flat float array laid out by FusionLayout (the TypeScript side mirrors
// it); Adam moments have the same layout. Adam is dense on Wu, Wi, wc, ws and lazy (rows a batch
// touched) on P, Q, b, like the other mini-batch trainers.
#pragma once

#include <cstdint>
#include <vector>

#include "semrec/train_common.h"
#include "semrec/views.h"

namespace semrec::train {

enum class FusionMode : int { Early = 1, Late = 2, Hybrid = 3 };
enum class RankLoss : int { Hinge = 0, Bpr = 1, Softmax = 2 };

struct FusionLayout {
  int64_t numUsers = 0, numItems = 0;
  int64_t collabDim = 0;   // dc: ID embedding width
  int64_t semDim = 0;      // ds: semantic vector width (0: no semantic side)
  int64_t lateDim = 0;     // width of the late semantic score's projection
  FusionMode mode = FusionMode::Hybrid;
  // Derived.
  int64_t earlyRows = 0, lateRows = 0, projRows = 0, width = 0;
  int64_t P = 0, Q = 0, bias = 0, Wu = 0, Wi = 0, wc = 0, ws = 0, total = 0;

  static FusionLayout make(int64_t numUsers, int64_t numItems, int64_t collabDim, int64_t semDim, int64_t lateDim,
                           FusionMode mode);
};

// The frozen semantic inputs.
struct FusionInputs {
  const float* itemSem = nullptr;     // numItems x semDim: adapted item vectors s_i
  const float* userSem = nullptr;     // numUsers x semDim: preference vectors p_u
  const float* userWeight = nullptr;  // numUsers: Z_u, the total weight of each profile (target exclusion)
  // The users' histories for h_u (CSR over numUsers: item ids and their profile weights), or null.
  const int32_t* historyIndptr = nullptr;
  const int32_t* historyItems = nullptr;
  const float* historyWeight = nullptr;
  bool hasHistory() const { return historyIndptr != nullptr; }
};

// Training samples: positive pairs, each with `negatives` negative items and the pair's profile weight.
struct RankSamples {
  const int32_t* users = nullptr;
  const int32_t* pos = nullptr;
  const float* pairWeight = nullptr;  // w_ui per positive (null: no target exclusion)
  const int32_t* neg = nullptr;       // size x negatives
  int64_t size = 0;
  int64_t negatives = 0;
};

struct FusionHyper {
  AdamConfig adam;
  float reg = 0.0f;       // coupled L2 (added to the loss; see above)
  float weightDecay = 0.01f;  // decoupled (AdamW): LLM-Rec, Table 8's L2 0.01, as a transformer's AdamW applies it
  float margin = 0.5f;    // LLM-Rec, Table 8: hinge margin 0.5
  float dropout = 0.1f;   // LLM-Rec, Table 8: dropout 0.1
  RankLoss loss = RankLoss::Hinge;
  int64_t batchSize = 64; // LLM-Rec, Table 4: batch size 64
};

// Streams of the random generator (train_common.h Rng) used by the fused trainer.
constexpr uint64_t kDropoutStream = 0x64726f70ULL << 32;  // "drop": dropout mask of positive p is Rng(seed, stream + p)

// Writes the dropout mask of one positive (width values, each 0 or 1 / (1 - p)): word w of
// Rng(seed, kDropoutStream + positive) gives four 16-bit uniforms u for values 4w..4w+3; a value is
// dropped when u < round(p * 65536). Shared by the CPU and CUDA trainers so both drop the same values.
void dropoutMask(uint64_t seed, int64_t positive, float p, int64_t width, float* out);

// Checks the history CSR (structure, item ids) and its weights, when given; throws semrec::Error.
void validateHistory(const FusionLayout& L, const FusionInputs& in, const std::string& op);

// Checks parameter and input shapes against the layout and every sample id; throws semrec::Error.
void validateFusion(const FusionLayout& L, const FusionInputs& in, const RankSamples& s, const std::string& op);

// Loss (mean over the pairs, plus the regularisation above) and its gradient (layout.total floats,
// zero outside the rows the samples touch) of one batch made of all the given samples.
// masks: samples.size x width dropout masks, or null to draw them from `seed` (dropout 0: none).
double fusionGradient(const FusionLayout& L, const float* params, const FusionInputs& in, const RankSamples& samples,
                      const FusionHyper& h, uint64_t seed, const float* masks, float* grad, const ExecConfig& config);

// One Adam step on one batch (all the given samples); step = ++*step. Returns the batch loss.
double fusionStep(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                  const RankSamples& samples, const FusionHyper& h, uint64_t seed, const ExecConfig& config);

// One epoch: the samples in order, in batches of h.batchSize (positive p of the epoch uses dropout
// mask p). Batches are processed in chunks spread over the threads; with one thread the epoch is
// bit-reproducible, with more the chunks update the shared parameters without locks (Hogwild, as the
// SGD trainers do). Returns the mean batch loss.
double fusionEpoch(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                   const RankSamples& samples, const FusionHyper& h, uint64_t seed, const ExecConfig& config);

// Fused vectors for inference: users[r]'s row r of userOut (count x width) from its preference vector
// userSem[r] (count x semDim, already gathered) and, when `history` has it, its history term, and every
// item's row of itemOut (numItems x width, may be null) and its bias (itemBias, may be null). userSem
// may be null when count is 0. history: the inputs' history arrays (indexed by user id) or all null.
void fusionVectors(const FusionLayout& L, const float* params, const float* itemSem, const int32_t* users,
                   const float* userSem, int64_t count, const FusionInputs& history, float* userOut, float* itemOut,
                   float* itemBias, const ExecConfig& config);

// One epoch's samples: the positive pairs in shuffled order (shuffledOrder), each with `negatives`
// negatives drawn uniformly from `candidates` (items the model may use as negatives: those with
// training interactions) that the user has not interacted with (at most kMaxNegativeTries draws).
struct OwnedRankSamples {
  std::vector<int32_t> users, pos, neg;
  std::vector<float> pairWeight;
  RankSamples view(int64_t negatives) const {
    return {users.data(), pos.data(), pairWeight.empty() ? nullptr : pairWeight.data(), neg.data(),
            static_cast<int64_t>(users.size()), negatives};
  }
};
OwnedRankSamples drawRankSamples(uint64_t seed, const PairSamples& pairs, const float* pairWeight,
                                 const Positives& positives, const int32_t* candidates, int64_t numCandidates,
                                 int64_t negatives, const ExecConfig& config);

// ---- CUDA twins (cuda/fusion.cu; stubs in CPU-only builds). Same contracts; sums are reduced in the
// same order but on another processor, so results agree within float rounding, not bit for bit.
double fusionGradientCuda(const FusionLayout& L, const float* params, const FusionInputs& in, const RankSamples& samples,
                          const FusionHyper& h, uint64_t seed, const float* masks, float* grad, const ExecConfig& config);
double fusionEpochCuda(const FusionLayout& L, float* params, float* m, float* v, int64_t* step, const FusionInputs& in,
                       const RankSamples& samples, const FusionHyper& h, uint64_t seed, const ExecConfig& config);
void fusionVectorsCuda(const FusionLayout& L, const float* params, const float* itemSem, const int32_t* users,
                       const float* userSem, int64_t count, const FusionInputs& history, float* userOut, float* itemOut,
                       float* itemBias, const ExecConfig& config);

// ---- the batch plan shared by both processors ----

// The distinct users, items and positive items of a batch, and where each positive's entries sit.
struct BatchPlan {
  std::vector<int32_t> users;     // distinct users in first-seen order
  std::vector<int32_t> items;     // distinct items (positives and negatives) in first-seen order
  std::vector<int32_t> posItems;  // distinct positive items whose Wu s_i the target exclusion needs
  std::vector<int32_t> userSlot;  // per positive
  std::vector<int32_t> itemSlot;  // per positive, 1 + negatives: the positive's slot, then each negative's
  std::vector<int32_t> posSlot;   // per positive: slot in posItems, or -1 (no exclusion for it)
  std::vector<float> c1, c2;      // per positive: y^(-i) = c1 y_u + c2 Wu s_i (and h^(-i) = c1 h_u + c2 Q_i)
  // With the history term: per distinct user (userHistPtr, users.size() + 1 entries) its history items'
  // slots in `items` and their shares a_j (in history order).
  std::vector<int32_t> userHistPtr, histSlot;
  std::vector<float> histShare;
};

// Scratch of a planner: generation-stamped slot tables, so a plan costs O(batch), not O(users + items).
class BatchPlanner {
 public:
  BatchPlanner(int64_t numUsers, int64_t numItems);
  void plan(const FusionLayout& L, const FusionInputs& in, const RankSamples& s, int64_t begin, int64_t end,
            BatchPlan& out);

 private:
  std::vector<int32_t> userStamp_, userSlot_, itemStamp_, itemSlot_, posStamp_, posSlot_;
  int32_t generation_ = 0;
};

// The profile-exclusion coefficients of one positive (see the header comment): c1 = Z / (Z - w),
// c2 = -w / (Z - w); both 0 when the history holds nothing else (Z - w <= kMinProfileShare Z); 1 and 0
// without a pair weight.
constexpr float kMinProfileShare = 1e-6f;
void exclusionCoefficients(float Z, float w, float* c1, float* c2);

}  // namespace semrec::train
