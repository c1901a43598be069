// Hopper block-sparse attention forward: warp-specialized, TMA gathers into a K/V ring, wgmma.
//
// One CTA per (query tile, query head, batch). Warpgroup 0 is the producer: one thread loads the
// Q tile, then for each key tile loads one TMA box per visited key block (one 128-key box in
// dense mode) into the next K stage and the next V stage. Each consumer warpgroup owns 64 query
// rows: S = Q K^T (wgmma, both operands in shared memory), mask, online softmax, O += P V (P from
// registers), and finally writes O and the log-sum-exp.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>
#include <cutlass/arch/reg_reconfig.h>
#include <cutlass/cutlass.h>
#include <cutlass/numeric_conversion.h>
#include <cutlass/pipeline/sm90_pipeline.hpp>

#include "attention/attention_traits.h"
#include "attention/block_iterator.h"
#include "attention/softmax.h"
#include "common/cuda_check.h"
#include "common/device_info.h"
#include "triageattention/attention.h"

namespace triageattention::attention {

// Calls f(Int<rows>{}) for a key block size known only at run time (16, 32, 64 or 128).
template <class F>
CUTE_HOST_DEVICE void with_box_rows(int rows, F&& f) {
  switch (rows) {
    case 128: f(Int<128>{}); break;
    case 64: f(Int<64>{}); break;
    case 32: f(Int<32>{}); break;
    default: f(Int<16>{}); break;
  }
}

template <class Traits>
struct AttentionKernelParams {
  using Element = typename Traits::Element;
  static constexpr int D = Traits::kHeadDim;

  // Global views for the TMA descriptors: Q and K as (seq, D, head, batch); V as
  // (D, seq, head, batch) so that its boxes land MN-major.
  using Strides = Stride<int64_t, _1, int64_t, int64_t>;
  using GmemQK = decltype(make_tensor(make_gmem_ptr(static_cast<Element const*>(nullptr)),
                                      make_shape(int{}, Int<D>{}, int{}, int{}), Strides{}));
  using GmemV = decltype(make_tensor(make_gmem_ptr(static_cast<Element const*>(nullptr)),
                                     make_shape(Int<D>{}, int{}, int{}, int{}),
                                     Stride<_1, int64_t, int64_t, int64_t>{}));
  using TmaQ = decltype(make_tma_atom(SM90_TMA_LOAD{}, GmemQK{}, typename Traits::SmemLayoutQ{},
                                      make_shape(Int<Traits::kBlockM>{}, Int<D>{})));
  // TMA loads of one key block of K and V (kRows keys). Only the loads of the launch's box size
  // are set up.
  template <int kRows>
  struct BoxLoads {
    using TmaK = decltype(make_tma_atom(SM90_TMA_LOAD{}, GmemQK{},
                                        typename Traits::template SmemLayoutKBox<kRows>{},
                                        make_shape(Int<kRows>{}, Int<D>{})));
    using TmaV = decltype(make_tma_atom(SM90_TMA_LOAD{}, GmemV{},
                                        typename Traits::template SmemLayoutVBox<kRows>{},
                                        make_shape(Int<D>{}, Int<kRows>{})));
    // One TMA request per 64-column half of a box (stages whose atoms interleave the halves
    // every 8 keys would split it into one request per 8 keys).
    static_assert(TmaK::NumValSrc == kRows * 64 && TmaV::NumValSrc == kRows * 64,
                  "a key block's 64-column half must be one TMA box");
    TmaK k;
    TmaV v;
  };

  TmaQ tma_q;
  BoxLoads<16> boxes16;
  BoxLoads<32> boxes32;
  BoxLoads<64> boxes64;
  BoxLoads<128> boxes128;
  int box_rows;  // 16, 32, 64 or 128: which of the box loads this launch uses
  int seqlen_q, seqlen_k;
  int heads_q, heads_kv, batch;
  int num_q_blocks;
  int num_work_tiles;  // num_q_blocks * heads_q * batch, spread over a persistent grid
  int block_size;
  bool causal;
  float scale_log2;
  PatternView pattern;
  Element* out;
  AttentionStrides out_strides;
  float* lse;

  template <int kRows>
  CUTE_HOST_DEVICE BoxLoads<kRows>& boxes() {
    if constexpr (kRows == 16) return boxes16;
    else if constexpr (kRows == 32) return boxes32;
    else if constexpr (kRows == 64) return boxes64;
    else return boxes128;
  }
  template <int kRows>
  CUTE_HOST_DEVICE const BoxLoads<kRows>& boxes() const {
    return const_cast<AttentionKernelParams*>(this)->template boxes<kRows>();
  }
};

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, 1)
    block_sparse_attention_kernel(CUTE_GRID_CONSTANT AttentionKernelParams<Traits> const params) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using Element = typename Traits::Element;
  using PipelineK = typename Traits::PipelineK;
  using PipelineV = typename Traits::PipelineV;
  using PipelineState = typename PipelineK::PipelineState;
  using Iterator = BlockIterator<Traits::kBoxRows, Traits::kBoxesPerTile>;
  constexpr int kBlockM = Traits::kBlockM;
  constexpr int kBlockN = Traits::kBlockN;
  constexpr int kHeadDim = Traits::kHeadDim;
  constexpr int kBoxRows = Traits::kBoxRows;
  constexpr int kBoxes = Traits::kBoxesPerTile;

  extern __shared__ __align__(1024) unsigned char smem_raw[];
  auto& smem = *reinterpret_cast<typename Traits::SharedStorage*>(smem_raw);

  // Persistent CTAs walk the work tiles with stride gridDim.x; the producer loads the next tile's
  // Q and first K/V while the consumers finish the previous tile, which hides the prologue and
  // epilogue of short (sparse) rows.
  // Tile order: the query tiles of one head are adjacent, then the heads of one GQA group, so
  // the CTAs running at any time read the K/V of one or two kv heads, which stay in L2 (ordering
  // heads first made every wave stream all heads' K/V from DRAM: 56% L2 hits, ncu). Causal runs
  // a head's longest (last) query tiles first.
  struct WorkTile {
    int q_block, head, batch, kv_head, pattern_head;
  };
  auto decode = [&](int tile) {
    WorkTile w;
    w.q_block = tile % params.num_q_blocks;
    w.head = (tile / params.num_q_blocks) % params.heads_q;
    w.batch = tile / (params.heads_q * params.num_q_blocks);
    if (params.causal) w.q_block = params.num_q_blocks - 1 - w.q_block;
    w.kv_head = w.head / (params.heads_q / params.heads_kv);
    w.pattern_head = params.pattern.pattern_heads == params.heads_q ? w.head : w.kv_head;
    return w;
  };
  auto iterator_for = [&](const WorkTile& w) {
    return Iterator::make(params.pattern, w.batch, w.pattern_head, w.q_block, params.block_size,
                          params.seqlen_q, params.seqlen_k, kBlockM, params.causal);
  };
  const int causal_offset = params.seqlen_k - params.seqlen_q;

  const int warpgroup = threadIdx.x / 128;
  typename PipelineK::Params pipe_params;
  pipe_params.transaction_bytes = Traits::kTileBytes;
  pipe_params.role = warpgroup == 0 ? PipelineK::ThreadCategory::Producer
                                    : PipelineK::ThreadCategory::Consumer;
  pipe_params.is_leader = threadIdx.x == 0;
  pipe_params.num_consumers = 4 * Traits::kConsumerWarpgroups;  // one release per consumer warp
  PipelineK pipeline_k(smem.pipeline_k, pipe_params, Shape<_1, _1, _1>{});
  PipelineV pipeline_v(smem.pipeline_v, pipe_params, Shape<_1, _1, _1>{});
  if (threadIdx.x == 0) {
    cutlass::arch::ClusterTransactionBarrier::init(&smem.q_barrier, 1);
    cutlass::arch::ClusterBarrier::init(&smem.q_empty, 4 * Traits::kConsumerWarpgroups);
  }
  cutlass::arch::fence_barrier_init();
  __syncthreads();

  Tensor sQ = make_tensor(make_smem_ptr(smem.q.begin()), typename Traits::SmemLayoutQ{});
  Tensor sK = make_tensor(make_smem_ptr(smem.k.begin()), typename Traits::SmemLayoutK{});
  Tensor sV = make_tensor(make_smem_ptr(smem.v.begin()), typename Traits::SmemLayoutV{});

  if (warpgroup == 0) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kProducerRegisters>();
    // Lane 0 of up to four producer warps issues the boxes of a tile round-robin (TMA issue from
    // one thread was the limit at 16- and 32-token blocks); warp 0's also loads Q and is the
    // pipeline leader that arms the stage barriers.
    if (threadIdx.x % 32 != 0) return;
    const int issuer = threadIdx.x / 32;
    Tensor mQ = params.tma_q.get_tma_tensor(
        make_shape(params.seqlen_q, Int<kHeadDim>{}, params.heads_q, params.batch));
    // The producer loop for boxes of kRows keys (one key block each): kBlockN / kRows TMA loads
    // of K and as many of V per tile.
    auto produce = [&](auto rows) {
      constexpr int kRows = decltype(rows)::value;
      constexpr int kTileBoxes = kBlockN / kRows;
      constexpr int kIssuers = kTileBoxes < 4 ? kTileBoxes : 4;
      static_assert(kTileBoxes % kIssuers == 0, "every issuer takes as many boxes");
      if (issuer >= kIssuers) return;  // idle warps would only take issue slots from consumers
      const auto& loads = params.template boxes<kRows>();
      Tensor mK = loads.k.get_tma_tensor(
          make_shape(params.seqlen_k, Int<kHeadDim>{}, params.heads_kv, params.batch));
      Tensor mV = loads.v.get_tma_tensor(
          make_shape(Int<kHeadDim>{}, params.seqlen_k, params.heads_kv, params.batch));
      // Stage tiles split into boxes: (kRows, D, boxes, 1, stages), (D, kRows, 1, boxes, stages)
      Tensor sKBoxes = flat_divide(sK, Shape<Int<kRows>, Int<kHeadDim>>{});
      Tensor sVBoxes = flat_divide(sV, Shape<Int<kHeadDim>, Int<kRows>>{});
      // A box with no key loads from past the end of the sequence: TMA fills it with zeros.
      const int empty_box = (params.seqlen_k + kRows - 1) / kRows;
      PipelineState k_state = cutlass::make_producer_start_state<PipelineK>();
      PipelineState v_state = cutlass::make_producer_start_state<PipelineV>();
      int iteration = 0;
      for (int tile = blockIdx.x; tile < params.num_work_tiles; tile += gridDim.x, ++iteration) {
        const WorkTile w = decode(tile);
        const Iterator blocks = iterator_for(w);
        const int num_tiles = blocks.num_tiles();
        Tensor gQ = local_tile(mQ(_, _, w.head, w.batch), Shape<Int<kBlockM>, Int<kHeadDim>>{},
                               make_coord(w.q_block, 0));
        // (kRows, D, boxes along the sequence) and (D, kRows, boxes along the sequence)
        Tensor gK = local_tile(mK(_, _, w.kv_head, w.batch), Shape<Int<kRows>, Int<kHeadDim>>{},
                               make_coord(_, 0));
        Tensor gV = local_tile(mV(_, _, w.kv_head, w.batch), Shape<Int<kHeadDim>, Int<kRows>>{},
                               make_coord(0, _));
        auto [tQg, tQs] = tma_partition(params.tma_q, Int<0>{}, Layout<_1>{},
                                        group_modes<0, 2>(sQ), group_modes<0, 2>(gQ));
        auto [tKg, tKs] = tma_partition(loads.k, Int<0>{}, Layout<_1>{},
                                        group_modes<0, 2>(sKBoxes), group_modes<0, 2>(gK));
        auto [tVg, tVs] = tma_partition(loads.v, Int<0>{}, Layout<_1>{},
                                        group_modes<0, 2>(sVBoxes), group_modes<0, 2>(gV));

        // Q of the previous work tile must be fully read before it is overwritten.
        if (issuer == 0) {
          if (iteration > 0) {
            cutlass::arch::ClusterBarrier::wait(&smem.q_empty, (iteration - 1) & 1);
          }
          cutlass::arch::ClusterTransactionBarrier::arrive_and_expect_tx(&smem.q_barrier,
                                                                         Traits::kQBytes);
          copy(params.tma_q.with(smem.q_barrier), tQg, tQs);
        }

        // Box coordinates of this issuer's boxes of a tile (boxes issuer, issuer + kIssuers,
        // ...). A box's first key is that of its first 16-row sub-box, a multiple of kRows.
        constexpr int kOwnBoxes = kTileBoxes / kIssuers;
        auto tile_boxes = [&](int t, int (&box)[kOwnBoxes]) {
          CUTE_UNROLL
          for (int j = 0; j < kOwnBoxes; ++j) {
            const int start = blocks.box_key_start(t, (j * kIssuers + issuer) * (kRows / kBoxRows));
            box[j] = start < 0 ? empty_box : start / kRows;
          }
        };
        // Issuer 0 also reads each tile's last block for the consumers' mask decision and
        // publishes it before it arms the tile's K stage: the arrival orders the store before the
        // consumers' wait. A tile's boxes and last block are read while the previous tile's
        // copies are in flight, after they are issued, so that the pattern's load latency never
        // delays copies into a stage that has just come free.
        int box[kOwnBoxes];
        int last_block = 0;
        if (num_tiles > 0) {
          tile_boxes(0, box);
          if (issuer == 0) last_block = blocks.tile_last_block(0);
        }
        for (int t = 0; t < num_tiles; ++t) {
          if (issuer == 0)
            smem.tile_last_block[k_state.count() % Traits::kTileInfoSlots] = last_block;
          pipeline_k.producer_acquire(k_state);
          CUTE_UNROLL
          for (int j = 0; j < kOwnBoxes; ++j) {
            copy(loads.k.with(*pipeline_k.producer_get_barrier(k_state)), tKg(_, box[j]),
                 tKs(_, j * kIssuers + issuer, 0, k_state.index()));
          }
          ++k_state;
          pipeline_v.producer_acquire(v_state);
          CUTE_UNROLL
          for (int j = 0; j < kOwnBoxes; ++j) {
            copy(loads.v.with(*pipeline_v.producer_get_barrier(v_state)), tVg(_, box[j]),
                 tVs(_, 0, j * kIssuers + issuer, v_state.index()));
          }
          ++v_state;
          if (t + 1 < num_tiles) {
            tile_boxes(t + 1, box);
            if (issuer == 0) last_block = blocks.tile_last_block(t + 1);
          }
        }
      }
    };
    with_box_rows(params.box_rows, produce);
  } else {
    cutlass::arch::warpgroup_reg_alloc<Traits::kConsumerRegisters>();
    const int thread = threadIdx.x - 128;
    typename Traits::TiledMmaQK mma_qk;
    typename Traits::TiledMmaPV mma_pv;
    auto thread_qk = mma_qk.get_thread_slice(thread);
    auto thread_pv = mma_pv.get_thread_slice(thread);
    Tensor tSrQ = thread_qk.partition_fragment_A(sQ);
    Tensor tSrK = thread_qk.partition_fragment_B(sK);
    Tensor tOrV = thread_pv.partition_fragment_B(sV);
    Tensor accS = partition_fragment_C(mma_qk, Shape<Int<kBlockM>, Int<kBlockN>>{});
    Tensor accO = partition_fragment_C(mma_pv, Shape<Int<kBlockM>, Int<kHeadDim>>{});
    Tensor S = make_tensor(accS.data(), accum_rowcol(accS.layout()));  // (2 rows, kBlockN / 4)
    Tensor O = make_tensor(accO.data(), accum_rowcol(accO.layout()));  // (2 rows, kHeadDim / 4)
    static_assert(size<0>(decltype(S){}) == 2, "each thread holds two rows");

    // This thread's rows and the column offset of its value pairs (see softmax.h).
    const int warp_in_wg = (thread % 128) / 32, lane = thread % 32;
    const int row0 = (thread / 128) * 64 + warp_in_wg * 16 + lane / 4;
    const int col0 = 2 * (lane % 4);

    // Pingpong between the two consumer warpgroups (named barriers 0 and 1): a warpgroup issues
    // its wgmma only on its turn and then hands the turn over, so one warpgroup's softmax runs
    // while the other's GEMMs use the tensor cores. Each warpgroup issues num_tiles + 1 times
    // per work tile (S of tile 0; S of tile t with P V of tile t - 1; P V of the last tile).
    constexpr bool kPingpong = Traits::kConsumerWarpgroups == 2;
    const int wg = thread / 128;
    auto wait_turn = [&] {
      if constexpr (kPingpong) cutlass::arch::NamedBarrier::sync(256, wg);
    };
    auto pass_turn = [&](bool last_issue) {
      // Warpgroup 1 started with an extra hand-over, so it skips its last one: arrivals and
      // waits on each barrier balance within every work tile.
      if constexpr (kPingpong) {
        if (!(last_issue && wg == 1)) cutlass::arch::NamedBarrier::arrive(256, 1 - wg);
      }
    };

    const bool release_lane = lane == 0;  // stages (and Q) are released once per warp
    auto release_q = [&] {
      if (release_lane) cutlass::arch::ClusterBarrier::arrive(&smem.q_empty);
    };
    auto issue_qk = [&](int stage) {
      warpgroup_fence_operand(accS);
      warpgroup_arrive();
      mma_qk.accumulate_ = GMMA::ScaleOut::Zero;
      CUTE_UNROLL
      for (int k = 0; k < size<2>(tSrQ); ++k) {
        cute::gemm(mma_qk, tSrQ(_, _, k), tSrK(_, _, k, stage), accS);
        mma_qk.accumulate_ = GMMA::ScaleOut::One;
      }
      warpgroup_commit_batch();
    };
    Tensor rP = make_tensor_like<Element>(accS);
    Tensor tOrP = make_tensor(rP.data(), accum_as_operand_a(rP.layout()));
    auto issue_pv = [&](int stage) {
      warpgroup_fence_operand(accO);
      warpgroup_arrive();
      cute::gemm(mma_pv, tOrP, tOrV(_, _, _, stage), accO);
      warpgroup_commit_batch();
    };
    auto convert_p = [&] {
      // Packed conversion: one cvt per pair of values.
      constexpr int kValues = decltype(size(accS))::value;
      cutlass::NumericArrayConverter<Element, float, kValues> convert;
      *reinterpret_cast<cutlass::Array<Element, kValues>*>(rP.data()) =
          convert(*reinterpret_cast<const cutlass::Array<float, kValues>*>(accS.data()));
    };

    PipelineState k_state, v_state;
    int iteration = 0;
    for (int tile = blockIdx.x; tile < params.num_work_tiles; tile += gridDim.x, ++iteration) {
      const WorkTile w = decode(tile);
      const Iterator blocks = iterator_for(w);
      const int num_tiles = blocks.num_tiles();
      const int q_first = w.q_block * kBlockM;
      const int wg_first_q = q_first + (thread / 128) * 64;

      // Whether the tile in the K stage `state` needs element masking (no global loads: the
      // producer published the tile's last block before arming the stage).
      auto needs_mask = [&](const PipelineState& state) {
        const int last_block = smem.tile_last_block[state.count() % Traits::kTileInfoSlots];
        return blocks.tile_needs_mask(last_block, wg_first_q, causal_offset, params.causal);
      };
      auto mask_tile = [&](int t) {
        int starts[kBoxes];
        blocks.box_key_starts(t, starts);
        // Column c of the tile is key starts[c / kBoxRows] + c % kBoxRows.
        CUTE_UNROLL
        for (int u = 0; u < kBoxes; ++u) {
          const int start = starts[u];
          CUTE_UNROLL
          for (int half = 0; half < 2; ++half) {
            const int j = 2 * u + half;  // column group j (8 wide) of this thread lies in box j / 2
            CUTE_UNROLL
            for (int pair = 0; pair < 2; ++pair) {
              const int key = start + 8 * half + col0 + pair;
              CUTE_UNROLL
              for (int r = 0; r < 2; ++r) {
                const int q = q_first + row0 + 8 * r;
                const bool visible = start >= 0 && key < params.seqlen_k &&
                                     (!params.causal || key <= q + causal_offset);
                if (!visible) S(r, make_coord(pair, j, 0)) = -INFINITY;
              }
            }
          }
        }
      };

      if (kPingpong && wg == 1 && num_tiles > 0) cutlass::arch::NamedBarrier::arrive(256, 0);
      OnlineSoftmax<2> softmax(params.scale_log2);
      float correction[2];
      clear(accO);
      cutlass::arch::ClusterTransactionBarrier::wait(&smem.q_barrier, iteration & 1);
      if (num_tiles == 0) release_q();

      if (num_tiles > 0) {
        pipeline_k.consumer_wait(k_state);
        wait_turn();
        issue_qk(k_state.index());
        pass_turn(false);
        const bool masked = needs_mask(k_state);
        warpgroup_wait<0>();
        warpgroup_fence_operand(accS);
        if (release_lane) pipeline_k.consumer_release(k_state);
        ++k_state;
        if (num_tiles == 1) release_q();
        if (masked) mask_tile(0);
        softmax.update(S, correction);
        convert_p();
      }
      // Steady state: S of tile t runs on the tensor cores while P V of tile t - 1 is queued
      // behind it; the softmax of tile t then overlaps that P V.
      for (int t = 1; t < num_tiles; ++t) {
        pipeline_k.consumer_wait(k_state);
        pipeline_v.consumer_wait(v_state);
        wait_turn();
        issue_qk(k_state.index());
        issue_pv(v_state.index());
        pass_turn(false);
        const bool masked = needs_mask(k_state);
        warpgroup_wait<1>();  // S of tile t is ready
        warpgroup_fence_operand(accS);
        if (release_lane) pipeline_k.consumer_release(k_state);
        ++k_state;
        if (t == num_tiles - 1) release_q();  // the last read of Q: the next one may load
        if (masked) mask_tile(t);
        softmax.update(S, correction);
        warpgroup_wait<0>();  // P V of tile t - 1 is done: rP and O may change
        warpgroup_fence_operand(accO);
        if (release_lane) pipeline_v.consumer_release(v_state);
        ++v_state;
        OnlineSoftmax<2>::rescale(O, correction);
        convert_p();
      }
      if (num_tiles > 0) {
        pipeline_v.consumer_wait(v_state);
        wait_turn();
        issue_pv(v_state.index());
        pass_turn(true);
        warpgroup_wait<0>();
        warpgroup_fence_operand(accO);
        if (release_lane) pipeline_v.consumer_release(v_state);
        ++v_state;
      }

      float lse[2];
      softmax.finalize(O, lse);

      Element* out =
          params.out + w.batch * params.out_strides.batch + w.head * params.out_strides.head;
      CUTE_UNROLL
      for (int r = 0; r < 2; ++r) {
        const int q = q_first + row0 + 8 * r;
        if (q >= params.seqlen_q) continue;
        Element* out_row = out + int64_t(q) * params.out_strides.seq;
        CUTE_UNROLL
        for (int j = 0; j < kHeadDim / 8; ++j) {
          // Two adjacent columns per store.
          __align__(4) Element pair[2] = {Element(O(r, make_coord(0, j, 0))),
                                          Element(O(r, make_coord(1, j, 0)))};
          *reinterpret_cast<uint32_t*>(out_row + 8 * j + col0) =
              *reinterpret_cast<uint32_t*>(pair);
        }
        if (params.lse != nullptr && lane % 4 == 0) {
          params.lse[(int64_t(w.batch) * params.heads_q + w.head) * params.seqlen_q + q] = lse[r];
        }
      }
    }
  }
#endif
}

template <class Traits>
void launch_block_sparse_attention(const BlockSparseAttentionParams& p, cudaStream_t stream) {
  using Element = typename Traits::Element;
  using Params = AttentionKernelParams<Traits>;
  constexpr int D = Traits::kHeadDim;

  auto tensor_qk = [](const void* ptr, int64_t seqlen, int heads, int batch, const AttentionStrides& s) {
    return make_tensor(make_gmem_ptr(static_cast<Element const*>(ptr)),
                       make_shape(int(seqlen), Int<D>{}, heads, batch),
                       make_stride(s.seq, _1{}, s.head, s.batch));
  };
  Params kp{};
  kp.tma_q = make_tma_atom(SM90_TMA_LOAD{}, tensor_qk(p.q, p.seqlen_q, p.heads_q, p.batch, p.q_strides),
                           typename Traits::SmemLayoutQ{}, make_shape(Int<Traits::kBlockM>{}, Int<D>{}));
  auto v = make_tensor(make_gmem_ptr(static_cast<Element const*>(p.v)),
                       make_shape(Int<D>{}, int(p.seqlen_k), p.heads_kv, p.batch),
                       make_stride(_1{}, p.v_strides.seq, p.v_strides.head, p.v_strides.batch));
  // One TMA box per key block; dense tiles are one run of 128 keys whatever the block size.
  kp.box_rows = p.kv_indices == nullptr ? 128 : p.block_size;
  auto set_box_loads = [&](auto rows) {
    constexpr int kRows = decltype(rows)::value;
    auto& loads = kp.template boxes<kRows>();
    loads.k = make_tma_atom(SM90_TMA_LOAD{},
                            tensor_qk(p.k, p.seqlen_k, p.heads_kv, p.batch, p.k_strides),
                            typename Traits::template SmemLayoutKBox<kRows>{},
                            make_shape(Int<kRows>{}, Int<D>{}));
    loads.v = make_tma_atom(SM90_TMA_LOAD{}, v, typename Traits::template SmemLayoutVBox<kRows>{},
                            make_shape(Int<D>{}, Int<kRows>{}));
  };
  with_box_rows(kp.box_rows, set_box_loads);
  kp.seqlen_q = int(p.seqlen_q);
  kp.seqlen_k = int(p.seqlen_k);
  kp.heads_q = p.heads_q;
  kp.heads_kv = p.heads_kv;
  kp.batch = p.batch;
  kp.num_q_blocks = int(num_query_blocks(p.seqlen_q, Traits::kBlockM));
  kp.block_size = p.block_size;
  kp.causal = p.causal;
  const float scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(float(D));
  kp.scale_log2 = scale * 1.4426950408889634f;
  kp.pattern = PatternView{p.kv_indices, p.kv_counts, p.pattern_heads, kp.num_q_blocks, p.max_blocks};
  kp.out = static_cast<Element*>(p.out);
  kp.out_strides = p.out_strides;
  kp.lse = p.lse;

  const int64_t work_tiles = int64_t(kp.num_q_blocks) * p.heads_q * p.batch;
  kp.num_work_tiles = int(work_tiles);
  // One CTA per SM (the shared memory allows no more), each looping over work tiles. Dense
  // causal tiles differ in length, and a static round-robin of them balanced worse than one CTA
  // per tile, longest first, left to the hardware scheduler (390 vs 429 TFLOP/s at S = 16k):
  // that case keeps one tile per CTA.
  const bool one_tile_per_cta = p.causal && p.kv_indices == nullptr;
  const int64_t grid =
      one_tile_per_cta ? work_tiles
                       : std::min<int64_t>(work_tiles, detail::current_device_sm_count());
  auto kernel = block_sparse_attention_kernel<Traits>;
  TA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     Traits::kSmemBytes));
  kernel<<<unsigned(grid), Traits::kThreads, Traits::kSmemBytes, stream>>>(kp);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::attention
