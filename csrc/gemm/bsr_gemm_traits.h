// Compile-time shape of the BSR GEMM kernel for one (element type, output type, block size).
//
// NOTE: operands are swapped. The kernel computes C^T = B^T A^T for one block-row of A and one
// tile of kTileN dense columns: the dense dimension N feeds wgmma's M side (64-row atoms, two
// consumer warpgroups x two atoms), the block-row's bs rows feed wgmma's N side (8..256, so
// every block size 16..128 is a legal wgmma N). One code path serves all block sizes, and small
// blocks keep the full 256-row wgmma M extent instead of wasting a 64-row minimum on 16 rows.
#pragma once

#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/arch/mma_sm90.hpp>
#include <cutlass/pipeline/sm90_pipeline.hpp>

namespace triageattention::gemm {

using namespace cute;

// Largest K-major swizzle atom whose row (kStageK elements) it spans exactly.
template <class Element, int kStageK>
constexpr auto k_major_smem_atom() {
  constexpr int kRowBytes = kStageK * int(sizeof(Element));
  if constexpr (kRowBytes % 128 == 0) {
    return GMMA::Layout_K_SW128_Atom<Element>{};
  } else if constexpr (kRowBytes % 64 == 0) {
    return GMMA::Layout_K_SW64_Atom<Element>{};
  } else {
    static_assert(kRowBytes % 32 == 0, "stage K depth must span at least 32 bytes");
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

  static constexpr int kTileN = 256;  // dense columns of C per work item (wgmma M side)
  static constexpr int kStageK = kBlockSize < 64 ? kBlockSize : 64;  // K depth of one stage
  static constexpr int kStepsPerBlock = kBlockSize / kStageK;
  static constexpr int kConsumerWarpgroups = 2;
  static constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);

  static constexpr int kDenseStageBytes = kTileN * kStageK * int(sizeof(Element));
  static constexpr int kSparseStageBytes = kBlockSize * kStageK * int(sizeof(Element));
  static constexpr int kStageBytes = kDenseStageBytes + kSparseStageBytes;
  // 227 KB is the opt-in limit per block; keep 4 KB for barriers and alignment.
  static constexpr int kSmemForStages = 223 * 1024;
  static constexpr int kStages = kSmemForStages / kStageBytes < 16 ? kSmemForStages / kStageBytes : 16;
  static_assert(kStages >= 2, "need at least a double-buffered pipeline");
  static_assert(kDenseStageBytes % 1024 == 0, "dense stage must keep 1024-byte swizzle alignment");

  // Dense operand (B^T as wgmma A): n contiguous in memory, so MN-major with 128-byte swizzle.
  using SmemLayoutDense = decltype(tile_to_shape(
      GMMA::Layout_MN_SW128_Atom<Element>{},
      make_shape(Int<kTileN>{}, Int<kStageK>{}, Int<kStages>{})));
  // Sparse operand (A^T as wgmma B): each block row-major, k contiguous, so K-major.
  using SmemLayoutSparse = decltype(tile_to_shape(
      k_major_smem_atom<Element, kStageK>(),
      make_shape(Int<kBlockSize>{}, Int<kStageK>{}, Int<kStages>{})));

  using MmaOp = decltype(GMMA::ss_op_selector<Element, Element, float,
                                              Shape<_64, Int<kBlockSize>, Int<kStageK>>,
                                              GMMA::Major::MN, GMMA::Major::K>());
  using TiledMma = decltype(make_tiled_mma(MmaOp{}, Layout<Shape<_2, _1, _1>>{}));

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
