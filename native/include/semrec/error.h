// Errors that cross into JavaScript. Every failure in native code is a semrec::Error carrying a stable
// code; native/napi/ turns it into a JS SemrecError with the same `code`. Nothing here aborts.
#pragma once

#include <stdexcept>
#include <string>

namespace semrec {

// Stable codes, mirrored by ts/errors.ts. Append only: users match on these strings.
enum class ErrorCode {
  InvalidArgType,   // ERR_INVALID_ARG_TYPE: wrong JS type, wrong TypedArray type, missing field
  InvalidArgValue,  // ERR_INVALID_ARG_VALUE: right type, inconsistent value (length, CSR structure)
  OutOfRange,       // ERR_OUT_OF_RANGE: a number or an id outside its allowed range
  NanInput,         // ERR_NAN_INPUT: NaN where a number is required
  CudaUnavailable,  // ERR_CUDA_UNAVAILABLE: device 'cuda' asked for, but no usable GPU or no CUDA build
  Cuda,             // ERR_CUDA: the CUDA runtime reported an error
  OutOfMemory,      // ERR_OUT_OF_MEMORY: host or device allocation failed
  Internal,         // ERR_INTERNAL: a bug in semrec; please report it
};

const char* errorCodeName(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace semrec
