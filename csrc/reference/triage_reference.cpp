// CPU reference of the triage rule. Built with -ffp-contract=off: every fp32 operation below is
// the one the kernels perform (fma only where written), so scores are bit-identical to theirs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "triageattention/reference.h"

namespace triageattention::reference {
namespace {

// Means of consecutive blocks of `rows` rows of x [S, D]: [nBlocks, D].
std::vector<float> block_means(const float* x, int64_t seqlen, int D, int rows) {
  const int64_t blocks = (seqlen + rows - 1) / rows;
  std::vector<float> means(blocks * D);
  for (int64_t n = 0; n < blocks; ++n) {
    const int64_t first = n * rows, last = std::min(first + rows, seqlen);
    for (int d = 0; d < D; ++d) {
      float sum = 0.f;
      for (int64_t r = first; r < last; ++r) sum += x[r * D + d];
      means[n * D + d] = sum / float(last - first);
    }
  }
  return means;
}

struct Candidate {
  int index;
  bool forced;
  float score;
};

// Forced blocks first, then higher scores (NaN lowest), ties to the lower index.
bool ranks_before(const Candidate& a, const Candidate& b) {
  if (a.forced != b.forced) return a.forced;
  if (!a.forced) {
    const bool a_nan = std::isnan(a.score), b_nan = std::isnan(b.score);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && a.score != b.score) return a.score > b.score;
  }
  return a.index < b.index;
}

}  // namespace

void triage(const AttentionShape& s, const float* q, const float* k, const TriageOptions& o,
            std::vector<int32_t>& kv_indices, std::vector<int32_t>& kv_counts) {
  if (s.batch < 0 || s.heads_q < 1 || s.heads_kv < 1 || s.heads_q % s.heads_kv != 0 ||
      s.seqlen_q < 0 || s.seqlen_k < 0 || s.head_dim < 1)
    throw std::invalid_argument(
        "reference::triage: need batch >= 0, heads_q a multiple of heads_kv >= 1, seqlens >= 0 "
        "and head_dim >= 1");
  if (o.block_size < 1 || o.q_block_size < 1 || o.topk < 1 || o.sink_blocks < 0 ||
      o.local_blocks < 0 || !(o.scale >= 0.f))
    throw std::invalid_argument(
        "reference::triage: need block_size, q_block_size, topk >= 1, sink_blocks, "
        "local_blocks >= 0 and scale >= 0 (0 selects 1/sqrt(head_dim))");
  const int D = s.head_dim;
  const int64_t nq = (s.seqlen_q + o.q_block_size - 1) / o.q_block_size;
  const int64_t nk = (s.seqlen_k + o.block_size - 1) / o.block_size;
  const int max_blocks = int(std::min<int64_t>(o.topk, nk));
  const int group = s.heads_q / s.heads_kv;
  const int pattern_heads = o.share_gqa ? s.heads_kv : s.heads_q;
  const float scale = o.scale > 0.f ? o.scale : 1.f / std::sqrt(float(D));
  kv_indices.assign(std::size_t(s.batch) * pattern_heads * nq * max_blocks, -1);
  kv_counts.assign(std::size_t(s.batch) * pattern_heads * nq, 0);

  for (int b = 0; b < s.batch; ++b) {
    std::vector<std::vector<float>> q_means(s.heads_q), k_means(s.heads_kv);
    for (int h = 0; h < s.heads_q; ++h)
      q_means[h] = block_means(q + (int64_t(b) * s.heads_q + h) * s.seqlen_q * D, s.seqlen_q, D,
                               o.q_block_size);
    for (int h = 0; h < s.heads_kv; ++h)
      k_means[h] = block_means(k + (int64_t(b) * s.heads_kv + h) * s.seqlen_k * D, s.seqlen_k, D,
                               o.block_size);
    for (int hs = 0; hs < pattern_heads; ++hs) {
      const int kv_head = o.share_gqa ? hs : hs / group;
      const int first_head = o.share_gqa ? hs * group : hs;
      const int heads = o.share_gqa ? group : 1;
      for (int64_t i = 0; i < nq; ++i) {
        const int64_t last_query = std::min((i + 1) * o.q_block_size, s.seqlen_q) - 1;
        const int64_t last_key = last_query + s.seqlen_k - s.seqlen_q;
        std::vector<Candidate> candidates;
        const int64_t diagonal =
            std::clamp<int64_t>(last_key, 0, std::max<int64_t>(s.seqlen_k - 1, 0)) / o.block_size;
        for (int64_t j = 0; j < nk; ++j) {
          if (o.causal && j * o.block_size > last_key) continue;  // first key not visible
          float score = 0.f;
          for (int g = 0; g < heads; ++g) {
            const float* qm = &q_means[first_head + g][i * D];
            const float* km = &k_means[kv_head][j * D];
            float dot = 0.f;
            for (int d = 0; d < D; ++d) dot = std::fma(qm[d], km[d], dot);
            score = g == 0 ? dot * scale : std::fmax(score, dot * scale);
          }
          const bool forced = j < o.sink_blocks || (j > diagonal - o.local_blocks && j <= diagonal);
          candidates.push_back({int(j), forced, score});
        }
        std::sort(candidates.begin(), candidates.end(), ranks_before);
        const int count = int(std::min<std::size_t>(max_blocks, candidates.size()));
        std::vector<int> chosen;
        for (int c = 0; c < count; ++c) chosen.push_back(candidates[c].index);
        std::sort(chosen.begin(), chosen.end());
        const int64_t row = (int64_t(b) * pattern_heads + hs) * nq + i;
        std::copy(chosen.begin(), chosen.end(), kv_indices.begin() + row * max_blocks);
        kv_counts[row] = count;
      }
    }
  }
}

}  // namespace triageattention::reference
