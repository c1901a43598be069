// The DRAM read rate the sparse decode could reach: random whole-page chunks (one page of one kv
// head, K and V: page_size x D x 2 bytes each) read in the layout and CTA split of sparse decode
// B8/32k, beside the same bytes read contiguously by the same kernel. Issue #5's 2.4 TB/s bar
// counts the selected K/V bytes over the whole call; this says how close to the device that is.
//
// Every byte counted is read: each thread XORs its 16-byte words, and the XOR of all threads'
// results must equal the XOR of the same chunks that the host computes from the fill's hash, or
// the run fails.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/check.h"
#include "harness/random_word.h"
#include "harness/timing.h"

namespace {

using triageattention::bench::random_word;

struct Options {
  int batch = 8, heads_kv = 8, head_dim = 128;
  int64_t seqlen = 32768;
  int64_t selected_tokens = 4096;  // per (sequence, kv head): sparse B8/32k's 256 pages of 16
  int splits = 4;                  // CTAs per (sequence, kv head), as the decode picks there
  triageattention::bench::TimingOptions timing;  // main sets 20 timed runs; --runs overrides
};

constexpr int kThreads = 256;
constexpr int kChunksPerStage = 4;  // x2 (K and V) 16-byte copies per thread per stage
constexpr int kStages = 3;          // 96 KB of shared memory, two stages (64 KB) in flight
constexpr int kMaxChunksPerCta = 1024;
constexpr int kStageWords = 2 * kChunksPerStage * kThreads;
constexpr int kSmemBytes = kStages * kStageWords * 16;

__device__ __forceinline__ void copy16(uint4* dst, const uint4* src) {
  const auto s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(src));
}

__host__ __device__ __forceinline__ void xor_into(uint4& acc, const uint4& v) {
  acc.x ^= v.x;
  acc.y ^= v.y;
  acc.z ^= v.z;
  acc.w ^= v.w;
}

// CTA c reads chunks [c * per_cta, (c + 1) * per_cta) of the list from K and from V; chunk i
// starts at offsets[i] (in 16-byte words) in both. A chunk is chunk_words words, a multiple of
// kThreads; per_cta a multiple of kChunksPerStage. The CTA's offsets are staged in shared memory
// first, as the decode resolves its page list before streaming. The copies go through shared
// memory (cp.async, as the decode's do), so the bytes in flight hold no registers; each thread
// reads back only what it copied, so no barrier is needed between stages.
__global__ void __launch_bounds__(kThreads) gather_read(const uint4* k, const uint4* v,
                                                         const int64_t* offsets, int per_cta,
                                                         int chunk_words, uint4* out) {
  extern __shared__ uint4 stages[];
  __shared__ int64_t chunk_at[kMaxChunksPerCta];
  for (int c = threadIdx.x; c < per_cta; c += kThreads) {
    chunk_at[c] = offsets[int64_t(blockIdx.x) * per_cta + c];
  }
  __syncthreads();
  const int groups = per_cta / kChunksPerStage;
  const int steps = chunk_words / kThreads * groups;
  auto issue = [&](int step) {
    if (step < steps) {
      const int w = threadIdx.x + step / groups * kThreads;
      const int c = step % groups * kChunksPerStage;
      uint4* slot = stages + step % kStages * kStageWords + threadIdx.x;
#pragma unroll
      for (int j = 0; j < kChunksPerStage; ++j) {
        copy16(slot + (2 * j) * kThreads, k + chunk_at[c + j] + w);
        copy16(slot + (2 * j + 1) * kThreads, v + chunk_at[c + j] + w);
      }
    }
    asm volatile("cp.async.commit_group;");
  };
  for (int step = 0; step < kStages - 1; ++step) issue(step);
  uint4 acc = make_uint4(0, 0, 0, 0);
  for (int step = 0; step < steps; ++step) {
    asm volatile("cp.async.wait_group %0;" ::"n"(kStages - 2));
    const uint4* slot = stages + step % kStages * kStageWords + threadIdx.x;
#pragma unroll
    for (int j = 0; j < 2 * kChunksPerStage; ++j) xor_into(acc, slot[j * kThreads]);
    issue(step + kStages - 1);
  }
  out[int64_t(blockIdx.x) * kThreads + threadIdx.x] = acc;
}

__global__ void fill_random(uint32_t* x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    x[i] = random_word(i, seed);
  }
}

constexpr uint32_t kSeedK = 1, kSeedV = 2;

// The XOR of every 16-byte word of the listed chunks of K and V, from the fill's hash.
uint4 expected_xor(const std::vector<int64_t>& offsets, int chunk_words) {
  uint4 acc = make_uint4(0, 0, 0, 0);
  for (int64_t at : offsets) {
    for (int64_t word = at; word < at + chunk_words; ++word) {
      for (uint32_t seed : {kSeedK, kSeedV}) {
        xor_into(acc, make_uint4(random_word(4 * word, seed), random_word(4 * word + 1, seed),
                                 random_word(4 * word + 2, seed),
                                 random_word(4 * word + 3, seed)));
      }
    }
  }
  return acc;
}

void run_case(const Options& o, int page_size, bool contiguous, cudaStream_t stream,
              triageattention::bench::Timer& timer) {
  const int chunk_words = page_size * o.head_dim * 2 / 16;  // bf16 page of one kv head
  const int64_t pages_per_seq = o.seqlen / page_size;
  const int64_t num_pages = o.batch * pages_per_seq;
  const int64_t selected = o.selected_tokens / page_size;
  const int pairs = o.batch * o.heads_kv;
  const int ctas = pairs * o.splits;
  if (selected % (int64_t(o.splits) * kChunksPerStage) != 0 || chunk_words % kThreads != 0 ||
      selected > pages_per_seq || selected / o.splits > kMaxChunksPerCta)
    throw std::invalid_argument("--splits: each CTA needs a multiple of " +
                                std::to_string(kChunksPerStage) + " pages, at most " +
                                std::to_string(kMaxChunksPerCta));
  const int per_cta = int(selected / o.splits);

  // The cache is [num_pages, Hkv, page_size, D]; pages are placed at random (a shuffled page
  // table), and each (sequence, kv head) selects `selected` distinct pages of its own at random.
  std::mt19937 rng(page_size);
  std::vector<int64_t> table(num_pages);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<int64_t> offsets;
  offsets.reserve(int64_t(pairs) * selected);
  std::vector<int64_t> logical(pages_per_seq);
  for (int b = 0; b < o.batch; ++b) {
    for (int h = 0; h < o.heads_kv; ++h) {
      std::iota(logical.begin(), logical.end(), 0);
      std::shuffle(logical.begin(), logical.end(), rng);
      std::sort(logical.begin(), logical.begin() + selected);
      for (int64_t i = 0; i < selected; ++i) {
        const int64_t physical = table[b * pages_per_seq + logical[i]];
        offsets.push_back((physical * o.heads_kv + h) * chunk_words);
      }
    }
  }
  if (contiguous) {  // the same number of chunks, back to back from the cache's start
    for (std::size_t i = 0; i < offsets.size(); ++i) offsets[i] = int64_t(i) * chunk_words;
  }

  const int64_t cache_words = num_pages * o.heads_kv * chunk_words;
  uint4 *k, *v, *out;
  int64_t* d_offsets;
  BENCH_CUDA_CHECK(cudaMalloc(&k, cache_words * 16));
  BENCH_CUDA_CHECK(cudaMalloc(&v, cache_words * 16));
  BENCH_CUDA_CHECK(cudaMalloc(&out, int64_t(ctas) * kThreads * 16));
  BENCH_CUDA_CHECK(cudaMalloc(&d_offsets, offsets.size() * sizeof(int64_t)));
  fill_random<<<1024, 256, 0, stream>>>(reinterpret_cast<uint32_t*>(k), cache_words * 4, kSeedK);
  BENCH_CUDA_CHECK(cudaGetLastError());
  fill_random<<<1024, 256, 0, stream>>>(reinterpret_cast<uint32_t*>(v), cache_words * 4, kSeedV);
  BENCH_CUDA_CHECK(cudaGetLastError());
  BENCH_CUDA_CHECK(cudaMemcpyAsync(d_offsets, offsets.data(), offsets.size() * sizeof(int64_t),
                                   cudaMemcpyHostToDevice, stream));
  BENCH_CUDA_CHECK(cudaMemsetAsync(out, 0xff, int64_t(ctas) * kThreads * 16, stream));

  BENCH_CUDA_CHECK(cudaFuncSetAttribute(gather_read, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        kSmemBytes));
  const auto t = timer.measure(
      [&](cudaStream_t s, int) {
        gather_read<<<ctas, kThreads, kSmemBytes, s>>>(k, v, d_offsets, per_cta, chunk_words,
                                                       out);
        BENCH_CUDA_CHECK(cudaGetLastError());
      },
      o.timing);

  std::vector<uint4> h_out(int64_t(ctas) * kThreads);
  BENCH_CUDA_CHECK(cudaMemcpy(h_out.data(), out, h_out.size() * 16, cudaMemcpyDeviceToHost));
  uint4 device_xor = make_uint4(0, 0, 0, 0);
  for (const uint4& x : h_out) xor_into(device_xor, x);
  const uint4 expected = expected_xor(offsets, chunk_words);
  const bool ok = device_xor.x == expected.x && device_xor.y == expected.y &&
                  device_xor.z == expected.z && device_xor.w == expected.w;

  const double bytes = double(offsets.size()) * chunk_words * 16 * 2;
  std::printf("| %s | %d | %d KB | %d | %.1f | %.4f | %.1f%% | %.0f | %s |\n",
              contiguous ? "contiguous" : "random pages", page_size, chunk_words * 16 / 1024, ctas,
              bytes / 1e6, t.median_ms, 100 * t.spread, bytes / (t.median_ms * 1e-3) / 1e9,
              ok ? "XOR matches host" : "XOR MISMATCH");
  BENCH_CUDA_CHECK(cudaFree(k));
  BENCH_CUDA_CHECK(cudaFree(v));
  BENCH_CUDA_CHECK(cudaFree(out));
  BENCH_CUDA_CHECK(cudaFree(d_offsets));
  if (!ok) throw std::runtime_error("gather_read did not read every chunk");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.timing.timed_runs = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--splits") && i + 1 < argc) {
      o.splits = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      o.timing.timed_runs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--l2-flush") && i + 1 < argc) {
      try {
        o.timing.l2_flush = triageattention::bench::parse_l2_flush(argv[++i]);
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_gather_ceiling [--splits S] [--runs R]\n"
                   "                            [--l2-flush read|write]\n"
                   "  Reads B8 x Hkv8 x 4096 selected tokens of K and V (D 128, bf16) as random\n"
                   "  whole pages of 16/32/64 tokens and contiguously; S CTAs per (sequence, kv\n"
                   "  head), default 4 (sparse decode B8/32k).\n");
      return 2;
    }
  }
  if (o.splits < 1 || o.timing.timed_runs < 1) {
    std::fprintf(stderr, "--splits and --runs must be positive\n");
    return 2;
  }
  try {
    cudaStream_t stream;
    BENCH_CUDA_CHECK(cudaStreamCreate(&stream));
    triageattention::bench::Timer timer(stream);
    std::printf("%s\n\n", timer.describe_flush(o.timing).c_str());
    std::printf("| pattern | page | chunk | CTAs | MB read | ms (median) | spread | GB/s | check |\n"
                "|---|---|---|---|---|---|---|---|---|\n");
    for (int page_size : {16, 32, 64}) {
      for (bool contiguous : {false, true}) run_case(o, page_size, contiguous, stream, timer);
    }
    BENCH_CUDA_CHECK(cudaStreamDestroy(stream));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gather_ceiling: %s\n", e.what());
    return 1;
  }
  return 0;
}
