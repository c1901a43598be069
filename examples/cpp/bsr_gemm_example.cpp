// Minimal use of the C++ API: C = A @ B with A holding 4 of 16 column blocks per block-row.
#include <triageattention/sparse_gemm.h>

#include <cstdio>
#include <random>
#include <vector>

#define CHECK_CUDA(expr)                                                          \
  do {                                                                            \
    cudaError_t err = (expr);                                                     \
    if (err != cudaSuccess) {                                                     \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(err));          \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

int main() {
  constexpr int M = 1024, N = 512, K = 1024, bs = 64, topk = 4;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to run\n");
    return 0;
  }
  triageattention::SparseBSRGEMM<__nv_bfloat16> gemm(M, N, K, bs, topk);

  std::mt19937 rng(0);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  const int rows = M / bs;
  std::vector<__nv_bfloat16> values(std::size_t(rows) * topk * bs * bs), b(std::size_t(K) * N);
  for (auto& v : values) v = __float2bfloat16(uniform(rng));
  for (auto& v : b) v = __float2bfloat16(uniform(rng));
  std::vector<int32_t> cols(std::size_t(rows) * topk);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < topk; ++j) cols[r * topk + j] = j * (K / bs / topk) + r % (K / bs / topk);

  __nv_bfloat16 *d_values, *d_b, *d_c;
  int32_t* d_cols;
  CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&d_values), values.size() * sizeof(values[0])));
  CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&d_b), b.size() * sizeof(b[0])));
  CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&d_c), std::size_t(M) * N * sizeof(__nv_bfloat16)));
  CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&d_cols), cols.size() * sizeof(cols[0])));
  CHECK_CUDA(cudaMemcpy(d_values, values.data(), values.size() * sizeof(values[0]), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_b, b.data(), b.size() * sizeof(b[0]), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_cols, cols.data(), cols.size() * sizeof(cols[0]), cudaMemcpyHostToDevice));

  gemm.execute(d_values, d_cols, d_b, d_c);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::printf("computed a %dx%d BSR (bs %d, %d blocks per row) times a %dx%d matrix\n", M, K, bs,
              topk, K, N);
  cudaFree(d_values);
  cudaFree(d_b);
  cudaFree(d_c);
  cudaFree(d_cols);
  return 0;
}
