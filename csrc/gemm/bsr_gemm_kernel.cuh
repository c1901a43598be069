// Hopper BSR x dense GEMM kernel: warp-specialized, TMA into a multi-stage ring, wgmma.
//
// Warpgroup 0 is the producer: one thread walks the work items and, for each stored block of the
// item's block-row, issues two TMA loads into the next free stage (the dense B slice for that
// block's K range, and the block itself). Warpgroups 1-2 consume each stage with wgmma and write
// their half of the output tile. Items run in the order of BsrTileSchedule, each CTA taking every
// gridDim.x-th item, so an output tile is always reduced by one CTA in a fixed order (bitwise
// deterministic results).
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
      SM90_TMA_LOAD{}, DenseGmem{}, typename Traits::SmemLayoutDense{}(_, _, 0),
      make_shape(Int<Traits::kTileN>{}, Int<Traits::kStageK>{})));
  using TmaSparse = decltype(make_tma_atom(
      SM90_TMA_LOAD{}, SparseGmem{}, typename Traits::SmemLayoutSparse{}(_, _, 0),
      make_shape(Int<Traits::kBlockSize>{}, Int<Traits::kStageK>{})));

  TmaDense tma_dense;
  TmaSparse tma_sparse;
  int N, K, num_sparse_rows;  // num_sparse_rows = max(nnzb, 1) * bs
  BsrRowBlocks blocks;
  BsrTileSchedule schedule;
  ElementOut* C;
  int64_t ldc;
  float alpha, beta;
};

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
  constexpr int kStageK = Traits::kStageK;
  constexpr int kStepsPerBlock = Traits::kStepsPerBlock;

  extern __shared__ __align__(1024) unsigned char smem_raw[];
  auto& smem = *reinterpret_cast<typename Traits::SharedStorage*>(smem_raw);

  const int warpgroup = threadIdx.x / 128;
  const bool is_producer = warpgroup == 0;

  typename Pipeline::Params pipeline_params;
  pipeline_params.transaction_bytes = Traits::kStageBytes;
  pipeline_params.role = is_producer ? Pipeline::ThreadCategory::Producer
                                     : Pipeline::ThreadCategory::Consumer;
  pipeline_params.is_leader = threadIdx.x == 0;
  pipeline_params.num_consumers = 128 * Traits::kConsumerWarpgroups;
  Pipeline pipeline(smem.pipeline, pipeline_params, Shape<_1, _1, _1>{});
  __syncthreads();  // barrier init visible to every thread before first use

  Tensor sDense = make_tensor(make_smem_ptr(smem.dense.begin()), typename Traits::SmemLayoutDense{});
  Tensor sSparse = make_tensor(make_smem_ptr(smem.sparse.begin()), typename Traits::SmemLayoutSparse{});
  const int64_t num_items = params.schedule.num_items();

  if (is_producer) {
    cutlass::arch::warpgroup_reg_dealloc<40>();
    if (threadIdx.x != 0) return;
    cute::prefetch_tma_descriptor(params.tma_dense.get_tma_descriptor());
    cute::prefetch_tma_descriptor(params.tma_sparse.get_tma_descriptor());

    // (kTileN, kStageK, n_tiles, k_steps) and (bs, kStageK, nnzb, steps_per_block) coordinates.
    Tensor gDense = local_tile(params.tma_dense.get_tma_tensor(make_shape(params.N, params.K)),
                               make_shape(Int<kTileN>{}, Int<kStageK>{}), make_coord(_, _));
    Tensor gSparse = local_tile(
        params.tma_sparse.get_tma_tensor(make_shape(params.num_sparse_rows, kBlockSize)),
        make_shape(Int<kBlockSize>{}, Int<kStageK>{}), make_coord(_, _));
    auto [tDg, tDs] = tma_partition(params.tma_dense, Int<0>{}, Layout<_1>{},
                                    group_modes<0, 2>(sDense), group_modes<0, 2>(gDense));
    auto [tSg, tSs] = tma_partition(params.tma_sparse, Int<0>{}, Layout<_1>{},
                                    group_modes<0, 2>(sSparse), group_modes<0, 2>(gSparse));
    // A block whose column is out of range loads this K step, which lies past the end of B:
    // TMA fills it with zeros, so the block contributes nothing and nothing is read.
    const int k_step_out_of_range = params.K / kStageK;

    PipelineState write_state = cutlass::make_producer_start_state<Pipeline>();
    for (int64_t i = blockIdx.x; i < num_items; i += gridDim.x) {
      const auto item = params.schedule.item(i);
      const auto range = params.blocks.row(item.row);
      for (int64_t j = range.begin; j < range.end; ++j) {
        const int col = params.blocks.column(j);
        for (int split = 0; split < kStepsPerBlock; ++split) {
          const int k_step = col >= 0 ? col * kStepsPerBlock + split : k_step_out_of_range;
          pipeline.producer_acquire(write_state);
          auto* full_barrier = pipeline.producer_get_barrier(write_state);
          copy(params.tma_dense.with(*full_barrier), tDg(_, item.n_tile, k_step),
               tDs(_, write_state.index()));
          copy(params.tma_sparse.with(*full_barrier), tSg(_, int(j), split),
               tSs(_, write_state.index()));
          ++write_state;
        }
      }
    }
    pipeline.producer_tail(write_state);
  } else {
    cutlass::arch::warpgroup_reg_alloc<232>();
    const int consumer_thread = threadIdx.x - 128;
    typename Traits::TiledMma tiled_mma;
    auto thread_mma = tiled_mma.get_thread_slice(consumer_thread);
    Tensor tCsDense = thread_mma.partition_A(sDense);   // (MMA, MMA_M, MMA_K, stages)
    Tensor tCsSparse = thread_mma.partition_B(sSparse); // (MMA, MMA_N, MMA_K, stages)
    Tensor tCrDense = thread_mma.make_fragment_A(tCsDense);
    Tensor tCrSparse = thread_mma.make_fragment_B(tCsSparse);
    Tensor accum = partition_fragment_C(tiled_mma, Shape<Int<kTileN>, Int<kBlockSize>>{});
    // (dense column n, block row m) of every accumulator element of this thread.
    Tensor tCcoord = thread_mma.partition_C(make_identity_tensor(Shape<Int<kTileN>, Int<kBlockSize>>{}));
    static_assert(size(decltype(accum){}) == size(decltype(tCcoord){}), "accumulator/coordinate mismatch");

    PipelineState read_state;
    PipelineState release_state;
    for (int64_t i = blockIdx.x; i < num_items; i += gridDim.x) {
      const auto item = params.schedule.item(i);
      const auto range = params.blocks.row(item.row);
      const int64_t num_steps = (range.end - range.begin) * kStepsPerBlock;

      clear(accum);
      tiled_mma.accumulate_ = GMMA::ScaleOut::One;
      for (int64_t step = 0; step < num_steps; ++step) {
        pipeline.consumer_wait(read_state);
        warpgroup_fence_operand(accum);
        warpgroup_arrive();
        CUTE_UNROLL
        for (int k = 0; k < size<2>(tCrDense); ++k) {
          cute::gemm(tiled_mma, tCrDense(_, _, k, read_state.index()),
                     tCrSparse(_, _, k, read_state.index()), accum);
        }
        warpgroup_commit_batch();
        // Keep one batch of wgmma in flight; the stage before it is now free.
        warpgroup_wait<1>();
        warpgroup_fence_operand(accum);
        if (step > 0) {
          pipeline.consumer_release(release_state);
          ++release_state;
        }
        ++read_state;
      }
      warpgroup_wait<0>();
      warpgroup_fence_operand(accum);
      if (num_steps > 0) {
        pipeline.consumer_release(release_state);
        ++release_state;
      }

      // Epilogue: C[row0 + m, n0 + n] = alpha * acc + beta * C (C is not read when beta == 0).
      const int64_t row0 = int64_t(item.row) * kBlockSize;
      const int n0 = item.n_tile * kTileN;
      const float alpha = params.alpha, beta = params.beta;
      CUTE_UNROLL
      for (int e = 0; e < size(accum); ++e) {
        const int n = n0 + get<0>(tCcoord(e));
        if (n < params.N) {
          ElementOut* out = params.C + (row0 + get<1>(tCcoord(e))) * params.ldc + n;
          float value = alpha * accum(e);
          if (beta != 0.f) value += beta * float(*out);
          *out = ElementOut(value);
        }
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
  kp.tma_dense = make_tma_atom(SM90_TMA_LOAD{}, dense, typename Traits::SmemLayoutDense{}(_, _, 0),
                               make_shape(Int<Traits::kTileN>{}, Int<Traits::kStageK>{}));
  kp.tma_sparse = make_tma_atom(SM90_TMA_LOAD{}, sparse, typename Traits::SmemLayoutSparse{}(_, _, 0),
                                make_shape(Int<bs>{}, Int<Traits::kStageK>{}));
  kp.N = int(p.N);
  kp.K = int(p.K);
  kp.num_sparse_rows = num_sparse_rows;
  kp.blocks = BsrRowBlocks{p.crow_indices, p.col_indices, p.index_type == IndexType::kInt64,
                           p.nnzb,         p.topk,        int(p.K / bs)};

  const int sm_count = detail::current_device_sm_count();
  // Band width: enough dense-column tiles that one wave of CTAs spans a few of them, so the B
  // slices in use stay few (L2-resident) while A's rows are re-read once per band.
  int band = (sm_count + num_rows - 1) / num_rows;
  band = band < 4 ? 4 : band;
  band = band > num_n_tiles ? num_n_tiles : band;
  kp.schedule = BsrTileSchedule{num_rows, num_n_tiles, band, row_order};
  kp.C = static_cast<ElementOut*>(p.C);
  kp.ldc = p.ldc;
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
