// Online softmax on wgmma accumulator fragments, and the fragment views it needs.
//
// A 64 x N wgmma accumulator gives each thread of a warpgroup two rows (lane / 4 and lane / 4 + 8
// within its warp's 16) and, in each, N / 4 columns (pairs at 2 * (lane % 4) + 8 * j); the four
// lanes of a quad share a row, so row reductions are two xor-shuffles.
#pragma once

#include <cute/tensor.hpp>

namespace triageattention::attention {

using namespace cute;

// ((2, 2, V), M, N) accumulator layout -> ((2 rows, M), (2, V, N) columns).
template <class Layout>
CUTE_HOST_DEVICE constexpr auto accum_rowcol(Layout const& l) {
  static_assert(rank_v<decltype(get<0>(Layout{}))> == 3, "expected an sm90 wgmma accumulator");
  return make_layout(make_layout(get<0, 1>(l), get<1>(l)),
                     make_layout(get<0, 0>(l), get<0, 2>(l), get<2>(l)));
}

// The accumulator of S = Q K^T, converted in place to 16-bit, read as the register A operand of
// O += P V: value pairs (2), row halves (2) and column groups of 8 paired into k16 steps (2, V/2).
template <class Layout>
CUTE_HOST_DEVICE constexpr auto accum_as_operand_a(Layout const& l) {
  auto groups = logical_divide(get<0, 2>(l), _2{});  // (2, V / 2)
  return make_layout(make_layout(get<0, 0>(l), get<0, 1>(l), get<0>(groups)), get<1>(l),
                     make_layout(get<1>(groups), get<2>(l)));
}

// 2^x on the special-function unit in one instruction (exp2f without fast-math adds range
// handling around it); flushes denormal results to zero, exact for -inf (gives 0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffff, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffff, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffff, x, 1);
  return x + __shfl_xor_sync(0xffffffff, x, 2);
}

// Running max and sum of the rows a thread holds. Scores are kept raw; the scale is folded into
// the base-2 exponent, so exp(scale * (s - max)) = exp2(s * scale_log2 - max * scale_log2).
template <int kRows>
struct OnlineSoftmax {
  float row_max[kRows];
  float row_sum[kRows];  // this thread's partial sum; reduced over the quad at the end
  float scale_log2;

  __device__ explicit OnlineSoftmax(float scale_log2_) : scale_log2(scale_log2_) {
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      row_max[i] = -INFINITY;
      row_sum[i] = 0.f;
    }
  }

  // Turns the scores S (rows x cols view) into probabilities P in place, relative to the updated
  // row maxima, and returns per row the factor that rescales the output accumulated so far.
  template <class TensorS>
  __device__ void update(TensorS& s, float (&correction)[kRows]) {
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      // Four independent partial reductions: a single chain over the row's 32+ values would
      // serialize on instruction latency.
      float part[4] = {row_max[i], -INFINITY, -INFINITY, -INFINITY};
      CUTE_UNROLL
      for (int j = 0; j < size<1>(s); ++j) part[j % 4] = fmaxf(part[j % 4], s(i, j));
      const float m = quad_max(fmaxf(fmaxf(part[0], part[1]), fmaxf(part[2], part[3])));
      // A row that has seen only masked keys keeps max -inf; use 0 so that no -inf - -inf occurs.
      const float m_scaled = m == -INFINITY ? 0.f : m * scale_log2;
      correction[i] = fast_exp2(row_max[i] * scale_log2 - m_scaled);
      row_max[i] = m;
      float sums[4] = {0.f, 0.f, 0.f, 0.f};
      CUTE_UNROLL
      for (int j = 0; j < size<1>(s); ++j) {
        s(i, j) = fast_exp2(s(i, j) * scale_log2 - m_scaled);
        sums[j % 4] += s(i, j);
      }
      row_sum[i] = row_sum[i] * correction[i] + ((sums[0] + sums[1]) + (sums[2] + sums[3]));
    }
  }

  template <class TensorO>
  __device__ static void rescale(TensorO& o, const float (&correction)[kRows]) {
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      CUTE_UNROLL
      for (int j = 0; j < size<1>(o); ++j) o(i, j) *= correction[i];
    }
  }

  // Normalizes O by the row sums and returns each row's natural-log sum-exp (-inf and O = 0 for
  // a row that saw no key).
  template <class TensorO>
  __device__ void finalize(TensorO& o, float (&lse)[kRows]) {
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      const float sum = quad_sum(row_sum[i]);
      const float inv = sum > 0.f ? 1.f / sum : 0.f;
      CUTE_UNROLL
      for (int j = 0; j < size<1>(o); ++j) o(i, j) *= inv;
      constexpr float kLn2 = 0.6931471805599453f;
      lse[i] = sum > 0.f ? (row_max[i] * scale_log2 + log2f(sum)) * kLn2 : -INFINITY;
    }
  }
};

}  // namespace triageattention::attention
