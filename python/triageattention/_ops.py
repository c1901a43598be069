"""torch.library custom ops over the compiled core (imported only when torch is present).

The ops take plain strided tensors (the BSR GEMM takes the dense parts of a BSR matrix: crow or
None, col, values) so that fake tensors, torch.compile and CUDA graphs see ordinary tensors.
They run on the current stream of their inputs' device, never synchronize, and allocate
(outputs, workspace, aligned copies) only from torch's caching allocator, which keeps them
capturable in a CUDA graph.
"""

import functools
from typing import Optional, Tuple

import torch

from . import _C


def _rows(crow, col):
    """Number of block-rows of A: from crow in the general form, from col in the fixed form."""
    return col.shape[0] if crow is None else crow.shape[0] - 1


@functools.lru_cache(maxsize=None)
def _workspace_bytes(device_index, M, block_size):
    # The size comes from a CUB query on the current device, so ask on the tensors' device.
    with torch.cuda.device(device_index):
        return _C.bsr_gemm_workspace_bytes(M, block_size, True)


def _rows_aligned(B):
    """B itself when its rows satisfy the kernel (unit stride, 16-byte aligned), else a copy.

    NOTE: the copy costs a read and a write of B; it happens when N is not a multiple of
    16 bytes / element size (8 for fp16/bf16), for column-major B and for misaligned views.
    """
    per_16_bytes = 16 // B.element_size()
    N = B.shape[1]
    if (
        B.stride(1) == 1
        and B.stride(0) >= N
        and B.stride(0) % per_16_bytes == 0
        and B.data_ptr() % 16 == 0
    ):
        return B
    ldb = -(-N // per_16_bytes) * per_16_bytes
    padded = torch.empty((B.shape[0], ldb), dtype=B.dtype, device=B.device)[:, :N]
    padded.copy_(B)
    return padded


def _launch(crow, col, values, B, C, alpha, beta):
    """C = alpha * A @ B + beta * C, enqueued on the current stream of B's device."""
    B = _rows_aligned(B)
    device = B.device
    workspace = None
    if crow is not None:
        nbytes = _workspace_bytes(device.index, C.shape[0], values.shape[1])
        if nbytes:
            workspace = torch.empty(nbytes, dtype=torch.uint8, device=device)
    # detach(): DLPack refuses to export tensors that require grad; it shares the storage.
    _C.bsr_gemm(
        None if crow is None else crow.detach(),
        col.detach(),
        values.detach(),
        B.detach(),
        C.detach(),
        C.shape[0],
        B.shape[0],
        alpha,
        beta,
        workspace,
        torch.cuda.current_stream(device).cuda_stream,
    )


@torch.library.custom_op("triageattention::bsr_matmul", mutates_args=(), device_types="cuda")
def bsr_matmul_op(
    crow: Optional[torch.Tensor],
    col: torch.Tensor,
    values: torch.Tensor,
    B: torch.Tensor,
    alpha: float,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """alpha * A @ B as a new [M, N] tensor of out_dtype."""
    M = _rows(crow, col) * values.shape[1]
    C = torch.empty((M, B.shape[1]), dtype=out_dtype, device=B.device)
    _launch(crow, col, values, B, C, alpha, 0.0)
    return C


@bsr_matmul_op.register_fake
def _(crow, col, values, B, alpha, out_dtype):
    return B.new_empty((_rows(crow, col) * values.shape[1], B.shape[1]), dtype=out_dtype)


@torch.library.custom_op(
    "triageattention::bsr_matmul_accumulate", mutates_args=("C",), device_types="cuda"
)
def bsr_matmul_accumulate_op(
    crow: Optional[torch.Tensor],
    col: torch.Tensor,
    values: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    alpha: float,
    beta: float,
) -> None:
    """C = alpha * A @ B + beta * C in place (C is not read when beta == 0)."""
    _launch(crow, col, values, B, C, alpha, beta)


@bsr_matmul_accumulate_op.register_fake
def _(crow, col, values, B, C, alpha, beta):
    return None


def _attention_out(q):
    """A new dense output whose dimensions are stored in q's order (torch.empty_like), as
    FlexAttention does: q seen as .transpose(1, 2) of a [B, S, H, D] tensor, or sliced from a
    packed qkv one, gives out stored as [B, S, H, D]. Contiguous when head_dim is not q's
    innermost dimension (the kernel writes rows of head_dim). Fake and real implementations
    both call this, so their strides agree."""
    if q.stride(-1) == 1:
        return torch.empty_like(q)
    return q.new_empty(q.shape)


def _attention_lse(q, return_lse):
    # An empty placeholder when not asked for: the op's schema returns two tensors either way.
    return q.new_empty(tuple(q.shape[:3]) if return_lse else (0,), dtype=torch.float32)


def _kernel_readable(t):
    """t itself when the kernel reads it in place (unit stride along head_dim, other strides of
    extent > 1 positive multiples of 8 elements, 16-byte aligned data), else an aligned copy.

    NOTE: the copy costs a read and a write of t. It happens for views the TMA descriptors cannot
    address: head_dim not innermost, strides that are not multiples of 16 bytes, data that is
    not 16-byte aligned (a view starting at an odd element), broadcast (stride 0) dimensions.
    """
    strides_ok = t.stride(-1) == 1 and all(
        s > 0 and s % 8 == 0 for s, n in zip(t.stride()[:3], t.shape[:3]) if n > 1)
    if strides_ok and t.data_ptr() % 16 == 0:
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=t.device).copy_(t)


@torch.library.custom_op(
    "triageattention::block_sparse_attention", mutates_args=(), device_types="cuda"
)
def block_sparse_attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_indices: Optional[torch.Tensor],
    kv_counts: Optional[torch.Tensor],
    block_size: int,
    q_block_size: int,
    causal: bool,
    scale: float,
    return_lse: bool,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(out, lse) of attention over the pattern's key blocks (kv_indices None: all blocks).
    scale 0 selects 1/sqrt(head_dim); lse is an empty tensor unless return_lse."""
    out = _attention_out(q)
    lse = _attention_lse(q, return_lse)
    # detach(): DLPack refuses to export tensors that require grad; it shares the storage.
    _C.block_sparse_attention(
        _kernel_readable(q).detach(),
        _kernel_readable(k).detach(),
        _kernel_readable(v).detach(),
        out,
        lse if return_lse else None,
        None if kv_indices is None else kv_indices.detach(),
        None if kv_counts is None else kv_counts.detach(),
        block_size,
        q_block_size,
        causal,
        scale,
        torch.cuda.current_stream(q.device).cuda_stream,
    )
    return out, lse


@block_sparse_attention_op.register_fake
def _(q, k, v, kv_indices, kv_counts, block_size, q_block_size, causal, scale, return_lse):
    return _attention_out(q), _attention_lse(q, return_lse)


def triage_pattern_shape(q, k, block_size, q_block_size, topk, share_gqa):
    """Shapes of (kv_indices, kv_counts) that triage writes for these inputs."""
    B, Hq, Sq, _ = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    rows = (B, Hkv if share_gqa else Hq, -(-Sq // q_block_size))
    return rows + (min(topk, -(-Sk // block_size)),), rows


@functools.lru_cache(maxsize=None)
def _triage_workspace_bytes(device_index, *shape_and_options):
    # The size depends on the device's SM count, so ask on the tensors' device.
    with torch.cuda.device(device_index):
        return _C.triage_workspace_bytes(*shape_and_options)


@torch.library.custom_op("triageattention::triage", mutates_args=(), device_types="cuda")
def triage_op(
    q: torch.Tensor,
    k: torch.Tensor,
    block_size: int,
    q_block_size: int,
    topk: int,
    causal: bool,
    sink_blocks: int,
    local_blocks: int,
    share_gqa: bool,
    scale: float,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(kv_indices, kv_counts) of the top-k key blocks of every query block; scale 0 selects
    1/sqrt(head_dim)."""
    index_shape, count_shape = triage_pattern_shape(q, k, block_size, q_block_size, topk,
                                                    share_gqa)
    kv_indices = torch.empty(index_shape, dtype=torch.int32, device=q.device)
    kv_counts = torch.empty(count_shape, dtype=torch.int32, device=q.device)
    B, Hq, Sq, D = q.shape
    nbytes = _triage_workspace_bytes(q.device.index, B, Hq, k.shape[1], Sq, k.shape[2], D,
                                     block_size, q_block_size, topk, share_gqa)
    workspace = torch.empty(nbytes, dtype=torch.uint8, device=q.device) if nbytes else None
    _C.triage(_kernel_readable(q).detach(), _kernel_readable(k).detach(), kv_indices, kv_counts,
              workspace, block_size, q_block_size, topk, causal, sink_blocks, local_blocks,
              share_gqa, scale, torch.cuda.current_stream(q.device).cuda_stream)
    return kv_indices, kv_counts


@triage_op.register_fake
def _(q, k, block_size, q_block_size, topk, causal, sink_blocks, local_blocks, share_gqa, scale):
    index_shape, count_shape = triage_pattern_shape(q, k, block_size, q_block_size, topk,
                                                    share_gqa)
    return (q.new_empty(index_shape, dtype=torch.int32),
            q.new_empty(count_shape, dtype=torch.int32))
