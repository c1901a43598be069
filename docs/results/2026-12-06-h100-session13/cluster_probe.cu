// How many clusters of 1, 2, 4 and 8 CTAs are resident at once when each CTA takes a whole SM's
// shared memory, as the BSR GEMM's bs 64/128 CTAs do (one CTA per SM, 384 threads). The GEMM's
// grid is this count at cluster size 2; 1024 cluster items (8192^3, bs 64) leave a tail unless
// it divides them. Build: nvcc -arch=sm_90a -o cluster_probe cluster_probe.cu
// Other CTA shapes (session 15, for the decode's split merge in a cluster, decode step 17):
//   ./cluster_probe THREADS SMEM_KB      e.g. ./cluster_probe 128 100
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void whole_sm_kernel(int* out) {
  extern __shared__ int smem[];
  smem[threadIdx.x] = threadIdx.x;
  if (out != nullptr) out[blockIdx.x] = smem[threadIdx.x];
}

#define CHECK(call)                                                                    \
  do {                                                                                 \
    cudaError_t e = (call);                                                            \
    if (e != cudaSuccess) {                                                            \
      std::printf("%s failed: %s\n", #call, cudaGetErrorString(e));                    \
      return 1;                                                                        \
    }                                                                                  \
  } while (0)

int main(int argc, char** argv) {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const int threads = argc > 2 ? std::atoi(argv[1]) : 384;
  const int smem = (argc > 2 ? std::atoi(argv[2]) : 220) * 1024;
  CHECK(cudaFuncSetAttribute(whole_sm_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  CHECK(cudaFuncSetAttribute(whole_sm_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  std::printf("%s: %d SMs, %zu bytes of shared memory per SM; CTAs of %d threads, %d KB\n",
              prop.name, prop.multiProcessorCount, prop.sharedMemPerMultiprocessor, threads,
              smem / 1024);
  for (int cluster = 1; cluster <= 8; cluster *= 2) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned(prop.multiProcessorCount / cluster * cluster));
    config.blockDim = dim3(unsigned(threads));
    config.dynamicSmemBytes = smem;
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = unsigned(cluster);
    attribute.val.clusterDim.y = 1;
    attribute.val.clusterDim.z = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    int clusters = 0;
    CHECK(cudaOccupancyMaxActiveClusters(&clusters, whole_sm_kernel, &config));
    std::printf("cluster %d: %d resident clusters (%d SMs busy)", cluster, clusters,
                clusters * cluster);
    if (cluster == 2 && argc <= 2)
      std::printf("; bs 64's 1024 items take %.2f rounds", 1024.0 / clusters);
    std::printf("\n");
  }
  return 0;
}
