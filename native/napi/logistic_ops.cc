// N-API glue of the logistic-regression fit (the sentiment head's trainer): logisticFitSync / logisticFit.
#include <cmath>
#include <string>

#include "bridge.h"
#include "ops.h"
#include "semrec/logistic.h"

namespace semrec::napi {

namespace {

constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxRows = INT32_MAX;

// A finite number field of the options object, or `fallback` when absent.
double numberField(const Napi::CallbackInfo& info, const char* op, const char* field, double fallback) {
  const Napi::Object obj = info[0].As<Napi::Object>();
  if (!obj.Has(field) || obj.Get(field).IsUndefined()) return fallback;
  const Napi::Value v = obj.Get(field);
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgType, std::string(op) + ": " + field + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) fail(ErrorCode::OutOfRange, std::string(op) + ": " + field + " must be finite");
  return d;
}

struct LogisticFitJob {
  static constexpr const char* kName = "logisticFit";
  KeepAlive keep;
  MatrixView x;
  const float* labels = nullptr;
  const float* sampleWeight = nullptr;
  LogisticOptions options;
  ExecConfig config;
  float* weights = nullptr;
  size_t weightsRef = 0;
  float bias = 0;
  LogisticResult fit;

  explicit LogisticFitJob(const Napi::CallbackInfo& info) {
    Args args(info, kName, keep);
    const int64_t dim = args.integer("dim", 1, kMaxDim);
    const auto features = args.float32("features", true);
    if (features.length % dim != 0)
      fail(ErrorCode::InvalidArgValue, args.name("features") + ".length (" + std::to_string(features.length) +
                                           ") must be a multiple of dim (" + std::to_string(dim) + ")");
    const int64_t rows = features.length / dim;
    if (rows > kMaxRows) fail(ErrorCode::OutOfRange, args.name("features") + " holds more than 2^31 - 1 rows");
    x = {features.data, rows, dim};
    const auto y = args.float32("labels", true);
    if (y.length != rows)
      fail(ErrorCode::InvalidArgValue, args.name("labels") + " must have one entry per row (" + std::to_string(rows) + "), got " + std::to_string(y.length));
    labels = y.data;
    const auto w = args.float32("sampleWeight", false);
    if (w.present) {
      if (w.length != rows)
        fail(ErrorCode::InvalidArgValue, args.name("sampleWeight") + " must have one entry per row (" + std::to_string(rows) + "), got " + std::to_string(w.length));
      sampleWeight = w.data;
    }
    options.l2 = numberField(info, kName, "l2", options.l2);
    options.tolerance = numberField(info, kName, "tolerance", options.tolerance);
    options.maxIterations = static_cast<int>(args.has("maxIterations") ? args.integer("maxIterations", 1, 10000) : options.maxIterations);
    config = ExecConfig{instance(info.Env()).numThreads};
    weightsRef = keep.size();
    weights = newFloat32(info.Env(), dim, keep, "logisticFit: the weights").Data();
  }
  void run() { fit = logisticFitCpu(x, labels, sampleWeight, options, weights, &bias, config); }
  Napi::Value result(Napi::Env env) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("weights", keep.get(weightsRef));
    out.Set("bias", Napi::Number::New(env, bias));
    out.Set("iterations", Napi::Number::New(env, fit.iterations));
    out.Set("converged", Napi::Boolean::New(env, fit.converged));
    out.Set("loss", Napi::Number::New(env, fit.loss));
    out.Set("gradientNorm", Napi::Number::New(env, fit.gradientNorm));
    return out;
  }
};

}  // namespace

void registerLogisticOps(Napi::Env env, Napi::Object exports) {
  exportJob<LogisticFitJob>(env, exports, "logisticFit");
}

}  // namespace semrec::napi
