"""torch.library custom ops over the compiled core (imported only when torch is present).

The ops take the dense parts of a BSR matrix (crow or None, col, values) so that fake tensors,
torch.compile and CUDA graphs see ordinary strided tensors. They run on the current stream of
B's device, never synchronize, and allocate (output, workspace, padded B) only from torch's
caching allocator, which keeps them capturable in a CUDA graph.
"""

import functools
from typing import Optional

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
