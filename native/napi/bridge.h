// The boundary between JavaScript and semrec's plain C++: per-environment data, argument conversion,
// the one place C++ exceptions become JS errors, and the sync/async runners every op goes through.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "semrec/error.h"
#include "semrec/views.h"

namespace semrec::napi {

// Per-environment state (main thread and each worker_thread get their own).
struct InstanceData {
  Napi::FunctionReference errorClass;  // ts/errors.ts SemrecError, handed over by init()
  int numThreads = 1;
};
InstanceData& instance(Napi::Env env);

// A JS error of class SemrecError (or Error before init) with `code` set.
Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message);

// Maps the exception in flight to a JS exception; call only inside a catch block.
[[noreturn]] void rethrowAsJs(Napi::Env env);

// Keeps the JS arrays of one call alive (and their memory in place) until the call ends.
class KeepAlive {
 public:
  void hold(const Napi::Object& object) { refs_.push_back(Napi::Persistent(object)); }
  Napi::Object get(size_t i) const { return refs_[i].Value(); }
  size_t size() const { return refs_.size(); }

 private:
  std::vector<Napi::ObjectReference> refs_;
};

template <class T>
struct ArrayView {
  T* data = nullptr;
  int64_t length = 0;
  bool present = false;
};

// Reads the fields of the options object passed as a call's first argument.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, KeepAlive& keep);

  bool has(const char* field) const;
  ArrayView<const float> float32(const char* field, bool required) const;
  ArrayView<const int32_t> int32(const char* field, bool required) const;
  int64_t integer(const char* field, int64_t min, int64_t max) const;
  // A finite number in [min, max] (required).
  double real(const char* field, double min, double max) const;
  // A boolean, or `fallback` when absent.
  bool boolean(const char* field, bool fallback) const;
  std::vector<int64_t> integerList(const char* field, int64_t min, int64_t max) const;
  // The width k of a top-k result over numCols columns: 1 <= k <= numCols, so no result is ever sized
  // by an unchecked number (ts/kernels/validate.ts topKWidth has the same rule).
  int64_t topKWidth(const char* field, int64_t numCols) const;
  Device device() const;
  // { indptr: Int32Array(rows + 1), indices: Int32Array } or absent (when !required).
  CsrView csr(const char* field, int64_t rows, bool required) const;
  // { data: Float32Array(rows x dim), dim } or absent.
  MatrixView matrix(const char* field, int64_t rows, bool required) const;

  const std::string& op() const { return op_; }
  std::string name(const char* field) const { return op_ + ": " + field; }

 private:
  Napi::Value field(const Napi::Object& obj, const char* name) const;
  template <class T>
  ArrayView<const T> typed(const Napi::Object& obj, const std::string& label, const char* name,
                           napi_typedarray_type type, const char* typeName, bool required) const;

  Napi::Env env_;
  Napi::Object obj_;
  std::string op_;
  KeepAlive& keep_;
};

// ---- argument helpers of the trainers (the Args methods cover arrays and integers) ----

// A required finite number field in [min, max].
double real(const Napi::CallbackInfo& info, const Args& args, const char* field, double min, double max);
// A required string field.
std::string text(const Napi::CallbackInfo& info, const Args& args, const char* field);
// InvalidArgValue "<label> must have <how> = <want> entries, got <got>" unless got == want.
void requireLength(const std::string& label, int64_t got, int64_t want, const std::string& how);
// A parameter array the op updates in place (the caller owns it and leaves it alone while the op runs).
float* mutableFloat32(const Args& args, const char* field, int64_t length, const std::string& how);
const float* float32Of(const Args& args, const char* field, int64_t length, const std::string& how);
// The environment's thread count, or the call's numThreads.
ExecConfig configOf(const Napi::CallbackInfo& info, const Args& args);

// Allocates a JS TypedArray output, held by `keep`; OutOfMemory if V8 refuses.
Napi::Float32Array newFloat32(Napi::Env env, int64_t length, KeepAlive& keep, const char* what);
Napi::Int32Array newInt32(Napi::Env env, int64_t length, KeepAlive& keep, const char* what);

const char* deviceName(Device device);

// ---- runners: a Job parses its arguments in its constructor (JS thread), does its work in run()
// (never touching JS; on a worker thread when async) and builds its result in result() (JS thread).

template <class Job>
Napi::Value runSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Job job(info);
    job.run();
    return job.result(env);
  } catch (...) {
    rethrowAsJs(env);
  }
}

template <class Job>
class JobWorker final : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, std::unique_ptr<Job> job, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, Job::kName), job_(std::move(job)), deferred_(deferred) {}

  // Runs on the JS thread after Execute(). It replaces node-addon-api's version, which throws a C++
  // exception when the environment is being torn down (worker.terminate() or process exit while the
  // call is pending: Node drains in-flight thread-pool work before its cleanup hooks run, but JS may no
  // longer run, so every napi call fails); an exception escaping here reaches std::terminate and kills
  // the whole process. Here nothing escapes: if the promise cannot be settled, nobody can observe it.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    if (status != napi_cancelled) settle(env);
    Destroy();
  }

 protected:
  void Execute() override {
    try {
      job_->run();
    } catch (const Error& e) {
      setFailure(e.code(), e.what());
    } catch (const std::bad_alloc&) {
      setFailure(ErrorCode::OutOfMemory, std::string(Job::kName) + ": out of memory");
    } catch (const std::exception& e) {
      setFailure(ErrorCode::Internal, std::string(Job::kName) + ": internal error: " + e.what());
    } catch (...) {
      setFailure(ErrorCode::Internal, std::string(Job::kName) + ": unknown internal error");
    }
  }

 private:
  void settle(Napi::Env env) noexcept {
    napi_handle_scope scope = nullptr;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    try {
      if (failed_) {
        deferred_.Reject(makeError(env, code_, message_).Value());
      } else {
        Napi::Value value;
        try {
          value = job_->result(env);
        } catch (const Error& e) {
          deferred_.Reject(makeError(env, e.code(), e.what()).Value());
        } catch (const Napi::Error& e) {
          deferred_.Reject(e.Value());
        } catch (...) {
          deferred_.Reject(makeError(env, ErrorCode::Internal, std::string(Job::kName) + ": building the result failed").Value());
        }
        if (!value.IsEmpty()) deferred_.Resolve(value);
      }
    } catch (...) {
      // The environment is going away (JS can no longer run): the promise dies with it.
    }
    napi_close_handle_scope(env, scope);
  }
  void setFailure(ErrorCode code, const std::string& message) {
    failed_ = true;
    code_ = code;
    message_ = message;
  }
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
  bool failed_ = false;
  ErrorCode code_ = ErrorCode::Internal;
  std::string message_;
};

// Argument errors reject the returned promise rather than throwing, like Node's promise APIs.
template <class Job>
Napi::Value runAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  try {
    auto job = std::make_unique<Job>(info);
    (new JobWorker<Job>(env, std::move(job), deferred))->Queue();
  } catch (...) {
    try {
      rethrowAsJs(env);
    } catch (const Napi::Error& e) {
      deferred.Reject(e.Value());
    }
  }
  return deferred.Promise();
}

/** Exports a job as `name` (async, a Promise) and `nameSync` on the addon's exports. */
template <class Job>
void exportJob(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, runAsync<Job>, name));
  exports.Set(name + "Sync", Napi::Function::New(env, runSync<Job>, name + "Sync"));
}

}  // namespace semrec::napi
