// Module init: per-environment data, the error-class handshake, and every op's registration.
#include <napi.h>

#include "bridge.h"
#include "ops.h"
#include "semrec/device.h"

namespace semrec::napi {

namespace {

// init({ errorClass }): the JS side hands over SemrecError so native errors are real instances of it.
Napi::Value initJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw makeError(env, ErrorCode::InvalidArgType, "init: expected { errorClass }");
  const Napi::Value cls = info[0].As<Napi::Object>().Get("errorClass");
  if (!cls.IsFunction()) throw makeError(env, ErrorCode::InvalidArgType, "init: errorClass must be a constructor");
  instance(env).errorClass = Napi::Persistent(cls.As<Napi::Function>());
  return env.Undefined();
}

}  // namespace

Napi::Object initModule(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  data->numThreads = hardwareThreads();
  env.SetInstanceData(data);  // deleted by Node when this environment is torn down
  exports.Set("init", Napi::Function::New(env, initJs, "init"));
#ifdef SEMREC_WITH_CUDA
  exports.Set("cudaCompiled", Napi::Boolean::New(env, true));
#else
  exports.Set("cudaCompiled", Napi::Boolean::New(env, false));
#endif
  registerOps(env, exports);
  registerTrainOps(env, exports);
  registerLogisticOps(env, exports);
  registerSequentialOps(env, exports);
  return exports;
}

}  // namespace semrec::napi

static Napi::Object InitSemrec(Napi::Env env, Napi::Object exports) { return semrec::napi::initModule(env, exports); }

NODE_API_MODULE(semrec, InitSemrec)
