// Registration of the ops' JS functions: `nameSync` runs on the calling thread, `name` returns a Promise.
#pragma once

#include <napi.h>

namespace semrec::napi {

void registerOps(Napi::Env env, Napi::Object exports);
// Native trainers of the baseline models (native/napi/train_ops.cc).
void registerTrainOps(Napi::Env env, Napi::Object exports);
// logistic_ops.cc: the sentiment head's logistic-regression fit.
void registerLogisticOps(Napi::Env env, Napi::Object exports);
// sequential_ops.cc: the sequential recommenders' transformer (SASRec, BERT4Rec).
void registerSequentialOps(Napi::Env env, Napi::Object exports);

}  // namespace semrec::napi
