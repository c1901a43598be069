// Split-KV flash-decoding over paged K/V, with the merge of the splits' partial results.
//
// Decode CTA (split, kv head, sequence; x also enumerates row blocks): its query rows are the
// group's heads x the new tokens (row r = head_in_group * seqlen_q + token), 16 per CTA, so every
// K/V page is read once for the whole GQA group. The CTA first resolves its share of the pages
// (dense: consecutive logical pages through the page table; sparse: consecutive entries of the
// selected list, whose physical pages the selection wrote beside them) into a
// shared-memory list of (logical, physical) pages, so the streaming loop issues copies with no
// dependent global loads. It visits them as a stream of 64-token chunks, each made of four
// 16-token groups from whichever page holds them, staged by a kStages-deep cp.async pipeline
// (16-byte vectors, zero-filled past the valid tokens). Warp w takes group w of every chunk:
// S = Q K^T and O += P V with mma.sync m16n8k16 (rows padded to 16; decode is bandwidth-bound,
// the tensor cores only keep the math off the critical path), an online softmax per warp, then
// the four warps merge through combine.cuh. One split writes the output itself; with several,
// each writes its partial and the last to arrive (an atomic counter per row block, zeroed before
// the launch) stages the partials in shared memory and merges all of them in split order, so the
// result is bitwise deterministic. The tail after the streaming runs once per CTA, its code cold
// after an L2 flush: its loops stay rolled (an unrolled merge doubled the code and was slower).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "common/cp_async.cuh"
#include "common/cuda_check.h"
#include "decode/combine.cuh"
#include "decode/decode_launch.h"

namespace triageattention::decode {
namespace {

using attention::OnlineSoftmax;
using detail::cp_async_16;
using detail::cp_async_commit;
using detail::cp_async_wait;
using detail::cp_async_wait_all;
using detail::l2_evict_first_policy;
using detail::smem_u32;
using cute::_1;
using cute::_2;
using cute::_4;
using cute::Int;
using cute::make_layout;
using cute::make_shape;
using cute::make_stride;
using cute::make_tensor;

constexpr int kThreads = 128;
constexpr int kWarps = 4;
constexpr int kChunk = 64;        // tokens per pipeline stage
constexpr int kGroup = 16;        // tokens per warp per chunk (and per page lookup)
// Pages of the shared-memory page list; a CTA that visits more takes them in windows of this
// many (at least 8192 tokens each, a multiple of kChunk, so chunks never straddle windows).
constexpr int kListPages = 512;

template <int D>
struct Config {
  static constexpr int kStages = D == 128 ? 3 : 4;
  static constexpr int kVecs = D / 8;  // 16-byte vectors per row
  static constexpr int kStageElems = 2 * kChunk * D;  // K then V
  static constexpr int kStageBytes = kStages * kStageElems * 2;
  // The page list (logical, physical) follows the stages.
  static constexpr int kSmemBytes = kStageBytes + 2 * kListPages * 4;
  static_assert(kStageBytes >= kWarps * kGroup * (D + 1) * 4, "warp merge area must fit");
  // The split merge's area: every split's lse, the running sums and at least one split's
  // partial rows.
  static_assert(kStageBytes >= (kTargetCtasSparse + 2 * D) * kRowsPerCta * 4,
                "split merge area must fit");
  static_assert(kListPages % kThreads == 0, "page-list slots are resolved in whole passes");
};

// XOR swizzle of 16-byte vectors within a row: the 8 rows an ldmatrix reads hit 8 distinct
// bank groups.
template <int D>
__device__ __forceinline__ int swizzle(int row, int vec) {
  return row * D + ((vec ^ (row & 7)) << 3);
}


__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, "
        "%7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Adds 1 at *counter with acquire-release semantics at GPU scope; returns the old value.
__device__ __forceinline__ int arrive_acq_rel(int32_t* counter) {
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;\n"
               : "=r"(old)
               : "l"(counter)
               : "memory");
  return old;
}

template <typename T>
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  uint32_t bits;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 v = __floats2half2_rn(lo, hi);
    memcpy(&bits, &v, 4);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    memcpy(&bits, &v, 4);
  }
  return bits;
}

__device__ __forceinline__ int clamped_len(const PagedKVCacheView& c, int b) {
  const int cap = c.max_pages * c.page_size;
  const int32_t raw = c.seqlens[b];
  return raw < 0 ? 0 : (raw > cap ? cap : raw);
}

// The pages a CTA visits: entries [lo, lo + count) of its sequence's page list. Sparse: the
// entries are cut as if all min(topk, max_pages) were selected, so no split waits for the
// selection's count; the entries past it hold -1 and are dropped when the list is resolved.
struct PageRange {
  int lo = 0, count = 0;
};

__device__ __forceinline__ PageRange split_range(const DecodeArgs& a, int npages, int split) {
  const int total = a.indices != nullptr ? min(a.p.topk, a.cache.max_pages) : npages;
  const int per = (total + a.splits - 1) / a.splits;
  PageRange r;
  r.lo = split * per;
  r.count = max(0, min(total, r.lo + per) - r.lo);
  return r;
}

// Where a 16-token group of the CTA's token stream lives. ok is false past the range's end and
// for unmapped pages; `pos` is the group's first token position in the sequence.
struct TokenGroup {
  int64_t offset = 0;  // element offset of the group's first row in k_cache / v_cache
  int pos = 0;
  bool ok = false;
};

// A window of the CTA's page list in shared memory: slot s holds the logical page and its
// physical page (-1: not visited).
struct PageList {
  const int* logical;
  const int* physical;
  int count;
  int page_shift;  // log2(page_size)
};

__device__ __forceinline__ TokenGroup token_group(const PagedKVCacheView& c, int h,
                                                  const PageList& list, int stream_pos) {
  const int slot = stream_pos >> list.page_shift;
  const int off = stream_pos & (c.page_size - 1);
  TokenGroup g;
  if (slot >= list.count) return g;
  const int phys = list.physical[slot];
  if (phys < 0) return g;
  g.offset = ((int64_t(phys) * c.heads_kv + h) * c.page_size + off) * c.head_dim;
  g.pos = (list.logical[slot] << list.page_shift) + off;
  g.ok = true;
  return g;
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads, 2) decode_kernel(const DecodeArgs a) {
  using Cfg = Config<D>;
  constexpr int kStages = Cfg::kStages;
  extern __shared__ __align__(128) uint16_t smem[];

  const PagedKVCacheView& c = a.cache;
  const int b = blockIdx.z, h = blockIdx.y;
  const int rb = blockIdx.x % a.row_blocks, split = blockIdx.x / a.row_blocks;
  const int pair = b * c.heads_kv + h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int len = clamped_len(c, b);
  const int npages = (len + c.page_size - 1) / c.page_size;
  const int row_base = rb * kRowsPerCta;
  const int cta_rows = min(kRowsPerCta, a.rows - row_base);

  int* s_logical = reinterpret_cast<int*>(reinterpret_cast<char*>(smem) + Cfg::kStageBytes);
  int* s_physical = s_logical + kListPages;

  // Q fragments (A operand, rows padded to 16 with zeros) and each thread's two rows' last
  // visible key position (-1: a padding row, or a token before the sequence start).
  uint32_t qf[D / 16][4];
  int last_key[2];
  const T* q = static_cast<const T*>(a.p.q);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = row_base + lane / 4 + 8 * half;
    const bool real = r < a.rows;
    const int head = h * a.group + (real ? r / a.p.seqlen_q : 0);
    const int t = real ? r % a.p.seqlen_q : 0;
    last_key[half] = real ? len - a.p.seqlen_q + t : -1;
    const T* row = q + int64_t(b) * a.p.q_strides.batch + int64_t(head) * a.p.q_strides.head +
                   int64_t(t) * a.p.q_strides.seq;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const int col = 16 * ks + 2 * (lane % 4);
      qf[ks][half] = real ? *reinterpret_cast<const uint32_t*>(row + col) : 0u;
      qf[ks][half + 2] = real ? *reinterpret_cast<const uint32_t*>(row + col + 8) : 0u;
    }
  }

  // Sparse: this grid may start while the selection finishes (programmatic dependent launch);
  // what the selection writes (indices, physical pages, arrival counters) is read only after this
  // wait. q and the lengths above were complete before the selection started.
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  const PageRange range = split_range(a, npages, split);

  const uint16_t* k_cache = static_cast<const uint16_t*>(c.k_cache);
  const uint16_t* v_cache = static_cast<const uint16_t*>(c.v_cache);

  // Issues the copies of chunk `chunk` into stage `stage`; rows past the valid tokens (or of an
  // absent group) are zero-filled, so no garbage (NaN) of unwritten cache memory enters P V.
  // K and V are read once per call: their lines go first from L2, before the pages the
  // selection prefetched and the splits' partials.
  PageList list{s_logical, s_physical, 0, __ffs(c.page_size) - 1};
  const uint64_t read_once = l2_evict_first_policy();
  auto load_chunk = [&](int chunk, int stage) {
    TokenGroup groups[kWarps];
#pragma unroll
    for (int g = 0; g < kWarps; ++g)
      groups[g] = token_group(c, h, list, chunk * kChunk + g * kGroup);
    uint16_t* sk = smem + stage * Cfg::kStageElems;
    uint16_t* sv = sk + kChunk * D;
    // Thread t copies vector t % kVecs of rows t / kVecs + i * kRowsPerPass: group index
    // i * kRowsPerPass / kGroup is a compile-time constant, so groups[] stays in registers.
    constexpr int kRowsPerPass = kThreads / Cfg::kVecs;
    static_assert(kGroup % kRowsPerPass == 0, "a pass must not straddle token groups");
    const int vec = threadIdx.x % Cfg::kVecs;
#pragma unroll
    for (int i = 0; i < kChunk / kRowsPerPass; ++i) {
      const int row = threadIdx.x / Cfg::kVecs + i * kRowsPerPass;
      const TokenGroup& g = groups[i * kRowsPerPass / kGroup];
      const bool valid = g.ok && g.pos + row % kGroup < len;
      const int64_t src = valid ? g.offset + int64_t(row % kGroup) * D + vec * 8 : 0;
      cp_async_16(smem_u32(sk + swizzle<D>(row, vec)), k_cache + src, valid ? 16 : 0, read_once);
      cp_async_16(smem_u32(sv + swizzle<D>(row, vec)), v_cache + src, valid ? 16 : 0, read_once);
    }
  };

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  OnlineSoftmax<2> softmax(a.scale_log2);
  // Register views for the shared softmax: (2 rows, columns); element (i, (j0, j1)) of the
  // scores is s[j1][2 i + j0], of the output o[j1][2 i + j0] (the mma accumulator layout).
  float s[2][4];
  auto s_view = make_tensor(&s[0][0], make_layout(make_shape(_2{}, make_shape(_2{}, _2{})),
                                                  make_stride(_2{}, make_stride(_1{}, _4{}))));
  auto o_view = make_tensor(&o[0][0],
                            make_layout(make_shape(_2{}, make_shape(_2{}, Int<D / 8>{})),
                                        make_stride(_2{}, make_stride(_1{}, _4{}))));

  for (int window = 0; window < range.count; window += kListPages) {
    // Resolve the window's pages (index -> logical page -> physical page), all slots in
    // parallel, so that the streaming loop below issues its copies without dependent loads.
    const int slots = min(kListPages, range.count - window);
    if (window > 0) {
      cp_async_wait<0>();
      __syncthreads();  // the previous window's chunks are consumed; its list may be replaced
    }
    // The selected entries are a prefix of the list (-1 after them), so the window's list is
    // its slots up to the first -1; the barrier that publishes the list also counts them.
    list.count = 0;
#pragma unroll
    for (int j = 0; j < kListPages / kThreads; ++j) {
      const int slot = threadIdx.x + j * kThreads;
      bool listed = false;
      if (slot < slots) {
        const int entry = range.lo + window + slot;
        int lp = entry, mapped = -1;
        if (a.indices != nullptr) {  // the selection wrote both: two independent loads
          lp = a.indices[int64_t(pair) * c.max_pages + entry];
          mapped = a.physical[int64_t(pair) * c.max_pages + entry];
        } else if (lp < npages) {
          mapped = c.page_table[int64_t(b) * c.max_pages + lp];
        }
        int32_t phys = -1;
        if (lp >= 0 && lp < npages && mapped >= 0 && mapped < c.num_pages) phys = mapped;
        s_logical[slot] = lp;
        s_physical[slot] = phys;
        listed = lp >= 0;
      }
      list.count += __syncthreads_count(listed);
    }
    const int chunks = (list.count * c.page_size + kChunk - 1) / kChunk;
#pragma unroll
    for (int st = 0; st < kStages - 1; ++st) {
      if (st < chunks) load_chunk(st, st);
      cp_async_commit();
    }

    for (int chunk = 0; chunk < chunks; ++chunk) {
      cp_async_wait<kStages - 2>();
      __syncthreads();  // chunk's data is visible; every warp is done with the stage reused next
      if (chunk + kStages - 1 < chunks)
        load_chunk(chunk + kStages - 1, (chunk + kStages - 1) % kStages);
      cp_async_commit();

      const uint16_t* sk = smem + (chunk % kStages) * Cfg::kStageElems;
      const uint16_t* sv = sk + kChunk * D;
      const TokenGroup g = token_group(c, h, list, chunk * kChunk + warp * kGroup);
      const int token0 = warp * kGroup;

#pragma unroll
      for (int i = 0; i < 2; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
        uint32_t kb[4];
        const int row = token0 + 8 * (lane / 16) + lane % 8;
        ldmatrix_x4(kb, smem_u32(sk + swizzle<D>(row, 2 * ks + (lane / 8) % 2)));
        mma_16816<T>(s[0], qf[ks], kb[0], kb[1]);
        mma_16816<T>(s[1], qf[ks], kb[2], kb[3]);
      }
      // Causal among the new tokens and the end of the sequence: key pos is visible to a row iff
      // pos <= its last key position (< len); absent groups see nothing.
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int pos = g.pos + 8 * nt + 2 * (lane % 4) + e % 2;
          if (!g.ok || pos > last_key[e / 2]) s[nt][e] = -INFINITY;
        }

      float correction[2];
      softmax.update(s_view, correction);
      OnlineSoftmax<2>::rescale(o_view, correction);

      const uint32_t pf[4] = {pack<T>(s[0][0], s[0][1]), pack<T>(s[0][2], s[0][3]),
                              pack<T>(s[1][0], s[1][1]), pack<T>(s[1][2], s[1][3])};
#pragma unroll
      for (int dn = 0; dn < D / 8; dn += 2) {
        uint32_t vb[4];
        const int row = token0 + lane % 8 + 8 * ((lane / 8) % 2);
        ldmatrix_x4_trans(vb, smem_u32(sv + swizzle<D>(row, dn + lane / 16)));
        mma_16816<T>(o[dn], pf, vb[0], vb[1]);
        mma_16816<T>(o[dn + 1], pf, vb[2], vb[3]);
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the stages are free: reuse them for the warps' partial results

  float lse[2];
  softmax.finalize(o_view, lse);
  float* s_out = reinterpret_cast<float*>(smem);          // [warp][16 rows][D]
  float* s_lse = s_out + kWarps * kGroup * D;              // [warp][16 rows]
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = lane / 4 + 8 * half;
    if (lane % 4 == 0) s_lse[warp * kGroup + r] = lse[half];
#pragma unroll
    for (int dn = 0; dn < D / 8; ++dn)
      *reinterpret_cast<float2*>(s_out + (warp * kGroup + r) * D + dn * 8 + 2 * (lane % 4)) =
          make_float2(o[dn][2 * half], o[dn][2 * half + 1]);
  }
  __syncthreads();

  // Final row r of this CTA, columns col .. col + 3 (cast to the dtype), and its lse. Rows that
  // saw no key get out = 0 and lse = -inf.
  auto write_output = [&](int r, int col, const MergeWeights& w, float4 v) {
    const int row = row_base + r;
    const int head = h * a.group + row / a.p.seqlen_q, t = row % a.p.seqlen_q;
    T* out = static_cast<T*>(a.p.out) + int64_t(b) * a.p.out_strides.batch +
             int64_t(head) * a.p.out_strides.head + int64_t(t) * a.p.out_strides.seq + col;
    // Two 4-byte stores: out rows need only 4-byte alignment.
    reinterpret_cast<uint32_t*>(out)[0] = pack<T>(v.x, v.y);
    reinterpret_cast<uint32_t*>(out)[1] = pack<T>(v.z, v.w);
    if (a.p.lse != nullptr && col == 0)
      a.p.lse[(int64_t(b) * a.p.heads_q + head) * a.p.seqlen_q + t] = w.lse;
  };

  float* partial_lse = a.partial_lse + int64_t(pair) * a.splits * a.rows + row_base;
  float* partial_out = a.partial_out + (int64_t(pair) * a.splits * a.rows + row_base) * D;
  for (int i = threadIdx.x; i < cta_rows * (D / 4); i += kThreads) {
    const int r = i / (D / 4), col = (i % (D / 4)) * 4;
    auto lse_at = [&](int w) { return s_lse[w * kGroup + r]; };
    const MergeWeights w = merge_weights(kWarps, lse_at);
    const float4 v = merge_values(w, 0, kWarps, lse_at, [&](int wp) {
      return *reinterpret_cast<const float4*>(s_out + (wp * kGroup + r) * D + col);
    });
    if (a.splits == 1) {
      write_output(r, col, w, v);
      continue;
    }
    if (col == 0) partial_lse[int64_t(split) * a.rows + r] = w.lse;
    if (w.lse != -INFINITY)  // the merge never reads the values of a partial with lse -inf
      *reinterpret_cast<float4*>(partial_out + (int64_t(split) * a.rows + r) * D + col) = v;
  }
  if (a.splits == 1) return;

  // The last split of this (pair, row block) to arrive merges every split's partial. One
  // acquire-release arrival by thread 0 between two CTA barriers, as a grid barrier does: the
  // first barrier orders every thread's partial before the release, the second orders the
  // acquire (of the other splits' partials, when last) before every thread's reads.
  __shared__ bool s_last;
  __syncthreads();
  if (threadIdx.x == 0)
    s_last = arrive_acq_rel(a.arrivals + int64_t(pair) * a.row_blocks + rb) == a.splits - 1;
  __syncthreads();
  if (!s_last) return;

  // The partials (in L2: written by other SMs) are copied into shared memory a window of splits
  // at a time, every copy of a window in flight at once (cp.async, bypassing L1), the lse of all
  // splits with the first; each window is then merged in split order into the running sums.
  const int items = cta_rows * (D / 4);  // an item: four columns of a row (a float4)
  float* s_split_lse = reinterpret_cast<float*>(smem);                   // [split][16 rows]
  float4* s_acc = reinterpret_cast<float4*>(s_split_lse + a.splits * kRowsPerCta);  // [items]
  float4* s_window = s_acc + items;                                      // [split][items]
  const int window = (Cfg::kStageBytes - a.splits * kRowsPerCta * 4 - items * 16) / (items * 16);
  for (int s0 = 0; s0 < a.splits; s0 += window) {
    const int n = min(window, a.splits - s0);
    for (int sp = 0; sp < n; ++sp)
      for (int i = threadIdx.x; i < items; i += kThreads)
        cp_async_16(smem_u32(s_window + sp * items + i),
                    partial_out + (int64_t(s0 + sp) * a.rows + i / (D / 4)) * D + i % (D / 4) * 4,
                    16);
    if (s0 == 0)
      for (int i = threadIdx.x; i < a.splits * cta_rows; i += kThreads) {
        const int sp = i / cta_rows, r = i % cta_rows;
        s_split_lse[sp * kRowsPerCta + r] = __ldcg(partial_lse + int64_t(sp) * a.rows + r);
      }
    cp_async_wait_all();
    __syncthreads();
    for (int i = threadIdx.x; i < items; i += kThreads) {
      const int r = i / (D / 4), col = (i % (D / 4)) * 4;
      auto lse_at = [&](int sp) { return s_split_lse[sp * kRowsPerCta + r]; };
      const MergeWeights w = merge_weights(a.splits, lse_at);
      const float4 acc = merge_values(
          w, s0, s0 + n, lse_at, [&](int sp) { return s_window[(sp - s0) * items + i]; },
          s0 == 0 ? make_float4(0.f, 0.f, 0.f, 0.f) : s_acc[i]);
      if (s0 + n == a.splits) write_output(r, col, w, acc);
      else s_acc[i] = acc;
    }
    __syncthreads();  // the window's buffer is free for the next one
  }
}

template <typename T, int D>
void launch_typed(const DecodeArgs& a, cudaStream_t stream) {
  constexpr int smem = Config<D>::kSmemBytes;
  TA_CUDA_CHECK(cudaFuncSetAttribute(decode_kernel<T, D>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(unsigned(a.splits * a.row_blocks), unsigned(a.cache.heads_kv),
                        unsigned(a.cache.batch));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  // After the selection kernel (sparse), launch early: the prologue overlaps its tail. Dense
  // decode follows the caller's work, whose results the prologue reads: a normal launch.
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = a.indices != nullptr ? 1 : 0;
  TA_CUDA_CHECK(cudaLaunchKernelEx(&config, decode_kernel<T, D>, a));
}

}  // namespace

void launch_split_kv(const DecodeArgs& a, cudaStream_t stream) {
  const bool half = a.cache.dtype == DType::kFloat16;
  if (a.cache.head_dim == 128)
    half ? launch_typed<__half, 128>(a, stream) : launch_typed<__nv_bfloat16, 128>(a, stream);
  else
    half ? launch_typed<__half, 64>(a, stream) : launch_typed<__nv_bfloat16, 64>(a, stream);
}

}  // namespace triageattention::decode
