// Block-sparse attention forward: useful TFLOP/s of the dense and sparse modes on one shape.
// Useful FLOPs = 4 * D * (unmasked query-key pairs), counted on the host from the pattern.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "harness/check.h"
#include "harness/random_word.h"
#include "harness/timing.h"
#include "triageattention/attention.h"

namespace {

struct Options {
  int batch = 1, heads = 32, heads_kv = 32, head_dim = 128;
  int64_t seqlen = 16384;
  double density = 0.125;
  int runs = 20;
  bool quick = false;
};

__global__ void fill_random(__nv_bfloat16* x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t h = triageattention::bench::random_word(i, seed);
    x[i] = __float2bfloat16((h & 0xFFFF) / 32768.f - 1.f);
  }
}

// Random pattern: every query block keeps `density` of the key blocks (ascending, sorted).
int64_t random_pattern(const Options& o, int block_size, bool causal, std::vector<int32_t>& indices,
                       std::vector<int32_t>& counts, int& max_blocks) {
  const int64_t nq = triageattention::num_query_blocks(o.seqlen, 128);
  const int64_t nk = triageattention::num_key_blocks(o.seqlen, block_size);
  max_blocks = std::max<int>(1, int(nk * o.density + 0.5));
  indices.assign(std::size_t(o.batch) * o.heads_kv * nq * max_blocks, 0);
  counts.assign(std::size_t(o.batch) * o.heads_kv * nq, 0);
  std::mt19937 rng(block_size);
  int64_t pairs = 0;
  std::vector<int32_t> all(nk);
  std::iota(all.begin(), all.end(), 0);
  for (std::size_t row = 0; row < counts.size(); ++row) {
    const int64_t qb = int64_t(row % nq);
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<int32_t> pick(all.begin(), all.begin() + max_blocks);
    std::sort(pick.begin(), pick.end());
    std::copy(pick.begin(), pick.end(), indices.begin() + row * max_blocks);
    counts[row] = max_blocks;
    for (int32_t blk : pick) {
      for (int64_t q = qb * 128; q < std::min<int64_t>((qb + 1) * 128, o.seqlen); ++q) {
        const int64_t first = int64_t(blk) * block_size;
        int64_t last = std::min<int64_t>(first + block_size, o.seqlen) - 1;
        if (causal) last = std::min(last, q);
        if (last >= first) pairs += last - first + 1;
      }
    }
  }
  return pairs * (o.heads / o.heads_kv);  // pairs per query head
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) o.quick = true;
    else if (!std::strcmp(argv[i], "--seqlen") && i + 1 < argc) o.seqlen = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--heads-kv") && i + 1 < argc) o.heads_kv = std::atoi(argv[++i]);
  }
  if (o.quick) o.runs = 5;
  const int64_t q_elems = int64_t(o.batch) * o.heads * o.seqlen * o.head_dim;
  const int64_t kv_elems = int64_t(o.batch) * o.heads_kv * o.seqlen * o.head_dim;
  __nv_bfloat16 *q, *k, *v, *out;
  BENCH_CUDA_CHECK(cudaMalloc(&q, q_elems * 2));
  BENCH_CUDA_CHECK(cudaMalloc(&k, kv_elems * 2));
  BENCH_CUDA_CHECK(cudaMalloc(&v, kv_elems * 2));
  BENCH_CUDA_CHECK(cudaMalloc(&out, q_elems * 2));
  fill_random<<<1024, 256>>>(q, q_elems, 1);
  fill_random<<<1024, 256>>>(k, kv_elems, 2);
  fill_random<<<1024, 256>>>(v, kv_elems, 3);
  BENCH_CUDA_CHECK(cudaDeviceSynchronize());

  triageattention::BlockSparseAttentionParams p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.batch = o.batch;
  p.heads_q = o.heads;
  p.heads_kv = o.heads_kv;
  p.seqlen_q = p.seqlen_k = o.seqlen;
  p.head_dim = o.head_dim;
  p.q_strides = p.out_strides = {o.heads * o.seqlen * o.head_dim, o.seqlen * o.head_dim, o.head_dim};
  p.k_strides = p.v_strides = {o.heads_kv * o.seqlen * o.head_dim, o.seqlen * o.head_dim, o.head_dim};
  p.pattern_heads = o.heads_kv;

  std::printf("| case | block | ms (median) | spread | useful TFLOP/s |\n|---|---|---|---|---|\n");
  cudaStream_t stream;
  BENCH_CUDA_CHECK(cudaStreamCreate(&stream));
  triageattention::bench::Timer timer(stream);
  triageattention::bench::TimingOptions timing;
  timing.timed_runs = o.runs;
  auto report = [&](const char* name, int block, double pairs) {
    const auto t = timer.measure(
        [&](cudaStream_t s, int) { triageattention::block_sparse_attention(p, s); }, timing);
    const double tflops = 4.0 * o.head_dim * pairs * o.batch / (t.median_ms * 1e-3) / 1e12;
    std::printf("| %s | %d | %.3f | %.1f%% | %.1f |\n", name, block, t.median_ms, 100 * t.spread, tflops);
  };
  const double S = double(o.seqlen);
  for (bool causal : {false, true}) {
    p.causal = causal;
    p.kv_indices = nullptr;
    p.block_size = 128;
    report(causal ? "dense causal" : "dense", 128, o.heads * (causal ? S * (S + 1) / 2 : S * S));
  }
  p.causal = false;
  for (int bs : {128, 64, 32, 16}) {
    std::vector<int32_t> indices, counts;
    int max_blocks = 0;
    const int64_t pairs = random_pattern(o, bs, false, indices, counts, max_blocks);
    int32_t *d_indices, *d_counts;
    BENCH_CUDA_CHECK(cudaMalloc(&d_indices, indices.size() * 4));
    BENCH_CUDA_CHECK(cudaMalloc(&d_counts, counts.size() * 4));
    BENCH_CUDA_CHECK(cudaMemcpy(d_indices, indices.data(), indices.size() * 4, cudaMemcpyHostToDevice));
    BENCH_CUDA_CHECK(cudaMemcpy(d_counts, counts.data(), counts.size() * 4, cudaMemcpyHostToDevice));
    p.kv_indices = d_indices;
    p.kv_counts = d_counts;
    p.max_blocks = max_blocks;
    p.block_size = bs;
    report("sparse 12.5%", bs, double(pairs));
    BENCH_CUDA_CHECK(cudaFree(d_indices));
    BENCH_CUDA_CHECK(cudaFree(d_counts));
  }
  return 0;
}
