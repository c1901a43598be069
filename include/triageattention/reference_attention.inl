// Template definitions of the reference attention (see reference.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace triageattention::reference {

template <typename Allowed>
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float scale,
               const Allowed& allowed, float* out, float* lse) {
  const int D = s.head_dim;
  const int group = s.heads_q / s.heads_kv;
  std::vector<double> scores(static_cast<std::size_t>(s.seqlen_k));
  std::vector<double> acc(static_cast<std::size_t>(D));
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.heads_q; ++h) {
      const int hk = h / group;
      const float* kh = k + (int64_t(b) * s.heads_kv + hk) * s.seqlen_k * D;
      const float* vh = v + (int64_t(b) * s.heads_kv + hk) * s.seqlen_k * D;
      for (int64_t i = 0; i < s.seqlen_q; ++i) {
        const int64_t row = (int64_t(b) * s.heads_q + h) * s.seqlen_q + i;
        const float* qi = q + row * D;
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < s.seqlen_k; ++j) {
          if (!allowed(b, h, i, j)) {
            scores[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += double(qi[d]) * kh[j * D + d];
          scores[j] = dot * scale;
          max_score = std::max(max_score, scores[j]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0;
        if (max_score > -std::numeric_limits<double>::infinity()) {
          for (int64_t j = 0; j < s.seqlen_k; ++j) {
            if (scores[j] == -std::numeric_limits<double>::infinity()) continue;
            const double p = std::exp(scores[j] - max_score);
            sum += p;
            for (int d = 0; d < D; ++d) acc[d] += p * vh[j * D + d];
          }
        }
        for (int d = 0; d < D; ++d) out[row * D + d] = sum > 0 ? float(acc[d] / sum) : 0.f;
        if (lse) {
          lse[row] = sum > 0 ? float(max_score + std::log(sum))
                             : -std::numeric_limits<float>::infinity();
        }
      }
    }
  }
}

inline bool BlockPattern::allows(const AttentionShape& s, int b, int h, int64_t i, int64_t j) const {
  if (causal && j > i + (s.seqlen_k - s.seqlen_q)) return false;
  if (kv_indices == nullptr) return true;
  const int hs = pattern_heads == s.heads_q ? h : h / (s.heads_q / s.heads_kv);
  const int64_t num_q_blocks = (s.seqlen_q + q_block_size - 1) / q_block_size;
  const int64_t row = (int64_t(b) * pattern_heads + hs) * num_q_blocks + i / q_block_size;
  int count = kv_counts[row];
  count = count < 0 ? 0 : (count > max_blocks ? max_blocks : count);
  const int64_t block = j / block_size;
  for (int e = 0; e < count; ++e) {
    if (kv_indices[row * max_blocks + e] == block) return true;
  }
  return false;
}

}  // namespace triageattention::reference
