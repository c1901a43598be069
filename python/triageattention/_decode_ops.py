"""torch.library custom ops of the KV-cache decode family (imported only when torch is present).

Like _ops.py: plain tensors in and out, the current stream of the inputs' device, no
synchronization, allocation (outputs, workspace) only from torch's caching allocator, so the ops
are capturable in a CUDA graph and traceable by torch.compile.
"""

import functools
from typing import Optional, Tuple

import torch

from . import _C
from ._ops import _attention_lse, _attention_out, _kernel_readable


@functools.lru_cache(maxsize=None)
def workspace_bytes(batch, heads_kv, heads_q, seqlen_q, max_pages, head_dim):
    return _C.sparse_decode_workspace_bytes(batch, heads_kv, heads_q, seqlen_q, max_pages, head_dim)


def _stream(t):
    return torch.cuda.current_stream(t.device).cuda_stream


def _q_readable(q):
    """q itself when the kernels read it in place (unit stride along head_dim, even strides,
    4-byte aligned), else a contiguous copy (a read and a write of q, which is small)."""
    ok = q.stride(-1) == 1 and all(s % 2 == 0 for s, n in zip(q.stride()[:3], q.shape[:3])
                                   if n > 1) and q.data_ptr() % 4 == 0
    return q if ok else torch.empty(q.shape, dtype=q.dtype, device=q.device).copy_(q)


@torch.library.custom_op(
    "triageattention::paged_kv_append",
    mutates_args=("k_cache", "v_cache", "k_min", "k_max", "seqlens"), device_types="cuda")
def paged_kv_append_op(
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    k_min: torch.Tensor,
    k_max: torch.Tensor,
    page_table: torch.Tensor,
    seqlens: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
    new_lens: Optional[torch.Tensor],
) -> None:
    """Appends k_new, v_new [B, Hkv, T, D] (new_lens[b] <= T tokens each when given)."""
    _C.paged_kv_append(k_cache, v_cache, k_min, k_max, page_table, seqlens,
                       _kernel_readable(k_new).detach(), _kernel_readable(v_new).detach(),
                       None if new_lens is None else new_lens.detach(), _stream(k_cache))


@paged_kv_append_op.register_fake
def _(k_cache, v_cache, k_min, k_max, page_table, seqlens, k_new, v_new, new_lens):
    return None


@torch.library.custom_op(
    "triageattention::paged_kv_refresh_summaries", mutates_args=("k_min", "k_max"),
    device_types="cuda")
def paged_kv_refresh_summaries_op(
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    k_min: torch.Tensor,
    k_max: torch.Tensor,
    page_table: torch.Tensor,
    seqlens: torch.Tensor,
) -> None:
    """Recomputes the summaries of every page holding valid tokens."""
    _C.paged_kv_refresh_summaries(k_cache, v_cache, k_min, k_max, page_table, seqlens,
                                  _stream(k_cache))


@paged_kv_refresh_summaries_op.register_fake
def _(k_cache, v_cache, k_min, k_max, page_table, seqlens):
    return None


@torch.library.custom_op("triageattention::sparse_decode", mutates_args=(), device_types="cuda")
def sparse_decode_op(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    k_min: torch.Tensor,
    k_max: torch.Tensor,
    page_table: torch.Tensor,
    seqlens: torch.Tensor,
    topk: int,
    sink_pages: int,
    scale: float,
    return_lse: bool,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(out, lse) of decode over the top-k pages (topk >= max_pages: dense); scale 0 selects
    1/sqrt(D); lse is an empty tensor unless return_lse."""
    q = _q_readable(q.detach())
    out = _attention_out(q)
    lse = _attention_lse(q, return_lse)
    B, Hq, Sq, D = q.shape
    nbytes = workspace_bytes(B, k_cache.shape[1], Hq, Sq, page_table.shape[1], D)
    workspace = torch.empty(nbytes, dtype=torch.uint8, device=q.device)
    _C.sparse_decode(q, k_cache, v_cache, k_min, k_max, page_table, seqlens, out,
                     lse if return_lse else None, workspace, topk, sink_pages, scale, _stream(q))
    return out, lse


@sparse_decode_op.register_fake
def _(q, k_cache, v_cache, k_min, k_max, page_table, seqlens, topk, sink_pages, scale,
      return_lse):
    return _attention_out(q), _attention_lse(q, return_lse)


def _selection_outputs(q, k_cache, page_table):
    B, Hkv, max_pages = q.shape[0], k_cache.shape[1], page_table.shape[1]
    return (q.new_empty((B, Hkv, max_pages), dtype=torch.int32),
            q.new_empty((B, Hkv), dtype=torch.int32),
            q.new_empty((B, Hkv, max_pages), dtype=torch.float32))


@torch.library.custom_op(
    "triageattention::select_decode_pages", mutates_args=(), device_types="cuda")
def select_decode_pages_op(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    k_min: torch.Tensor,
    k_max: torch.Tensor,
    page_table: torch.Tensor,
    seqlens: torch.Tensor,
    topk: int,
    sink_pages: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indices, counts, scores) of sparse_decode's page selection."""
    q = _q_readable(q.detach())
    indices, counts, scores = _selection_outputs(q, k_cache, page_table)
    _C.select_decode_pages(q, k_cache, v_cache, k_min, k_max, page_table, seqlens, indices,
                           counts, scores, topk, sink_pages, _stream(q))
    return indices, counts, scores


@select_decode_pages_op.register_fake
def _(q, k_cache, v_cache, k_min, k_max, page_table, seqlens, topk, sink_pages):
    return _selection_outputs(q, k_cache, page_table)
