#include "bridge.h"

#include <climits>
#include <cmath>
#include <limits>
#include <new>

namespace semrec::napi {

InstanceData& instance(Napi::Env env) {
  InstanceData* data = env.GetInstanceData<InstanceData>();
  if (data == nullptr) throw Error(ErrorCode::Internal, "semrec addon used before its module init ran");
  return *data;
}

Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message) {
  InstanceData* data = env.GetInstanceData<InstanceData>();
  const Napi::String codeName = Napi::String::New(env, errorCodeName(code));
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Object error = data->errorClass.New({Napi::String::New(env, message), codeName});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", codeName);
  return error;
}

void rethrowAsJs(Napi::Env env) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw makeError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw makeError(env, ErrorCode::OutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    throw makeError(env, ErrorCode::Internal, std::string("internal error: ") + e.what());
  } catch (...) {
    throw makeError(env, ErrorCode::Internal, "unknown internal error");
  }
}

Args::Args(const Napi::CallbackInfo& info, const char* op, KeepAlive& keep)
    : env_(info.Env()), op_(op), keep_(keep) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray())
    fail(ErrorCode::InvalidArgType, op_ + ": expected an options object as the first argument");
  obj_ = info[0].As<Napi::Object>();
}

Napi::Value Args::field(const Napi::Object& obj, const char* name) const {
  // A throwing getter surfaces here as a pending JS exception turned into Napi::Error.
  return obj.Get(name);
}

bool Args::has(const char* name) const {
  const Napi::Value v = field(obj_, name);
  return !v.IsUndefined() && !v.IsNull();
}

template <class T>
ArrayView<const T> Args::typed(const Napi::Object& obj, const std::string& label, const char* name,
                               napi_typedarray_type type, const char* typeName, bool required) const {
  const Napi::Value v = field(obj, name);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) fail(ErrorCode::InvalidArgType, label + " is required (a " + typeName + ")");
    return {};
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    fail(ErrorCode::InvalidArgType, label + " must be a " + typeName);
  auto array = v.As<Napi::TypedArrayOf<T>>();
  keep_.hold(array);
  return {array.Data(), static_cast<int64_t>(array.ElementLength()), true};
}

ArrayView<const float> Args::float32(const char* name, bool required) const {
  return typed<float>(obj_, this->name(name), name, napi_float32_array, "Float32Array", required);
}

ArrayView<const int32_t> Args::int32(const char* name, bool required) const {
  return typed<int32_t>(obj_, this->name(name), name, napi_int32_array, "Int32Array", required);
}

namespace {
int64_t toInteger(const Napi::Value& v, const std::string& label, int64_t min, int64_t max) {
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgType, label + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) fail(ErrorCode::NanInput, label + " is NaN");
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max))
    fail(ErrorCode::OutOfRange, label + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                    "], got " + Napi::Value(v).ToString().Utf8Value());
  return static_cast<int64_t>(d);
}
}  // namespace

int64_t Args::integer(const char* name, int64_t min, int64_t max) const {
  const Napi::Value v = field(obj_, name);
  if (v.IsUndefined() || v.IsNull()) fail(ErrorCode::InvalidArgType, this->name(name) + " is required (an integer)");
  return toInteger(v, this->name(name), min, max);
}

int64_t Args::topKWidth(const char* name, int64_t numCols) const {
  const int64_t k = integer(name, 1, INT32_MAX);
  if (k > numCols)
    fail(ErrorCode::OutOfRange, this->name(name) + " is " + std::to_string(k) + ", more than the " + std::to_string(numCols) +
                                    " columns (items) a row has; ask for at most " + std::to_string(numCols));
  return k;
}

std::vector<int64_t> Args::integerList(const char* name, int64_t min, int64_t max) const {
  const Napi::Value v = field(obj_, name);
  if (!v.IsArray()) fail(ErrorCode::InvalidArgType, this->name(name) + " must be an array of integers");
  const auto array = v.As<Napi::Array>();
  if (array.Length() == 0) fail(ErrorCode::InvalidArgValue, this->name(name) + " must not be empty");
  if (array.Length() > 4096) fail(ErrorCode::OutOfRange, this->name(name) + " has more than 4096 entries");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < array.Length(); ++i)
    out.push_back(toInteger(array.Get(i), this->name(name) + "[" + std::to_string(i) + "]", min, max));
  return out;
}

double Args::real(const char* name, double min, double max) const {
  const Napi::Value v = field(obj_, name);
  if (v.IsUndefined() || v.IsNull()) fail(ErrorCode::InvalidArgType, this->name(name) + " is required (a number)");
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgType, this->name(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) fail(ErrorCode::NanInput, this->name(name) + " is NaN");
  if (!(d >= min && d <= max))
    fail(ErrorCode::OutOfRange, this->name(name) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) +
                                    "], got " + std::to_string(d));
  return d;
}

bool Args::boolean(const char* name, bool fallback) const {
  const Napi::Value v = field(obj_, name);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) fail(ErrorCode::InvalidArgType, this->name(name) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Device Args::device() const {
  const Napi::Value v = field(obj_, "device");
  if (v.IsUndefined() || v.IsNull()) return Device::Auto;
  if (!v.IsString()) fail(ErrorCode::InvalidArgType, name("device") + " must be 'cpu', 'cuda' or 'auto'");
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "auto") return Device::Auto;
  if (s == "cpu") return Device::Cpu;
  if (s == "cuda") return Device::Cuda;
  fail(ErrorCode::InvalidArgValue, name("device") + " must be 'cpu', 'cuda' or 'auto', got '" + s + "'");
}

CsrView Args::csr(const char* name, int64_t rows, bool required) const {
  const Napi::Value v = field(obj_, name);
  const std::string label = this->name(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) fail(ErrorCode::InvalidArgType, label + " is required ({ indptr: Int32Array, indices: Int32Array })");
    return {};
  }
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    fail(ErrorCode::InvalidArgType, label + " must be { indptr: Int32Array, indices: Int32Array }");
  const auto obj = v.As<Napi::Object>();
  const auto indptr = typed<int32_t>(obj, label + ".indptr", "indptr", napi_int32_array, "Int32Array", true);
  const auto indices = typed<int32_t>(obj, label + ".indices", "indices", napi_int32_array, "Int32Array", true);
  if (indptr.length != rows + 1)
    fail(ErrorCode::InvalidArgValue, label + ".indptr must have " + std::to_string(rows + 1) + " entries (rows + 1), got " +
                                         std::to_string(indptr.length));
  return {indptr.data, indices.data, rows, indices.length, true};
}

MatrixView Args::matrix(const char* name, int64_t rows, bool required) const {
  const Napi::Value v = field(obj_, name);
  const std::string label = this->name(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) fail(ErrorCode::InvalidArgType, label + " is required ({ data: Float32Array, dim: integer })");
    return {};
  }
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    fail(ErrorCode::InvalidArgType, label + " must be { data: Float32Array, dim: integer }");
  const auto obj = v.As<Napi::Object>();
  const auto data = typed<float>(obj, label + ".data", "data", napi_float32_array, "Float32Array", true);
  const int64_t dim = toInteger(field(obj, "dim"), label + ".dim", 1, 1 << 20);
  if (data.length != rows * dim)
    fail(ErrorCode::InvalidArgValue, label + ".data must have " + std::to_string(rows) + " x " + std::to_string(dim) +
                                         " = " + std::to_string(rows * dim) + " entries, got " + std::to_string(data.length));
  return {data.data, rows, dim};
}

namespace {
template <class ArrayT>
ArrayT newArray(Napi::Env env, int64_t length, KeepAlive& keep, const char* what) {
  // V8 caps typed arrays well below this; asking more would fail with an unhelpful RangeError.
  constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;
  if (length < 0 || length > kMaxElements)
    fail(ErrorCode::OutOfRange, std::string(what) + " would need " + std::to_string(length) +
                                    " elements, more than a typed array can hold (2^31 - 1)");
  try {
    ArrayT array = ArrayT::New(env, static_cast<size_t>(length));
    keep.hold(array);
    return array;
  } catch (const Napi::Error&) {
    fail(ErrorCode::OutOfMemory, std::string(what) + ": could not allocate " + std::to_string(length) + " elements");
  }
}
}  // namespace

Napi::Float32Array newFloat32(Napi::Env env, int64_t length, KeepAlive& keep, const char* what) {
  return newArray<Napi::Float32Array>(env, length, keep, what);
}

Napi::Int32Array newInt32(Napi::Env env, int64_t length, KeepAlive& keep, const char* what) {
  return newArray<Napi::Int32Array>(env, length, keep, what);
}

const char* deviceName(Device device) {
  switch (device) {
    case Device::Cpu: return "cpu";
    case Device::Cuda: return "cuda";
    case Device::Auto: return "auto";
  }
  return "cpu";
}

}  // namespace semrec::napi
