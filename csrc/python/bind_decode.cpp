// Bindings of the KV-cache decode family: paged append, sparse decode, the page selection, and
// the CPU reference of the selection over NumPy arrays.
#include <vector>

#include "binding_util.h"
#include "triageattention/decode.h"
#include "triageattention/reference_decode.h"

namespace triageattention::python {
namespace {

using Code = nb::dlpack::dtype_code;

template <typename Array>
void check_contiguous(const char* fn, const char* name, const Array& a) {
  if (!is_contiguous(a)) value_error(fn, ": ", name, " must be contiguous");
}

template <typename Array>
void check_int32(const char* fn, const char* name, const Array& a) {
  if (!is_dtype(a.dtype(), Code::Int, 32))
    type_error(fn, ": ", name, " must be int32, got ", dtype_str(a.dtype()));
}

// The cache arrays as a view: k_cache, v_cache [num_pages, heads_kv, page_size, head_dim] fp16 /
// bf16; k_min, k_max [num_pages, heads_kv, head_dim] of the same dtype; page_table
// [batch, max_pages] and seqlens [batch] int32; all contiguous. Devices are checked last
// (cache_devices), so that shape errors show on host arrays too.
template <typename KV, typename Summary, typename Lens>
ta::PagedKVCacheView cache_view(const char* fn, const KV& k_cache,
                                const KV& v_cache, const Summary& k_min, const Summary& k_max,
                                const Input& page_table, const Lens& seqlens) {
  const std::optional<ta::DType> dtype = float_dtype(k_cache.dtype());
  if (!dtype || *dtype == ta::DType::kFloat32)
    type_error(fn, ": k_cache must be float16 or bfloat16, got ", dtype_str(k_cache.dtype()));
  if (v_cache.dtype() != k_cache.dtype())
    type_error(fn, ": v_cache must have k_cache's dtype (", dtype_str(k_cache.dtype()), "), got ",
               dtype_str(v_cache.dtype()));
  for (const auto* s : {&k_min, &k_max})
    if (s->dtype() != k_cache.dtype())
      type_error(fn, ": k_min and k_max must have k_cache's dtype (", dtype_str(k_cache.dtype()),
                 "), got ", dtype_str(s->dtype()));
  check_int32(fn, "page_table", page_table);
  check_int32(fn, "seqlens", seqlens);
  check_ndim(fn, "k_cache", k_cache, 4, "[num_pages, heads_kv, page_size, head_dim]");
  if (!same_shape(v_cache, k_cache))
    value_error(fn, ": v_cache must have k_cache's shape ", shape_str(k_cache), ", got ",
                shape_str(v_cache));
  check_ndim(fn, "k_min", k_min, 3, "[num_pages, heads_kv, head_dim]");
  if (k_min.shape(0) != k_cache.shape(0) || k_min.shape(1) != k_cache.shape(1) ||
      k_min.shape(2) != k_cache.shape(3))
    value_error(fn, ": k_min must be [num_pages, heads_kv, head_dim] = [", k_cache.shape(0), ", ",
                k_cache.shape(1), ", ", k_cache.shape(3), "], got ", shape_str(k_min));
  if (!same_shape(k_max, k_min))
    value_error(fn, ": k_max must have k_min's shape ", shape_str(k_min), ", got ",
                shape_str(k_max));
  check_ndim(fn, "page_table", page_table, 2, "[batch, max_pages]");
  check_ndim(fn, "seqlens", seqlens, 1, "[batch]");
  if (seqlens.shape(0) != page_table.shape(0))
    value_error(fn, ": seqlens must have one entry per sequence (page_table has ",
                page_table.shape(0), " rows), got ", shape_str(seqlens));
  check_contiguous(fn, "k_cache", k_cache);
  check_contiguous(fn, "v_cache", v_cache);
  check_contiguous(fn, "k_min", k_min);
  check_contiguous(fn, "k_max", k_max);
  check_contiguous(fn, "page_table", page_table);
  check_contiguous(fn, "seqlens", seqlens);

  ta::PagedKVCacheView c;
  c.k_cache = const_cast<void*>(static_cast<const void*>(k_cache.data()));
  c.v_cache = const_cast<void*>(static_cast<const void*>(v_cache.data()));
  c.k_min = const_cast<void*>(static_cast<const void*>(k_min.data()));
  c.k_max = const_cast<void*>(static_cast<const void*>(k_max.data()));
  c.page_table = static_cast<const int32_t*>(page_table.data());
  c.seqlens = static_cast<int32_t*>(const_cast<void*>(static_cast<const void*>(seqlens.data())));
  c.batch = to_int(fn, "batch", page_table, 0);
  c.max_pages = to_int(fn, "max_pages", page_table, 1);
  c.num_pages = int64_t(k_cache.shape(0));
  c.heads_kv = to_int(fn, "heads_kv", k_cache, 1);
  c.page_size = to_int(fn, "page_size", k_cache, 2);
  c.head_dim = to_int(fn, "head_dim", k_cache, 3);
  c.dtype = *dtype;
  return c;
}

template <typename KV, typename Summary, typename Lens>
void cache_devices(SameCudaDevice& device, const KV& k_cache, const KV& v_cache,
                   const Summary& k_min, const Summary& k_max, const Input& page_table,
                   const Lens& seqlens) {
  device.add("k_cache", k_cache);
  device.add("v_cache", v_cache);
  device.add("k_min", k_min);
  device.add("k_max", k_max);
  device.add("page_table", page_table);
  device.add("seqlens", seqlens);
}

template <typename Array>
ta::AttentionStrides strides_4d(const char* fn, const char* name, const Array& a,
                                int64_t batch, int64_t heads, int64_t head_dim, const char* layout) {
  check_ndim(fn, name, a, 4, layout);
  if (int64_t(a.shape(0)) != batch || int64_t(a.shape(1)) != heads ||
      int64_t(a.shape(3)) != head_dim)
    value_error(fn, ": ", name, " must be ", layout, " with batch ", batch, ", ", heads,
                " heads and head_dim ", head_dim, ", got shape ", shape_str(a));
  return attention_strides(fn, name, a);
}

void paged_kv_append(Output k_cache, Output v_cache, Output k_min, Output k_max,
                     Input page_table, Output seqlens, Input k_new, Input v_new,
                     std::optional<Input> new_lens, std::uintptr_t stream) {
  constexpr const char* fn = "paged_kv_append";
  ta::PagedKVCacheView c =
      cache_view(fn, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  for (const auto* t : {&k_new, &v_new})
    if (t->dtype() != k_cache.dtype())
      type_error(fn, ": k_new and v_new must have the cache's dtype (", dtype_str(k_cache.dtype()),
                 "), got ", dtype_str(t->dtype()));
  constexpr const char* layout = "[batch, heads_kv, new_tokens, head_dim]";
  ta::PagedAppendParams p;
  p.k_strides = strides_4d(fn, "k_new", k_new, c.batch, c.heads_kv, c.head_dim, layout);
  p.v_strides = strides_4d(fn, "v_new", v_new, c.batch, c.heads_kv, c.head_dim, layout);
  if (!same_shape(v_new, k_new))
    value_error(fn, ": v_new must have k_new's shape ", shape_str(k_new), ", got ",
                shape_str(v_new));
  if (new_lens) {
    check_int32(fn, "new_lens", *new_lens);
    check_ndim(fn, "new_lens", *new_lens, 1, "[batch]");
    if (int64_t(new_lens->shape(0)) != c.batch)
      value_error(fn, ": new_lens must have ", c.batch, " entries, got ", shape_str(*new_lens));
    check_contiguous(fn, "new_lens", *new_lens);
    p.new_lens = static_cast<const int32_t*>(new_lens->data());
  }
  p.k_new = k_new.data();
  p.v_new = v_new.data();
  p.new_tokens = int64_t(k_new.shape(2));
  SameCudaDevice device(fn);
  cache_devices(device, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  device.add("k_new", k_new);
  device.add("v_new", v_new);
  if (new_lens) device.add("new_lens", *new_lens);
  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::paged_kv_append(c, p, reinterpret_cast<cudaStream_t>(stream));
}

void paged_kv_refresh_summaries(Input k_cache, Input v_cache, Output k_min, Output k_max,
                                Input page_table, Input seqlens, std::uintptr_t stream) {
  constexpr const char* fn = "paged_kv_refresh_summaries";
  const ta::PagedKVCacheView c =
      cache_view(fn, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  SameCudaDevice device(fn);
  cache_devices(device, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::paged_kv_refresh_summaries(c, reinterpret_cast<cudaStream_t>(stream));
}

// q's checks shared by sparse_decode and select_decode_pages.
ta::SparseDecodeParams decode_params(const char* fn, const ta::PagedKVCacheView& c, const Input& q,
                                     const Input& k_cache, int topk, int sink_pages, float scale) {
  if (q.dtype() != k_cache.dtype())
    type_error(fn, ": q must have the cache's dtype (", dtype_str(k_cache.dtype()), "), got ",
               dtype_str(q.dtype()));
  check_ndim(fn, "q", q, 4, "[batch, heads_q, seqlen_q, head_dim]");
  ta::SparseDecodeParams p;
  p.heads_q = to_int(fn, "heads_q", q, 1);
  p.q_strides = strides_4d(fn, "q", q, c.batch, p.heads_q, c.head_dim,
                           "[batch, heads_q, seqlen_q, head_dim]");
  p.seqlen_q = to_int(fn, "seqlen_q", q, 2);
  p.q = q.data();
  p.topk = topk;
  p.sink_pages = sink_pages;
  p.scale = scale;
  return p;
}

void sparse_decode(Input q, Input k_cache, Input v_cache, Input k_min, Input k_max,
                   Input page_table, Input seqlens, Output out, std::optional<Output> lse,
                   Output workspace, int topk, int sink_pages, float scale, std::uintptr_t stream) {
  constexpr const char* fn = "sparse_decode";
  const ta::PagedKVCacheView c =
      cache_view(fn, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  ta::SparseDecodeParams p = decode_params(fn, c, q, k_cache, topk, sink_pages, scale);
  if (out.dtype() != q.dtype())
    type_error(fn, ": out must have q's dtype (", dtype_str(q.dtype()), "), got ",
               dtype_str(out.dtype()));
  if (!same_shape(out, q))
    value_error(fn, ": out must have q's shape ", shape_str(q), ", got ", shape_str(out));
  p.out_strides = attention_strides(fn, "out", out);
  p.out = out.data();
  if (lse) {
    if (!is_dtype(lse->dtype(), Code::Float, 32))
      type_error(fn, ": lse must be float32, got ", dtype_str(lse->dtype()));
    check_ndim(fn, "lse", *lse, 3, "[batch, heads_q, seqlen_q]");
    if (lse->shape(0) != q.shape(0) || lse->shape(1) != q.shape(1) || lse->shape(2) != q.shape(2))
      value_error(fn, ": lse must be [batch, heads_q, seqlen_q] = [", q.shape(0), ", ", q.shape(1),
                  ", ", q.shape(2), "], got ", shape_str(*lse));
    check_contiguous(fn, "lse", *lse);
    p.lse = static_cast<float*>(lse->data());
  }
  check_ndim(fn, "workspace", workspace, 1, "[bytes]");
  check_contiguous(fn, "workspace", workspace);
  p.workspace = workspace.data();
  p.workspace_bytes = workspace.nbytes();
  SameCudaDevice device(fn);
  cache_devices(device, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  device.add("q", q);
  device.add("out", out);
  if (lse) device.add("lse", *lse);
  device.add("workspace", workspace);
  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::sparse_decode(c, p, reinterpret_cast<cudaStream_t>(stream));
}

void select_decode_pages(Input q, Input k_cache, Input v_cache, Input k_min, Input k_max,
                         Input page_table, Input seqlens, Output indices, Output counts,
                         Output scores, int topk, int sink_pages, std::uintptr_t stream) {
  constexpr const char* fn = "select_decode_pages";
  const ta::PagedKVCacheView c =
      cache_view(fn, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  const ta::SparseDecodeParams p = decode_params(fn, c, q, k_cache, topk, sink_pages, 0.f);
  check_int32(fn, "indices", indices);
  check_int32(fn, "counts", counts);
  if (!is_dtype(scores.dtype(), Code::Float, 32))
    type_error(fn, ": scores must be float32, got ", dtype_str(scores.dtype()));
  const size_t pairs = size_t(c.batch) * c.heads_kv;
  if (indices.size() != pairs * c.max_pages || scores.size() != pairs * c.max_pages ||
      counts.size() != pairs)
    value_error(fn, ": indices and scores must hold [batch, heads_kv, max_pages] = ", pairs,
                " x ", c.max_pages, " entries and counts [batch, heads_kv] = ", pairs);
  check_contiguous(fn, "indices", indices);
  check_contiguous(fn, "counts", counts);
  check_contiguous(fn, "scores", scores);
  SameCudaDevice device(fn);
  cache_devices(device, k_cache, v_cache, k_min, k_max, page_table, seqlens);
  device.add("q", q);
  device.add("indices", indices);
  device.add("counts", counts);
  device.add("scores", scores);
  DeviceGuard guard(device.device());
  nb::gil_scoped_release release;
  ta::select_decode_pages(c, p, static_cast<int32_t*>(indices.data()),
                          static_cast<int32_t*>(counts.data()), static_cast<float*>(scores.data()),
                          reinterpret_cast<cudaStream_t>(stream));
}

using HostF32 = nb::ndarray<const float, nb::device::cpu, nb::c_contig>;
using HostI32 = nb::ndarray<const int32_t, nb::device::cpu, nb::c_contig>;
using HostOutF32 = nb::ndarray<float, nb::device::cpu, nb::c_contig>;
using HostOutI32 = nb::ndarray<int32_t, nb::device::cpu, nb::c_contig>;

void reference_select_decode_pages(HostF32 q, HostF32 k_min, HostF32 k_max, HostI32 page_table,
                                   HostI32 seqlens, int page_size, int topk, int sink_pages,
                                   HostOutI32 indices, HostOutI32 counts, HostOutF32 scores) {
  constexpr const char* fn = "reference_select_decode_pages";
  check_ndim(fn, "q", q, 4, "[batch, heads_q, seqlen_q, head_dim]");
  check_ndim(fn, "k_min", k_min, 3, "[num_pages, heads_kv, head_dim]");
  check_ndim(fn, "page_table", page_table, 2, "[batch, max_pages]");
  ta::reference::DecodeSelectionShape s;
  s.batch = to_int(fn, "batch", q, 0);
  s.heads_q = to_int(fn, "heads_q", q, 1);
  s.seqlen_q = to_int(fn, "seqlen_q", q, 2);
  s.head_dim = to_int(fn, "head_dim", q, 3);
  s.heads_kv = to_int(fn, "heads_kv", k_min, 1);
  s.num_pages = int64_t(k_min.shape(0));
  s.page_size = page_size;
  s.max_pages = to_int(fn, "max_pages", page_table, 1);
  if (s.heads_kv < 1 || s.heads_q % s.heads_kv != 0)
    value_error(fn, ": heads_q (", s.heads_q, ") must be a multiple of heads_kv (", s.heads_kv, ")");
  if (int64_t(k_min.shape(2)) != s.head_dim || !same_shape(k_max, k_min))
    value_error(fn, ": k_min and k_max must be [num_pages, heads_kv, head_dim] with q's head_dim");
  if (int64_t(page_table.shape(0)) != s.batch || int64_t(seqlens.size()) != s.batch)
    value_error(fn, ": page_table and seqlens must have q's batch (", s.batch, ") rows");
  if (page_size < 1) value_error(fn, ": page_size must be >= 1, got ", page_size);
  const size_t pairs = size_t(s.batch) * s.heads_kv;
  if (indices.size() != pairs * s.max_pages || scores.size() != pairs * s.max_pages ||
      counts.size() != pairs)
    value_error(fn, ": indices and scores must hold [batch, heads_kv, max_pages] entries and "
                "counts [batch, heads_kv]");
  nb::gil_scoped_release release;
  ta::reference::select_decode_pages(s, q.data(), k_min.data(), k_max.data(), page_table.data(),
                                     seqlens.data(), topk, sink_pages, scores.data(),
                                     indices.data(), counts.data());
}

}  // namespace

void bind_decode(nb::module_& m) {
  m.def("paged_kv_append", &paged_kv_append, nb::arg("k_cache"), nb::arg("v_cache"),
        nb::arg("k_min"), nb::arg("k_max"), nb::arg("page_table"), nb::arg("seqlens"),
        nb::arg("k_new"), nb::arg("v_new"), nb::arg("new_lens").none(), nb::arg("stream"),
        "Writes k_new, v_new [B, Hkv, T, D] at positions seqlens[b] .. (through page_table),\n"
        "refreshes k_min / k_max of the touched pages, then seqlens[b] += n (n = T, or\n"
        "clamp(new_lens[b], 0, T)). Cache: k_cache, v_cache [num_pages, Hkv, page_size, D]\n"
        "float16/bfloat16, k_min, k_max [num_pages, Hkv, D] of the same dtype, page_table\n"
        "[B, max_pages] and seqlens [B] int32, contiguous. Never synchronizes.");
  m.def("paged_kv_refresh_summaries", &paged_kv_refresh_summaries, nb::arg("k_cache"),
        nb::arg("v_cache"), nb::arg("k_min"), nb::arg("k_max"), nb::arg("page_table"),
        nb::arg("seqlens"), nb::arg("stream"),
        "Recomputes k_min / k_max of every page holding valid tokens. Never synchronizes.");
  m.def("sparse_decode", &sparse_decode, nb::arg("q"), nb::arg("k_cache"), nb::arg("v_cache"),
        nb::arg("k_min"), nb::arg("k_max"), nb::arg("page_table"), nb::arg("seqlens"),
        nb::arg("out"), nb::arg("lse").none(), nb::arg("workspace"), nb::arg("topk"),
        nb::arg("sink_pages"), nb::arg("scale"), nb::arg("stream"),
        "Decode of q [B, Hq, Sq, D] (Sq 1..8 tokens already appended) over the top-k pages of\n"
        "each (sequence, kv head) by the Quest bound (sink and last pages forced); topk >=\n"
        "max_pages is dense decode. out like q; lse [B, Hq, Sq] float32 or None; workspace of\n"
        "sparse_decode_workspace_bytes(...) bytes. scale 0 selects 1/sqrt(D). Never synchronizes.");
  m.def("sparse_decode_workspace_bytes", &ta::sparse_decode_workspace_bytes, nb::arg("batch"),
        nb::arg("heads_kv"), nb::arg("heads_q"), nb::arg("seqlen_q"), nb::arg("max_pages"),
        nb::arg("head_dim"), "Workspace bytes of sparse_decode (depends on the shapes only).");
  m.def("select_decode_pages", &select_decode_pages, nb::arg("q"), nb::arg("k_cache"),
        nb::arg("v_cache"), nb::arg("k_min"), nb::arg("k_max"), nb::arg("page_table"),
        nb::arg("seqlens"), nb::arg("indices"), nb::arg("counts"), nb::arg("scores"),
        nb::arg("topk"), nb::arg("sink_pages"), nb::arg("stream"),
        "sparse_decode's page selection alone: indices [B, Hkv, max_pages] int32 (ascending,\n"
        "-1 padded), counts [B, Hkv] int32, scores [B, Hkv, max_pages] float32.");
  m.def("reference_select_decode_pages", &reference_select_decode_pages, nb::arg("q"),
        nb::arg("k_min"), nb::arg("k_max"), nb::arg("page_table"), nb::arg("seqlens"),
        nb::arg("page_size"), nb::arg("topk"), nb::arg("sink_pages"),
        nb::arg("indices").noconvert(), nb::arg("counts").noconvert(),
        nb::arg("scores").noconvert(),
        "CPU reference of select_decode_pages on NumPy arrays (q, k_min and k_max float32\n"
        "holding the 16-bit values); exact: same scores bit for bit, same pages.");
}

}  // namespace triageattention::python
