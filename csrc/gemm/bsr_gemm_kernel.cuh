// Hopper BSR x dense GEMM kernel: warp-specialized, TMA into a multi-stage ring, wgmma.
//
// Warpgroup 0 is the producer: lane 0 of each of its warps walks the work items and fills each
// stage with K depth 64 of the item's block-row (TMA loads of the dense B slice for the block's K
// range and of the block itself; small blocks are gathered several per stage). Warpgroups 1-2
// consume each stage with wgmma and write their part of the output tile. Items run in the order
// of BsrTileSchedule, each CTA taking every gridDim.x-th item, so an output tile is always
// reduced by one CTA in a fixed order (bitwise deterministic results).
#pragma once

#include <cuda_runtime.h>

#include <cute/tensor.hpp>
#include <cutlass/arch/reg_reconfig.h>
#include <cutlass/cutlass.h>
#include <cutlass/pipeline/sm90_pipeline.hpp>

#include "common/cuda_check.h"
#include "gemm/bsr_gemm_schedule.h"
#include "gemm/bsr_gemm_traits.h"
#include "triageattention/sparse_gemm.h"

namespace triageattention::gemm {

template <class Traits>
struct BsrGemmKernelParams {
  using Element = typename Traits::Element;
  using ElementOut = typename Traits::ElementOut;

  // Global views the TMA descriptors are built from: dense B as (n, k), n contiguous; the stored
  // blocks stacked as (nnzb * bs, bs) rows, k contiguous.
  using DenseGmem = decltype(make_tensor(make_gmem_ptr(static_cast<Element const*>(nullptr)),
                                         make_shape(int{}, int{}), make_stride(_1{}, int64_t{})));
  using SparseGmem = decltype(make_tensor(make_gmem_ptr(static_cast<Element const*>(nullptr)),
                                          make_shape(int{}, int{}), make_stride(int64_t{}, _1{})));
  using TmaDense = decltype(make_tma_atom(
      SM90_TMA_LOAD{}, DenseGmem{}, typename Traits::SmemLayoutDenseBox{},
      make_shape(Int<Traits::kDenseBoxN>{}, Int<Traits::kBoxK>{})));
  using TmaSparse = decltype(make_tma_atom(
      SM90_TMA_LOAD{}, SparseGmem{}, typename Traits::SmemLayoutSparseBox{},
      make_shape(Int<Traits::kBlockSize>{}, Int<Traits::kBoxK>{})));

  TmaDense tma_dense;
  TmaSparse tma_sparse;
  int N, K, num_sparse_rows;  // num_sparse_rows = max(nnzb, 1) * bs
  BsrRowBlocks blocks;
  BsrTileSchedule schedule;
  ElementOut* C;
  int64_t ldc;
  bool paired_stores;  // C and ldc allow storing two adjacent columns at once
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

  // Stages are released by one lane per consumer warp, after that warp's wgmma wait.
  typename Pipeline::Params pipeline_params;
  pipeline_params.transaction_bytes = Traits::kStageBytes;
  pipeline_params.role = is_producer ? Pipeline::ThreadCategory::Producer
                                     : Pipeline::ThreadCategory::Consumer;
  pipeline_params.is_leader = threadIdx.x == 0;
  pipeline_params.num_consumers = 4 * Traits::kConsumerWarpgroups;
  Pipeline pipeline(smem.pipeline, pipeline_params, Shape<_1, _1, _1>{});
  __syncthreads();  // barrier init visible to every thread before first use

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
    cute::prefetch_tma_descriptor(params.tma_dense.get_tma_descriptor());
    cute::prefetch_tma_descriptor(params.tma_sparse.get_tma_descriptor());

    // Global coordinates: (64, kBoxK, N / 64, K / kBoxK) and (bs, kBoxK, nnzb, steps).
    constexpr int kDenseBoxN = Traits::kDenseBoxN;
    constexpr int kDenseBoxesPerSlice = Traits::kDenseBoxesPerSlice;
    Tensor gDense = local_tile(params.tma_dense.get_tma_tensor(make_shape(params.N, params.K)),
                               make_shape(Int<kDenseBoxN>{}, Int<kBoxK>{}), make_coord(_, _));
    Tensor gSparse = local_tile(
        params.tma_sparse.get_tma_tensor(make_shape(params.num_sparse_rows, kBlockSize)),
        make_shape(Int<kBlockSize>{}, Int<kBoxK>{}), make_coord(_, _));
    // Stages split into their loads: (64, kBoxK, kTileN / 64, boxes, stages) and
    // (bs, kBoxK, 1, boxes, stages).
    Tensor sDenseBoxes = flat_divide(sDense, Shape<Int<kDenseBoxN>, Int<kBoxK>>{});
    Tensor sSparseBoxes = flat_divide(sSparse, Shape<Int<kBlockSize>, Int<kBoxK>>{});
    auto [tDg, tDs] = tma_partition(params.tma_dense, Int<0>{}, Layout<_1>{},
                                    group_modes<0, 2>(sDenseBoxes), group_modes<0, 2>(gDense));
    auto [tSg, tSs] = tma_partition(params.tma_sparse, Int<0>{}, Layout<_1>{},
                                    group_modes<0, 2>(sSparseBoxes), group_modes<0, 2>(gSparse));
    // A slot with no block (past the row's end, or a column out of range) loads from past the
    // end of B and of the stored blocks: TMA fills it with zeros and nothing is read.
    const int dense_past_end = params.K / kBoxK;
    const int sparse_past_end = params.num_sparse_rows / kBlockSize;

    PipelineState write_state = cutlass::make_producer_start_state<Pipeline>();
    for (int64_t i = blockIdx.x; i < num_items; i += gridDim.x) {
      const auto item = params.schedule.item(i);
      const auto range = params.blocks.row(item.row);
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
        for (int split = 0; split < kStepsPerBlock; ++split) {
          pipeline.producer_acquire(write_state);
          auto* full_barrier = pipeline.producer_get_barrier(write_state);
          // Loads of the stage, numbered: per gathered box its dense slices, then its block.
          CUTE_UNROLL
          for (int box = 0; box < kBoxesPerStage; ++box) {
            const int64_t block = j + box;
            const int col = cols[box];
            const int k_box = col >= 0 ? col * kStepsPerBlock + split : dense_past_end;
            const int s_box = block < range.end ? int(block) : sparse_past_end;
            constexpr int kLoadsPerBox = kDenseBoxesPerSlice + 1;
            CUTE_UNROLL
            for (int slice = 0; slice < kDenseBoxesPerSlice; ++slice) {
              if ((box * kLoadsPerBox + slice) % kIssuers == issuer) {
                copy(params.tma_dense.with(*full_barrier),
                     tDg(_, item.n_tile * kDenseBoxesPerSlice + slice, k_box),
                     tDs(_, slice, box, write_state.index()));
              }
            }
            if ((box * kLoadsPerBox + kDenseBoxesPerSlice) % kIssuers == issuer) {
              copy(params.tma_sparse.with(*full_barrier), tSg(_, s_box, split),
                   tSs(_, 0, box, write_state.index()));
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
    const bool release_lane = threadIdx.x % 32 == 0;
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
    for (int64_t i = blockIdx.x; i < num_items; i += gridDim.x) {
      const auto item = params.schedule.item(i);
      const auto range = params.blocks.row(item.row);
      const int64_t num_steps = stages_of(range.end - range.begin);

      clear(accum);
      tiled_mma.accumulate_ = GMMA::ScaleOut::One;
      for (int64_t step = 0; step < num_steps; ++step) {
        pipeline.consumer_wait(read_state);
        warpgroup_fence_operand(accum);
        warpgroup_arrive();
        CUTE_UNROLL
        for (int k = 0; k < size<2>(tCrA); ++k) {
          cute::gemm(tiled_mma, tCrA(_, _, k, read_state.index()), tCrB(_, _, k, read_state.index()),
                     accum);
        }
        warpgroup_commit_batch();
        // Keep one batch of wgmma in flight; the stage before it is now free.
        warpgroup_wait<1>();
        warpgroup_fence_operand(accum);
        if (step > 0) {
          if (release_lane) pipeline.consumer_release(release_state);
          ++release_state;
        }
        ++read_state;
      }
      warpgroup_wait<0>();
      warpgroup_fence_operand(accum);
      if (num_steps > 0) {
        if (release_lane) pipeline.consumer_release(release_state);
        ++release_state;
      }

      // Epilogue: C[row0 + m, n0 + n] = alpha * acc + beta * C (C is not read when beta == 0).
      const int64_t row0 = int64_t(item.row) * kBlockSize;
      const int n0 = item.n_tile * kTileN;
      if (params.beta == 0.f) {
        write_tile<false>(accum, coords0, m_offset, n_offset, row0, n0, params);
      } else {
        write_tile<true>(accum, coords0, m_offset, n_offset, row0, n0, params);
      }
    }
  }
#endif
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
  auto dense = make_tensor(make_gmem_ptr(static_cast<Element const*>(p.B)),
                           make_shape(int(p.N), int(p.K)), make_stride(_1{}, p.ldb));
  // With nnzb == 0 nothing is loaded; the descriptor still needs a non-empty extent.
  const int num_sparse_rows = int((p.nnzb > 0 ? p.nnzb : 1) * bs);
  auto sparse = make_tensor(make_gmem_ptr(static_cast<Element const*>(p.values)),
                            make_shape(num_sparse_rows, bs), make_stride(int64_t(bs), _1{}));
  kp.tma_dense = make_tma_atom(SM90_TMA_LOAD{}, dense, typename Traits::SmemLayoutDenseBox{},
                               make_shape(Int<Traits::kDenseBoxN>{}, Int<Traits::kBoxK>{}));
  kp.tma_sparse = make_tma_atom(SM90_TMA_LOAD{}, sparse, typename Traits::SmemLayoutSparseBox{},
                                make_shape(Int<bs>{}, Int<Traits::kBoxK>{}));
  kp.N = int(p.N);
  kp.K = int(p.K);
  kp.num_sparse_rows = num_sparse_rows;
  kp.blocks = BsrRowBlocks{p.crow_indices, p.col_indices, p.index_type == IndexType::kInt64,
                           p.nnzb,         p.topk,        int(p.K / bs)};

  const int sm_count = detail::current_device_sm_count();
  // Band width: just enough dense-column tiles for one wave of CTAs, so the B slices in use
  // stay few and L2-resident beside A (A's rows are re-read once per band).
  int band = (sm_count + num_rows - 1) / num_rows;
  band = band > num_n_tiles ? num_n_tiles : band;
  kp.schedule = BsrTileSchedule{num_rows, num_n_tiles, band, row_order};
  kp.C = static_cast<ElementOut*>(p.C);
  kp.ldc = p.ldc;
  kp.paired_stores = p.ldc % 2 == 0 &&
                     reinterpret_cast<std::uintptr_t>(p.C) % (2 * sizeof(ElementOut)) == 0;
  kp.alpha = p.alpha;
  kp.beta = p.beta;

  const int64_t num_items = int64_t(num_rows) * num_n_tiles;
  const int grid = int(num_items < sm_count ? num_items : sm_count);
  auto kernel = bsr_gemm_kernel<Traits>;
  TA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     Traits::kSmemBytes));
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(kp);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::gemm
