// One Job per op: parse (JS thread) -> run (any thread, no JS) -> result (JS thread).
#include <algorithm>
#include <climits>
#include <string>

#include "bridge.h"
#include "ops.h"
#include "semrec/device.h"
#include "semrec/metrics.h"
#include "semrec/probe.h"
#include "semrec/score.h"
#include "semrec/topk.h"

namespace semrec::napi {

namespace {

constexpr int64_t kMaxIndex = INT32_MAX;  // item and user ids are int32 everywhere
constexpr int64_t kMaxDim = 1 << 16;

ExecConfig configOf(Napi::Env env) { return ExecConfig{instance(env).numThreads}; }

void requireLength(const std::string& label, int64_t got, int64_t want, const std::string& how) {
  if (got != want)
    fail(ErrorCode::InvalidArgValue,
         label + " must have " + how + " = " + std::to_string(want) + " entries, got " + std::to_string(got));
}

// Output pair of the top-k ops, allocated before the work so the worker writes straight into JS memory.
struct TopKOutput {
  int32_t* cols = nullptr;
  float* scores = nullptr;
  size_t colsRef = 0, scoresRef = 0;
  void allocate(Napi::Env env, int64_t n, KeepAlive& keep, const char* op) {
    colsRef = keep.size();
    cols = newInt32(env, n, keep, op).Data();
    scoresRef = keep.size();
    scores = newFloat32(env, n, keep, op).Data();
  }
  Napi::Object toJs(Napi::Env env, const KeepAlive& keep, Device used) const {
    Napi::Object result = Napi::Object::New(env);
    result.Set("indices", keep.get(colsRef));
    result.Set("scores", keep.get(scoresRef));
    result.Set("device", deviceName(used));
    return result;
  }
};

struct TopKJob {
  static constexpr const char* kName = "topK";
  KeepAlive keep;
  MatrixView scores;
  CsrView exclude;
  int64_t k = 1;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  TopKOutput out;

  explicit TopKJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    const int64_t rows = args.integer("numRows", 0, kMaxIndex);
    const int64_t cols = args.integer("numCols", 0, kMaxIndex);
    k = args.topKWidth("k", cols);
    const auto s = args.float32("scores", true);
    requireLength(args.name("scores"), s.length, rows * cols, "numRows x numCols");
    scores = {s.data, rows, cols};
    exclude = args.csr("exclude", rows, false);
    requested = args.device();
    config = configOf(info.Env());
    out.allocate(info.Env(), rows * k, keep, "topK: the result");
  }
  void run() { used = topK(requested, scores, exclude, k, out.cols, out.scores, config); }
  Napi::Value result(Napi::Env env) { return out.toJs(env, keep, used); }
};

EmbeddingView parseEmbeddings(const Args& args) {
  EmbeddingView e;
  e.dim = args.integer("dim", 1, kMaxDim);
  const auto users = args.float32("users", true);
  const auto items = args.float32("items", true);
  if (users.length % e.dim != 0)
    fail(ErrorCode::InvalidArgValue, args.name("users") + ".length (" + std::to_string(users.length) +
                                         ") must be a multiple of dim (" + std::to_string(e.dim) + ")");
  if (items.length % e.dim != 0)
    fail(ErrorCode::InvalidArgValue, args.name("items") + ".length (" + std::to_string(items.length) +
                                         ") must be a multiple of dim (" + std::to_string(e.dim) + ")");
  e.users = users.data;
  e.numUsers = users.length / e.dim;
  e.items = items.data;
  e.numItems = items.length / e.dim;
  if (e.numItems > kMaxIndex) fail(ErrorCode::OutOfRange, args.name("items") + " holds more than 2^31 - 1 items");
  const auto bias = args.float32("itemBias", false);
  if (bias.present) {
    requireLength(args.name("itemBias"), bias.length, e.numItems, "the number of items");
    e.itemBias = bias.data;
  }
  return e;
}

struct ScoreMatrixJob {
  static constexpr const char* kName = "scoreMatrix";
  KeepAlive keep;
  EmbeddingView emb;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  float* out = nullptr;
  size_t outRef = 0;

  explicit ScoreMatrixJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    emb = parseEmbeddings(args);
    requested = args.device();
    config = configOf(info.Env());
    outRef = keep.size();
    out = newFloat32(info.Env(), emb.numUsers * emb.numItems, keep, "scoreMatrix: the result").Data();
  }
  void run() { used = scoreMatrix(requested, emb, out, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object result = Napi::Object::New(env);
    result.Set("scores", keep.get(outRef));
    result.Set("numUsers", Napi::Number::New(env, static_cast<double>(emb.numUsers)));
    result.Set("numItems", Napi::Number::New(env, static_cast<double>(emb.numItems)));
    result.Set("device", deviceName(used));
    return result;
  }
};

struct ScoreTopKJob {
  static constexpr const char* kName = "scoreTopK";
  KeepAlive keep;
  EmbeddingView emb;
  CsrView exclude;
  int64_t k = 1;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  TopKOutput out;

  explicit ScoreTopKJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    emb = parseEmbeddings(args);
    k = args.topKWidth("k", emb.numItems);
    exclude = args.csr("exclude", emb.numUsers, false);
    requested = args.device();
    config = configOf(info.Env());
    out.allocate(info.Env(), emb.numUsers * k, keep, "scoreTopK: the result");
  }
  void run() { used = scoreTopK(requested, emb, exclude, k, out.cols, out.scores, config); }
  Napi::Value result(Napi::Env env) { return out.toJs(env, keep, used); }
};

MetricLayout parseLayout(const Args& args, bool fullMrr, bool ild, int64_t maxK) {
  std::vector<int64_t> ks = args.integerList("ks", 1, maxK);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  MetricLayout layout;
  layout.ks.assign(ks.begin(), ks.end());
  layout.fullMrr = fullMrr;
  layout.ild = ild;
  return layout;
}

// Per-user arrays allocated up front (JS memory), means and counts filled in by the op.
struct MetricsResult {
  MetricLayout layout;
  MetricsOutput out;
  std::vector<size_t> refs;
  int64_t numItems = 0;

  void allocate(Napi::Env env, int64_t users, KeepAlive& keep, const char* op) {
    const size_t n = layout.numPerUser();
    out.perUser.resize(n);
    for (size_t s = 0; s < n; ++s) {
      refs.push_back(keep.size());
      out.perUser[s] = newFloat32(env, users, keep, op).Data();
    }
  }
  Napi::Object toJs(Napi::Env env, const KeepAlive& keep, Device used) const {
    const std::vector<std::string> keys = layout.perUserKeys();
    Napi::Object mean = Napi::Object::New(env), perUser = Napi::Object::New(env);
    for (size_t s = 0; s < keys.size(); ++s) {
      mean.Set(keys[s], Napi::Number::New(env, out.mean[s]));
      perUser.Set(keys[s], keep.get(refs[s]));
    }
    for (size_t ki = 0; ki < layout.ks.size(); ++ki) {
      const std::string k = std::to_string(layout.ks[ki]);
      const double distinct = static_cast<double>(out.distinctItems[ki]);
      mean.Set("aggregateDiversity@" + k, Napi::Number::New(env, distinct));
      mean.Set("coverage@" + k, Napi::Number::New(env, numItems > 0 ? distinct / numItems : 0.0));
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("mean", mean);
    result.Set("perUser", perUser);
    result.Set("evaluatedUsers", Napi::Number::New(env, static_cast<double>(out.evaluatedUsers)));
    result.Set("device", deviceName(used));
    return result;
  }
};

struct RankingMetricsJob {
  static constexpr const char* kName = "rankingMetrics";
  KeepAlive keep;
  MatrixView scores;
  CsrView truth, exclude;
  FeatureView features;
  Device requested = Device::Auto, used = Device::Cpu;
  ExecConfig config;
  MetricsResult result_;

  explicit RankingMetricsJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    const int64_t users = args.integer("numUsers", 0, kMaxIndex);
    const int64_t items = args.integer("numItems", 0, kMaxIndex);
    const auto s = args.float32("scores", true);
    requireLength(args.name("scores"), s.length, users * items, "numUsers x numItems");
    scores = {s.data, users, items};
    truth = args.csr("truth", users, true);
    exclude = args.csr("exclude", users, false);
    const MatrixView f = args.matrix("itemFeatures", items, false);
    features = {f.data, f.rows, f.cols};
    result_.layout = parseLayout(args, true, f.data != nullptr, kMaxIndex);
    result_.numItems = items;
    requested = args.device();
    config = configOf(info.Env());
    result_.allocate(info.Env(), users, keep, "rankingMetrics: per-user results");
  }
  void run() { used = rankingMetrics(requested, scores, truth, exclude, features, result_.layout, result_.out, config); }
  Napi::Value result(Napi::Env env) { return result_.toJs(env, keep, used); }
};

struct RankingMetricsFromTopKJob {
  static constexpr const char* kName = "rankingMetricsFromTopK";
  KeepAlive keep;
  TopKListView lists;
  int64_t numItems = 0;
  CsrView truth, exclude;
  FeatureView features;
  ExecConfig config;
  MetricsResult result_;

  explicit RankingMetricsFromTopKJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    const int64_t users = args.integer("numUsers", 0, kMaxIndex);
    numItems = args.integer("numItems", 0, kMaxIndex);
    const int64_t k = args.integer("k", 1, kMaxIndex);
    const auto indices = args.int32("indices", true);
    requireLength(args.name("indices"), indices.length, users * k, "numUsers x k");
    lists = {indices.data, users, k};
    truth = args.csr("truth", users, true);
    exclude = args.csr("exclude", users, false);
    const MatrixView f = args.matrix("itemFeatures", numItems, false);
    features = {f.data, f.rows, f.cols};
    result_.layout = parseLayout(args, false, f.data != nullptr, k);
    result_.numItems = numItems;
    config = configOf(info.Env());
    result_.allocate(info.Env(), users, keep, "rankingMetricsFromTopK: per-user results");
  }
  void run() { rankingMetricsFromTopK(lists, numItems, truth, exclude, features, result_.layout, result_.out, config); }
  Napi::Value result(Napi::Env env) { return result_.toJs(env, keep, Device::Cpu); }
};

Napi::Value deviceInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const DeviceInfo d = deviceInfo();
    Napi::Object o = Napi::Object::New(env);
    o.Set("cudaCompiled", d.cudaCompiled);
    o.Set("cudaAvailable", d.cudaAvailable);
    o.Set("reason", d.reason);
    o.Set("cudaRuntimeVersion", d.runtimeVersion);
    o.Set("cudaDriverVersion", d.driverVersion);
    o.Set("cpuThreads", d.cpuThreads);
    o.Set("numThreads", instance(env).numThreads);
    Napi::Array gpus = Napi::Array::New(env, d.gpus.size());
    for (size_t i = 0; i < d.gpus.size(); ++i) {
      const GpuInfo& g = d.gpus[i];
      Napi::Object go = Napi::Object::New(env);
      go.Set("index", g.index);
      go.Set("name", g.name);
      go.Set("totalMemoryBytes", static_cast<double>(g.totalMemoryBytes));
      go.Set("freeMemoryBytes", static_cast<double>(g.freeMemoryBytes));
      go.Set("computeCapability", std::to_string(g.computeMajor) + "." + std::to_string(g.computeMinor));
      go.Set("multiProcessors", g.multiProcessors);
      gpus.Set(static_cast<uint32_t>(i), go);
    }
    o.Set("gpus", gpus);
    return o;
  } catch (...) {
    rethrowAsJs(env);
  }
}

// readOnlyPassSync({ data: Float32Array }) -> sum: the benchmarks' memory-bandwidth floor.
Napi::Value readOnlyPassJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    KeepAlive keep;
    Args args(info, "readOnlyPass", keep);
    const auto data = args.float32("data", true);
    return Napi::Number::New(env, readOnlyPass(data.data, data.length, configOf(env)));
  } catch (...) {
    rethrowAsJs(env);
  }
}

Napi::Value setNumThreadsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsNumber())
      fail(ErrorCode::InvalidArgType, "setNumThreads: numThreads must be a number");
    const double n = info[0].As<Napi::Number>().DoubleValue();
    if (!(n >= 1 && n <= 1024 && n == static_cast<int>(n)))
      fail(ErrorCode::OutOfRange, "setNumThreads: numThreads must be an integer in [1, 1024]");
    instance(env).numThreads = static_cast<int>(n);
    return env.Undefined();
  } catch (...) {
    rethrowAsJs(env);
  }
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  exportJob<TopKJob>(env, exports, "topK");
  exportJob<ScoreMatrixJob>(env, exports, "scoreMatrix");
  exportJob<ScoreTopKJob>(env, exports, "scoreTopK");
  exportJob<RankingMetricsJob>(env, exports, "rankingMetrics");
  exportJob<RankingMetricsFromTopKJob>(env, exports, "rankingMetricsFromTopK");
  exports.Set("deviceInfo", Napi::Function::New(env, deviceInfoJs, "deviceInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, setNumThreadsJs, "setNumThreads"));
  exports.Set("readOnlyPassSync", Napi::Function::New(env, readOnlyPassJs, "readOnlyPassSync"));
}

}  // namespace semrec::napi
