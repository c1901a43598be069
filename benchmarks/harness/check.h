// Return-code checks for the benchmarks: every CUDA runtime, cuBLAS and cuSPARSE call goes through
// one of these, so a failure names the call, the status and the source line instead of producing
// a silently wrong timing.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusparse.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace triageattention::bench {

// Thrown when a peer library refuses a configuration (a status other than success). The caller
// records the message in the report's notes instead of ending the run.
class PeerRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline std::string failure_text(const char* call, const char* status, const char* detail,
                                const char* file, int line) {
  std::ostringstream msg;
  msg << call << " failed: " << status;
  if (detail != nullptr && *detail != '\0') msg << " (" << detail << ")";
  msg << " at " << file << ":" << line;
  return msg.str();
}

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess)
    throw std::runtime_error(
        failure_text(call, cudaGetErrorName(err), cudaGetErrorString(err), file, line));
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(failure_text(call, cublasGetStatusName(status),
                                          cublasGetStatusString(status), file, line));
}

inline void check_cusparse(cusparseStatus_t status, const char* call, const char* file,
                           int line) {
  if (status != CUSPARSE_STATUS_SUCCESS)
    throw PeerRefused(failure_text(call, cusparseGetErrorName(status),
                                   cusparseGetErrorString(status), file, line));
}

}  // namespace triageattention::bench

#define BENCH_CUDA_CHECK(expr) ::triageattention::bench::check_cuda((expr), #expr, __FILE__, __LINE__)
#define BENCH_CUBLAS_CHECK(expr) \
  ::triageattention::bench::check_cublas((expr), #expr, __FILE__, __LINE__)
#define BENCH_CUSPARSE_CHECK(expr) \
  ::triageattention::bench::check_cusparse((expr), #expr, __FILE__, __LINE__)
