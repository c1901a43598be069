// The decode selection's radix select (cta_select_topk) alone, to tell its own cost from the
// cost of fetching its code: one 128-thread CTA per SM selects the top k of n keys already in
// shared memory twice in a row, after an L2 flush, stamping clock64 around each call. The same
// for warp_select_topk on warp 0 alone (its count passed to the CTA through shared memory).
//   first call: cold instruction caches (the code comes from L2 or DRAM);
//   second call: the same instructions again, now cached.
// Random scores (normal), so the radix passes run as they do on real page scores.
// Build: nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o select_bench select_bench.cu
// (with -I of a patched tree's csrc first, it times that tree's select; -DSELECT_EXCHANGE passes
// cta_select_topk the exchange buffer of session 14's cand_b.patch, which sorts one-tile rows).
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "common/radix_topk.cuh"

using namespace triageattention::detail;

constexpr int kThreads = 128;
constexpr int kMaxKeys = 2048;

template <bool kWholeCta>
__global__ void __launch_bounds__(kThreads) select_twice(const float* scores, int n, int k,
                                                         long long* cycles, int* selected) {
  __shared__ uint32_t keys[kMaxKeys];
  __shared__ int out[kMaxKeys];
  __shared__ CtaSelectScratch scratch;
  __shared__ int warp_count;
#ifdef SELECT_EXCHANGE
  __shared__ uint64_t exchange[2 * kThreads * 8];
#endif
  for (int i = threadIdx.x; i < n; i += kThreads)
    keys[i] = score_key(scores[int64_t(blockIdx.x) * n + i]);
  const auto key_of = [&](int i) { return keys[i]; };
  const auto write = [&](int pos, int i) { out[pos] = i; };
  __syncthreads();
  long long stamp[3];
  int count = 0;
  for (int call = 0; call < 2; ++call) {
    __syncthreads();
    stamp[call] = clock64();
    if (kWholeCta) {
#ifdef SELECT_EXCHANGE
      count = cta_select_topk<8>(key_of, n, k, scratch, write, exchange);
#else
      count = cta_select_topk<8>(key_of, n, k, scratch, write);
#endif
    } else {
      if (threadIdx.x < 32) {
        const int c = warp_select_topk(key_of, n, k, scratch.histogram, write);
        if (threadIdx.x == 0) warp_count = c;
      }
      __syncthreads();
      count = warp_count;
    }
    __syncthreads();
    stamp[call + 1] = clock64();
  }
  if (threadIdx.x == 0) {
    cycles[2 * blockIdx.x] = stamp[1] - stamp[0];
    cycles[2 * blockIdx.x + 1] = stamp[2] - stamp[1];
  }
  for (int i = threadIdx.x; i < count; i += kThreads)
    selected[int64_t(blockIdx.x) * k + i] = out[i];
}

// Three repetitions, each after an L2 flush: median and largest cycles of the first and the
// second call over the CTAs, and every CTA's selection against a sort on the host.
template <bool kWholeCta>
void time_select(const char* name, const std::vector<float>& host, const float* scores, int n,
                 int k, int sms, void* flush, size_t flush_bytes, long long* cycles,
                 int* selected) {
  for (int rep = 0; rep < 3; ++rep) {
    TA_CUDA_CHECK(cudaMemset(flush, rep, flush_bytes));  // evicts the code and data from L2
    select_twice<kWholeCta><<<sms, kThreads>>>(scores, n, k, cycles, selected);
    TA_CUDA_CHECK(cudaGetLastError());
    TA_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<long long> cyc(size_t(sms) * 2);
    TA_CUDA_CHECK(cudaMemcpy(cyc.data(), cycles, cyc.size() * 8, cudaMemcpyDeviceToHost));
    std::vector<long long> first, second;
    for (int b = 0; b < sms; ++b) {
      first.push_back(cyc[2 * b]);
      second.push_back(cyc[2 * b + 1]);
    }
    std::sort(first.begin(), first.end());
    std::sort(second.begin(), second.end());
    bool ok = true;
    std::vector<int> sel(k), idx(n);
    for (int b = 0; b < sms; ++b) {
      TA_CUDA_CHECK(
          cudaMemcpy(sel.data(), selected + size_t(b) * k, k * 4, cudaMemcpyDeviceToHost));
      const float* row = host.data() + size_t(b) * n;
      for (int i = 0; i < n; ++i) idx[i] = i;
      std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) { return row[x] > row[y]; });
      std::vector<int> expect(idx.begin(), idx.begin() + k);
      std::sort(expect.begin(), expect.end());
      ok = ok && expect == sel;
    }
    std::printf("%-16s n %5d k %4d rep %d: first %6lld / %6lld, second %6lld / %6lld  %s\n", name,
                n, k, rep, first[sms / 2], first.back(), second[sms / 2], second.back(),
                ok ? "every CTA's selection ok" : "SELECTION WRONG");
  }
}

int main() {
  int sms = 0;
  TA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  void* flush = nullptr;
  const size_t flush_bytes = size_t(256) << 20;
  TA_CUDA_CHECK(cudaMalloc(&flush, flush_bytes));
  const int cases[][2] = {{512, 64}, {2048, 256}, {64, 8}, {1000, 125}, {300, 37}};
  std::printf("cycles of the select, %d CTAs of %d threads, median / max over CTAs\n", sms,
              kThreads);
  for (const auto& c : cases) {
    const int n = c[0], k = c[1];
    std::vector<float> host(size_t(sms) * n);
    for (float& x : host) x = 4.f + normal(gen);
    float* scores = nullptr;
    long long* cycles = nullptr;
    int* selected = nullptr;
    TA_CUDA_CHECK(cudaMalloc(&scores, host.size() * 4));
    TA_CUDA_CHECK(cudaMalloc(&cycles, size_t(sms) * 2 * 8));
    TA_CUDA_CHECK(cudaMalloc(&selected, size_t(sms) * k * 4));
    TA_CUDA_CHECK(cudaMemcpy(scores, host.data(), host.size() * 4, cudaMemcpyHostToDevice));
    time_select<true>("cta_select_topk", host, scores, n, k, sms, flush, flush_bytes, cycles,
                      selected);
    time_select<false>("warp_select_topk", host, scores, n, k, sms, flush, flush_bytes, cycles,
                       selected);
    TA_CUDA_CHECK(cudaFree(scores));
    TA_CUDA_CHECK(cudaFree(cycles));
    TA_CUDA_CHECK(cudaFree(selected));
  }
  return 0;
}
