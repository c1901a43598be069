// triageattention._C: nanobind bindings over DLPack arrays. No torch header is included, so one
// build works with every torch version (and with NumPy for the CPU reference).
//
// Every argument is checked here, before any memory is touched, with a message that names it:
// std::invalid_argument becomes ValueError, nb::type_error TypeError, CudaError RuntimeError.
// This file binds the GEMM and attention; bind_*.cpp bind the other kernel families.
#include "binding_util.h"
#include "triageattention/reference.h"
#include "triageattention/sparse_gemm.h"

namespace nb = nanobind;
namespace ta = triageattention;

namespace triageattention::python {
void bind_triage(nb::module_& m);
void bind_decode(nb::module_& m);
}  // namespace triageattention::python

namespace {

using namespace triageattention::python;

void bsr_gemm(std::optional<Input> crow, Input col, Input values, Input B, Output C, int64_t M,
              int64_t K, float alpha, float beta, std::optional<Output> workspace,
              std::uintptr_t stream) {
  constexpr const char* fn = "bsr_gemm";
  using Code = nb::dlpack::dtype_code;

  SameCudaDevice device(fn);
  if (crow) device.add("crow", *crow);
  device.add("col", col);
  device.add("values", values);
  device.add("B", B);
  device.add("C", C);
  if (workspace) device.add("workspace", *workspace);

  const std::optional<ta::DType> in_type = float_dtype(values.dtype());
  if (!in_type || *in_type == ta::DType::kFloat32)
    type_error(fn, ": values must be float16 or bfloat16, got ", dtype_str(values.dtype()));
  if (B.dtype() != values.dtype())
    type_error(fn, ": B must have the dtype of values (", dtype_str(values.dtype()), "), got ",
               dtype_str(B.dtype()));
  const std::optional<ta::DType> out_type = float_dtype(C.dtype());
  if (!out_type || (*out_type != *in_type && *out_type != ta::DType::kFloat32))
    type_error(fn, ": C must be ", ta::dtype_name(*in_type), " or float32, got ",
               dtype_str(C.dtype()));
  const bool int64_indices = is_dtype(col.dtype(), Code::Int, 64);
  if (!int64_indices && !is_dtype(col.dtype(), Code::Int, 32))
    type_error(fn, ": col must be int32 or int64, got ", dtype_str(col.dtype()));
  if (crow && crow->dtype() != col.dtype())
    type_error(fn, ": crow must have the dtype of col (", dtype_str(col.dtype()), "), got ",
               dtype_str(crow->dtype()));

  check_ndim(fn, "values", values, 3, "[nnzb, block_size, block_size]");
  check_ndim(fn, "B", B, 2, "[K, N]");
  check_ndim(fn, "C", C, 2, "[M, N]");
  if (crow) {
    check_ndim(fn, "crow", *crow, 1, "[M / block_size + 1]");
    check_ndim(fn, "col", col, 1,
               "[nnzb] when crow is given (pass crow=None for the fixed top-k form)");
  } else {
    check_ndim(fn, "col", col, 2, "[M / block_size, topk] in the fixed top-k form (crow=None)");
  }
  if (workspace) check_ndim(fn, "workspace", *workspace, 1, "[bytes]");

  const int64_t bs = int64_t(values.shape(1));
  if (int64_t(values.shape(2)) != bs)
    value_error(fn, ": values must hold square blocks [nnzb, bs, bs], got shape ",
                shape_str(values));
  if (bs != 16 && bs != 32 && bs != 64 && bs != 128)
    value_error(fn, ": block size (values.shape[1]) must be 16, 32, 64 or 128, got ", bs);
  if (M < 0 || M % bs != 0)
    value_error(fn, ": M must be a non-negative multiple of the block size ", bs, ", got ", M);
  if (K <= 0 || K % bs != 0)
    value_error(fn, ": K must be a positive multiple of the block size ", bs, ", got ", K);
  const int64_t N = int64_t(B.shape(1));
  if (int64_t(B.shape(0)) != K || N <= 0)
    value_error(fn, ": B must be [K, N] = [", K, ", N >= 1], got shape ", shape_str(B));
  if (int64_t(C.shape(0)) != M || int64_t(C.shape(1)) != N)
    value_error(fn, ": C must be [M, N] = [", M, ", ", N, "], got shape ", shape_str(C));

  const int64_t rows = M / bs;
  int64_t nnzb = 0;
  int64_t topk = 0;
  if (crow) {
    if (int64_t(crow->shape(0)) != rows + 1)
      value_error(fn, ": crow must have M / block_size + 1 = ", rows + 1, " entries, got ",
                  crow->shape(0));
    nnzb = int64_t(col.shape(0));
  } else {
    if (int64_t(col.shape(0)) != rows)
      value_error(fn, ": col must be [M / block_size, topk] with M / block_size = ", rows,
                  ", got shape ", shape_str(col));
    topk = int64_t(col.shape(1));
    nnzb = rows * topk;
  }
  if (int64_t(values.shape(0)) != nnzb)
    value_error(fn, ": values must hold one block per column index (", nnzb, "), got ",
                values.shape(0));

  if (!is_contiguous(values)) value_error(fn, ": values must be contiguous");
  if (!is_contiguous(col)) value_error(fn, ": col must be contiguous");
  if (crow && !is_contiguous(*crow)) value_error(fn, ": crow must be contiguous");
  if (workspace && !is_contiguous(*workspace)) value_error(fn, ": workspace must be contiguous");
  const int64_t ldb = leading_dim(fn, "B", B);
  const int64_t ldc = leading_dim(fn, "C", C);
  const size_t in_bytes = ta::dtype_size(*in_type);
  if ((ldb * int64_t(in_bytes)) % 16 != 0)
    value_error(fn, ": B's row stride must be a multiple of 16 bytes (", 16 / in_bytes,
                " elements), got ", ldb, " (pad the rows or copy B)");
  if (!aligned(B.data(), 16)) value_error(fn, ": B's data must be 16-byte aligned");
  if (nnzb > 0 && !aligned(values.data(), 16))
    value_error(fn, ": values' data must be 16-byte aligned");
  if (M > 0 && !aligned(C.data(), ta::dtype_size(*out_type)))
    value_error(fn, ": C's data must be aligned to its element size");

  ta::BsrGemmParams p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.block_size = int(bs);
  p.crow_indices = crow ? crow->data() : nullptr;
  p.col_indices = col.data();
  p.index_type = int64_indices ? ta::IndexType::kInt64 : ta::IndexType::kInt32;
  p.nnzb = nnzb;
  p.topk = int(topk);
  p.values = values.data();
  p.B = B.data();
  p.ldb = ldb;
  p.C = C.data();
  p.ldc = ldc;
  p.input_type = *in_type;
  p.output_type = *out_type;
  p.alpha = alpha;
  p.beta = beta;
  void* workspace_ptr = workspace ? workspace->data() : nullptr;
  const size_t workspace_bytes = workspace ? workspace->nbytes() : 0;

  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::bsr_gemm(p, workspace_ptr, workspace_bytes, reinterpret_cast<cudaStream_t>(stream));
}

size_t bsr_gemm_workspace_bytes(int64_t M, int block_size, bool general) {
  constexpr const char* fn = "bsr_gemm_workspace_bytes";
  if (block_size != 16 && block_size != 32 && block_size != 64 && block_size != 128)
    value_error(fn, ": block_size must be 16, 32, 64 or 128, got ", block_size);
  if (M < 0 || M % block_size != 0)
    value_error(fn, ": M must be a non-negative multiple of block_size ", block_size, ", got ", M);
  ta::BsrGemmParams p;
  p.M = M;
  p.block_size = block_size;
  // Only whether crow is set matters to the size; the pointer is never dereferenced.
  static const int64_t kGeneralMarker = 0;
  p.crow_indices = general ? &kGeneralMarker : nullptr;
  return ta::bsr_gemm_workspace_bytes(p);
}

bool bsr_gemm_is_built(const std::string& input_dtype, const std::string& output_dtype,
                       int block_size) {
  return ta::bsr_gemm_is_built(parse_dtype(input_dtype, "input_dtype"),
                               parse_dtype(output_dtype, "output_dtype"), block_size);
}

using HostIndex = nb::ndarray<const int64_t, nb::device::cpu, nb::c_contig>;
using HostValues = nb::ndarray<const float, nb::ndim<3>, nb::device::cpu, nb::c_contig>;
using HostMatrix = nb::ndarray<const float, nb::ndim<2>, nb::device::cpu>;
using HostOutput = nb::ndarray<float, nb::ndim<2>, nb::device::cpu>;

void reference_bsr_gemm(std::optional<HostIndex> crow, HostIndex col, HostValues values,
                        HostMatrix B, HostOutput C, float alpha, float beta) {
  constexpr const char* fn = "reference_bsr_gemm";
  const int64_t bs = int64_t(values.shape(1));
  if (bs <= 0 || int64_t(values.shape(2)) != bs)
    value_error(fn, ": values must hold square blocks [nnzb, bs, bs], got shape ",
                shape_str(values));
  const int64_t M = int64_t(C.shape(0)), N = int64_t(C.shape(1)), K = int64_t(B.shape(0));
  if (int64_t(B.shape(1)) != N)
    value_error(fn, ": B must be [K, N] with N = C.shape[1] = ", N, ", got shape ", shape_str(B));
  if (M % bs != 0 || K % bs != 0)
    value_error(fn, ": M (", M, ") and K (", K, ") must be multiples of the block size ", bs);
  const int64_t rows = M / bs;

  ta::reference::BsrMatrix A;
  A.rows = M;
  A.cols = K;
  A.block_size = int(bs);
  const int64_t* col_data = col.data();
  if (crow) {
    check_ndim(fn, "col", col, 1, "[nnzb] when crow is given");
    check_ndim(fn, "crow", *crow, 1, "[M / block_size + 1]");
    if (int64_t(crow->shape(0)) != rows + 1)
      value_error(fn, ": crow must have M / block_size + 1 = ", rows + 1, " entries, got ",
                  crow->shape(0));
    A.crow.assign(crow->data(), crow->data() + rows + 1);
  } else {
    check_ndim(fn, "col", col, 2, "[M / block_size, topk] in the fixed top-k form (crow=None)");
    if (int64_t(col.shape(0)) != rows)
      value_error(fn, ": col must be [M / block_size, topk] with M / block_size = ", rows,
                  ", got shape ", shape_str(col));
    for (int64_t r = 0; r <= rows; ++r) A.crow.push_back(r * int64_t(col.shape(1)));
  }
  const int64_t nnzb = int64_t(col.size());
  // The loops below index col and values through crow, so crow must stay inside them.
  if (A.crow.front() != 0 || A.crow.back() != nnzb)
    value_error(fn, ": crow must run from 0 to nnzb = ", nnzb, ", got ", A.crow.front(), " to ",
                A.crow.back());
  for (int64_t r = 0; r < rows; ++r)
    if (A.crow[r + 1] < A.crow[r])
      value_error(fn, ": crow must be non-decreasing, but it drops after block-row ", r);
  if (int64_t(values.shape(0)) != nnzb)
    value_error(fn, ": values must hold one block per column index (", nnzb, "), got ",
                values.shape(0));
  A.col.assign(col_data, col_data + nnzb);
  A.values.assign(values.data(), values.data() + values.size());
  const int64_t ldb = leading_dim(fn, "B", B);
  const int64_t ldc = leading_dim(fn, "C", C);

  nb::gil_scoped_release release;
  ta::reference::bsr_gemm(A, B.data(), N, ldb, C.data(), ldc, alpha, beta);
}

void block_sparse_attention(Input q, Input k, Input v, Output out, std::optional<Output> lse,
                            std::optional<Input> kv_indices, std::optional<Input> kv_counts,
                            int block_size, int q_block_size, bool causal, float scale,
                            std::uintptr_t stream) {
  constexpr const char* fn = "block_sparse_attention";
  using Code = nb::dlpack::dtype_code;

  const std::optional<ta::DType> dtype = float_dtype(q.dtype());
  if (!dtype || *dtype == ta::DType::kFloat32)
    type_error(fn, ": q must be float16 or bfloat16, got ", dtype_str(q.dtype()));
  auto same_dtype = [&](const char* name, nb::dlpack::dtype t) {
    if (t != q.dtype())
      type_error(fn, ": ", name, " must have q's dtype (", dtype_str(q.dtype()), "), got ",
                 dtype_str(t));
  };
  same_dtype("k", k.dtype());
  same_dtype("v", v.dtype());
  same_dtype("out", out.dtype());
  if (lse && !is_dtype(lse->dtype(), Code::Float, 32))
    type_error(fn, ": lse must be float32, got ", dtype_str(lse->dtype()));
  if (kv_indices.has_value() != kv_counts.has_value())
    value_error(fn, ": kv_indices and kv_counts must both be given (block-sparse) or both be None "
                "(dense)");
  if (kv_indices && !is_dtype(kv_indices->dtype(), Code::Int, 32))
    type_error(fn, ": kv_indices must be int32, got ", dtype_str(kv_indices->dtype()));
  if (kv_counts && !is_dtype(kv_counts->dtype(), Code::Int, 32))
    type_error(fn, ": kv_counts must be int32, got ", dtype_str(kv_counts->dtype()));

  check_ndim(fn, "q", q, 4, "[batch, heads_q, seqlen_q, head_dim]");
  check_ndim(fn, "k", k, 4, "[batch, heads_kv, seqlen_k, head_dim]");
  check_ndim(fn, "v", v, 4, "[batch, heads_kv, seqlen_k, head_dim]");
  check_ndim(fn, "out", out, 4, "[batch, heads_q, seqlen_q, head_dim]");
  if (lse) check_ndim(fn, "lse", *lse, 3, "[batch, heads_q, seqlen_q]");
  if (kv_indices)
    check_ndim(fn, "kv_indices", *kv_indices, 4,
               "[batch, pattern_heads, num_q_blocks, max_blocks]");
  if (kv_counts) check_ndim(fn, "kv_counts", *kv_counts, 3, "[batch, pattern_heads, num_q_blocks]");

  const int B = to_int(fn, "batch", q, 0), Hq = to_int(fn, "heads_q", q, 1);
  const int Hkv = to_int(fn, "heads_kv", k, 1), D = to_int(fn, "head_dim", q, 3);
  const int64_t Sq = int64_t(q.shape(2)), Sk = int64_t(k.shape(2));
  if (int64_t(k.shape(0)) != B || int64_t(k.shape(3)) != D)
    value_error(fn, ": k must be [batch, heads_kv, seqlen_k, head_dim] with q's batch (", B,
                ") and head_dim (", D, "), got shape ", shape_str(k));
  if (!same_shape(v, k))
    value_error(fn, ": v must have k's shape ", shape_str(k), ", got ", shape_str(v));
  if (!same_shape(out, q))
    value_error(fn, ": out must have q's shape ", shape_str(q), ", got ", shape_str(out));
  if (lse && (int64_t(lse->shape(0)) != B || int64_t(lse->shape(1)) != Hq ||
              int64_t(lse->shape(2)) != Sq))
    value_error(fn, ": lse must be [batch, heads_q, seqlen_q] = [", B, ", ", Hq, ", ", Sq,
                "], got ", shape_str(*lse));
  if (Hkv < 1) value_error(fn, ": heads_kv must be >= 1, got k of shape ", shape_str(k));
  if (Hq % Hkv != 0)
    value_error(fn, ": heads_q (", Hq, ") must be a multiple of heads_kv (", Hkv, ") for GQA/MQA");
  if (block_size != 16 && block_size != 32 && block_size != 64 && block_size != 128)
    value_error(fn, ": block_size must be 16, 32, 64 or 128, got ", block_size);
  if (q_block_size != 64 && q_block_size != 128)
    value_error(fn, ": q_block_size must be 64 or 128, got ", q_block_size);

  int pattern_heads = 0, max_blocks = 0;
  if (kv_indices) {
    const int64_t nq = ta::num_query_blocks(Sq, q_block_size);
    pattern_heads = to_int(fn, "pattern heads", *kv_indices, 1);
    max_blocks = to_int(fn, "max_blocks", *kv_indices, 3);
    if (pattern_heads != Hkv && pattern_heads != Hq)
      value_error(fn, ": kv_indices must have heads_kv (", Hkv, ", one pattern per GQA group) or "
                  "heads_q (", Hq, ") pattern heads, got shape ", shape_str(*kv_indices));
    if (int64_t(kv_indices->shape(0)) != B || int64_t(kv_indices->shape(2)) != nq)
      value_error(fn, ": kv_indices must be [batch, pattern_heads, ceil(seqlen_q / q_block_size), "
                  "max_blocks] = [", B, ", ", pattern_heads, ", ", nq, ", max_blocks], got ",
                  shape_str(*kv_indices));
    if (int64_t(kv_counts->shape(0)) != B || int64_t(kv_counts->shape(1)) != pattern_heads ||
        int64_t(kv_counts->shape(2)) != nq)
      value_error(fn, ": kv_counts must be [batch, pattern_heads, num_q_blocks] = [", B, ", ",
                  pattern_heads, ", ", nq, "], got ", shape_str(*kv_counts));
    if (!is_contiguous(*kv_indices)) value_error(fn, ": kv_indices must be contiguous");
    if (!is_contiguous(*kv_counts)) value_error(fn, ": kv_counts must be contiguous");
  }
  if (lse && !is_contiguous(*lse)) value_error(fn, ": lse must be contiguous");

  ta::BlockSparseAttentionParams p;
  p.q_strides = attention_strides(fn, "q", q);
  p.k_strides = attention_strides(fn, "k", k);
  p.v_strides = attention_strides(fn, "v", v);
  p.out_strides = attention_strides(fn, "out", out);

  SameCudaDevice device(fn);
  device.add("q", q);
  device.add("k", k);
  device.add("v", v);
  device.add("out", out);
  if (lse) device.add("lse", *lse);
  if (kv_indices) device.add("kv_indices", *kv_indices);
  if (kv_counts) device.add("kv_counts", *kv_counts);

  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  p.lse = lse ? static_cast<float*>(lse->data()) : nullptr;
  p.batch = B;
  p.heads_q = Hq;
  p.heads_kv = Hkv;
  p.seqlen_q = Sq;
  p.seqlen_k = Sk;
  p.head_dim = D;
  p.dtype = *dtype;
  if (kv_indices) {
    // An empty array may carry a null pointer, which would read as dense mode; the kernel never
    // dereferences an empty pattern, so any aligned non-null address stands in for it.
    static const int32_t kEmptyPattern = 0;
    const auto* indices = static_cast<const int32_t*>(kv_indices->data());
    const auto* counts = static_cast<const int32_t*>(kv_counts->data());
    p.kv_indices = indices ? indices : &kEmptyPattern;
    p.kv_counts = counts ? counts : &kEmptyPattern;
  }
  p.pattern_heads = pattern_heads;
  p.max_blocks = max_blocks;
  p.block_size = block_size;
  p.q_block_size = q_block_size;
  p.causal = causal;
  p.scale = scale;

  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::block_sparse_attention(p, reinterpret_cast<cudaStream_t>(stream));
}

bool attention_is_built(const std::string& dtype, int head_dim, int q_block_size) {
  return ta::attention_is_built(parse_dtype(dtype, "dtype"), head_dim, q_block_size);
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear it, so no later runtime call reports this failure
    return 0;
  }
  return count;
}

}  // namespace

NB_MODULE(_C, m) {
  m.doc() =
      "TriageAttention core (nanobind, DLPack): no torch ABI; use triageattention.bsr_matmul and\n"
      "triageattention.block_sparse_attention";

  m.def("bsr_gemm", &bsr_gemm, nb::arg("crow").none(), nb::arg("col"), nb::arg("values"),
        nb::arg("B"), nb::arg("C"), nb::arg("M"), nb::arg("K"), nb::arg("alpha"), nb::arg("beta"),
        nb::arg("workspace").none(), nb::arg("stream"),
        "C = alpha * A @ B + beta * C on the CUDA stream `stream` (a cudaStream_t as int).\n\n"
        "A is block-sparse: torch BSR form (crow [M/bs + 1], col [nnzb]) or, with crow=None,\n"
        "the fixed top-k form (col [M/bs, topk]); indices int32 or int64; values [nnzb, bs, bs]\n"
        "float16/bfloat16, contiguous. B [K, N] and C [M, N] have unit stride along rows; B's\n"
        "row stride is a multiple of 16 bytes. C is B's dtype or float32. The general form\n"
        "needs a workspace of bsr_gemm_workspace_bytes(M, bs, True) bytes. Never synchronizes.");
  m.def("bsr_gemm_workspace_bytes", &bsr_gemm_workspace_bytes, nb::arg("M"),
        nb::arg("block_size"), nb::arg("general"),
        "Device workspace bytes bsr_gemm needs: 0 for the fixed top-k form (general=False).\n"
        "Queried for the current CUDA device.");
  m.def("bsr_gemm_is_built", &bsr_gemm_is_built, nb::arg("input_dtype"), nb::arg("output_dtype"),
        nb::arg("block_size"),
        "Whether this build holds the kernel for ('float16'|'bfloat16', that or 'float32', bs).");
  m.def("reference_bsr_gemm", &reference_bsr_gemm, nb::arg("crow").none(), nb::arg("col"),
        nb::arg("values"), nb::arg("B"), nb::arg("C").noconvert(), nb::arg("alpha"),
        nb::arg("beta"),
        "CPU reference of bsr_gemm in double precision on NumPy arrays (int64 indices,\n"
        "float32 values [nnzb, bs, bs], B [K, N], C [M, N] updated in place). crow=None takes\n"
        "the fixed top-k form. Blocks whose column lies outside [0, K/bs) are skipped.");
  m.def("block_sparse_attention", &block_sparse_attention, nb::arg("q"), nb::arg("k"), nb::arg("v"),
        nb::arg("out"), nb::arg("lse").none(), nb::arg("kv_indices").none(),
        nb::arg("kv_counts").none(), nb::arg("block_size"), nb::arg("q_block_size"),
        nb::arg("causal"), nb::arg("scale"), nb::arg("stream"),
        "Block-sparse attention forward on the CUDA stream `stream` (a cudaStream_t as int).\n\n"
        "q and out [B, Hq, Sq, D], k and v [B, Hkv, Sk, D]: float16 or bfloat16, any strides with\n"
        "a contiguous last dimension (other strides multiples of 8 elements, data 16-byte\n"
        "aligned; out: multiples of 2, 4-byte aligned). lse [B, Hq, Sq] float32 contiguous or\n"
        "None.\n"
        "kv_indices [B, Hs, ceil(Sq / q_block_size), max_blocks] and kv_counts [B, Hs, nQ], int32\n"
        "contiguous, Hs = Hkv or Hq; both None selects dense attention. Causal is bottom-right\n"
        "aligned (query i sees key j iff j <= i + Sk - Sq). scale 0 selects 1/sqrt(D). Rows that\n"
        "see no key get out = 0, lse = -inf. Never synchronizes.");
  m.def("attention_is_built", &attention_is_built, nb::arg("dtype"), nb::arg("head_dim"),
        nb::arg("q_block_size"),
        "Whether this build holds the attention kernel for ('float16'|'bfloat16', head_dim,\n"
        "q_block_size); the key block size is a runtime parameter, so every one is built.");
  m.def("cuda_device_count", &cuda_device_count,
        "Number of visible CUDA devices; 0 when there is none or no usable driver.");
  ta::python::bind_triage(m);
  ta::python::bind_decode(m);
}
