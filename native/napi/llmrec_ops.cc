// N-API glue of LLM-Rec's native ops: the fused ranker (semrec/fusion.h), the semantic adapter
// (semrec/adapter.h) and the preference sums (semrec/preference.h). Same shape as train_ops.cc: parse
// (JS thread) -> run (worker thread, no JS) -> result (JS thread); parameter arrays are updated in place.
#include <climits>
#include <string>
#include <vector>

#include "bridge.h"
#include "ops.h"
#include "semrec/adapter.h"
#include "semrec/device.h"
#include "semrec/fusion.h"
#include "semrec/preference.h"
#include "semrec/validate.h"

namespace semrec::napi {

namespace {

using namespace semrec::train;

constexpr int64_t kMaxIndex = INT32_MAX;
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxSeed = (int64_t{1} << 53) - 1;  // what a JS number holds exactly
constexpr int64_t kMaxNegatives = 1000;
constexpr int64_t kMaxExperts = 64;

// ---- the fused ranker ----

FusionLayout parseLayout(const Napi::CallbackInfo& info, const Args& args) {
  const int64_t users = args.integer("numUsers", 1, kMaxIndex);
  const int64_t items = args.integer("numItems", 1, kMaxIndex);
  const int64_t collab = args.integer("collabDim", 1, kMaxDim);
  const int64_t sem = args.integer("semDim", 0, kMaxDim);
  const int64_t late = args.integer("lateDim", 0, kMaxDim);
  const std::string mode = text(info, args, "mode");
  FusionMode m;
  if (mode == "early") m = FusionMode::Early;
  else if (mode == "late") m = FusionMode::Late;
  else if (mode == "hybrid") m = FusionMode::Hybrid;
  else fail(ErrorCode::InvalidArgValue, args.name("mode") + " must be 'early', 'late' or 'hybrid', got '" + mode + "'");
  if (m != FusionMode::Early && sem > 0 && late < 1)
    fail(ErrorCode::OutOfRange, args.name("lateDim") + " must be at least 1 in mode '" + mode + "'");
  return FusionLayout::make(users, items, collab, sem, late, m);
}

// The users' histories for the history term: history { indptr, indices } over numUsers, historyWeight.
void parseHistory(const Args& args, const FusionLayout& L, FusionInputs& in) {
  if (!args.has("history")) return;
  const CsrView h = args.csr("history", L.numUsers, true);
  in.historyIndptr = h.indptr;
  in.historyItems = h.indices;
  in.historyWeight = float32Of(args, "historyWeight", h.nnz, "history.indices.length");
}

FusionInputs parseInputs(const Args& args, const FusionLayout& L, bool needUsers) {
  FusionInputs in;
  parseHistory(args, L, in);
  if (args.has("userWeight")) in.userWeight = float32Of(args, "userWeight", L.numUsers, "numUsers");
  if (L.semDim == 0) return in;
  in.itemSem = float32Of(args, "itemSem", L.numItems * L.semDim, "numItems x semDim");
  if (needUsers) in.userSem = float32Of(args, "userSem", L.numUsers * L.semDim, "numUsers x semDim");
  return in;
}

void parseHyper(const Napi::CallbackInfo& info, const Args& args, FusionHyper& h, bool optimizer) {
  if (optimizer) {
    h.adam.lr = static_cast<float>(real(info, args, "lr", 0, 10));
    h.batchSize = args.integer("batchSize", 1, kMaxIndex);
    h.weightDecay = static_cast<float>(real(info, args, "weightDecay", 0, 1e3));
    if (h.adam.lr * h.weightDecay >= 1.0f)
      fail(ErrorCode::OutOfRange, args.name("weightDecay") + ": lr x weightDecay must be below 1 (it is the share each step removes)");
  }
  h.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
  h.margin = static_cast<float>(real(info, args, "margin", 0, 1e3));
  h.dropout = static_cast<float>(real(info, args, "dropout", 0, 0.95));
  const std::string loss = text(info, args, "loss");
  if (loss == "hinge") h.loss = RankLoss::Hinge;
  else if (loss == "bpr") h.loss = RankLoss::Bpr;
  else if (loss == "softmax") h.loss = RankLoss::Softmax;
  else fail(ErrorCode::InvalidArgValue, args.name("loss") + " must be 'hinge', 'bpr' or 'softmax', got '" + loss + "'");
}

// Samples given explicitly (sampleUsers, samplePos, sampleNeg, optional samplePairWeight) or drawn from
// the training pairs (pairUsers, pairItems, optional pairWeight, positives, candidates, seed).
struct RankSampleSource {
  bool explicitSamples = false;
  RankSamples given;
  PairSamples pairs;
  const float* pairWeight = nullptr;
  Positives positives;
  const int32_t* candidates = nullptr;
  int64_t numCandidates = 0;
  int64_t negatives = 0;
  uint64_t seed = 0;
  OwnedRankSamples drawn;

  void parse(const Args& args, const FusionLayout& L) {
    negatives = args.integer("negatives", 0, kMaxNegatives);
    explicitSamples = args.has("sampleUsers");
    if (explicitSamples) {
      const auto u = args.int32("sampleUsers", true);
      given.users = u.data;
      given.size = u.length;
      given.pos = int32Of(args, "samplePos", u.length);
      const auto n = args.int32("sampleNeg", true);
      requireLength(args.name("sampleNeg"), n.length, u.length * negatives, "sampleUsers.length x negatives");
      given.neg = n.data;
      given.negatives = negatives;
      if (args.has("samplePairWeight")) given.pairWeight = float32Of(args, "samplePairWeight", u.length, "sampleUsers.length");
      return;
    }
    const auto u = args.int32("pairUsers", true), i = args.int32("pairItems", true);
    requireLength(args.name("pairItems"), i.length, u.length, "pairUsers.length");
    pairs = {u.data, i.data, u.length};
    if (args.has("pairWeight")) pairWeight = float32Of(args, "pairWeight", u.length, "pairUsers.length");
    positives = {args.csr("positives", L.numUsers, true), L.numItems};
    const auto c = args.int32("candidates", true);
    candidates = c.data;
    numCandidates = c.length;
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
  }
  static const int32_t* int32Of(const Args& args, const char* field, int64_t length) {
    const auto a = args.int32(field, true);
    requireLength(args.name(field), a.length, length, "sampleUsers.length");
    return a.data;
  }
  RankSamples get(const std::string& op, const ExecConfig& config) {
    if (explicitSamples) return given;
    validatePositives(positives, op + ": positives");
    for (int64_t p = 0; p < pairs.numPairs; ++p)
      if (pairs.users[p] < 0 || pairs.users[p] >= positives.byUser.rows || pairs.items[p] < 0 || pairs.items[p] >= positives.numItems)
        fail(ErrorCode::OutOfRange, op + ": pair " + std::to_string(p) + " is outside the users x items range");
    drawn = drawRankSamples(seed, pairs, pairWeight, positives, candidates, numCandidates, negatives, config);
    return drawn.view(negatives);
  }
};

double sampleWork(const FusionLayout& L, int64_t size, int64_t negatives) {
  return static_cast<double>(size) * static_cast<double>(negatives + 2) * static_cast<double>(L.width + L.projRows * 4);
}

struct FusionEpochJob {
  static constexpr const char* kName = "fusionEpoch";
  KeepAlive keep;
  FusionLayout layout;
  FusionInputs inputs;
  FusionHyper hyper;
  RankSampleSource samples;
  float *params = nullptr, *m = nullptr, *v = nullptr;
  int64_t step = 0;
  uint64_t seed = 0;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  double loss = 0;

  explicit FusionEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseLayout(info, args);
    params = mutableFloat32(args, "params", layout.total, "the layout's parameter count");
    m = mutableFloat32(args, "adamM", layout.total, "the layout's parameter count");
    v = mutableFloat32(args, "adamV", layout.total, "the layout's parameter count");
    step = args.integer("step", 0, kMaxSeed);
    inputs = parseInputs(args, layout, true);
    parseHyper(info, args, hyper, true);
    samples.parse(args, layout);
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    requested = args.device();
    config = configOf(info, args);
  }
  void run() {
    const RankSamples s = samples.get(kName, config);
    used = resolveDevice(requested, sampleWork(layout, s.size, s.negatives), kName);
    if (used == Device::Cuda)
      loss = fusionEpochCuda(layout, params, m, v, &step, inputs, s, hyper, seed, config);
    else
      loss = fusionEpoch(layout, params, m, v, &step, inputs, s, hyper, seed, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("step", static_cast<double>(step));
    o.Set("device", deviceName(used));
    return o;
  }
};

struct FusionGradientJob {
  static constexpr const char* kName = "fusionGradient";
  KeepAlive keep;
  FusionLayout layout;
  FusionInputs inputs;
  FusionHyper hyper;
  RankSampleSource samples;
  const float* params = nullptr;
  const float* masks = nullptr;
  uint64_t seed = 0;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  float* grad = nullptr;
  size_t gradRef = 0;
  double loss = 0;

  explicit FusionGradientJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseLayout(info, args);
    params = float32Of(args, "params", layout.total, "the layout's parameter count");
    inputs = parseInputs(args, layout, true);
    parseHyper(info, args, hyper, false);
    samples.parse(args, layout);
    if (!samples.explicitSamples) fail(ErrorCode::InvalidArgType, args.name("sampleUsers") + " is required (explicit samples)");
    if (args.has("masks"))
      masks = float32Of(args, "masks", samples.given.size * layout.width, "sampleUsers.length x fused width");
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    requested = args.device();
    config = configOf(info, args);
    gradRef = keep.size();
    grad = newFloat32(info.Env(), layout.total, keep, kName).Data();
  }
  void run() {
    const RankSamples s = samples.get(kName, config);
    used = resolveDevice(requested, sampleWork(layout, s.size, s.negatives), kName);
    if (used == Device::Cuda)
      loss = fusionGradientCuda(layout, params, inputs, s, hyper, seed, masks, grad, config);
    else
      loss = fusionGradient(layout, params, inputs, s, hyper, seed, masks, grad, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("grad", keep.get(gradRef));
    o.Set("device", deviceName(used));
    return o;
  }
};

struct FusionVectorsJob {
  static constexpr const char* kName = "fusionVectors";
  KeepAlive keep;
  FusionLayout layout;
  const float* params = nullptr;
  const float* itemSem = nullptr;
  const int32_t* users = nullptr;
  const float* userSem = nullptr;
  int64_t count = 0;
  bool wantItems = true;
  FusionInputs history;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  float *userOut = nullptr, *itemOut = nullptr, *bias = nullptr;
  size_t userRef = 0, itemRef = 0, biasRef = 0;

  explicit FusionVectorsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseLayout(info, args);
    params = float32Of(args, "params", layout.total, "the layout's parameter count");
    const auto u = args.int32("users", true);
    users = u.data;
    count = u.length;
    const Napi::Value items = info[0].As<Napi::Object>().Get("items");
    if (!items.IsUndefined()) {
      if (!items.IsBoolean()) fail(ErrorCode::InvalidArgType, args.name("items") + " must be a boolean");
      wantItems = items.As<Napi::Boolean>().Value();
    }
    parseHistory(args, layout, history);
    if (layout.semDim > 0) {
      userSem = float32Of(args, "userSem", count * layout.semDim, "users.length x semDim");
      if (wantItems) itemSem = float32Of(args, "itemSem", layout.numItems * layout.semDim, "numItems x semDim");
    }
    requested = args.device();
    config = configOf(info, args);
    userRef = keep.size();
    userOut = newFloat32(info.Env(), count * layout.width, keep, kName).Data();
    if (wantItems) {
      itemRef = keep.size();
      itemOut = newFloat32(info.Env(), layout.numItems * layout.width, keep, kName).Data();
      biasRef = keep.size();
      bias = newFloat32(info.Env(), layout.numItems, keep, kName).Data();
    }
  }
  void run() {
    const double work = static_cast<double>(count + (wantItems ? layout.numItems : 0)) *
                        static_cast<double>(layout.projRows * layout.semDim + layout.width);
    used = resolveDevice(requested, work, kName);
    if (used == Device::Cuda)
      fusionVectorsCuda(layout, params, itemSem, users, userSem, count, history, userOut, itemOut, bias, config);
    else
      fusionVectors(layout, params, itemSem, users, userSem, count, history, userOut, itemOut, bias, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("users", keep.get(userRef));
    if (wantItems) {
      o.Set("items", keep.get(itemRef));
      o.Set("itemBias", keep.get(biasRef));
    }
    o.Set("width", static_cast<double>(layout.width));
    o.Set("device", deviceName(used));
    return o;
  }
};

// The samples an epoch draws (exposed so tests can replay exactly what an epoch trains on).
struct RankSamplesJob {
  static constexpr const char* kName = "rankSamples";
  KeepAlive keep;
  FusionLayout layout;
  RankSampleSource samples;
  ExecConfig config;
  RankSamples out;

  explicit RankSamplesJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = FusionLayout::make(args.integer("numUsers", 1, kMaxIndex), args.integer("numItems", 1, kMaxIndex), 1, 0, 0,
                                FusionMode::Early);
    samples.parse(args, layout);
    if (samples.explicitSamples) fail(ErrorCode::InvalidArgValue, args.name("sampleUsers") + ": rankSamples draws samples; give pairs");
    config = configOf(info, args);
  }
  void run() { out = samples.get(kName, config); }
  Napi::Value result(Napi::Env env) {
    const OwnedRankSamples& d = samples.drawn;
    Napi::Object o = Napi::Object::New(env);
    auto copy = [&](const std::vector<int32_t>& v) {
      auto a = Napi::Int32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    o.Set("users", copy(d.users));
    o.Set("pos", copy(d.pos));
    o.Set("neg", copy(d.neg));
    if (!d.pairWeight.empty()) {
      auto w = Napi::Float32Array::New(env, d.pairWeight.size());
      std::copy(d.pairWeight.begin(), d.pairWeight.end(), w.Data());
      o.Set("pairWeight", w);
    }
    return o;
  }
};

// ---- the adapter ----

AdapterLayout parseAdapterLayout(const Args& args) {
  return AdapterLayout::make(args.integer("inDim", 1, kMaxDim), args.integer("outDim", 1, kMaxDim),
                             args.integer("experts", 1, kMaxExperts));
}

MatrixView parseVectors(const Args& args, const AdapterLayout& L) {
  const auto x = args.float32("vectors", true);
  if (x.length % L.inDim != 0)
    fail(ErrorCode::InvalidArgValue, args.name("vectors") + ".length (" + std::to_string(x.length) +
                                         ") must be a multiple of inDim (" + std::to_string(L.inDim) + ")");
  return {x.data, x.length / L.inDim, L.inDim};
}

void parseAdapterHyper(const Napi::CallbackInfo& info, const Args& args, AdapterHyper& h, bool optimizer) {
  h.temperature = static_cast<float>(real(info, args, "temperature", 1e-4, 1e3));
  h.dropout = static_cast<float>(real(info, args, "dropout", 0, 0.95));
  if (optimizer) {
    h.adam.lr = static_cast<float>(real(info, args, "lr", 0, 10));
    h.batchSize = args.integer("batchSize", 2, kMaxIndex);
  }
}

struct Views {
  const int32_t* a = nullptr;
  const int32_t* b = nullptr;
  int64_t pairs = 0;
  void parse(const Args& args) {
    const auto va = args.int32("viewA", true), vb = args.int32("viewB", true);
    requireLength(args.name("viewB"), vb.length, va.length, "viewA.length");
    a = va.data;
    b = vb.data;
    pairs = va.length;
  }
};

double adapterWork(const AdapterLayout& L, int64_t rows) {
  return 3.0 * static_cast<double>(rows) * static_cast<double>(L.matrixRows) * static_cast<double>(L.inDim);
}

struct AdapterEpochJob {
  static constexpr const char* kName = "adapterEpoch";
  KeepAlive keep;
  AdapterLayout layout;
  AdapterHyper hyper;
  MatrixView vectors;
  Views views;
  float *params = nullptr, *m = nullptr, *v = nullptr;
  int64_t step = 0;
  uint64_t seed = 0;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  double loss = 0;

  explicit AdapterEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseAdapterLayout(args);
    params = mutableFloat32(args, "params", layout.total, "the adapter's parameter count");
    m = mutableFloat32(args, "adamM", layout.total, "the adapter's parameter count");
    v = mutableFloat32(args, "adamV", layout.total, "the adapter's parameter count");
    step = args.integer("step", 0, kMaxSeed);
    vectors = parseVectors(args, layout);
    views.parse(args);
    parseAdapterHyper(info, args, hyper, true);
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    requested = args.device();
    config = configOf(info, args);
  }
  void run() {
    used = resolveDevice(requested, adapterWork(layout, 2 * views.pairs), kName);
    if (used == Device::Cuda)
      loss = adapterEpochCuda(layout, params, m, v, &step, vectors, views.a, views.b, views.pairs, hyper, seed, config);
    else
      loss = adapterEpoch(layout, params, m, v, &step, vectors, views.a, views.b, views.pairs, hyper, seed, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("step", static_cast<double>(step));
    o.Set("device", deviceName(used));
    return o;
  }
};

struct AdapterGradientJob {
  static constexpr const char* kName = "adapterGradient";
  KeepAlive keep;
  AdapterLayout layout;
  AdapterHyper hyper;
  MatrixView vectors;
  Views views;
  const float* params = nullptr;
  const float* masks = nullptr;
  uint64_t seed = 0;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  float* grad = nullptr;
  size_t gradRef = 0;
  double loss = 0;

  explicit AdapterGradientJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseAdapterLayout(args);
    params = float32Of(args, "params", layout.total, "the adapter's parameter count");
    vectors = parseVectors(args, layout);
    views.parse(args);
    parseAdapterHyper(info, args, hyper, false);
    if (args.has("masks")) masks = float32Of(args, "masks", 2 * views.pairs * layout.inDim, "2 x viewA.length x inDim");
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    requested = args.device();
    config = configOf(info, args);
    gradRef = keep.size();
    grad = newFloat32(info.Env(), layout.total, keep, kName).Data();
  }
  void run() {
    used = resolveDevice(requested, adapterWork(layout, 2 * views.pairs), kName);
    if (used == Device::Cuda)
      loss = adapterGradientCuda(layout, params, vectors, views.a, views.b, views.pairs, hyper, seed, masks, grad, config);
    else
      loss = adapterGradient(layout, params, vectors, views.a, views.b, views.pairs, hyper, seed, masks, grad, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("grad", keep.get(gradRef));
    o.Set("device", deviceName(used));
    return o;
  }
};

struct AdapterApplyJob {
  static constexpr const char* kName = "adapterApply";
  KeepAlive keep;
  AdapterLayout layout;
  MatrixView vectors;
  const float* params = nullptr;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;

  explicit AdapterApplyJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseAdapterLayout(args);
    params = float32Of(args, "params", layout.total, "the adapter's parameter count");
    vectors = parseVectors(args, layout);
    config = configOf(info, args);
    outRef = keep.size();
    out = newFloat32(info.Env(), vectors.rows * layout.outDim, keep, kName).Data();
  }
  void run() { adapterApply(layout, params, vectors, out, config); }
  Napi::Value result(Napi::Env env) { return keep.get(outRef); }
};

// ---- preference sums ----

struct PreferenceSumsJob {
  static constexpr const char* kName = "preferenceSums";
  KeepAlive keep;
  CsrView byUser;
  const float* weights = nullptr;
  MatrixView vectors;
  ExecConfig config;
  float *sums = nullptr, *totals = nullptr;
  size_t sumsRef = 0, totalsRef = 0;

  explicit PreferenceSumsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    const int64_t users = args.integer("numUsers", 0, kMaxIndex);
    const int64_t items = args.integer("numItems", 0, kMaxIndex);
    const int64_t dim = args.integer("dim", 1, kMaxDim);
    byUser = args.csr("byUser", users, true);
    weights = float32Of(args, "weights", byUser.nnz, "byUser.indices.length");
    vectors = {float32Of(args, "vectors", items * dim, "numItems x dim"), items, dim};
    config = configOf(info, args);
    sumsRef = keep.size();
    sums = newFloat32(info.Env(), users * dim, keep, kName).Data();
    totalsRef = keep.size();
    totals = newFloat32(info.Env(), users, keep, kName).Data();
  }
  void run() { preferenceSums(byUser, weights, vectors, sums, totals, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("sums", keep.get(sumsRef));
    o.Set("totals", keep.get(totalsRef));
    return o;
  }
};

}  // namespace

void registerLlmRecOps(Napi::Env env, Napi::Object exports) {
  exportJob<FusionEpochJob>(env, exports, "fusionEpoch");
  exportJob<FusionGradientJob>(env, exports, "fusionGradient");
  exportJob<FusionVectorsJob>(env, exports, "fusionVectors");
  exportJob<RankSamplesJob>(env, exports, "rankSamples");
  exportJob<AdapterEpochJob>(env, exports, "adapterEpoch");
  exportJob<AdapterGradientJob>(env, exports, "adapterGradient");
  exportJob<AdapterApplyJob>(env, exports, "adapterApply");
  exportJob<PreferenceSumsJob>(env, exports, "preferenceSums");
}

}  // namespace semrec::napi
