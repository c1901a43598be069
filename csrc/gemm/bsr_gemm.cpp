// Host entry points of the BSR GEMM: argument checks, workspace, dispatch to the built kernels.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "common/cuda_check.h"
#include "gemm/bsr_gemm_launch.h"
#include "triageattention/sparse_gemm.h"

namespace triageattention {
namespace {

using detail::aligned;
using detail::throw_invalid;

using Launcher = void (*)(const BsrGemmParams&, const int*, cudaStream_t);

// The kernels this build contains, listed by the generated bsr_gemm_instances.inc.
Launcher find_launcher(DType in, DType out, int bs) {
#define TA_BSR_GEMM_INSTANCE(IN, OUT, BS)                          \
  if (in == DType::IN && out == DType::OUT && bs == BS)            \
    return &gemm::launch_bsr_gemm_instance<DType::IN, DType::OUT, BS>;
#include "bsr_gemm_instances.inc"
#undef TA_BSR_GEMM_INSTANCE
  return nullptr;
}

}  // namespace

void check_bsr_gemm_params(const BsrGemmParams& p) {
  constexpr const char* fn = "bsr_gemm: ";
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  const int bs = p.block_size;
  if (bs != 16 && bs != 32 && bs != 64 && bs != 128)
    throw_invalid(fn, "block_size must be 16, 32, 64 or 128, got ", bs);
  if (p.input_type != DType::kFloat16 && p.input_type != DType::kBFloat16)
    throw_invalid(fn, "input dtype must be float16 or bfloat16, got ", dtype_name(p.input_type));
  if (p.output_type != p.input_type && p.output_type != DType::kFloat32)
    throw_invalid(fn, "output dtype must be ", dtype_name(p.input_type), " or float32, got ",
                  dtype_name(p.output_type));
  if (p.M < 0 || p.M % bs != 0)
    throw_invalid(fn, "M must be a non-negative multiple of block_size ", bs, ", got ", p.M);
  if (p.K <= 0 || p.K % bs != 0)
    throw_invalid(fn, "K must be a positive multiple of block_size ", bs, ", got ", p.K);
  if (p.N <= 0) throw_invalid(fn, "N must be positive, got ", p.N);
  if (p.N > kInt32Max || p.K > kInt32Max) throw_invalid(fn, "N and K must be below 2^31");
  // The kernel numbers its work items (block-row, column tile of at least 256) in 32 bits.
  if (p.M / bs > kInt32Max || p.M / bs * ((p.N + 255) / 256) > kInt32Max)
    throw_invalid(fn, "M / block_size times N / 256 (rounded up) must be below 2^31, got M ", p.M,
                  " and N ", p.N);
  if (p.nnzb < 0) throw_invalid(fn, "nnzb must be non-negative, got ", p.nnzb);
  if ((p.nnzb > 0 ? p.nnzb : 1) * bs > kInt32Max)
    throw_invalid(fn, "nnzb * block_size must be below 2^31, got nnzb ", p.nnzb);
  if (p.crow_indices == nullptr) {
    if (p.topk < 0) throw_invalid(fn, "topk must be non-negative, got ", p.topk);
    if (p.nnzb != (p.M / bs) * p.topk)
      throw_invalid(fn, "fixed top-k form needs nnzb == (M / block_size) * topk = ",
                    (p.M / bs) * p.topk, ", got ", p.nnzb);
  }
  if (p.nnzb > 0 && (p.col_indices == nullptr || p.values == nullptr))
    throw_invalid(fn, "col_indices and values must be non-null when nnzb > 0");
  if (p.B == nullptr) throw_invalid(fn, "B must be non-null");
  if (p.M > 0 && p.C == nullptr) throw_invalid(fn, "C must be non-null");
  const std::size_t in_size = dtype_size(p.input_type);
  if (p.ldb < p.N) throw_invalid(fn, "ldb must be >= N (", p.N, "), got ", p.ldb);
  if ((p.ldb * in_size) % 16 != 0)
    throw_invalid(fn, "ldb must make rows of B 16-byte aligned (a multiple of ", 16 / in_size,
                  " elements), got ", p.ldb);
  if (!aligned(p.B, 16)) throw_invalid(fn, "B must be 16-byte aligned");
  if (p.values != nullptr && !aligned(p.values, 16))
    throw_invalid(fn, "values must be 16-byte aligned");
  if (p.ldc < p.N) throw_invalid(fn, "ldc must be >= N (", p.N, "), got ", p.ldc);
  if (p.C != nullptr && !aligned(p.C, dtype_size(p.output_type)))
    throw_invalid(fn, "C must be aligned to its element size");
  if (!find_launcher(p.input_type, p.output_type, bs))
    throw_invalid(fn, "this build has no kernel for input ", dtype_name(p.input_type), ", output ",
                  dtype_name(p.output_type), ", block_size ", bs,
                  " (configure with the default TRIAGEATTENTION_DTYPES/BLOCK_SIZES)");
}

bool bsr_gemm_is_built(DType input_type, DType output_type, int block_size) {
  return find_launcher(input_type, output_type, block_size) != nullptr;
}

std::size_t bsr_gemm_workspace_bytes(const BsrGemmParams& p) {
  if (p.crow_indices == nullptr || p.block_size <= 0) return 0;
  return gemm::RowOrderWorkspace::bytes(int(p.M / p.block_size));
}

void bsr_gemm(const BsrGemmParams& p, void* workspace, std::size_t workspace_bytes,
              cudaStream_t stream) {
  check_bsr_gemm_params(p);
  if (p.M == 0) return;
  const int* row_order = gemm::RowOrderWorkspace::compute(p, workspace, workspace_bytes, stream);
  find_launcher(p.input_type, p.output_type, p.block_size)(p, row_order, stream);
}

namespace {

template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, __half>) return DType::kFloat16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return DType::kBFloat16;
  else return DType::kFloat32;
}

}  // namespace

template <typename T, typename TC>
SparseBSRGEMM<T, TC>::SparseBSRGEMM(int M, int N, int K, int block_size, int topk)
    : M_(M), N_(N), K_(K), block_size_(block_size), topk_(topk) {
  if (topk < 1 || (block_size > 0 && topk > K / block_size))
    throw_invalid("SparseBSRGEMM: topk must be in [1, K / block_size], got ", topk);
  BsrGemmParams p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.block_size = block_size;
  p.topk = topk;
  p.nnzb = block_size > 0 ? int64_t(M / block_size) * topk : 0;
  p.input_type = dtype_of<T>();
  p.output_type = dtype_of<TC>();
  p.ldb = N;
  p.ldc = N;
  // Pointers are checked in execute(); stand-ins let the shape checks run here.
  alignas(16) static const char kStandIn[16] = {};
  p.col_indices = p.values = p.B = kStandIn;
  p.C = const_cast<char*>(kStandIn);
  check_bsr_gemm_params(p);
}

template <typename T, typename TC>
void SparseBSRGEMM<T, TC>::execute(const T* A_values, const int32_t* A_cols, const T* B, TC* C,
                                   cudaStream_t stream, float alpha, float beta) const {
  BsrGemmParams p;
  p.M = M_;
  p.N = N_;
  p.K = K_;
  p.block_size = block_size_;
  p.topk = topk_;
  p.nnzb = int64_t(M_ / block_size_) * topk_;
  p.col_indices = A_cols;
  p.index_type = IndexType::kInt32;
  p.values = A_values;
  p.B = B;
  p.ldb = N_;
  p.C = C;
  p.ldc = N_;
  p.input_type = dtype_of<T>();
  p.output_type = dtype_of<TC>();
  p.alpha = alpha;
  p.beta = beta;
  bsr_gemm(p, nullptr, 0, stream);
}

template class SparseBSRGEMM<__half, __half>;
template class SparseBSRGEMM<__half, float>;
template class SparseBSRGEMM<__nv_bfloat16, __nv_bfloat16>;
template class SparseBSRGEMM<__nv_bfloat16, float>;

}  // namespace triageattention
