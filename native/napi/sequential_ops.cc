// N-API glue of the sequential recommenders' transformer (semrec/transformer.h): transformerEpoch,
// transformerGradient and transformerEncode, each as `name` (Promise, libuv pool) and `nameSync`. The model's
// parameter and Adam arrays are JS Float32Arrays updated in place by transformerEpoch; the TypeScript models
// own them and never touch them while a call runs.
#include <climits>
#include <string>

#include "bridge.h"
#include "ops.h"
#include "semrec/device.h"
#include "semrec/transformer.h"

namespace semrec::napi {

namespace {

using namespace semrec::seq;

constexpr int64_t kMaxIndex = INT32_MAX;
constexpr int64_t kMaxDim = 1 << 14;
constexpr int64_t kMaxSeed = (int64_t{1} << 53) - 1;  // what a JS number holds exactly

TransformerConfig parseConfig(const Args& args) {
  TransformerConfig c;
  c.numItems = args.integer("numItems", 1, kMaxIndex);
  c.numTokens = args.integer("numTokens", 1, kMaxIndex);
  c.maxLength = args.integer("maxLength", 1, 1 << 16);
  c.hidden = args.integer("hidden", 1, kMaxDim);
  c.heads = args.integer("heads", 1, kMaxDim);
  c.inner = args.integer("inner", 1, kMaxDim);
  c.layers = args.integer("layers", 1, 256);
  c.causal = args.boolean("causal", true);
  c.outputHead = args.boolean("outputHead", false);
  c.hiddenDropout = static_cast<float>(args.real("hiddenDropout", 0, 0.999));
  c.attnDropout = static_cast<float>(args.real("attnDropout", 0, 0.999));
  c.layerNormEps = static_cast<float>(args.real("layerNormEps", 1e-30, 1));
  validateConfig(c);
  return c;
}

void requireLength(const Args& args, const char* field, int64_t got, int64_t want, const std::string& how) {
  if (got != want)
    fail(ErrorCode::InvalidArgValue, args.name(field) + " must have " + how + " = " + std::to_string(want) +
                                         " entries, got " + std::to_string(got));
}

float* parameterArray(const Args& args, const char* field, int64_t total) {
  const auto a = args.float32(field, true);
  requireLength(args, field, a.length, total, "the transformer layout's size");
  return const_cast<float*>(a.data);  // updated in place (see the file comment)
}

// tokens + offsets (+ targets, negatives when training).
SegmentBatch parseSegments(const Args& args, bool training) {
  SegmentBatch b;
  const auto tokens = args.int32("tokens", true);
  const auto offsets = args.int32("offsets", true);
  if (offsets.length < 1) fail(ErrorCode::InvalidArgValue, args.name("offsets") + " must hold at least one entry (0)");
  b.tokens = tokens.data;
  b.offsets = offsets.data;
  b.numSegments = offsets.length - 1;
  if (offsets.data[0] != 0 || offsets.data[offsets.length - 1] != tokens.length)
    fail(ErrorCode::InvalidArgValue, args.name("offsets") + " must start at 0 and end at tokens.length (" +
                                         std::to_string(tokens.length) + ")");
  if (training) {
    const auto targets = args.int32("targets", true);
    requireLength(args, "targets", targets.length, tokens.length, "tokens.length");
    b.targets = targets.data;
    if (args.has("negatives")) {
      const auto negatives = args.int32("negatives", true);
      requireLength(args, "negatives", negatives.length, tokens.length, "tokens.length");
      b.negatives = negatives.data;
    }
  }
  return b;
}

// A training pass touches every token through every layer: enough of them makes the GPU worth it.
double workOf(const TransformerConfig& c, const SegmentBatch& b) {
  return static_cast<double>(b.numTokens()) * c.layers * c.hidden * (4.0 * c.hidden + 2.0 * c.inner);
}

Napi::Value deviceValue(Napi::Env env, Device d) { return Napi::String::New(env, deviceName(d)); }

struct TransformerEpochJob {
  static constexpr const char* kName = "transformerEpoch";
  KeepAlive keep;
  TransformerConfig c;
  float *params = nullptr, *m = nullptr, *v = nullptr;
  int64_t step = 0;
  SegmentBatch batch;
  TransformerHyper hyper;
  uint64_t seed = 0;
  ExecConfig config;
  Device device = Device::Auto;
  double loss = 0;

  explicit TransformerEpochJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    c = parseConfig(args);
    const int64_t total = TransformerLayout::make(c).total;
    params = parameterArray(args, "params", total);
    m = parameterArray(args, "adamM", total);
    v = parameterArray(args, "adamV", total);
    step = args.integer("step", 0, kMaxSeed);
    batch = parseSegments(args, true);
    hyper.adam.lr = static_cast<float>(args.real("lr", 0, 1e3));
    hyper.batchTargets = args.integer("batchTargets", 1, kMaxIndex);
    hyper.batchBySegments = args.boolean("batchBySegments", false);
    hyper.clipNorm = static_cast<float>(args.real("clipNorm", 0, 1e30));
    hyper.weightDecay = static_cast<float>(args.real("weightDecay", 0, 1e3));
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    config = ExecConfig{instance(info.Env()).numThreads};
    if (args.has("numThreads")) config.numThreads = static_cast<int>(args.integer("numThreads", 1, 1024));
    device = resolveDevice(args.device(), workOf(c, batch), kName);
  }
  void run() {
    loss = device == Device::Cuda ? transformerEpochCuda(c, params, m, v, &step, batch, hyper, seed, config)
                                  : transformerEpoch(c, params, m, v, &step, batch, hyper, seed, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("step", static_cast<double>(step));
    o.Set("device", deviceValue(env, device));
    return o;
  }
};

struct TransformerGradientJob {
  static constexpr const char* kName = "transformerGradient";
  KeepAlive keep;
  TransformerConfig c;
  const float* params = nullptr;
  SegmentBatch batch;
  uint64_t seed = 0;
  ExecConfig config;
  Device device = Device::Auto;
  float* grad = nullptr;
  size_t gradRef = 0;
  double loss = 0;

  explicit TransformerGradientJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    c = parseConfig(args);
    const int64_t total = TransformerLayout::make(c).total;
    params = parameterArray(args, "params", total);
    batch = parseSegments(args, true);
    seed = static_cast<uint64_t>(args.integer("seed", 0, kMaxSeed));
    config = ExecConfig{instance(info.Env()).numThreads};
    if (args.has("numThreads")) config.numThreads = static_cast<int>(args.integer("numThreads", 1, 1024));
    device = resolveDevice(args.device(), workOf(c, batch), kName);
    gradRef = keep.size();
    grad = newFloat32(info.Env(), total, keep, kName).Data();
  }
  void run() {
    loss = device == Device::Cuda ? transformerGradientCuda(c, params, batch, seed, grad, config)
                                  : transformerGradient(c, params, batch, seed, grad, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss);
    o.Set("grad", keep.get(gradRef));
    o.Set("device", deviceValue(env, device));
    return o;
  }
};

struct TransformerEncodeJob {
  static constexpr const char* kName = "transformerEncode";
  KeepAlive keep;
  TransformerConfig c;
  const float* params = nullptr;
  SegmentBatch batch;
  ExecConfig config;
  Device device = Device::Auto;
  float* out = nullptr;
  size_t outRef = 0;

  explicit TransformerEncodeJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    c = parseConfig(args);
    params = parameterArray(args, "params", TransformerLayout::make(c).total);
    batch = parseSegments(args, false);
    config = ExecConfig{instance(info.Env()).numThreads};
    if (args.has("numThreads")) config.numThreads = static_cast<int>(args.integer("numThreads", 1, 1024));
    device = resolveDevice(args.device(), workOf(c, batch) / 3, kName);
    outRef = keep.size();
    out = newFloat32(info.Env(), batch.numSegments * c.hidden, keep, kName).Data();
  }
  void run() {
    if (device == Device::Cuda)
      transformerEncodeCuda(c, params, batch.tokens, batch.offsets, batch.numSegments, out, config);
    else
      transformerEncode(c, params, batch.tokens, batch.offsets, batch.numSegments, out, config);
  }
  Napi::Value result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("encoded", keep.get(outRef));
    o.Set("device", deviceValue(env, device));
    return o;
  }
};

}  // namespace

void registerSequentialOps(Napi::Env env, Napi::Object exports) {
  exportJob<TransformerEpochJob>(env, exports, "transformerEpoch");
  exportJob<TransformerGradientJob>(env, exports, "transformerGradient");
  exportJob<TransformerEncodeJob>(env, exports, "transformerEncode");
}

}  // namespace semrec::napi
