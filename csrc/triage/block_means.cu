// Block means for triage: each thread sums 8 columns (one 16-byte load per row) of one block
// over its rows in order, then divides by the row count, the exact fp32 order the CPU reference
// follows.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/cuda_check.h"
#include "triage/triage_launch.h"

namespace triageattention::triage_detail {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void add_row(float (&sum)[8], const uint4& raw, const __half*) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = __half22float2(h[e]);
    sum[2 * e] += f.x;
    sum[2 * e + 1] += f.y;
  }
}

__device__ __forceinline__ void add_row(float (&sum)[8], const uint4& raw, const __nv_bfloat16*) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = __bfloat1622float2(h[e]);
    sum[2 * e] += f.x;
    sum[2 * e + 1] += f.y;
  }
}

// Two pooling jobs (queries, keys) in one launch, so that neither leaves the GPU half idle in
// its tail: threads [0, first_threads) take job 0, the rest job 1.
struct Jobs {
  BlockMeansArgs job[2];
  int64_t num_blocks[2];
  int64_t first_threads, total_threads;
};

int64_t count_blocks(const BlockMeansArgs& a) {
  return (a.seqlen + a.rows_per_block - 1) / a.rows_per_block;
}

int64_t count_threads(const BlockMeansArgs& a) {
  return int64_t(a.batch) * a.heads * count_blocks(a) * (a.head_dim / 8);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) block_means_kernel(Jobs jobs) {
  int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (t >= jobs.total_threads) return;
  const int which = t < jobs.first_threads ? 0 : 1;
  if (which == 1) t -= jobs.first_threads;
  const BlockMeansArgs& a = jobs.job[which];
  const int64_t num_blocks = jobs.num_blocks[which];
  const int chunks = a.head_dim / 8;  // 16-byte column chunks per row
  const int chunk = int(t % chunks);
  const int64_t block = t / chunks;  // over [B, H, nBlocks]
  const int64_t n = block % num_blocks;
  const int64_t bh = block / num_blocks;
  const int64_t b = bh / a.heads, h = bh % a.heads;

  const int64_t first = n * a.rows_per_block;
  const int64_t last = min(first + a.rows_per_block, a.seqlen);
  const T* base = static_cast<const T*>(a.x) + b * a.strides.batch + h * a.strides.head +
                  first * a.strides.seq + chunk * 8;
  float sum[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  // Loads run ahead (16 in flight per thread); the adds stay in row order.
#pragma unroll 16
  for (int64_t r = 0; r < last - first; ++r)
    add_row(sum, __ldg(reinterpret_cast<const uint4*>(base + r * a.strides.seq)),
            static_cast<const T*>(nullptr));

  const float rows = float(last - first);
  const int d0 = chunk * 8;
  if (a.transpose) {
    float* out = a.out + bh * a.head_dim * num_blocks + n;
#pragma unroll
    for (int e = 0; e < 8; ++e) out[(d0 + e) * num_blocks] = __fdiv_rn(sum[e], rows);
  } else {
    float* out = a.out + block * a.head_dim + d0;
#pragma unroll
    for (int e = 0; e < 8; ++e) out[e] = __fdiv_rn(sum[e], rows);
  }
}

}  // namespace

void launch_block_means(DType dtype, const BlockMeansArgs& first, const BlockMeansArgs& second,
                        cudaStream_t stream) {
  Jobs jobs;
  jobs.job[0] = first;
  jobs.job[1] = second;
  jobs.num_blocks[0] = count_blocks(first);
  jobs.num_blocks[1] = count_blocks(second);
  jobs.first_threads = count_threads(first);
  jobs.total_threads = jobs.first_threads + count_threads(second);
  if (jobs.total_threads == 0) return;
  const dim3 grid(unsigned((jobs.total_threads + kThreads - 1) / kThreads));
  if (dtype == DType::kFloat16)
    block_means_kernel<__half><<<grid, kThreads, 0, stream>>>(jobs);
  else
    block_means_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(jobs);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::triage_detail
