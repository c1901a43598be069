// Merge of partial attention results over disjoint key sets, the one combine step of split-KV
// decoding: used inside a CTA (its warps' partials) and across CTAs (the splits' partials).
//
// Partial i of a row is (out_i, lse_i): out_i normalized by its own softmax sum, lse_i its
// natural-log sum-exp (-inf: it saw no key, and out_i is never read). The merged row is
//   lse = log(sum_i exp(lse_i)),  out = sum_i exp(lse_i - lse) * out_i,
// summed in index order, so the result is deterministic.
#pragma once

#include <cmath>

#include "attention/softmax.h"
#include "decode/decode_launch.h"

namespace triageattention::decode {

struct MergeWeights {
  float max = -INFINITY;  // largest lse_i
  float inv_sum = 0.f;    // 1 / sum_i exp(lse_i - max)
  float lse = -INFINITY;  // merged lse (natural log)
};

template <class LseAt>
__device__ __forceinline__ MergeWeights merge_weights(int n, const LseAt& lse_at) {
  MergeWeights w;
#pragma unroll 4
  for (int i = 0; i < n; ++i) w.max = fmaxf(w.max, lse_at(i));
  if (w.max == -INFINITY) return w;
  float sum = 0.f;
  for (int i = 0; i < n; ++i) sum += attention::fast_exp2((lse_at(i) - w.max) * kLog2e);
  w.inv_sum = 1.f / sum;
  w.lse = w.max + logf(sum);
  return w;
}

// acc + sum_i weight_i * out_at(i) over the partials i in [begin, end) that saw a key (float4:
// four columns at a time); a merge in windows of partials passes each window's sum on as acc.
template <class LseAt, class OutAt>
__device__ __forceinline__ float4 merge_values(const MergeWeights& w, int begin, int end,
                                               const LseAt& lse_at, const OutAt& out_at,
                                               float4 acc = make_float4(0.f, 0.f, 0.f, 0.f)) {
#pragma unroll 1  // partials come from shared memory; a rolled loop keeps the cold tail code short
  for (int i = begin; i < end; ++i) {
    const float lse = lse_at(i);
    if (lse == -INFINITY) continue;
    const float s = attention::fast_exp2((lse - w.max) * kLog2e) * w.inv_sum;
    const float4 v = out_at(i);
    acc.x += s * v.x;
    acc.y += s * v.y;
    acc.z += s * v.z;
    acc.w += s * v.w;
  }
  return acc;
}

}  // namespace triageattention::decode
