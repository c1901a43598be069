// Compile-time shape of the BSR GEMM kernel for one (element type, output type, block size).
//
// Every stage holds K depth 64 of one block-row's work: one 64-deep slice of a 64/128 block, or
// 64/bs whole blocks of size 16/32 gathered side by side. Two orientations:
//  - bs 64/128: C = A B directly. The block's rows feed wgmma's M side and kTileN dense columns
//    its N side (m64n256 per warpgroup: the best wgmma shape).
//  - bs 16/32 (NOTE: operands swapped): C^T = B^T A^T. The dense columns feed wgmma's M side
//    (64-row atoms, two warpgroups x two atoms) and the block's bs rows its N side, since a
//    16-row block cannot fill the 64-row M minimum.
#pragma once

#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/arch/mma_sm90.hpp>
#include <cutlass/pipeline/sm90_pipeline.hpp>

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
  // Dense columns of C per work item: 256 (two warpgroups x 128 for bs 16/32, two x 64 rows for
  // bs 128), 512 for bs 64 (the two warpgroups split the columns, m64n256 each).
  static constexpr int kTileN = kBlockSize == 64 ? 512 : 256;
  static constexpr int kConsumerWarpgroups = 2;
  static constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);
  // Registers per thread after setmaxnreg. NOTE: if the split asks for more than the 64K
  // registers of an SM, setmaxnreg.inc waits forever: the kernel hangs instead of failing.
  static constexpr int kProducerRegisters = kSwapAB ? 56 : 40;  // the gathering producer needs more
  static constexpr int kConsumerRegisters = kSwapAB ? 224 : 232;
  static_assert(128 * (kProducerRegisters + kConsumerWarpgroups * kConsumerRegisters) <= 65536,
                "register split exceeds the register file");

  static constexpr int kDenseStageBytes = kTileN * kStageK * int(sizeof(Element));
  static constexpr int kSparseStageBytes = kBlockSize * kStageK * int(sizeof(Element));
  static constexpr int kStageBytes = kDenseStageBytes + kSparseStageBytes;
  // 227 KB is the opt-in limit per block; keep 4 KB for barriers and alignment.
  static constexpr int kSmemForStages = 223 * 1024;
  static constexpr int kStages = kSmemForStages / kStageBytes < 8 ? kSmemForStages / kStageBytes : 8;
  static_assert(kStages >= 2, "need at least a double-buffered pipeline");

  // Dense B slice (n, k): n contiguous, MN-major with 128-byte swizzle.
  using SmemLayoutDense = decltype(tile_to_shape(
      GMMA::Layout_MN_SW128_Atom<Element>{},
      make_shape(Int<kTileN>{}, Int<kStageK>{}, Int<kStages>{})));
  // Stored blocks (m, k): k contiguous, K-major, with a swizzle one block (or 64 columns) wide
  // so that each gathered block is a whole number of atoms.
  using SmemLayoutSparse = decltype(tile_to_shape(
      k_major_smem_atom<Element, kBoxK>(),
      make_shape(Int<kBlockSize>{}, Int<kStageK>{}, Int<kStages>{})));
  // One TMA load inside a stage; all loads of a stage share this layout. A dense load is one
  // swizzle atom wide (64 columns), the most one TMA instruction writes, so that the loads of a
  // stage can be spread over several issuing threads.
  static constexpr int kDenseBoxN = 64;
  static constexpr int kDenseBoxesPerSlice = kTileN / kDenseBoxN;
  using SmemLayoutDenseBox = decltype(flat_divide(SmemLayoutDense{}(_, _, 0),
                                                  Shape<Int<kDenseBoxN>, Int<kBoxK>>{})(_, _, 0, 0));
  using SmemLayoutSparseBox = decltype(flat_divide(SmemLayoutSparse{}(_, _, 0),
                                                   Shape<Int<kBlockSize>, Int<kBoxK>>{})(_, _, 0, 0));

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
  static_assert(kSmemBytes <= 227 * 1024, "shared memory over the sm_90 per-block limit");
};

}  // namespace triageattention::gemm
