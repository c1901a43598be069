// Compile-time shape of the block-sparse attention kernel for one (element type, head dim,
// query tile) case, shared by the host launcher and the kernel.
//
// Key tiles are kBlockN = 128 rows gathered from the visited key blocks, one TMA box per block, so
// the key block size is a runtime value and every tile feeds a full 64 x 128 wgmma whatever the
// block size. Masking works on kBoxRows = 16-row sub-boxes (the smallest block).
#pragma once

#include <cute/tensor.hpp>
#include <cute/arch/mma_sm90.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cutlass/arch/barrier.h>
#include <cutlass/pipeline/sm90_pipeline.hpp>

#include "common/warpgroup_registers.h"

namespace triageattention::attention {

using namespace cute;

template <class Element_, int kHeadDim_, int kBlockM_>
struct AttentionTraits {
  using Element = Element_;  // cute::half_t or cute::bfloat16_t
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = kBlockM_;  // query rows per CTA = the pattern's q_block_size
  static_assert(kHeadDim == 64 || kHeadDim == 128, "head dim must be 64 or 128");
  static_assert(kBlockM == 64 || kBlockM == 128, "query tile must be 64 or 128 rows");

  static constexpr int kBlockN = 128;  // keys per tile
  static constexpr int kBoxRows = 16;  // masking granularity: the smallest key block
  static constexpr int kBoxesPerTile = kBlockN / kBoxRows;
  // K and V stages: as many as fit beside the Q tile, up to 3 (2 when 3 do not fit).
  static constexpr int kStageBudget = (227 * 1024 - kBlockM * kHeadDim * 2 - 1024) / (2 * kBlockN * kHeadDim * 2);
  static constexpr int kStages = kStageBudget >= 3 ? 3 : 2;
  // Slots of the per-tile ring SharedStorage::tile_last_block. The producer writes tile c's slot
  // once it holds the stage of tile c - 1, i.e. once the consumers released tile c - 1 - kStages,
  // after reading its slot: c - kTileInfoSlots.
  static constexpr int kTileInfoSlots = kStages + 1;
  static constexpr int kConsumerWarpgroups = kBlockM / 64;
  static constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);
  // Registers per thread after setmaxnreg (register_split_fits says why the sum is bounded).
  static constexpr int kProducerRegisters = 56;
  static constexpr int kConsumerRegisters = 224;
  static_assert(register_split_fits(kThreads, kProducerRegisters, kConsumerWarpgroups,
                                    kConsumerRegisters),
                "register split exceeds the registers the CTA receives at launch");

  // Q and K: head dim contiguous (K-major for S = Q K^T). V: head dim contiguous, which is
  // MN-major for O = P V (16-bit wgmma reads B transposed from shared memory).
  // Every layout stacks its 64-column swizzle atoms along the rows (keys) first, so that the
  // rows of one 64-column half are contiguous and a key block's half is one TMA box. (V tiled
  // head dim first interleaved the halves every 8 keys, which cost one TMA request per 8 keys.)
  using SmemLayoutQ = decltype(tile_to_shape(GMMA::Layout_K_SW128_Atom<Element>{},
                                             make_shape(Int<kBlockM>{}, Int<kHeadDim>{})));
  using SmemLayoutK = decltype(tile_to_shape(GMMA::Layout_K_SW128_Atom<Element>{},
                                             make_shape(Int<kBlockN>{}, Int<kHeadDim>{}, Int<kStages>{})));
  using SmemLayoutV = decltype(tile_to_shape(GMMA::Layout_MN_SW128_Atom<Element>{},
                                             make_shape(Int<kHeadDim>{}, Int<kBlockN>{}, Int<kStages>{}),
                                             Step<_2, _1, _3>{}));
  // One loaded box of K (kRows x D) and of V (D x kRows) inside a stage. A box is one key block
  // (kRows = the block size; 128 in dense mode, where every tile is one run of keys), so a tile
  // takes kBlockN / kRows boxes. A box starts on a whole 8-row swizzle atom, so every box of a
  // stage has this same layout.
  template <int kRows>
  using SmemLayoutKBox = decltype(flat_divide(SmemLayoutK{}(_, _, 0),
                                              Shape<Int<kRows>, Int<kHeadDim>>{})(_, _, 0, 0));
  template <int kRows>
  using SmemLayoutVBox = decltype(flat_divide(SmemLayoutV{}(_, _, 0),
                                              Shape<Int<kHeadDim>, Int<kRows>>{})(_, _, 0, 0));

  using AtomLayout = Layout<Shape<Int<kConsumerWarpgroups>, _1, _1>>;
  using TiledMmaQK = decltype(make_tiled_mma(
      GMMA::ss_op_selector<Element, Element, float, Shape<_64, Int<kBlockN>, Int<kHeadDim>>,
                           GMMA::Major::K, GMMA::Major::K>(),
      AtomLayout{}));
  using TiledMmaPV = decltype(make_tiled_mma(
      GMMA::rs_op_selector<Element, Element, float, Shape<_64, Int<kHeadDim>, Int<kBlockN>>,
                           GMMA::Major::K, GMMA::Major::MN>(),
      AtomLayout{}));

  using PipelineK = cutlass::PipelineTmaAsync<kStages>;
  using PipelineV = cutlass::PipelineTmaAsync<kStages>;
  static constexpr int kQBytes = kBlockM * kHeadDim * int(sizeof(Element));
  static constexpr int kTileBytes = kBlockN * kHeadDim * int(sizeof(Element));

  struct SharedStorage {
    alignas(1024) cute::ArrayEngine<Element, cosize_v<SmemLayoutQ>> q;
    alignas(1024) cute::ArrayEngine<Element, cosize_v<SmemLayoutK>> k;
    alignas(1024) cute::ArrayEngine<Element, cosize_v<SmemLayoutV>> v;
    typename PipelineK::SharedStorage pipeline_k;
    typename PipelineV::SharedStorage pipeline_v;
    alignas(8) uint64_t q_barrier;  // Q landed (phase: work-tile parity)
    alignas(8) uint64_t q_empty;    // every consumer warp is done reading Q
    // tile_last_block of the key tile with pipeline count c, in slot c % kTileInfoSlots: written
    // by the producer before it arms the tile's K stage, read by the consumers after its wait.
    int tile_last_block[kTileInfoSlots];
  };
  static constexpr int kSmemBytes = int(sizeof(SharedStorage));
  static_assert(kSmemBytes <= 227 * 1024, "shared memory over the sm_90 per-block limit");
};

}  // namespace triageattention::attention
