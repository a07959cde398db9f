// N-API glue of the native trainers (semrec/train_*.h): one Job per op, parse (JS thread) -> run (worker
// thread, no JS) -> result (JS thread). Model parameters are JS Float32Arrays updated in place by run();
// the TypeScript models own them and never touch them while a job runs.
#include <climits>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bridge.h"
#include "ops.h"
#include "semrec/fold_in.h"
#include "semrec/train_common.h"
#include "semrec/train_itemknn.h"
#include "semrec/train_lightfm.h"
#include "semrec/train_lightgcn.h"
#include "semrec/train_mf.h"
#include "semrec/train_neumf.h"
#include "semrec/train_vbpr.h"
#include "semrec/validate.h"

namespace semrec::napi {

namespace {

using namespace semrec::train;

constexpr int64_t kMaxIndex = INT32_MAX;
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxSeed = (int64_t{1} << 53) - 1;  // what a JS number holds exactly

// The training pairs (user, item), each user's positives, and where an epoch's samples come from.
struct SampleSource {
  PairSamples pairs;
  Positives positives;
  uint64_t seed = 0;
  int64_t numUsers = 0, numItems = 0;

  void parse(const Args& args, int64_t users, int64_t items) {
    numUsers = users;
    numItems = items;
    const auto u = args.int32("pairUsers", true);
    const auto i = args.int32("pairItems", true);
    requireLength(args.name("pairItems"), i.length, u.length, "pairUsers.length");
    pairs = {u.data, i.data, u.length};
    positives = {args.csr("positives", users, true), items};
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
  }
  // Content checks, on the worker thread.
  void validate(const std::string& op) const {
    if (numItems < 1) fail(ErrorCode::InvalidArgValue, op + ": numItems must be at least 1 to sample negatives");
    validatePositives(positives, op + ": positives");
    for (int64_t p = 0; p < pairs.numPairs; ++p)
      if (pairs.users[p] < 0 || pairs.users[p] >= numUsers || pairs.items[p] < 0 || pairs.items[p] >= numItems)
        fail(ErrorCode::OutOfRange, op + ": pair " + std::to_string(p) + " (" + std::to_string(pairs.users[p]) + ", " +
                                        std::to_string(pairs.items[p]) + ") is outside the users x items range");
  }
};

// Triples given explicitly (tripleUsers/triplePos/tripleNeg) or drawn from a SampleSource.
struct TripleSource {
  bool explicitTriples = false;
  TripleView given;
  SampleSource source;
  Triples drawn;

  void parse(const Args& args, int64_t users, int64_t items) {
    explicitTriples = args.has("tripleUsers");
    if (explicitTriples) {
      const auto u = args.int32("tripleUsers", true), p = args.int32("triplePos", true), n = args.int32("tripleNeg", true);
      requireLength(args.name("triplePos"), p.length, u.length, "tripleUsers.length");
      requireLength(args.name("tripleNeg"), n.length, u.length, "tripleUsers.length");
      given = {u.data, p.data, n.data, u.length};
      source.numUsers = users;
      source.numItems = items;
    } else {
      source.parse(args, users, items);
    }
  }
  TripleView get(const std::string& op, const ExecConfig& config) {
    if (explicitTriples) {
      validateTriples(given, source.numUsers, source.numItems, op + ": triples");
      return given;
    }
    source.validate(op);
    drawn = drawTriples(source.seed, source.pairs, source.positives, config);
    return drawn.view();
  }
};

Napi::Int32Array copyInt32(Napi::Env env, const std::vector<int32_t>& v) {
  auto a = Napi::Int32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}
Napi::Float32Array copyFloat32(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Object lossResult(Napi::Env env, double loss) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", loss);
  return o;
}

// ---- sampling (exposed so tests can replay exactly what an epoch trains on) ----

struct SampleTriplesJob {
  static constexpr const char* kName = "sampleTriples";
  KeepAlive keep;
  SampleSource source;
  ExecConfig config;
  Triples out;
  explicit SampleTriplesJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    source.parse(args, args.integer("numUsers", 0, kMaxIndex), args.integer("numItems", 0, kMaxIndex));
    config = configOf(info, args);
  }
  void run() {
    source.validate(kName);
    out = drawTriples(source.seed, source.pairs, source.positives, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("users", copyInt32(env, out.users));
    o.Set("pos", copyInt32(env, out.pos));
    o.Set("neg", copyInt32(env, out.neg));
    return o;
  }
};

struct SamplePointsJob {
  static constexpr const char* kName = "samplePoints";
  KeepAlive keep;
  SampleSource source;
  int64_t negatives = 1;
  ExecConfig config;
  OwnedPointSamples out;
  explicit SamplePointsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    source.parse(args, args.integer("numUsers", 0, kMaxIndex), args.integer("numItems", 0, kMaxIndex));
    negatives = args.integer("negatives", 0, 1000);
    config = configOf(info, args);
  }
  void run() {
    source.validate(kName);
    out = drawPointSamples(source.seed, source.pairs, source.positives, negatives, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("users", copyInt32(env, out.users));
    o.Set("items", copyInt32(env, out.items));
    o.Set("labels", copyFloat32(env, out.labels));
    return o;
  }
};

// ---- biased MF ----

struct MfEpochJob {
  static constexpr const char* kName = "mfEpoch";
  KeepAlive keep;
  BiasedMfModel model;
  Ratings ratings;
  BiasedMfHyper hyper;
  const int32_t* givenOrder = nullptr;
  uint64_t seed = 0;
  ExecConfig config;
  double loss = 0;

  explicit MfEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model.numUsers = args.integer("numUsers", 0, kMaxIndex);
    model.numItems = args.integer("numItems", 0, kMaxIndex);
    model.dim = args.integer("dim", 1, kMaxDim);
    model.P = mutableFloat32(args, "P", model.numUsers * model.dim, "numUsers x dim");
    model.Q = mutableFloat32(args, "Q", model.numItems * model.dim, "numItems x dim");
    model.userBias = mutableFloat32(args, "userBias", model.numUsers, "numUsers");
    model.itemBias = mutableFloat32(args, "itemBias", model.numItems, "numItems");
    model.globalMean = static_cast<float>(real(info, args, "globalMean", -1e30, 1e30));
    const auto u = args.int32("users", true), i = args.int32("items", true);
    const auto r = args.float32("ratings", true);
    requireLength(args.name("items"), i.length, u.length, "users.length");
    requireLength(args.name("ratings"), r.length, u.length, "users.length");
    ratings = {u.data, i.data, r.data, u.length};
    if (args.has("order")) {
      const auto o = args.int32("order", true);
      requireLength(args.name("order"), o.length, u.length, "users.length");
      givenOrder = o.data;
    } else {
      seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    }
    hyper.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.regFactors = static_cast<float>(real(info, args, "regFactors", 0, 1e3));
    hyper.regBias = static_cast<float>(real(info, args, "regBias", 0, 1e3));
    config = configOf(info, args);
  }
  void run() {
    for (int64_t e = 0; e < ratings.size; ++e) {
      if (ratings.users[e] < 0 || ratings.users[e] >= model.numUsers || ratings.items[e] < 0 || ratings.items[e] >= model.numItems)
        fail(ErrorCode::OutOfRange, std::string(kName) + ": rating " + std::to_string(e) + " has a user or item out of range");
      if (!std::isfinite(ratings.values[e]))
        fail(ErrorCode::NanInput, std::string(kName) + ": ratings[" + std::to_string(e) + "] is not a finite number");
    }
    std::vector<int32_t> order;
    const int32_t* use = givenOrder;
    if (use) {
      for (int64_t e = 0; e < ratings.size; ++e)
        if (use[e] < 0 || use[e] >= ratings.size)
          fail(ErrorCode::OutOfRange, std::string(kName) + ": order[" + std::to_string(e) + "] is out of range");
    } else {
      order.resize(ratings.size);
      shuffledOrder(seed, ratings.size, order.data());
      use = order.data();
    }
    loss = biasedMfEpoch(model, ratings, use, hyper, config);
  }
  Napi::Value result(Napi::Env env) { return lossResult(env, loss); }
};

// ---- BPR-MF ----

struct BprEpochJob {
  static constexpr const char* kName = "bprEpoch";
  KeepAlive keep;
  BprModel model;
  BprHyper hyper;
  TripleSource triples;
  ExecConfig config;
  double loss = 0;

  explicit BprEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model.numUsers = args.integer("numUsers", 0, kMaxIndex);
    model.numItems = args.integer("numItems", 0, kMaxIndex);
    model.dim = args.integer("dim", 1, kMaxDim);
    model.P = mutableFloat32(args, "P", model.numUsers * model.dim, "numUsers x dim");
    model.Q = mutableFloat32(args, "Q", model.numItems * model.dim, "numItems x dim");
    if (args.has("itemBias")) model.itemBias = mutableFloat32(args, "itemBias", model.numItems, "numItems");
    hyper.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    hyper.regBias = static_cast<float>(real(info, args, "regBias", 0, 1e3));
    triples.parse(args, model.numUsers, model.numItems);
    config = configOf(info, args);
  }
  void run() { loss = bprEpoch(model, triples.get(kName, config), hyper, config); }
  Napi::Value result(Napi::Env env) { return lossResult(env, loss); }
};

// ---- VBPR ----

VbprModel parseVbpr(const Args& args) {
  VbprModel m;
  m.numUsers = args.integer("numUsers", 0, kMaxIndex);
  m.numItems = args.integer("numItems", 0, kMaxIndex);
  m.dim = args.integer("dim", 1, kMaxDim);
  m.contentDim = args.integer("contentDim", 1, kMaxDim);
  m.numFeatures = args.integer("numFeatures", 1, kMaxDim);
  m.gammaU = mutableFloat32(args, "gammaU", m.numUsers * m.dim, "numUsers x dim");
  m.gammaI = mutableFloat32(args, "gammaI", m.numItems * m.dim, "numItems x dim");
  m.thetaU = mutableFloat32(args, "thetaU", m.numUsers * m.contentDim, "numUsers x contentDim");
  m.E = mutableFloat32(args, "E", m.numFeatures * m.contentDim, "numFeatures x contentDim");
  m.itemBias = mutableFloat32(args, "itemBias", m.numItems, "numItems");
  m.featureBias = mutableFloat32(args, "featureBias", m.numFeatures, "numFeatures");
  m.features = float32Of(args, "features", m.numItems * m.numFeatures, "numItems x numFeatures");
  return m;
}

struct VbprEpochJob {
  static constexpr const char* kName = "vbprEpoch";
  KeepAlive keep;
  VbprModel model;
  VbprHyper hyper;
  TripleSource triples;
  ExecConfig config;
  double loss = 0;

  explicit VbprEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model = parseVbpr(args);
    hyper.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    hyper.regBias = static_cast<float>(real(info, args, "regBias", 0, 1e3));
    hyper.regContent = static_cast<float>(real(info, args, "regContent", 0, 1e3));
    triples.parse(args, model.numUsers, model.numItems);
    config = configOf(info, args);
  }
  void run() {
    validateFinite(model.features, model.numItems, model.numFeatures, std::string(kName) + ": features");
    loss = vbprEpoch(model, triples.get(kName, config), hyper, config);
  }
  Napi::Value result(Napi::Env env) { return lossResult(env, loss); }
};

struct VbprItemFactorsJob {
  static constexpr const char* kName = "vbprItemFactors";
  KeepAlive keep;
  VbprModel model;
  ExecConfig config;
  float* factors = nullptr;
  float* offset = nullptr;
  size_t factorsRef = 0, offsetRef = 0;

  explicit VbprItemFactorsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model = parseVbpr(args);
    config = configOf(info, args);
    factorsRef = keep.size();
    factors = newFloat32(info.Env(), model.numItems * (model.dim + model.contentDim), keep, kName).Data();
    offsetRef = keep.size();
    offset = newFloat32(info.Env(), model.numItems, keep, kName).Data();
  }
  void run() { vbprItemFactors(model, factors, offset, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("itemFactors", keep.get(factorsRef));
    o.Set("itemOffset", keep.get(offsetRef));
    return o;
  }
};

// ---- LightFM ----

WeightedCsr parseFeatures(const Args& args, const char* field, const char* weightsField, int64_t rows) {
  WeightedCsr w;
  w.rows = args.csr(field, rows, true);
  w.weights = float32Of(args, weightsField, w.rows.nnz, std::string(field) + ".indices.length");
  return w;
}

LightFmModel parseLightFm(const Args& args) {
  LightFmModel m;
  m.numUsers = args.integer("numUsers", 0, kMaxIndex);
  m.numItems = args.integer("numItems", 0, kMaxIndex);
  m.numUserFeatures = args.integer("numUserFeatures", 1, kMaxIndex);
  m.numItemFeatures = args.integer("numItemFeatures", 1, kMaxIndex);
  m.dim = args.integer("dim", 1, kMaxDim);
  m.userEmb = mutableFloat32(args, "userEmb", m.numUserFeatures * m.dim, "numUserFeatures x dim");
  m.itemEmb = mutableFloat32(args, "itemEmb", m.numItemFeatures * m.dim, "numItemFeatures x dim");
  m.itemBias = mutableFloat32(args, "itemBias", m.numItemFeatures, "numItemFeatures");
  m.userFeatures = parseFeatures(args, "userFeatures", "userFeatureWeights", m.numUsers);
  m.itemFeatures = parseFeatures(args, "itemFeatures", "itemFeatureWeights", m.numItems);
  return m;
}

void validateLightFm(const LightFmModel& m, const std::string& op) {
  validateCsr(m.userFeatures.rows, m.numUserFeatures, op + ": userFeatures");
  validateCsr(m.itemFeatures.rows, m.numItemFeatures, op + ": itemFeatures");
  validateFinite(m.userFeatures.weights, 1, m.userFeatures.rows.nnz, op + ": userFeatureWeights");
  validateFinite(m.itemFeatures.weights, 1, m.itemFeatures.rows.nnz, op + ": itemFeatureWeights");
}

struct LightFmEpochJob {
  static constexpr const char* kName = "lightfmEpoch";
  KeepAlive keep;
  LightFmModel model;
  LightFmHyper hyper;
  TripleSource triples;
  WarpCandidates candidates;
  int64_t numCandidates = 0;
  ExecConfig config;
  double loss = 0;

  explicit LightFmEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model = parseLightFm(args);
    model.userEmbAcc = mutableFloat32(args, "userEmbAcc", model.numUserFeatures * model.dim, "numUserFeatures x dim");
    model.itemEmbAcc = mutableFloat32(args, "itemEmbAcc", model.numItemFeatures * model.dim, "numItemFeatures x dim");
    model.itemBiasAcc = mutableFloat32(args, "itemBiasAcc", model.numItemFeatures, "numItemFeatures");
    const std::string loss = text(info, args, "loss");
    if (loss == "bpr") hyper.loss = LightFmLoss::Bpr;
    else if (loss == "warp") hyper.loss = LightFmLoss::Warp;
    else fail(ErrorCode::InvalidArgValue, args.name("loss") + " must be 'bpr' or 'warp', got '" + loss + "'");
    hyper.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.userAlpha = static_cast<float>(real(info, args, "userAlpha", 0, 1e3));
    hyper.itemAlpha = static_cast<float>(real(info, args, "itemAlpha", 0, 1e3));
    hyper.maxSampled = static_cast<int32_t>(args.integer("maxSampled", 1, 100000));
    triples.parse(args, model.numUsers, model.numItems);
    // WARP needs each user's positives even with explicit triples (candidates that are positives are skipped).
    if (triples.explicitTriples) triples.source.positives = {args.csr("positives", model.numUsers, true), model.numItems};
    if (args.has("candidates")) {
      const auto c = args.int32("candidates", true);
      requireLength(args.name("candidates"), c.length, triples.given.size * hyper.maxSampled, "triples x maxSampled");
      candidates.explicitCandidates = c.data;
      numCandidates = c.length;
    }
    // WARP's candidates come from their own streams, independent of the triples' draws.
    const uint64_t seed = args.has("seed") ? static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed)) : 0;
    candidates.seed = seed ^ 0x5741525000000000ULL;  // "WARP"
    config = configOf(info, args);
  }
  void run() {
    validateLightFm(model, kName);
    validatePositives(triples.source.positives, std::string(kName) + ": positives");
    for (int64_t c = 0; c < numCandidates; ++c)
      if (candidates.explicitCandidates[c] < 0 || candidates.explicitCandidates[c] >= model.numItems)
        fail(ErrorCode::OutOfRange, std::string(kName) + ": candidates[" + std::to_string(c) + "] is out of range");
    const TripleView t = triples.get(kName, config);
    loss = lightfmEpoch(model, t, hyper, candidates, triples.source.positives, config);
  }
  Napi::Value result(Napi::Env env) { return lossResult(env, loss); }
};

struct LightFmReprJob {
  static constexpr const char* kName = "lightfmRepresentations";
  KeepAlive keep;
  LightFmModel model;
  ExecConfig config;
  float *users = nullptr, *items = nullptr, *bias = nullptr;
  size_t usersRef = 0, itemsRef = 0, biasRef = 0;

  explicit LightFmReprJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    model = parseLightFm(args);
    config = configOf(info, args);
    usersRef = keep.size();
    users = newFloat32(info.Env(), model.numUsers * model.dim, keep, kName).Data();
    itemsRef = keep.size();
    items = newFloat32(info.Env(), model.numItems * model.dim, keep, kName).Data();
    biasRef = keep.size();
    bias = newFloat32(info.Env(), model.numItems, keep, kName).Data();
  }
  void run() {
    validateLightFm(model, kName);
    lightfmRepresentations(model, users, items, bias, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("userRepr", keep.get(usersRef));
    o.Set("itemRepr", keep.get(itemsRef));
    o.Set("itemBias", keep.get(biasRef));
    return o;
  }
};

// ---- NeuMF ----

NeuMfLayout parseNeuMfLayout(const Args& args) {
  const int64_t users = args.integer("numUsers", 0, kMaxIndex);
  const int64_t items = args.integer("numItems", 0, kMaxIndex);
  const int64_t gmfDim = args.integer("gmfDim", 1, kMaxDim);
  const int64_t mlpDim = args.integer("mlpDim", 1, kMaxDim);
  const std::vector<int64_t> hidden = args.integerList("hidden", 1, kMaxDim);
  return NeuMfLayout::make(users, items, gmfDim, mlpDim, hidden);
}

struct PointSource {
  bool explicitSamples = false;
  PointSamples given;
  SampleSource source;
  int64_t negatives = 1;
  OwnedPointSamples drawn;

  void parse(const Args& args, int64_t users, int64_t items) {
    explicitSamples = args.has("sampleUsers");
    source.numUsers = users;
    source.numItems = items;
    if (explicitSamples) {
      const auto u = args.int32("sampleUsers", true), i = args.int32("sampleItems", true);
      const auto l = args.float32("sampleLabels", true);
      requireLength(args.name("sampleItems"), i.length, u.length, "sampleUsers.length");
      requireLength(args.name("sampleLabels"), l.length, u.length, "sampleUsers.length");
      given = {u.data, i.data, l.data, u.length};
    } else {
      source.parse(args, users, items);
      negatives = args.integer("negatives", 0, 1000);
    }
  }
  PointSamples get(const std::string& op, const ExecConfig& config) {
    if (explicitSamples) {
      for (int64_t s = 0; s < given.size; ++s) {
        if (given.users[s] < 0 || given.users[s] >= source.numUsers || given.items[s] < 0 || given.items[s] >= source.numItems)
          fail(ErrorCode::OutOfRange, op + ": sample " + std::to_string(s) + " has a user or item out of range");
        if (!(given.labels[s] >= 0.0f && given.labels[s] <= 1.0f))
          fail(ErrorCode::OutOfRange, op + ": sampleLabels[" + std::to_string(s) + "] must be in [0, 1]");
      }
      return given;
    }
    source.validate(op);
    drawn = drawPointSamples(source.seed, source.pairs, source.positives, negatives, config);
    return drawn.view();
  }
};

struct NeuMfEpochJob {
  static constexpr const char* kName = "neumfEpoch";
  KeepAlive keep;
  NeuMfLayout layout;
  float *params = nullptr, *m = nullptr, *v = nullptr;
  int64_t step = 0;
  NeuMfHyper hyper;
  PointSource samples;
  ExecConfig config;
  double loss = 0;

  explicit NeuMfEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseNeuMfLayout(args);
    params = mutableFloat32(args, "params", layout.total, "the NeuMF layout's size");
    m = mutableFloat32(args, "adamM", layout.total, "the NeuMF layout's size");
    v = mutableFloat32(args, "adamV", layout.total, "the NeuMF layout's size");
    step = args.integer("step", 0, kMaxSeed);
    hyper.adam.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    hyper.batchSize = args.integer("batchSize", 1, kMaxIndex);
    samples.parse(args, layout.numUsers, layout.numItems);
    config = configOf(info, args);
  }
  void run() { loss = neumfEpoch(layout, params, m, v, &step, samples.get(kName, config), hyper, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = lossResult(env, loss);
    o.Set("step", static_cast<double>(step));
    return o;
  }
};

struct NeuMfGradientJob {
  static constexpr const char* kName = "neumfGradient";
  KeepAlive keep;
  NeuMfLayout layout;
  const float* params = nullptr;
  float reg = 0;
  PointSource samples;
  ExecConfig config;
  float* grad = nullptr;
  size_t gradRef = 0;
  double loss = 0;

  explicit NeuMfGradientJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseNeuMfLayout(args);
    params = float32Of(args, "params", layout.total, "the NeuMF layout's size");
    reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    samples.parse(args, layout.numUsers, layout.numItems);
    config = configOf(info, args);
    gradRef = keep.size();
    grad = newFloat32(info.Env(), layout.total, keep, kName).Data();
  }
  void run() { loss = neumfGradient(layout, params, samples.get(kName, config), reg, grad, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = lossResult(env, loss);
    o.Set("grad", keep.get(gradRef));
    return o;
  }
};

struct NeuMfScoreJob {
  static constexpr const char* kName = "neumfScore";
  KeepAlive keep;
  NeuMfLayout layout;
  const float* params = nullptr;
  ArrayView<const int32_t> users;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;

  explicit NeuMfScoreJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    layout = parseNeuMfLayout(args);
    params = float32Of(args, "params", layout.total, "the NeuMF layout's size");
    users = args.int32("users", true);
    config = configOf(info, args);
    outRef = keep.size();
    out = newFloat32(info.Env(), users.length * layout.numItems, keep, kName).Data();
  }
  void run() {
    for (int64_t r = 0; r < users.length; ++r)
      if (users.data[r] < 0 || users.data[r] >= layout.numUsers)
        fail(ErrorCode::OutOfRange, std::string(kName) + ": users[" + std::to_string(r) + "] = " +
                                        std::to_string(users.data[r]) + " is outside [0, " + std::to_string(layout.numUsers) + ")");
    neumfScore(layout, params, users.data, users.length, out, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("scores", keep.get(outRef));
    return o;
  }
};

// ---- LightGCN ----

struct LightGcnBase {
  int64_t numUsers = 0, numItems = 0, dim = 0, layers = 3;
  Positives graphPositives;
  LightGcnGraph graph;
  void parse(const Args& args) {
    numUsers = args.integer("numUsers", 0, kMaxIndex);
    numItems = args.integer("numItems", 0, kMaxIndex);
    dim = args.integer("dim", 1, kMaxDim);
    layers = args.integer("layers", 0, 64);
    graphPositives = {args.csr("positives", numUsers, true), numItems};
  }
  void buildGraph(const std::string& op) {
    validatePositives(graphPositives, op + ": positives");
    graph = lightgcnGraph(graphPositives, numUsers);
  }
};

struct LightGcnEpochJob {
  static constexpr const char* kName = "lightgcnEpoch";
  KeepAlive keep;
  LightGcnBase base;
  float *E0 = nullptr, *m = nullptr, *v = nullptr;
  int64_t step = 0;
  LightGcnHyper hyper;
  TripleSource triples;
  ExecConfig config;
  double loss = 0;

  explicit LightGcnEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    base.parse(args);
    const int64_t size = (base.numUsers + base.numItems) * base.dim;
    E0 = mutableFloat32(args, "E0", size, "(numUsers + numItems) x dim");
    m = mutableFloat32(args, "adamM", size, "(numUsers + numItems) x dim");
    v = mutableFloat32(args, "adamV", size, "(numUsers + numItems) x dim");
    step = args.integer("step", 0, kMaxSeed);
    hyper.adam.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    hyper.layers = base.layers;
    hyper.batchSize = args.integer("batchSize", 1, kMaxIndex);
    triples.parse(args, base.numUsers, base.numItems);
    config = configOf(info, args);
  }
  void run() {
    base.buildGraph(kName);
    loss = lightgcnEpoch(base.graph, E0, m, v, &step, base.dim, triples.get(kName, config), hyper, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = lossResult(env, loss);
    o.Set("step", static_cast<double>(step));
    return o;
  }
};

struct LightGcnGradientJob {
  static constexpr const char* kName = "lightgcnGradient";
  KeepAlive keep;
  LightGcnBase base;
  const float* E0 = nullptr;
  float reg = 0;
  TripleSource triples;
  ExecConfig config;
  float* grad = nullptr;
  size_t gradRef = 0;
  double loss = 0;

  explicit LightGcnGradientJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    base.parse(args);
    const int64_t size = (base.numUsers + base.numItems) * base.dim;
    E0 = float32Of(args, "E0", size, "(numUsers + numItems) x dim");
    reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    triples.parse(args, base.numUsers, base.numItems);
    config = configOf(info, args);
    gradRef = keep.size();
    grad = newFloat32(info.Env(), size, keep, kName).Data();
  }
  void run() {
    base.buildGraph(kName);
    loss = lightgcnGradient(base.graph, E0, base.dim, base.layers, reg, triples.get(kName, config), grad, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = lossResult(env, loss);
    o.Set("grad", keep.get(gradRef));
    return o;
  }
};

struct LightGcnForwardJob {
  static constexpr const char* kName = "lightgcnForward";
  KeepAlive keep;
  LightGcnBase base;
  const float* E0 = nullptr;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;

  explicit LightGcnForwardJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    base.parse(args);
    const int64_t size = (base.numUsers + base.numItems) * base.dim;
    E0 = float32Of(args, "E0", size, "(numUsers + numItems) x dim");
    config = configOf(info, args);
    outRef = keep.size();
    out = newFloat32(info.Env(), size, keep, kName).Data();
  }
  void run() {
    base.buildGraph(kName);
    lightgcnForward(base.graph, E0, base.dim, base.layers, out, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("final", keep.get(outRef));
    return o;
  }
};

// ---- Item-KNN ----

struct ItemKnnNeighborsJob {
  static constexpr const char* kName = "itemKnnNeighbors";
  KeepAlive keep;
  CsrView byItem, byUser;
  int64_t numUsers = 0, numItems = 0, neighbors = 0;
  float shrink = 0;
  ExecConfig config;
  ItemNeighbors out;

  explicit ItemKnnNeighborsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    numUsers = args.integer("numUsers", 0, kMaxIndex);
    numItems = args.integer("numItems", 0, kMaxIndex);
    byItem = args.csr("byItem", numItems, true);
    byUser = args.csr("byUser", numUsers, true);
    neighbors = args.integer("neighbors", 1, kMaxIndex);
    shrink = static_cast<float>(real(info, args, "shrink", 0, 1e9));
    config = configOf(info, args);
  }
  void run() {
    validatePositives({byItem, numUsers}, std::string(kName) + ": byItem");
    validatePositives({byUser, numItems}, std::string(kName) + ": byUser");
    out = itemKnnNeighbors(byItem, byUser, neighbors, shrink, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("indptr", copyInt32(env, out.indptr));
    o.Set("indices", copyInt32(env, out.indices));
    o.Set("similarity", copyFloat32(env, out.similarity));
    return o;
  }
};

struct ItemKnnScoreJob {
  static constexpr const char* kName = "itemKnnScore";
  KeepAlive keep;
  CsrView neighbors, userItems;
  const float* similarity = nullptr;
  ArrayView<const int32_t> users;
  int64_t numUsers = 0, numItems = 0;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;

  explicit ItemKnnScoreJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    numUsers = args.integer("numUsers", 0, kMaxIndex);
    numItems = args.integer("numItems", 0, kMaxIndex);
    neighbors = args.csr("neighbors", numItems, true);
    similarity = float32Of(args, "similarity", neighbors.nnz, "neighbors.indices.length");
    userItems = args.csr("userItems", numUsers, true);
    users = args.int32("users", true);
    config = configOf(info, args);
    outRef = keep.size();
    out = newFloat32(info.Env(), users.length * numItems, keep, kName).Data();
  }
  void run() {
    validateCsr(neighbors, numItems, std::string(kName) + ": neighbors");
    validateCsr(userItems, numItems, std::string(kName) + ": userItems");
    validateFinite(similarity, 1, neighbors.nnz, std::string(kName) + ": similarity");
    for (int64_t r = 0; r < users.length; ++r)
      if (users.data[r] < 0 || users.data[r] >= numUsers)
        fail(ErrorCode::OutOfRange, std::string(kName) + ": users[" + std::to_string(r) + "] is outside [0, " +
                                        std::to_string(numUsers) + ")");
    itemKnnScore(neighbors, similarity, userItems, users.data, users.length, out, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("scores", keep.get(outRef));
    return o;
  }
};

// ---- fold-in of new users against frozen items (semrec/fold_in.h) ----

// The frozen item side shared by both fold-in ops: itemFactors (numItems x dim), optional itemBias.
FrozenItems parseFrozenItems(const Args& args) {
  FrozenItems items;
  items.numItems = args.integer("numItems", 1, kMaxIndex);
  items.dim = args.integer("dim", 1, kMaxDim);
  items.factors = float32Of(args, "itemFactors", items.numItems * items.dim, "numItems x dim");
  if (args.has("itemBias")) items.bias = float32Of(args, "itemBias", items.numItems, "numItems");
  return items;
}

void validateFrozenItems(const FrozenItems& items, const std::string& op) {
  validateFinite(items.factors, items.numItems, items.dim, op + ": itemFactors");
  if (items.bias) validateFinite(items.bias, 1, items.numItems, op + ": itemBias");
}

struct FoldInPairwiseJob {
  static constexpr const char* kName = "foldInPairwise";
  KeepAlive keep;
  FrozenItems items;
  CsrView histories;
  const float* offset = nullptr;
  FoldInHyper hyper;
  uint64_t seed = 0;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;
  double loss = 0;

  explicit FoldInPairwiseJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    items = parseFrozenItems(args);
    const int64_t numUsers = args.integer("numUsers", 0, kMaxIndex);
    histories = args.csr("histories", numUsers, true);
    if (args.has("offset")) offset = float32Of(args, "offset", numUsers * items.dim, "numUsers x dim");
    const std::string loss = args.has("loss") ? text(info, args, "loss") : "bpr";
    if (loss != "bpr" && loss != "warp") fail(ErrorCode::InvalidArgValue, args.name("loss") + " must be 'bpr' or 'warp', got '" + loss + "'");
    hyper.loss = loss == "warp" ? FoldInLoss::Warp : FoldInLoss::Bpr;
    hyper.lr = static_cast<float>(real(info, args, "lr", 0, 1e3));
    hyper.reg = static_cast<float>(real(info, args, "reg", 0, 1e3));
    hyper.epochs = args.integer("epochs", 0, 1'000'000);
    if (args.has("maxSampled")) hyper.maxSampled = static_cast<int32_t>(args.integer("maxSampled", 1, 100'000));
    if (args.has("adagrad")) {
      const Napi::Value v = info[0].As<Napi::Object>().Get("adagrad");
      if (!v.IsBoolean()) fail(ErrorCode::InvalidArgType, args.name("adagrad") + " must be a boolean");
      hyper.adagrad = v.As<Napi::Boolean>().Value();
    }
    if (args.has("scale")) hyper.scale = static_cast<float>(real(info, args, "scale", -1e6, 1e6));
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    config = configOf(info, args);
    outRef = keep.size();
    out = newFloat32(info.Env(), numUsers * items.dim, keep, kName).Data();
  }
  void run() {
    validateFrozenItems(items, kName);
    validatePositives({histories, items.numItems}, std::string(kName) + ": histories");
    if (offset) validateFinite(offset, histories.rows, items.dim, std::string(kName) + ": offset");
    loss = foldInPairwise(items, histories, offset, hyper, seed, out, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("users", keep.get(outRef));
    o.Set("loss", loss);
    return o;
  }
};

struct FoldInRidgeJob {
  static constexpr const char* kName = "foldInRidge";
  KeepAlive keep;
  FrozenItems items;
  CsrView histories;
  const float* targets = nullptr;
  float regFactors = 0, regBias = 0;
  ExecConfig config;
  float *outFactors = nullptr, *outBias = nullptr;
  size_t factorsRef = 0, biasRef = 0;

  explicit FoldInRidgeJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    items = parseFrozenItems(args);
    const int64_t numUsers = args.integer("numUsers", 0, kMaxIndex);
    histories = args.csr("histories", numUsers, true);
    targets = float32Of(args, "targets", histories.nnz, "histories.indices.length");
    regFactors = static_cast<float>(real(info, args, "regFactors", 0, 1e6));
    regBias = static_cast<float>(real(info, args, "regBias", 0, 1e6));
    config = configOf(info, args);
    factorsRef = keep.size();
    outFactors = newFloat32(info.Env(), numUsers * items.dim, keep, kName).Data();
    biasRef = keep.size();
    outBias = newFloat32(info.Env(), numUsers, keep, kName).Data();
  }
  void run() {
    validateFrozenItems(items, kName);
    validateCsr(histories, items.numItems, std::string(kName) + ": histories");
    validateFinite(targets, 1, histories.nnz, std::string(kName) + ": targets");
    foldInRidge(items, histories, targets, regFactors, regBias, outFactors, outBias, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("users", keep.get(factorsRef));
    o.Set("userBias", keep.get(biasRef));
    return o;
  }
};

}  // namespace

void registerTrainOps(Napi::Env env, Napi::Object exports) {
  exportJob<SampleTriplesJob>(env, exports, "sampleTriples");
  exportJob<SamplePointsJob>(env, exports, "samplePoints");
  exportJob<MfEpochJob>(env, exports, "mfEpoch");
  exportJob<BprEpochJob>(env, exports, "bprEpoch");
  exportJob<VbprEpochJob>(env, exports, "vbprEpoch");
  exportJob<VbprItemFactorsJob>(env, exports, "vbprItemFactors");
  exportJob<LightFmEpochJob>(env, exports, "lightfmEpoch");
  exportJob<LightFmReprJob>(env, exports, "lightfmRepresentations");
  exportJob<NeuMfEpochJob>(env, exports, "neumfEpoch");
  exportJob<NeuMfGradientJob>(env, exports, "neumfGradient");
  exportJob<NeuMfScoreJob>(env, exports, "neumfScore");
  exportJob<LightGcnEpochJob>(env, exports, "lightgcnEpoch");
  exportJob<LightGcnGradientJob>(env, exports, "lightgcnGradient");
  exportJob<LightGcnForwardJob>(env, exports, "lightgcnForward");
  exportJob<ItemKnnNeighborsJob>(env, exports, "itemKnnNeighbors");
  exportJob<ItemKnnScoreJob>(env, exports, "itemKnnScore");
  exportJob<FoldInPairwiseJob>(env, exports, "foldInPairwise");
  exportJob<FoldInRidgeJob>(env, exports, "foldInRidge");
}

}  // namespace semrec::napi
