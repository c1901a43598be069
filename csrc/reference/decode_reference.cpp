// CPU reference of the decode page selection: plain loops, a sort instead of radix select.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "triageattention/reference_decode.h"

namespace triageattention::reference {
namespace {

// Rank of a score: NaN lowest, then -inf .. +inf, with -0 == +0.
uint32_t score_rank(float s) {
  if (std::isnan(s)) return 1u;
  if (s == 0.f) s = 0.f;
  uint32_t u;
  std::memcpy(&u, &s, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace

void select_decode_pages(const DecodeSelectionShape& s, const float* q, const float* k_min,
                         const float* k_max, const int32_t* page_table, const int32_t* seqlens,
                         int topk, int sink_pages, float* scores, int32_t* indices,
                         int32_t* counts) {
  const int D = s.head_dim, group = s.heads_q / s.heads_kv;
  const int64_t cap = int64_t(s.max_pages) * s.page_size;
  const std::vector<float> zeros(D, 0.f);
  for (int b = 0; b < s.batch; ++b) {
    const int64_t len = std::clamp<int64_t>(seqlens[b], 0, cap);
    const int npages = int((len + s.page_size - 1) / s.page_size);
    const int32_t* table = page_table + int64_t(b) * s.max_pages;
    auto mapped = [&](int p) { return table[p] >= 0 && table[p] < s.num_pages; };
    for (int h = 0; h < s.heads_kv; ++h) {
      const int64_t pair = int64_t(b) * s.heads_kv + h;
      float* pair_scores = scores + pair * s.max_pages;
      std::vector<std::pair<uint32_t, int>> ranked;  // (rank, page) of the candidates
      for (int p = 0; p < npages; ++p) {
        const int64_t summary = (int64_t(table[p]) * s.heads_kv + h) * D;
        const float* lo = mapped(p) ? k_min + summary : zeros.data();
        const float* hi = mapped(p) ? k_max + summary : zeros.data();
        float best = -std::numeric_limits<float>::infinity();
        for (int g = 0; g < group; ++g) {
          for (int t = 0; t < s.seqlen_q; ++t) {
            const float* qr = q + ((pair * group + g) * s.seqlen_q + t) * D;
            float acc = 0.f;
            // max(q lo, q hi) over the page's key range: q hi for q > 0, q lo otherwise
            for (int d = 0; d < D; ++d) acc += qr[d] > 0.f ? qr[d] * hi[d] : qr[d] * lo[d];
            best = std::fmax(best, acc);
          }
        }
        pair_scores[p] = best;
        if (!mapped(p)) continue;
        const bool forced = p < sink_pages || p == npages - 1;
        ranked.push_back({forced ? 0xFFFFFFFFu : score_rank(best), p});
      }
      std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
      });
      const int count = std::min<int>(std::max(topk, 0), int(ranked.size()));
      std::vector<int32_t> chosen;
      for (int i = 0; i < count; ++i) chosen.push_back(ranked[i].second);
      std::sort(chosen.begin(), chosen.end());
      int32_t* row = indices + pair * s.max_pages;
      for (int i = 0; i < s.max_pages; ++i) row[i] = i < count ? chosen[i] : -1;
      counts[pair] = count;
    }
  }
}

}  // namespace triageattention::reference
