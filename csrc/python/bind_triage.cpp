// Bindings of triage: the GPU selection over DLPack arrays and its CPU reference over NumPy.
#include <nanobind/stl/tuple.h>

#include <algorithm>
#include <vector>

#include "binding_util.h"
#include "triageattention/reference.h"
#include "triageattention/triage.h"

namespace triageattention::python {
namespace {

constexpr const char* kFn = "triage";

template <typename Array>
void check_qk(const char* fn, const Array& q, const Array& k) {
  check_ndim(fn, "q", q, 4, "[batch, heads_q, seqlen_q, head_dim]");
  check_ndim(fn, "k", k, 4, "[batch, heads_kv, seqlen_k, head_dim]");
  if (k.shape(0) != q.shape(0) || k.shape(3) != q.shape(3))
    value_error(fn, ": k must be [batch, heads_kv, seqlen_k, head_dim] with q's batch (",
                q.shape(0), ") and head_dim (", q.shape(3), "), got shape ", shape_str(k));
}

// Shapes, options and (on the GPU path) pointers of a triage call.
ta::TriageParams make_params(const Input& q, const Input& k, int block_size, int q_block_size,
                             int topk, bool causal, int sink_blocks, int local_blocks,
                             bool share_gqa, float scale) {
  ta::TriageParams p;
  p.batch = to_int(kFn, "batch", q, 0);
  p.heads_q = to_int(kFn, "heads_q", q, 1);
  p.heads_kv = to_int(kFn, "heads_kv", k, 1);
  p.seqlen_q = int64_t(q.shape(2));
  p.seqlen_k = int64_t(k.shape(2));
  p.head_dim = to_int(kFn, "head_dim", q, 3);
  p.block_size = block_size;
  p.q_block_size = q_block_size;
  p.topk = topk;
  p.causal = causal;
  p.sink_blocks = sink_blocks;
  p.local_blocks = local_blocks;
  p.share_gqa = share_gqa;
  p.scale = scale;
  return p;
}

void triage(Input q, Input k, Output kv_indices, Output kv_counts, std::optional<Output> workspace,
            int block_size, int q_block_size, int topk, bool causal, int sink_blocks,
            int local_blocks, bool share_gqa, float scale, std::uintptr_t stream) {
  using Code = nb::dlpack::dtype_code;
  const std::optional<ta::DType> dtype = float_dtype(q.dtype());
  if (!dtype || *dtype == ta::DType::kFloat32)
    type_error(kFn, ": q must be float16 or bfloat16, got ", dtype_str(q.dtype()));
  if (k.dtype() != q.dtype())
    type_error(kFn, ": k must have q's dtype (", dtype_str(q.dtype()), "), got ",
               dtype_str(k.dtype()));
  if (!is_dtype(kv_indices.dtype(), Code::Int, 32) || !is_dtype(kv_counts.dtype(), Code::Int, 32))
    type_error(kFn, ": kv_indices and kv_counts must be int32");
  check_qk(kFn, q, k);
  ta::TriageParams p = make_params(q, k, block_size, q_block_size, topk, causal, sink_blocks,
                                   local_blocks, share_gqa, scale);
  p.dtype = *dtype;
  check_ndim(kFn, "kv_indices", kv_indices, 4, "[batch, pattern_heads, num_q_blocks, max_blocks]");
  check_ndim(kFn, "kv_counts", kv_counts, 3, "[batch, pattern_heads, num_q_blocks]");
  SameCudaDevice device(kFn);
  device.add("q", q);
  device.add("k", k);
  device.add("kv_indices", kv_indices);
  device.add("kv_counts", kv_counts);
  if (workspace) device.add("workspace", *workspace);
  p.q = q.data();
  p.k = k.data();
  p.q_strides = attention_strides(kFn, "q", q);
  p.k_strides = attention_strides(kFn, "k", k);
  // An empty array may carry a null pointer; nothing is written through it then.
  static int32_t empty_output = 0;
  p.kv_indices = kv_indices.size() ? static_cast<int32_t*>(kv_indices.data()) : &empty_output;
  p.kv_counts = kv_counts.size() ? static_cast<int32_t*>(kv_counts.data()) : &empty_output;
  ta::check_triage_params(p);

  const int64_t nq = ta::num_query_blocks(p.seqlen_q, p.q_block_size);
  const int hs = ta::triage_pattern_heads(p);
  const int max_blocks = ta::triage_max_blocks(p);
  if (int64_t(kv_indices.shape(0)) != p.batch || int64_t(kv_indices.shape(1)) != hs ||
      int64_t(kv_indices.shape(2)) != nq || int64_t(kv_indices.shape(3)) != max_blocks)
    value_error(kFn, ": kv_indices must be [", p.batch, ", ", hs, ", ", nq, ", ", max_blocks,
                "], got ", shape_str(kv_indices));
  if (int64_t(kv_counts.shape(0)) != p.batch || int64_t(kv_counts.shape(1)) != hs ||
      int64_t(kv_counts.shape(2)) != nq)
    value_error(kFn, ": kv_counts must be [", p.batch, ", ", hs, ", ", nq, "], got ",
                shape_str(kv_counts));
  if (!is_contiguous(kv_indices) || !is_contiguous(kv_counts))
    value_error(kFn, ": kv_indices and kv_counts must be contiguous");

  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::triage(p, workspace ? workspace->data() : nullptr, workspace ? workspace->nbytes() : 0,
             reinterpret_cast<cudaStream_t>(stream));
}

std::size_t triage_workspace_bytes(int batch, int heads_q, int heads_kv, int64_t seqlen_q,
                                   int64_t seqlen_k, int head_dim, int block_size,
                                   int q_block_size, int topk, bool share_gqa) {
  ta::TriageParams p;
  p.batch = batch;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.seqlen_q = seqlen_q;
  p.seqlen_k = seqlen_k;
  p.head_dim = head_dim;
  p.block_size = block_size;
  p.q_block_size = q_block_size;
  p.topk = topk;
  p.share_gqa = share_gqa;
  return ta::triage_workspace_bytes(p);
}

using HostTensor = nb::ndarray<const float, nb::ndim<4>, nb::device::cpu, nb::c_contig>;
using HostInts = nb::ndarray<nb::numpy, int32_t>;

HostInts to_numpy(std::vector<int32_t>&& values, std::vector<size_t> shape) {
  auto* owned = new std::vector<int32_t>(std::move(values));
  nb::capsule owner(owned, [](void* v) noexcept { delete static_cast<std::vector<int32_t>*>(v); });
  return HostInts(owned->data(), shape.size(), shape.data(), owner);
}

std::tuple<HostInts, HostInts> reference_triage(HostTensor q, HostTensor k, int block_size,
                                                int q_block_size, int topk, bool causal,
                                                int sink_blocks, int local_blocks, bool share_gqa,
                                                float scale) {
  constexpr const char* fn = "reference_triage";
  check_qk(fn, q, k);
  ta::reference::AttentionShape s;
  s.batch = to_int(fn, "batch", q, 0);
  s.heads_q = to_int(fn, "heads_q", q, 1);
  s.heads_kv = to_int(fn, "heads_kv", k, 1);
  s.seqlen_q = int64_t(q.shape(2));
  s.seqlen_k = int64_t(k.shape(2));
  s.head_dim = to_int(fn, "head_dim", q, 3);
  ta::reference::TriageOptions o;
  o.block_size = block_size;
  o.q_block_size = q_block_size;
  o.topk = topk;
  o.causal = causal;
  o.sink_blocks = sink_blocks;
  o.local_blocks = local_blocks;
  o.share_gqa = share_gqa;
  o.scale = scale;
  std::vector<int32_t> indices, counts;
  {
    nb::gil_scoped_release release;
    ta::reference::triage(s, q.data(), k.data(), o, indices, counts);
  }
  const size_t hs = share_gqa ? size_t(s.heads_kv) : size_t(s.heads_q);
  const size_t nq = size_t(ta::num_query_blocks(s.seqlen_q, q_block_size));
  const size_t max_blocks =
      size_t(std::min<int64_t>(topk, ta::num_key_blocks(s.seqlen_k, block_size)));
  return {to_numpy(std::move(indices), {size_t(s.batch), hs, nq, max_blocks}),
          to_numpy(std::move(counts), {size_t(s.batch), hs, nq})};
}

}  // namespace

void bind_triage(nb::module_& m) {
  m.def("triage", &triage, nb::arg("q"), nb::arg("k"), nb::arg("kv_indices"),
        nb::arg("kv_counts"), nb::arg("workspace").none(), nb::arg("block_size"),
        nb::arg("q_block_size"), nb::arg("topk"), nb::arg("causal"), nb::arg("sink_blocks"),
        nb::arg("local_blocks"), nb::arg("share_gqa"), nb::arg("scale"), nb::arg("stream"),
        "Top-k key-block selection on the CUDA stream `stream` (a cudaStream_t as int).\n\n"
        "q [B, Hq, Sq, D] and k [B, Hkv, Sk, D] float16/bfloat16 with a contiguous last\n"
        "dimension (other strides multiples of 8 elements, 16-byte aligned data). Writes\n"
        "kv_indices [B, Hs, ceil(Sq / q_block_size), min(topk, ceil(Sk / block_size))] (rows\n"
        "ascending, padded with -1) and kv_counts [B, Hs, nQ], int32 contiguous; Hs = Hkv with\n"
        "share_gqa, else Hq. The workspace holds triage_workspace_bytes(...) bytes, 256-byte\n"
        "aligned. scale 0 selects 1/sqrt(D). Never synchronizes.");
  m.def("triage_workspace_bytes", &triage_workspace_bytes, nb::arg("batch"), nb::arg("heads_q"),
        nb::arg("heads_kv"), nb::arg("seqlen_q"), nb::arg("seqlen_k"), nb::arg("head_dim"),
        nb::arg("block_size"), nb::arg("q_block_size"), nb::arg("topk"), nb::arg("share_gqa"),
        "Device workspace bytes triage needs for these shapes on the current CUDA device.");
  m.def("reference_triage", &reference_triage, nb::arg("q"), nb::arg("k"), nb::arg("block_size"),
        nb::arg("q_block_size"), nb::arg("topk"), nb::arg("causal"), nb::arg("sink_blocks"),
        nb::arg("local_blocks"), nb::arg("share_gqa"), nb::arg("scale"),
        "CPU reference of triage on float32 NumPy arrays q [B, Hq, Sq, D], k [B, Hkv, Sk, D]\n"
        "(C-contiguous): returns (kv_indices, kv_counts) as int32 NumPy arrays, the same\n"
        "selection the GPU makes from the 16-bit values these floats hold.");
}

}  // namespace triageattention::python
