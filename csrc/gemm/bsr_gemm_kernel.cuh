// Hopper BSR x dense GEMM kernel: warp-specialized, TMA into a multi-stage ring, wgmma.
//
// Warpgroup 0 is the producer: lane 0 of each of its warps walks the work items and fills each
// stage with K depth 64 of the item's block-row: one 3D TMA box per gathered block for its dense
// B slice (all kTileN columns) and one 2D box for the stage's stored blocks (consecutive in the
// BSR values); small blocks are gathered several per stage. Warpgroups 1-2 consume each stage
// with wgmma and write their part of the output tile. Items run in the order
// of BsrTileSchedule, each CTA (each cluster) taking every gridDim.x-th (every num_clusters-th)
// item, so an output tile is always reduced by one CTA in a fixed order (bitwise deterministic
// results). With Traits::kClusterN = 2 a cluster of two CTAs takes two adjacent column tiles of
// one block-row, and each CTA's producer loads half of every stage's stored block, multicast to
// both.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cute/arch/cluster_sm90.hpp>
#include <cute/arch/copy_sm90_tma.hpp>
#include <cute/atom/copy_traits_sm90_tma.hpp>
#include <cutlass/cuda_host_adapter.hpp>
#include <cutlass/arch/reg_reconfig.h>
#include <cutlass/cutlass.h>
#include <cutlass/pipeline/sm90_pipeline.hpp>

#include "common/cuda_check.h"
#include "common/device_info.h"
#include "gemm/bsr_gemm_launch.h"
#include "gemm/bsr_gemm_schedule.h"
#include "gemm/bsr_gemm_traits.h"
#include "triageattention/sparse_gemm.h"

namespace triageattention::gemm {

template <class Traits>
struct BsrGemmKernelParams {
  using ElementOut = typename Traits::ElementOut;

  // TMA descriptors, built on the host (make_tma_descriptor):
  //  dense_3d: B as (n % 64, k, n / 64) over its whole 64-column groups, box (64, kBoxK,
  //            kTileN / 64): one gathered block's whole dense slice per instruction;
  //  dense_2d: B as (n, k), box (64, kBoxK): one column group, for the column tile that holds a
  //            partial group (N % 64 != 0; TMA zero-fills columns past N);
  //  sparse_stage: the stored blocks as (k, nnzb * bs rows), box (kBoxK, bs * kBoxesPerStage):
  //            a stage's consecutive blocks of one block-row;
  //  sparse_block: box (kBoxK, bs): one block (a row's last stage when it holds fewer blocks);
  //  sparse_share: box (kBoxK, bs / kClusterN): one cluster rank's share of a block, multicast.
  cute::TmaDescriptor dense_3d;
  cute::TmaDescriptor dense_2d;
  cute::TmaDescriptor sparse_stage;
  cute::TmaDescriptor sparse_block;
  cute::TmaDescriptor sparse_share;
  int N, K, num_sparse_rows;  // num_sparse_rows = max(nnzb, 1) * bs
  int num_n_tiles;
  BsrRowBlocks blocks;
  BsrTileSchedule schedule;
  ElementOut* C;
  int64_t ldc;
  bool paired_stores;     // C and ldc allow storing two adjacent columns at once
  bool full_tile_stores;  // C and ldc allow 16-byte stores (write_tile_16b)
  float alpha, beta;
};

// out = alpha * acc (+ beta * out when kReadC), for kCount (1 or 2) adjacent elements.
template <bool kReadC, class ElementOut, int kCount>
__device__ __forceinline__ void store_output(ElementOut* out, const float (&acc)[kCount], float alpha,
                                             float beta) {
  struct alignas(kCount * sizeof(ElementOut)) Pack {
    ElementOut v[kCount];
  };
  Pack pack;
  if constexpr (kReadC) pack = *reinterpret_cast<const Pack*>(out);
  CUTE_UNROLL
  for (int i = 0; i < kCount; ++i) {
    pack.v[i] = ElementOut(kReadC ? alpha * acc[i] + beta * float(pack.v[i]) : alpha * acc[i]);
  }
  *reinterpret_cast<Pack*>(out) = pack;
}

// Writes a warpgroup's whole m64n256 accumulator block (no column past N, rows 16-byte aligned,
// C not read) with 16-byte stores. In the sm90 wgmma accumulator layout a thread's element e is
// column e % 2 of a pair, row (e / 2) % 2 (+8 rows) and 8-column group e / 4, and the four lanes
// of a quad hold the four pairs of each group; a butterfly exchange over the quad turns kVec
// groups' pairs into kVec whole 16-byte runs, one per lane. One 16-byte store replaces four (two
// for fp32) pair stores and writes whole 32-byte sectors: with pair stores the epilogue's
// partial-sector writes cost more than a fifth of the kernel at 12.5% density.
template <class Traits, class Accum, class Coords>
__device__ __forceinline__ void write_tile_16b(const Accum& accum, const Coords& coords0, int m_offset,
                                               int n_offset, int64_t row0, int n0,
                                               const BsrGemmKernelParams<Traits>& params) {
  using ElementOut = typename Traits::ElementOut;
  using Word = std::conditional_t<sizeof(ElementOut) == 2, uint32_t, uint64_t>;  // a column pair
  constexpr int kVec = 16 / int(sizeof(Word));  // pairs per 16-byte run: 4 (16-bit), 2 (fp32)
  constexpr int kGroups = int(size(decltype(accum){})) / 4;
  static_assert(kGroups == 32, "expects one m64n256 accumulator block per thread");
  const int lane = threadIdx.x % 4;
  const int run = lane & (kVec - 1);  // the group, among kVec, whose run this lane stores
  const float alpha = params.alpha;
  // C is written once and not read back: evict it from L2 first, so that it does not push out
  // the B slices other CTAs still read (session 19: DRAM reads -14%, bs 128 at 12.5% +3%).
  uint64_t evict_first;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(evict_first));
  // Thread 0's columns plus this lane's quad offset removed: the run starts 8 * run columns
  // into the block of kVec groups, and for fp32 lanes 2-3 take the upper half of each group.
  ElementOut* out = params.C + (row0 + m_offset) * params.ldc + n0 + n_offset - 2 * lane +
                    8 * run + 2 * (lane & ~(kVec - 1));
  CUTE_UNROLL
  for (int h = 0; h < 2; ++h) {
    CUTE_UNROLL
    for (int g0 = 0; g0 < kGroups; g0 += kVec) {
      Word x[kVec];
      CUTE_UNROLL
      for (int v = 0; v < kVec; ++v) {
        const int e = 4 * (g0 + v) + 2 * h;
        const ElementOut pair[2] = {ElementOut(alpha * accum(e)), ElementOut(alpha * accum(e + 1))};
        memcpy(&x[v], pair, sizeof(Word));
      }
      // Round `bit`: a lane keeps the slots whose bit matches its own lane bit and takes the
      // others from its partner (lane ^ bit); after the rounds, slot i holds lane i's pair of
      // group g0 + run.
      CUTE_UNROLL
      for (int bit = kVec / 2; bit >= 1; bit /= 2) {
        const bool upper = (lane & bit) != 0;
        CUTE_UNROLL
        for (int s0 = 0; s0 < kVec; ++s0) {
          if (s0 & bit) continue;
          const Word send = upper ? x[s0] : x[s0 | bit];
          const Word got = __shfl_xor_sync(0xffffffffu, send, bit);
          if (upper) x[s0] = got; else x[s0 | bit] = got;
        }
      }
      const int m = get<0>(coords0(4 * g0 + 2 * h)), n = get<1>(coords0(4 * g0 + 2 * h));
      uint4 packed;
      memcpy(&packed, x, sizeof(packed));
      asm volatile("st.global.L2::cache_hint.v4.b32 [%0], {%1, %2, %3, %4}, %5;" ::"l"(
                       out + m * params.ldc + n),
                   "r"(packed.x), "r"(packed.y), "r"(packed.z), "r"(packed.w), "l"(evict_first)
                   : "memory");
    }
  }
}

// Writes one output tile from the accumulators. (M, N) coordinates are (n, m) when the operands
// are swapped and (m, n) otherwise; element e of this thread sits at coords0(e) + offset.
template <bool kReadC, class Traits, class Accum, class Coords>
__device__ __forceinline__ void write_tile(const Accum& accum, const Coords& coords0, int m_offset,
                                           int n_offset, int64_t row0, int n0,
                                           const BsrGemmKernelParams<Traits>& params) {
  using ElementOut = typename Traits::ElementOut;
  const float alpha = params.alpha, beta = params.beta;
  const int64_t ldc = params.ldc;
  if constexpr (Traits::kSwapAB) {
    ElementOut* out = params.C + (row0 + n_offset) * ldc + n0 + m_offset;
    const int n_limit = params.N - n0 - m_offset;
    CUTE_UNROLL
    for (int e = 0; e < size(accum); e += 2) {
      // The pair holds rows m and m + 1 of one column: two scalar stores.
      const int n = get<0>(coords0(e)), m = get<1>(coords0(e));
      if (n < n_limit) {
        ElementOut* at = out + m * ldc + n;
        store_output<kReadC, ElementOut, 1>(at, {accum(e)}, alpha, beta);
        store_output<kReadC, ElementOut, 1>(at + ldc, {accum(e + 1)}, alpha, beta);
      }
    }
  } else {
    if constexpr (!kReadC) {
      if (params.full_tile_stores && params.N - n0 >= Traits::kTileN) {
        write_tile_16b(accum, coords0, m_offset, n_offset, row0, n0, params);
        return;
      }
    }
    ElementOut* out = params.C + (row0 + m_offset) * ldc + n0 + n_offset;
    const int n_limit = params.N - n0 - n_offset;
    CUTE_UNROLL
    for (int e = 0; e < size(accum); e += 2) {
      // The pair holds columns n and n + 1 of one row.
      const int m = get<0>(coords0(e)), n = get<1>(coords0(e));
      ElementOut* at = out + m * ldc + n;
      if (n + 1 < n_limit && params.paired_stores) {
        store_output<kReadC, ElementOut, 2>(at, {accum(e), accum(e + 1)}, alpha, beta);
      } else {
        if (n < n_limit) store_output<kReadC, ElementOut, 1>(at, {accum(e)}, alpha, beta);
        if (n + 1 < n_limit) store_output<kReadC, ElementOut, 1>(at + 1, {accum(e + 1)}, alpha, beta);
      }
    }
  }
}

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, 1)
    bsr_gemm_kernel(CUTE_GRID_CONSTANT BsrGemmKernelParams<Traits> const params) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using Element = typename Traits::Element;
  using ElementOut = typename Traits::ElementOut;
  using Pipeline = typename Traits::Pipeline;
  using PipelineState = typename Pipeline::PipelineState;
  constexpr int kTileN = Traits::kTileN;
  constexpr int kBlockSize = Traits::kBlockSize;
  constexpr int kBoxK = Traits::kBoxK;
  constexpr int kBoxesPerStage = Traits::kBoxesPerStage;
  constexpr int kStepsPerBlock = Traits::kStepsPerBlock;

  extern __shared__ __align__(1024) unsigned char smem_raw[];
  auto& smem = *reinterpret_cast<typename Traits::SharedStorage*>(smem_raw);

  const int warpgroup = threadIdx.x / 128;
  const bool is_producer = warpgroup == 0;

  // Without a cluster, stages are released by one lane per consumer warp after that warp's
  // wgmma wait. In a cluster a stage is free only once both CTAs' consumers are done with it
  // (the peer multicasts into it): every consumer thread releases, and the pipeline picks the
  // threads that signal each CTA's empty barrier.
  constexpr int kClusterN = Traits::kClusterN;
  typename Pipeline::Params pipeline_params;
  pipeline_params.transaction_bytes = Traits::kStageBytes;
  pipeline_params.role = is_producer ? Pipeline::ThreadCategory::Producer
                                     : Pipeline::ThreadCategory::Consumer;
  pipeline_params.is_leader = threadIdx.x == 0;
  pipeline_params.num_consumers = (kClusterN > 1 ? 128 : 4) * Traits::kConsumerWarpgroups;
  Pipeline pipeline(smem.pipeline, pipeline_params, typename Traits::ClusterShape{});
  int cluster_rank = 0;
  if constexpr (kClusterN > 1) {
    cluster_rank = int(cute::block_rank_in_cluster());
    cute::cluster_arrive_relaxed();  // the peer's barriers are initialized before any multicast
    cute::cluster_wait();
  } else {
    __syncthreads();  // barrier init visible to every thread before first use
  }
  // A cluster takes items cluster_id, cluster_id + num_clusters, ...; an item's n_tile counts
  // groups of kClusterN column tiles, and this CTA takes tile n_tile * kClusterN + rank. A tile
  // past the last (odd tile count) runs its stages on zero-filled B to keep the multicast in
  // step, and writes nothing.
  const int cluster_id = int(blockIdx.x) / kClusterN;
  const int num_clusters = int(gridDim.x) / kClusterN;

  Tensor sDense = make_tensor(make_smem_ptr(smem.dense.begin()), typename Traits::SmemLayoutDense{});
  Tensor sSparse = make_tensor(make_smem_ptr(smem.sparse.begin()), typename Traits::SmemLayoutSparse{});
  const int64_t num_items = params.schedule.num_items();
  // Number of stages of a block-row holding `blocks` stored blocks.
  auto stages_of = [](int64_t blocks) {
    return (blocks + kBoxesPerStage - 1) / kBoxesPerStage * kStepsPerBlock;
  };

  if (is_producer) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kProducerRegisters>();
    // Lane 0 of each producer warp issues every fourth TMA load of a stage (one issuing thread
    // was the limit: each load costs it ~100+ cycles); warp 0's is the pipeline leader that arms
    // the stage barriers.
    if (threadIdx.x % 32 != 0) return;
    const int issuer = threadIdx.x / 32;
    constexpr int kIssuers = 4;
    cute::prefetch_tma_descriptor(&params.dense_3d);
    cute::prefetch_tma_descriptor(&params.dense_2d);
    cute::prefetch_tma_descriptor(&params.sparse_stage);
    cute::prefetch_tma_descriptor(&params.sparse_block);
    constexpr uint64_t kCacheHint = uint64_t(TMA::CacheHintSm90::EVICT_NORMAL);
    constexpr int kGroups = Traits::kDenseGroups;
    Element* const dense_base = smem.dense.begin();
    Element* const sparse_base = smem.sparse.begin();
    // A slot with no block (past the row's end, or a column out of range) loads from past the
    // end of B (k = K) and of the stored blocks: TMA fills it with zeros and nothing is read.
    const int dense_past_end = params.K;
    const int sparse_past_end = params.num_sparse_rows;
    // Loads of a stage, numbered for the round-robin over the issuers: the dense loads first
    // (one per gathered block, or one per block and 64-column group), then the stored blocks.
    // In the one-box case the stored blocks go to the issuer after the last dense box.
    constexpr int kSparseLoad = kBoxesPerStage % kIssuers;

    PipelineState write_state = cutlass::make_producer_start_state<Pipeline>();
    for (int64_t i = cluster_id; i < num_items; i += num_clusters) {
      const auto item = params.schedule.item(i);
      const auto range = params.blocks.row(item.row);
      const int n_tile = item.n_tile * kClusterN + cluster_rank;
      const bool tile_exists = n_tile < params.num_n_tiles;
      const int n0 = n_tile * kTileN;
      // Column tiles made only of whole 64-column groups take one 3D box per gathered block
      // (past N, whole groups are zero-filled); the tile with a partial group one 2D box per
      // group.
      const bool whole_groups = params.N % 64 == 0 || int64_t(n0) + kTileN <= params.N;
      // Column indices of a stage's blocks (-1: no block), read one stage ahead so the load
      // latency hides behind the wait for a free stage.
      auto load_columns = [&](int64_t first, int (&cols)[kBoxesPerStage]) {
        CUTE_UNROLL
        for (int box = 0; box < kBoxesPerStage; ++box) {
          cols[box] = first + box < range.end ? params.blocks.column(first + box) : -1;
        }
      };
      int cols[kBoxesPerStage];
      load_columns(range.begin, cols);
      for (int64_t j = range.begin; j < range.end; j += kBoxesPerStage) {
        int next_cols[kBoxesPerStage];
        load_columns(j + kBoxesPerStage, next_cols);
        // Every block of the stage belongs to the row: the stored blocks are consecutive.
        const bool whole_stage = j + kBoxesPerStage <= range.end;
        for (int split = 0; split < kStepsPerBlock; ++split) {
          pipeline.producer_acquire(write_state);
          uint64_t* full_barrier = pipeline.producer_get_barrier(write_state);
          Element* const dense_stage = dense_base + write_state.index() * Traits::kDenseStageElems;
          Element* const sparse_stage =
              sparse_base + write_state.index() * Traits::kSparseStageElems;
          CUTE_UNROLL
          for (int box = 0; box < kBoxesPerStage; ++box) {
            const int col = tile_exists ? cols[box] : -1;
            const int k = col >= 0 ? col * kBlockSize + split * kBoxK : dense_past_end;
            Element* const dst = dense_stage + box * Traits::kDenseBoxElems;
            if (whole_groups) {
              if (box % kIssuers == issuer) {
                SM90_TMA_LOAD_3D::copy(&params.dense_3d, full_barrier, kCacheHint, dst, 0, k,
                                       n_tile * kGroups);
              }
            } else {
              CUTE_UNROLL
              for (int g = 0; g < kGroups; ++g) {
                if ((box * kGroups + g) % kIssuers == issuer) {
                  SM90_TMA_LOAD_2D::copy(&params.dense_2d, full_barrier, kCacheHint,
                                         dst + g * Traits::kDenseGroupElems, n0 + g * 64, k);
                }
              }
            }
          }
          if constexpr (kClusterN > 1) {  // one block per stage: this rank's share, to both
            static_assert(kBoxesPerStage == 1, "the cluster form loads one block per stage");
            // The stored block is read once per band by one cluster: evict it first (keeping it
            // longer measured 1-2% slower, session 19).
            if (kSparseLoad == issuer) {
              SM90_TMA_LOAD_MULTICAST_2D::copy(
                  &params.sparse_share, full_barrier, uint16_t((1 << kClusterN) - 1),
                  uint64_t(TMA::CacheHintSm90::EVICT_FIRST),
                  sparse_stage + cluster_rank * Traits::kSparseShareElems, split * kBoxK,
                  int(j) * kBlockSize + cluster_rank * (kBlockSize / kClusterN));
            }
          } else if (whole_stage) {
            if (kSparseLoad == issuer) {
              SM90_TMA_LOAD_2D::copy(&params.sparse_stage, full_barrier, kCacheHint, sparse_stage,
                                     split * kBoxK, int(j) * kBlockSize);
            }
          } else {
            CUTE_UNROLL
            for (int box = 0; box < kBoxesPerStage; ++box) {
              if ((kSparseLoad + box) % kIssuers == issuer) {
                const int64_t block = j + box;
                const int row = block < range.end ? int(block) * kBlockSize : sparse_past_end;
                SM90_TMA_LOAD_2D::copy(&params.sparse_block, full_barrier, kCacheHint,
                                       sparse_stage + box * Traits::kSparseBoxElems,
                                       split * kBoxK, row);
              }
            }
          }
          ++write_state;
        }
        CUTE_UNROLL
        for (int box = 0; box < kBoxesPerStage; ++box) cols[box] = next_cols[box];
      }
    }
    pipeline.producer_tail(write_state);
  } else {
    cutlass::arch::warpgroup_reg_alloc<Traits::kConsumerRegisters>();
    const int consumer_thread = threadIdx.x - 128;
    const bool release_lane = kClusterN > 1 || threadIdx.x % 32 == 0;
    typename Traits::TiledMma tiled_mma;
    auto thread_mma = tiled_mma.get_thread_slice(consumer_thread);
    // wgmma operand A is the dense slice when swapped, the stored block otherwise.
    auto smem_a = [&] {
      if constexpr (Traits::kSwapAB) return sDense; else return sSparse;
    }();
    auto smem_b = [&] {
      if constexpr (Traits::kSwapAB) return sSparse; else return sDense;
    }();
    Tensor tCrA = thread_mma.make_fragment_A(thread_mma.partition_A(smem_a));  // (MMA, M, K, stages)
    Tensor tCrB = thread_mma.make_fragment_B(thread_mma.partition_B(smem_b));  // (MMA, N, K, stages)
    using TileShape = typename Traits::MmaTileShape;
    Tensor accum = partition_fragment_C(tiled_mma, TileShape{});
    // MMA-order (M, N) coordinates of the accumulator elements. Thread 0's are compile-time
    // constants and every thread's are those plus one offset: keeping only the offset saves two
    // registers per element (hoisted per-element coordinates made the 128-register tiles spill).
    Tensor coords0 = tiled_mma.get_thread_slice(0).partition_C(make_identity_tensor(TileShape{}));
    const auto thread_coord = thread_mma.partition_C(make_identity_tensor(TileShape{}))(0);
    const int m_offset = get<0>(thread_coord) - get<0>(coords0(0));
    const int n_offset = get<1>(thread_coord) - get<1>(coords0(0));
    static_assert(size(decltype(accum){}) == size(decltype(coords0){}), "accumulator/coordinate mismatch");
    static_assert(size(decltype(accum){}) % 2 == 0, "accumulators come in adjacent pairs");

    PipelineState read_state;
    PipelineState release_state;
    constexpr int kBatchesInFlight = Traits::kBatchesInFlight;
    static_assert(kBatchesInFlight == 0 || kBatchesInFlight == 1, "0 or 1 wgmma batch in flight");
    // The consumers read each item's row and blocks ahead (the walk): at an item start they would
    // wait for them with nothing to do. The walk's schedule arithmetic runs under the item's first
    // wgmma batch: at the item boundary the next stages are usually loaded already, so whatever
    // the consumers compute there delays the tensor cores.
    for (BsrItemWalk walk(params.schedule, params.blocks, cluster_id, num_clusters); walk.valid();
         walk.advance()) {
      const BsrWorkItem item = walk.current();
      const auto range = item.blocks;
      const int64_t num_steps = stages_of(range.end - range.begin);
      const int n_tile = item.n_tile * kClusterN + cluster_rank;

      // The item's first wgmma overwrites the accumulators (ScaleOut::Zero) instead of a clear
      // before it: up to 128 register writes per thread at the item boundary, where they delay
      // the tensor cores. A row with no blocks clears them for the epilogue.
      tiled_mma.accumulate_ = GMMA::ScaleOut::Zero;
      for (int64_t step = 0; step < num_steps; ++step) {
        pipeline.consumer_wait(read_state);
        warpgroup_fence_operand(accum);
        warpgroup_arrive();
        CUTE_UNROLL
        for (int k = 0; k < size<2>(tCrA); ++k) {
          cute::gemm(tiled_mma, tCrA(_, _, k, read_state.index()), tCrB(_, _, k, read_state.index()),
                     accum);
          tiled_mma.accumulate_ = GMMA::ScaleOut::One;
        }
        warpgroup_commit_batch();
        if (step == 0) walk.look_ahead();
        warpgroup_wait<kBatchesInFlight>();
        warpgroup_fence_operand(accum);
        if constexpr (kBatchesInFlight == 0) {  // this stage's batch is done: free it
          if (release_lane) pipeline.consumer_release(read_state);
        } else if (step > 0) {  // the previous stage's batch is done
          if (release_lane) pipeline.consumer_release(release_state);
          ++release_state;
        }
        ++read_state;
      }
      if constexpr (kBatchesInFlight > 0) {
        warpgroup_wait<0>();
        warpgroup_fence_operand(accum);
        if (num_steps > 0) {
          if (release_lane) pipeline.consumer_release(release_state);
          ++release_state;
        }
      }
      // After the wait above: a clear that a wgmma in flight could reach makes ptxas serialize
      // every wgmma of the kernel (C7515; bs 32 ran 3% slower in session 22 until it moved).
      if (num_steps == 0) {
        walk.look_ahead();
        clear(accum);
      }

      // Epilogue: C[row0 + m, n0 + n] = alpha * acc + beta * C (C is not read when beta == 0).
      if (n_tile >= params.num_n_tiles) continue;
      const int64_t row0 = int64_t(item.row) * kBlockSize;
      const int n0 = n_tile * kTileN;
      if (params.beta == 0.f) {
        write_tile<false>(accum, coords0, m_offset, n_offset, row0, n0, params);
      } else {
        write_tile<true>(accum, coords0, m_offset, n_offset, row0, n0, params);
      }
    }
  }
#endif
}

// Encodes one tiled TMA descriptor over `base` (dims and box innermost first, strides in bytes
// of dims 1..rank-1).
template <class Element, int kRank>
cute::TmaDescriptor make_tma_descriptor(const void* base, const uint64_t (&dims)[kRank],
                                        const uint64_t (&strides)[kRank - 1],
                                        const uint32_t (&box)[kRank], CUtensorMapSwizzle swizzle) {
  cute::TmaDescriptor desc{};
  uint32_t element_strides[kRank];
  for (int i = 0; i < kRank; ++i) element_strides[i] = 1;
  const CUresult result = CUTLASS_CUDA_DRIVER_WRAPPER_CALL(cuTensorMapEncodeTiled)(
      &desc, cute::TMA::to_CUtensorMapDataType<Element>(), cuuint32_t(kRank),
      const_cast<void*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS) {
    throw CudaError("TriageAttention: bsr_gemm: cuTensorMapEncodeTiled failed with CUresult " +
                    std::to_string(int(result)));
  }
  return desc;
}

constexpr CUtensorMapSwizzle tma_swizzle(int bytes) {
  return bytes == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
                      : (bytes == 64 ? CU_TENSOR_MAP_SWIZZLE_64B : CU_TENSOR_MAP_SWIZZLE_32B);
}

// Builds the TMA descriptors and launches the persistent grid. Shapes were validated by the caller.
template <class Traits>
void launch_bsr_gemm(const BsrGemmParams& p, const int* row_order, cudaStream_t stream) {
  using Element = typename Traits::Element;
  using ElementOut = typename Traits::ElementOut;
  using Params = BsrGemmKernelParams<Traits>;
  constexpr int bs = Traits::kBlockSize;

  const int num_rows = int(p.M / bs);
  const int num_n_tiles = int((p.N + Traits::kTileN - 1) / Traits::kTileN);
  if (num_rows == 0 || p.N == 0) return;

  Params kp{};
  // Dense B: row-major (K x N) with row stride ldb. 3D view (n % 64, k, n / 64) over the whole
  // 64-column groups (at least one, so the descriptor is valid; unused when N < 64).
  constexpr int kEl = int(sizeof(Element));
  const uint64_t ldb_bytes = uint64_t(p.ldb) * kEl;
  const uint64_t num_whole_groups = p.N / 64 > 0 ? uint64_t(p.N / 64) : 1;
  kp.dense_3d = make_tma_descriptor<Element, 3>(
      p.B, {64, uint64_t(p.K), num_whole_groups}, {ldb_bytes, 64 * kEl},
      {64, uint32_t(Traits::kBoxK), uint32_t(Traits::kDenseGroups)}, CU_TENSOR_MAP_SWIZZLE_128B);
  kp.dense_2d = make_tma_descriptor<Element, 2>(p.B, {uint64_t(p.N), uint64_t(p.K)}, {ldb_bytes},
                                                {64, uint32_t(Traits::kBoxK)},
                                                CU_TENSOR_MAP_SWIZZLE_128B);
  // Stored blocks: (k within the block, nnzb * bs rows), rows of bs elements. With nnzb == 0
  // nothing is loaded; the descriptor still needs a non-empty extent.
  const int num_sparse_rows = int((p.nnzb > 0 ? p.nnzb : 1) * bs);
  const CUtensorMapSwizzle sparse_swizzle = tma_swizzle(Traits::kSparseSwizzleBytes);
  kp.sparse_stage = make_tma_descriptor<Element, 2>(
      p.values, {uint64_t(bs), uint64_t(num_sparse_rows)}, {uint64_t(bs) * kEl},
      {uint32_t(Traits::kBoxK), uint32_t(bs * Traits::kBoxesPerStage)}, sparse_swizzle);
  kp.sparse_block = make_tma_descriptor<Element, 2>(
      p.values, {uint64_t(bs), uint64_t(num_sparse_rows)}, {uint64_t(bs) * kEl},
      {uint32_t(Traits::kBoxK), uint32_t(bs)}, sparse_swizzle);
  if constexpr (Traits::kClusterN > 1)  // read only by the multicast loads
    kp.sparse_share = make_tma_descriptor<Element, 2>(
        p.values, {uint64_t(bs), uint64_t(num_sparse_rows)}, {uint64_t(bs) * kEl},
        {uint32_t(Traits::kBoxK), uint32_t(bs / Traits::kClusterN)}, sparse_swizzle);
  kp.N = int(p.N);
  kp.K = int(p.K);
  kp.num_sparse_rows = num_sparse_rows;
  kp.blocks = BsrRowBlocks{p.crow_indices, p.col_indices, p.index_type == IndexType::kInt64,
                           p.nnzb,         p.topk,        int(p.K / bs)};

  constexpr int kClusterN = Traits::kClusterN;
  auto kernel = bsr_gemm_kernel<Traits>;
  TA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     Traits::kSmemBytes));
  cudaLaunchConfig_t config = {};
  config.blockDim = dim3(Traits::kThreads);
  config.dynamicSmemBytes = Traits::kSmemBytes;
  config.stream = stream;
  cudaLaunchAttribute attribute = detail::cluster_attribute(kClusterN);
  config.attrs = &attribute;
  config.numAttrs = kClusterN > 1 ? 1 : 0;
  const int sm_count = detail::current_device_sm_count();
  // Clusters resident at once: a cluster's CTAs share a GPC, so with one CTA per SM a GPC of an
  // odd SM count leaves one SM out. Asked once per device.
  int max_clusters = sm_count / kClusterN;
  if constexpr (kClusterN > 1) {
    static detail::PerDeviceCache resident{};
    max_clusters = detail::cached_for_current_device(resident, [&](int /*device: current*/) {
      int resident_clusters = 0;
      config.gridDim = dim3(unsigned(max_clusters * kClusterN));
      TA_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&resident_clusters, kernel, &config));
      return resident_clusters;
    });
    if (max_clusters < 1) throw CudaError("TriageAttention: bsr_gemm: no cluster of two CTAs fits");
  }
  // Items are (block-row, group of kClusterN column tiles), one per cluster.
  const int num_groups = (num_n_tiles + kClusterN - 1) / kClusterN;
  const int64_t num_items = int64_t(num_rows) * num_groups;
  const int clusters = balanced_cluster_count(num_items, max_clusters);
  // Band width: just enough dense-column tiles for one wave of CTAs, so the B slices in use
  // stay few and L2-resident beside A (A's rows are re-read once per band).
  int band = (clusters + num_rows - 1) / num_rows;
  band = band > num_groups ? num_groups : band;
  kp.schedule = BsrTileSchedule{num_rows, num_groups, band, row_order};
  kp.num_n_tiles = num_n_tiles;
  kp.C = static_cast<ElementOut*>(p.C);
  kp.ldc = p.ldc;
  kp.paired_stores = p.ldc % 2 == 0 &&
                     reinterpret_cast<std::uintptr_t>(p.C) % (2 * sizeof(ElementOut)) == 0;
  kp.full_tile_stores = (p.ldc * int64_t(sizeof(ElementOut))) % 16 == 0 &&
                        reinterpret_cast<std::uintptr_t>(p.C) % 16 == 0;
  kp.alpha = p.alpha;
  kp.beta = p.beta;

  config.gridDim = dim3(unsigned(clusters * kClusterN));
  TA_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, kp));
}

}  // namespace triageattention::gemm
