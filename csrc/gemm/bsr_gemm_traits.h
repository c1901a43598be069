// Compile-time shape of the BSR GEMM kernel for one (element type, output type, block size).
//
// Every stage holds K depth 64 of one block-row's work: one 64-deep slice of a 64/128 block, or
// 64/bs whole blocks of size 16/32 gathered side by side. Two orientations:
//  - bs 64/128: C = A B directly. The block's rows feed wgmma's M side and kTileN dense columns
//    its N side (m64n256 per warpgroup: the best wgmma shape).
//  - bs 16/32 (NOTE: operands swapped): C^T = B^T A^T. The dense columns feed wgmma's M side
//    (64-row atoms, two warpgroups x four atoms) and the block's bs rows its N side, since a
//    16-row block cannot fill the 64-row M minimum.
#pragma once

#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/arch/mma_sm90.hpp>
#include <cutlass/pipeline/sm90_pipeline.hpp>

#include "common/warpgroup_registers.h"

namespace triageattention::gemm {

using namespace cute;

// Largest K-major swizzle atom whose row (kRowElems elements) it spans exactly.
template <class Element, int kRowElems>
constexpr auto k_major_smem_atom() {
  constexpr int kRowBytes = kRowElems * int(sizeof(Element));
  if constexpr (kRowBytes % 128 == 0) {
    return GMMA::Layout_K_SW128_Atom<Element>{};
  } else if constexpr (kRowBytes % 64 == 0) {
    return GMMA::Layout_K_SW64_Atom<Element>{};
  } else {
    static_assert(kRowBytes % 32 == 0, "a block row must span at least 32 bytes");
    return GMMA::Layout_K_SW32_Atom<Element>{};
  }
}

template <class Element_, class ElementOut_, int kBlockSize_>
struct BsrGemmTraits {
  using Element = Element_;        // cute::half_t or cute::bfloat16_t
  using ElementOut = ElementOut_;  // Element or float
  static constexpr int kBlockSize = kBlockSize_;
  static_assert(kBlockSize == 16 || kBlockSize == 32 || kBlockSize == 64 || kBlockSize == 128,
                "block size must be 16, 32, 64 or 128");

  static constexpr bool kSwapAB = kBlockSize < 64;
  static constexpr int kStageK = 64;
  static constexpr int kBoxK = kBlockSize < 64 ? kBlockSize : 64;  // K depth of one TMA load
  static constexpr int kBoxesPerStage = kStageK / kBoxK;             // blocks gathered per stage
  static constexpr int kStepsPerBlock = kBlockSize / kBoxK;          // stages per block
  // Dense columns of C per work item: 256 for bs 128 (two warpgroups x 64 rows, m64n256 each),
  // 512 for bs 64 (the two warpgroups split the columns, m64n256 each) and for bs 16/32 (two
  // warpgroups x 256 columns on the M side). The small blocks re-read B for every block-row, so
  // a wider tile halves the TMA loads and stage hand-offs per byte of B: at 256 columns bs 16
  // ran at 70 TFLOP/s (B read at 4.4 TB/s), at 512 at 113 (7.1 TB/s, the L2 rate bs 32 reaches).
  static constexpr int kTileN = kBlockSize == 128 ? 256 : 512;
  // bs 64/128: a cluster of two CTAs takes two adjacent column tiles of one block-row, and each
  // loads half of a stage's stored block, multicast to both (-5.6% of a stage's bytes at bs 64,
  // -17% at bs 128). Measured (session 11): bs 64 +4.6% at 50% density, +1% at 12.5%; bs 128
  // -1%. The swapped forms' stored block is their small wgmma N side: no cluster.
  static constexpr int kClusterN = kSwapAB ? 1 : 2;
  using ClusterShape = Shape<Int<kClusterN>, _1, _1>;
  // wgmma batches a consumer keeps running while it waits for the next stage. bs 64/128: none,
  // so each stage is freed as soon as its batch is done. They are L2-bound and their consumers
  // mostly wait for data, and a batch kept in flight across that wait held a finished stage, a
  // third of the ring, until the next one arrived (session 19: +1% at bs 64 50%, +2% at bs 128
  // 12.5%). The swapped forms keep one, as last measured (early release not timed there).
  static constexpr int kBatchesInFlight = kSwapAB ? 1 : 0;
  static constexpr int kConsumerWarpgroups = 2;
  static constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);
  // Registers per thread after setmaxnreg (register_split_fits says why the sum is bounded).
  static constexpr int kProducerRegisters = kSwapAB ? 56 : 40;  // the gathering producer needs more
  static constexpr int kConsumerRegisters = kSwapAB ? 224 : 232;
  static_assert(register_split_fits(kThreads, kProducerRegisters, kConsumerWarpgroups,
                                    kConsumerRegisters),
                "register split exceeds the registers the CTA receives at launch");

  static constexpr int kDenseStageBytes = kTileN * kStageK * int(sizeof(Element));
  static constexpr int kSparseStageBytes = kBlockSize * kStageK * int(sizeof(Element));
  static constexpr int kStageBytes = kDenseStageBytes + kSparseStageBytes;
  // 227 KB is the opt-in limit per block; keep 4 KB for barriers and alignment.
  static constexpr int kSmemForStages = 223 * 1024;
  static constexpr int kStages = kSmemForStages / kStageBytes < 8 ? kSmemForStages / kStageBytes : 8;
  static_assert(kStages >= 2, "need at least a double-buffered pipeline");

  // Dense B slice (n, k): n contiguous, MN-major with 128-byte swizzle, laid out in the order
  // one TMA box writes it: per gathered block (kBoxK rows of K), its kTileN / 64 column groups
  // one after another, each group kBoxK rows of 128 bytes (64 columns) = kBoxK / 8 swizzle atoms
  // stacked along K. One 3D box (64 columns, kBoxK rows, kTileN / 64 groups) of B viewed as
  // (n % 64, k, n / 64) fills a gathered block's whole slice with one TMA instruction. (A plain
  // column-major tiling of the atoms put the K atoms kTileN / 64 KB apart, so that each 64-column
  // box was split into kBoxK / 8 one-kilobyte TMA instructions.)
  static constexpr int kDenseGroups = kTileN / 64;
  using SmemLayoutDenseBox = decltype(tile_to_shape(GMMA::Layout_MN_SW128_Atom<Element>{},
                                                    make_shape(Int<kTileN>{}, Int<kBoxK>{}),
                                                    Step<_2, _1>{}));
  using SmemLayoutDense = decltype(tile_to_shape(
      SmemLayoutDenseBox{}, make_shape(Int<kTileN>{}, Int<kStageK>{}, Int<kStages>{})));
  // Stored blocks (m, k): k contiguous, K-major, with a swizzle one block (or 64 columns) wide
  // so that each gathered block is a whole number of atoms, and the gathered blocks of a stage
  // lie one after another (consecutive stored blocks load with one box).
  using SmemLayoutSparse = decltype(tile_to_shape(
      k_major_smem_atom<Element, kBoxK>(),
      make_shape(Int<kBlockSize>{}, Int<kStageK>{}, Int<kStages>{})));
  // Element offsets the producer writes its TMA boxes at (checked against the layouts by
  // check_smem_box_offsets below).
  static constexpr int kDenseStageElems = kTileN * kStageK;
  static constexpr int kDenseBoxElems = kTileN * kBoxK;    // one gathered block's slice
  static constexpr int kDenseGroupElems = 64 * kBoxK;      // one 64-column group of it
  static constexpr int kSparseStageElems = kBlockSize * kStageK;
  static constexpr int kSparseBoxElems = kBlockSize * kBoxK;  // one gathered block
  static constexpr int kSparseShareElems = kSparseBoxElems / kClusterN;  // one CTA's multicast
  // Swizzle of the stored-block boxes: the row of one box in bytes (32, 64 or 128).
  static constexpr int kSparseSwizzleBytes = kBoxK * int(sizeof(Element));

  static constexpr auto make_mma() {
    if constexpr (kSwapAB) {
      return make_tiled_mma(
          GMMA::ss_op_selector<Element, Element, float, Shape<_64, Int<kBlockSize>, Int<kStageK>>,
                               GMMA::Major::MN, GMMA::Major::K>(),
          Layout<Shape<_2, _1, _1>>{});
    } else {
      return make_tiled_mma(
          GMMA::ss_op_selector<Element, Element, float, Shape<_64, _256, Int<kStageK>>,
                               GMMA::Major::K, GMMA::Major::MN>(),
          Layout<Shape<Int<kBlockSize / 64>, Int<kTileN / 256>, _1>>{});
    }
  }
  using TiledMma = decltype(make_mma());
  // Shape of the output tile in the MMA's (M, N) order.
  using MmaTileShape = std::conditional_t<kSwapAB, Shape<Int<kTileN>, Int<kBlockSize>>,
                                          Shape<Int<kBlockSize>, Int<kTileN>>>;

  using Pipeline = cutlass::PipelineTmaAsync<kStages>;

  struct SharedStorage {
    alignas(1024) cute::ArrayEngine<Element, cosize_v<SmemLayoutDense>> dense;
    alignas(1024) cute::ArrayEngine<Element, cosize_v<SmemLayoutSparse>> sparse;
    typename Pipeline::SharedStorage pipeline;
  };
  static constexpr int kSmemBytes = int(sizeof(SharedStorage));

  // The TMA boxes land where the layouts above say: (n, k, stage) of the dense slice at
  // stage * kDenseStageElems + (k / kBoxK) * kDenseBoxElems + (n / 64) * kDenseGroupElems +
  // (k % kBoxK) * 64 + n % 64 before the swizzle, and (m, k, stage) of the stored blocks at
  // stage * kSparseStageElems + (k / kBoxK) * kSparseBoxElems + m * kBoxK + k % kBoxK. The
  // swizzles act inside 1 KB-aligned atoms only, so these offsets are all that must agree.
  static constexpr bool check_smem_box_offsets() {
    constexpr auto dense = get_nonswizzle_portion(SmemLayoutDense{});
    constexpr auto sparse = get_nonswizzle_portion(SmemLayoutSparse{});
    for (int s = 0; s < kStages; ++s) {
      for (int k = 0; k < kStageK; k += 8) {
        for (int n = 0; n < kTileN; n += 64) {
          const int expect = s * kDenseStageElems + (k / kBoxK) * kDenseBoxElems +
                             (n / 64) * kDenseGroupElems + (k % kBoxK) * 64;
          if (int(dense(n, k, s)) != expect || int(dense(n + 1, k, s)) != expect + 1 ||
              int(dense(n, k + 1, s)) != expect + 64) {
            return false;
          }
        }
        for (int m = 0; m < kBlockSize; m += 8) {
          const int expect = s * kSparseStageElems + (k / kBoxK) * kSparseBoxElems + m * kBoxK +
                             k % kBoxK;
          if (int(sparse(m, k, s)) != expect || int(sparse(m + 1, k, s)) != expect + kBoxK) {
            return false;
          }
        }
      }
    }
    return true;
  }
  static_assert(check_smem_box_offsets(), "TMA box offsets do not match the shared-memory layouts");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory over the sm_90 per-block limit");
};

}  // namespace triageattention::gemm
