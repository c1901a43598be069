// CPU reference implementations: plain loops in double precision, independent of the kernels.
// Used by the tests and by the demo on machines without a GPU.
#pragma once

#include <cstdint>
#include <vector>

namespace triageattention::reference {

// Host-side BSR matrix in torch's sparse_bsr layout, values already widened to float.
struct BsrMatrix {
  int64_t rows = 0, cols = 0;     // M, K
  int block_size = 0;
  std::vector<int64_t> crow;      // [rows / bs + 1]
  std::vector<int64_t> col;       // [nnzb]
  std::vector<float> values;      // [nnzb, bs, bs]
};

// C = alpha * A @ B + beta * C in double precision, rounded to float at the end.
// B is [K, N] row-major with leading dimension ldb, C is [M, N] with leading dimension ldc.
// Blocks whose column lies outside [0, K / bs) are skipped, as the kernel does. When beta == 0,
// C is not read.
void bsr_gemm(const BsrMatrix& A, const float* B, int64_t N, int64_t ldb, float* C, int64_t ldc,
              float alpha, float beta);

// Expands A to a dense row-major [M, K] matrix.
std::vector<float> bsr_to_dense(const BsrMatrix& A);

// Dense attention in double precision over an explicit token mask.
//   q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D], contiguous; out [B, Hq, Sq, D]; lse [B, Hq, Sq].
//   allowed(b, h, i, j) says whether query i of head h may see key j. A row that sees no key
//   gets out = 0 and lse = -inf.
struct AttentionShape {
  int batch = 0, heads_q = 0, heads_kv = 0;
  int64_t seqlen_q = 0, seqlen_k = 0;
  int head_dim = 0;
};

template <typename Allowed>
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float scale,
               const Allowed& allowed, float* out, float* lse);

// The token mask a block pattern gives (DESIGN.md semantics): query i of head h sees key j iff
// j's block (j / block_size) is among the first kv_counts entries of row (b, h_s, i / q_block_size)
// of kv_indices (h_s = h, or h's kv head when the pattern has heads_kv heads) and, when causal,
// j <= i + (Sk - Sq). Indices outside [0, ceil(Sk / block_size)) select nothing.
struct BlockPattern {
  const int32_t* kv_indices = nullptr;  // nullptr: every block
  const int32_t* kv_counts = nullptr;
  int pattern_heads = 0;
  int max_blocks = 0;
  int block_size = 0;
  int q_block_size = 0;
  bool causal = false;

  bool allows(const AttentionShape& s, int b, int h, int64_t i, int64_t j) const;
};

// The triage selection rule (triageattention/triage.h), in the same fp32 operation order as the
// kernels so that the selection matches index for index; written independently of them (a
// sort with an explicit ranking instead of a radix select).
//   q [B, Hq, Sq, D] and k [B, Hkv, Sk, D] contiguous (16-bit inputs widened to float).
//   kv_indices [B, Hs, nQ, min(topk, nK)] (rows ascending, padded with -1), kv_counts [B, Hs, nQ],
//   Hs = heads_kv with share_gqa, else heads_q.
struct TriageOptions {
  int block_size = 64;
  int q_block_size = 128;
  int topk = 16;
  bool causal = false;
  int sink_blocks = 1;
  int local_blocks = 1;
  bool share_gqa = true;
  float scale = 0.f;  // 0: 1 / sqrt(head_dim), computed in fp32
};

void triage(const AttentionShape& s, const float* q, const float* k, const TriageOptions& o,
            std::vector<int32_t>& kv_indices, std::vector<int32_t>& kv_counts);

}  // namespace triageattention::reference

#include "triageattention/reference_attention.inl"
