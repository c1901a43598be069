// Where cta_select_topk's cycles go (run 1's select_bench: ~8,600 cycles for 512 keys, ~5,200
// for 64, with warm instruction caches, where the issued work is a few hundred cycles). A copy of
// its passes with clock64 stamps after each step (thread 0, after the step's barrier), and
// variants of the histogram adds:
//   match: as shipped (lanes with the same digit aggregated by __match_any_sync, one atomic each)
//   plain: one shared atomicAdd per key, no match
//   lead:  the lanes holding lane 0's digit add once through lane 0 (shfl + ballot), the others
//          one atomicAdd each
//   none:  no adds at all (timing skeleton only: the selection is wrong)
// (select_bench.cu times the whole selection, cta_select_topk against warp_select_topk.)
// Build: nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o select_phases select_phases.cu
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "common/radix_topk.cuh"

using namespace triageattention::detail;

constexpr int kThreads = 128, kKeysPerThread = 8, kMaxStamps = 16;
enum Adds { kMatch = 0, kPlain = 1, kNone = 2, kLead = 3 };

template <int kAdds>
__global__ void __launch_bounds__(kThreads) select_stamped(const float* scores, int n, int k,
                                                           long long* stamps) {
  __shared__ uint32_t keys_smem[4096];
  __shared__ CtaSelectScratch scratch;
  for (int i = threadIdx.x; i < n; i += kThreads)
    keys_smem[i] = score_key(scores[int64_t(blockIdx.x) * n + i]);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  long long t[kMaxStamps];
  int nt = 0;
  for (int call = 0; call < 2; ++call) {  // the second call's stamps are kept (warm code)
    nt = 0;
    __syncthreads();
    t[nt++] = clock64();
    const int per = min(kKeysPerThread, (n + kThreads - 1) / kThreads);
    uint32_t key[kKeysPerThread];
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const int i = tid * per + j;
      key[j] = j < per && i < n ? keys_smem[i] : kNotCandidate;
    }
    uint32_t prefix = 0, mask = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += kThreads) scratch.histogram[b] = 0;
      __syncthreads();
      t[nt++] = clock64();
      uint32_t digit[kKeysPerThread], peers[kKeysPerThread], lead[kKeysPerThread];
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        if (j >= per) break;
        const bool in = key[j] != kNotCandidate && (key[j] & mask) == prefix;
        digit[j] = in ? (key[j] >> shift) & 255u : 256u;
        if (kAdds == kMatch) peers[j] = __match_any_sync(0xffffffffu, digit[j]);
        if (kAdds == kLead) {
          lead[j] = __shfl_sync(0xffffffffu, digit[j], 0);
          peers[j] = __ballot_sync(0xffffffffu, digit[j] == lead[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        if (j >= per) break;
        if (kAdds == kMatch && digit[j] < 256u && lane == __ffs(peers[j]) - 1)
          atomicAdd(&scratch.histogram[digit[j]], __popc(peers[j]));
        if (kAdds == kPlain && digit[j] < 256u) atomicAdd(&scratch.histogram[digit[j]], 1u);
        if (kAdds == kLead) {
          if (lane == 0 && lead[j] < 256u) atomicAdd(&scratch.histogram[lead[j]], __popc(peers[j]));
          else if (digit[j] != lead[j] && digit[j] < 256u)
            atomicAdd(&scratch.histogram[digit[j]], 1u);
        }
      }
      __syncthreads();
      t[nt++] = clock64();
      if (warp == 0) {
        const DigitRank d = find_digit(scratch.histogram, remaining);
        if (lane == 0) {
          scratch.broadcast[0] = d.digit;
          scratch.broadcast[1] = d.above;
          scratch.broadcast[2] = int(scratch.histogram[d.digit]);
        }
      }
      __syncthreads();
      t[nt++] = clock64();
      remaining -= scratch.broadcast[1];
      prefix |= uint32_t(scratch.broadcast[0]) << shift;
      mask |= 255u << shift;
      if (kAdds != kNone && scratch.broadcast[2] == remaining) break;
    }
  }
  if (tid == 0)
    for (int i = 0; i < kMaxStamps; ++i)
      stamps[int64_t(blockIdx.x) * kMaxStamps + i] = i < nt ? t[i] - t[0] : -1;
}

template <int kAdds>
void run(const char* name, const float* scores, int n, int k, int sms, long long* stamps) {
  select_stamped<kAdds><<<sms, kThreads>>>(scores, n, k, stamps);
  TA_CUDA_CHECK(cudaGetLastError());
  TA_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<long long> s(size_t(sms) * kMaxStamps);
  TA_CUDA_CHECK(cudaMemcpy(s.data(), stamps, s.size() * 8, cudaMemcpyDeviceToHost));
  std::printf("n %4d k %3d %-5s (CTA-median cycles from the start; per pass: cleared, added, "
              "digit):", n, k, name);
  for (int i = 1; i < kMaxStamps; ++i) {
    std::vector<long long> col;
    for (int b = 0; b < sms; ++b) col.push_back(s[size_t(b) * kMaxStamps + i]);
    std::sort(col.begin(), col.end());
    if (col[sms / 2] < 0) break;
    std::printf("%s%lld", (i - 1) % 3 == 0 ? " |" : " ", col[sms / 2]);
  }
  std::printf("\n");
}

int main() {
  int sms = 0;
  TA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  long long* stamps = nullptr;
  TA_CUDA_CHECK(cudaMalloc(&stamps, size_t(sms) * kMaxStamps * 8));
  const int cases[][2] = {{512, 64}, {64, 8}};
  for (const auto& c : cases) {
    std::vector<float> host(size_t(sms) * c[0]);
    for (float& x : host) x = 4.f + normal(gen);
    float* scores = nullptr;
    TA_CUDA_CHECK(cudaMalloc(&scores, host.size() * 4));
    TA_CUDA_CHECK(cudaMemcpy(scores, host.data(), host.size() * 4, cudaMemcpyHostToDevice));
    run<kMatch>("match", scores, c[0], c[1], sms, stamps);
    run<kPlain>("plain", scores, c[0], c[1], sms, stamps);
    run<kLead>("lead", scores, c[0], c[1], sms, stamps);
    run<kNone>("none", scores, c[0], c[1], sms, stamps);
    TA_CUDA_CHECK(cudaFree(scores));
  }
  return 0;
}
