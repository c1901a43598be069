"""bsr_matmul: block-sparse (BSR) times dense matrix product on the GPU."""

from ._torch import require_torch, torch

if torch is not None:
    from . import _ops  # noqa: F401  (registers torch.ops.triageattention.*)

BLOCK_SIZES = (16, 32, 64, 128)


def bsr_matmul(A, B, *, out=None, alpha=1.0, beta=0.0, out_dtype=None, validate=False):
    """Returns ``alpha * A @ B + beta * out`` with A block-sparse and B dense.

    Args:
        A: a 2-D ``torch.sparse_bsr`` tensor (its crow/col indices and values are used in place),
            or a tuple ``(crow_indices, col_indices, values)`` of CUDA tensors in the same layout:
            crow [M/bs + 1], col [nnzb], values [nnzb, bs, bs]. With ``crow_indices=None`` it is
            the fixed top-k form: col [M/bs, topk], row r owns values[r*topk:(r+1)*topk].
            Indices int32 or int64 (one dtype), each block-row's columns ascending; values
            float16 or bfloat16, contiguous, block size bs in {16, 32, 64, 128}. Blocks whose
            column lies outside [0, K/bs) contribute nothing.
        B: dense [K, N] tensor of the values' dtype on the same CUDA device. Rows must have unit
            stride and a 16-byte aligned row stride (N a multiple of 8 for contiguous B);
            otherwise B is first copied into an aligned buffer, which costs a read and a write
            of B.
        out: optional [M, N] tensor (the values' dtype or float32, unit stride along rows),
            updated in place and returned. Required when ``beta != 0``.
        alpha, beta: Python numbers. With ``beta == 0`` out is not read (it may hold NaN).
        out_dtype: dtype of a new result, None (B's dtype, or out's) or torch.float32.
        validate: check the index values on the GPU first (crow non-decreasing from 0 to nnzb,
            columns in range and strictly ascending per block-row) and raise ValueError naming
            the problem. This reads back to the host, so it synchronizes and cannot be captured
            in a CUDA graph or traced by torch.compile; the default, False, does neither.

    The product runs on the current stream of B's device with fp32 accumulation, is bitwise
    deterministic and never synchronizes (unless ``validate=True``). Under ``torch.compile``
    pass the tuple form with tensors that are not views of a sparse tensor (clone
    ``crow_indices()``/``col_indices()``/``values()`` once outside): torch cannot trace sparse
    tensors or their views. No autograd support yet.
    """
    torch = require_torch("bsr_matmul")
    crow, col, values, M = _unpack(torch, A)
    bs = values.shape[1]

    if not isinstance(B, torch.Tensor):
        raise TypeError(f"bsr_matmul: B must be a torch.Tensor, got {type(B).__name__}")
    if B.dtype != values.dtype:
        raise TypeError(f"bsr_matmul: B must have A's dtype {values.dtype}, got {B.dtype}")
    if B.dim() != 2:
        raise ValueError(f"bsr_matmul: B must be 2-D [K, N], got shape {tuple(B.shape)}")
    K, N = B.shape
    if K % bs != 0 or K == 0 or N == 0:
        raise ValueError(
            f"bsr_matmul: B must be [K, N] with K a positive multiple of the block size {bs} "
            f"and N >= 1, got shape {tuple(B.shape)}"
        )
    if isinstance(A, torch.Tensor) and A.shape[1] != K:
        raise ValueError(f"bsr_matmul: A is {tuple(A.shape)} but B has {K} rows")
    for name, t in (("crow_indices", crow), ("col_indices", col), ("values", values)):
        if t is not None and t.device != B.device:
            raise ValueError(
                f"bsr_matmul: all tensors must be on one CUDA device; B is on {B.device} "
                f"but A's {name} is on {t.device}"
            )
    if B.device.type != "cuda":
        raise ValueError(f"bsr_matmul: tensors must be on a CUDA device, got {B.device}")

    if not isinstance(alpha, (int, float)) or not isinstance(beta, (int, float)):
        raise TypeError(
            f"bsr_matmul: alpha and beta must be Python numbers, got {type(alpha).__name__} "
            f"and {type(beta).__name__}"
        )
    alpha, beta = float(alpha), float(beta)
    out_dtype = _result_dtype(torch, out, out_dtype, B.dtype)

    if validate:
        _validate_indices(torch, crow, col, K // bs)

    if out is None:
        if beta != 0.0:
            raise ValueError("bsr_matmul: beta != 0 needs out= (the matrix that beta scales)")
        return torch.ops.triageattention.bsr_matmul(crow, col, values, B, alpha, out_dtype)
    _check_out(out, M, N, B.device)
    torch.ops.triageattention.bsr_matmul_accumulate(crow, col, values, B, out, alpha, beta)
    return out


def _unpack(torch, A):
    """(crow or None, col, values, M) of A, checked; index tensors made contiguous if needed."""
    if isinstance(A, torch.Tensor):
        if A.layout != torch.sparse_bsr:
            raise TypeError(
                "bsr_matmul: A must be a torch.sparse_bsr tensor or a (crow_indices, "
                f"col_indices, values) tuple, got a tensor with layout {A.layout}"
            )
        if A.dim() != 2 or A.values().dim() != 3:
            raise ValueError(
                "bsr_matmul: A must be a 2-D BSR matrix without batch or dense dimensions, "
                f"got shape {tuple(A.shape)} with values {tuple(A.values().shape)}"
            )
        crow, col, values = A.crow_indices(), A.col_indices(), A.values()
    elif isinstance(A, (tuple, list)) and len(A) == 3:
        crow, col, values = A
        for name, t in (("crow_indices", crow), ("col_indices", col), ("values", values)):
            if not isinstance(t, torch.Tensor) and not (name == "crow_indices" and t is None):
                raise TypeError(f"bsr_matmul: A's {name} must be a torch.Tensor, got {type(t).__name__}")
    else:
        raise TypeError(
            "bsr_matmul: A must be a torch.sparse_bsr tensor or a (crow_indices, col_indices, "
            f"values) tuple, got {type(A).__name__}"
        )

    if values.dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"bsr_matmul: A's values must be float16 or bfloat16, got {values.dtype}")
    if values.dim() != 3 or values.shape[1] != values.shape[2]:
        raise ValueError(
            f"bsr_matmul: A's values must be [nnzb, bs, bs], got shape {tuple(values.shape)}"
        )
    bs = values.shape[1]
    if bs not in BLOCK_SIZES:
        raise ValueError(f"bsr_matmul: block size must be one of {BLOCK_SIZES}, got {bs}")
    if not values.is_contiguous():
        raise ValueError(
            "bsr_matmul: A's values must be contiguous [nnzb, bs, bs] blocks (call .contiguous())"
        )
    if col.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"bsr_matmul: A's col_indices must be int32 or int64, got {col.dtype}")

    if crow is None:
        if col.dim() != 2:
            raise ValueError(
                "bsr_matmul: with crow_indices=None (fixed top-k form) col_indices must be "
                f"[M/bs, topk], got shape {tuple(col.shape)}"
            )
        rows = col.shape[0]
    else:
        if crow.dtype != col.dtype:
            raise TypeError(
                f"bsr_matmul: A's crow_indices and col_indices must share a dtype, got "
                f"{crow.dtype} and {col.dtype}"
            )
        if crow.dim() != 1 or crow.shape[0] < 1 or col.dim() != 1:
            raise ValueError(
                "bsr_matmul: A's crow_indices must be [M/bs + 1] and col_indices [nnzb], got "
                f"shapes {tuple(crow.shape)} and {tuple(col.shape)}"
            )
        rows = crow.shape[0] - 1
        crow = crow.contiguous()
    if values.shape[0] != col.numel():
        raise ValueError(
            f"bsr_matmul: A has {col.numel()} column indices but {values.shape[0]} value blocks"
        )
    M = rows * bs
    if isinstance(A, torch.Tensor) and A.shape[0] != M:
        raise ValueError(f"bsr_matmul: A is {tuple(A.shape)} but its crow_indices give {M} rows")
    return crow, col.contiguous(), values, M


def _result_dtype(torch, out, out_dtype, in_dtype):
    if out is not None and not isinstance(out, torch.Tensor):
        raise TypeError(f"bsr_matmul: out must be a torch.Tensor, got {type(out).__name__}")
    if out_dtype is None:
        out_dtype = in_dtype if out is None else out.dtype
    if out_dtype not in (in_dtype, torch.float32):
        raise TypeError(f"bsr_matmul: the result must be {in_dtype} or torch.float32, got {out_dtype}")
    if out is not None and out.dtype != out_dtype:
        raise TypeError(f"bsr_matmul: out is {out.dtype} but out_dtype is {out_dtype}")
    return out_dtype


def _check_out(out, M, N, device):
    if tuple(out.shape) != (M, N):
        raise ValueError(f"bsr_matmul: out must be [M, N] = [{M}, {N}], got {tuple(out.shape)}")
    if out.device != device:
        raise ValueError(f"bsr_matmul: out must be on {device}, got {out.device}")
    if (N > 1 and out.stride(1) != 1) or (M > 1 and out.stride(0) < N):
        raise ValueError(
            "bsr_matmul: out must have unit stride along its rows and non-overlapping rows, got "
            f"strides {tuple(out.stride())}"
        )


def _validate_indices(torch, crow, col, k_blocks):
    """Checks the index values on the GPU; each check reads one result back (synchronizes)."""
    nnzb = col.numel()
    if crow is not None:
        first, last = crow[0].item(), crow[-1].item()
        if first != 0 or last != nnzb:
            raise ValueError(
                f"bsr_matmul: A's crow_indices must run from 0 to nnzb = {nnzb}, got {first} to "
                f"{last}"
            )
        drops = torch.nonzero(crow.diff() < 0)
        if drops.numel():
            raise ValueError(
                "bsr_matmul: A's crow_indices must be non-decreasing, but they drop after "
                f"block-row {drops[0, 0].item()}"
            )
    flat = col.reshape(-1)
    outside = torch.nonzero((flat < 0) | (flat >= k_blocks))
    if outside.numel():
        at = outside[0, 0].item()
        raise ValueError(
            f"bsr_matmul: A's col_indices must lie in [0, K/bs = {k_blocks}), got "
            f"{flat[at].item()} at position {at}"
        )
    row = _first_unordered_row(torch, crow, col)
    if row is not None:
        raise ValueError(
            "bsr_matmul: A's col_indices must be strictly ascending within each block-row, but "
            f"block-row {row} is not"
        )


def _first_unordered_row(torch, crow, col):
    """Index of the first block-row whose columns do not strictly ascend, or None."""
    if crow is None:
        rows = torch.nonzero((col[:, 1:] <= col[:, :-1]).any(dim=1))
        return rows[0, 0].item() if rows.numel() else None
    nnzb = col.numel()
    if nnzb < 2:
        return None
    # Pairs (j-1, j) within one block-row must ascend; a pair straddling a row start is exempt.
    same_row = torch.ones(nnzb - 1, dtype=torch.bool, device=col.device)
    starts = crow[1:-1]
    same_row[starts[(starts > 0) & (starts < nnzb)] - 1] = False
    unordered = torch.nonzero(same_row & (col[1:] <= col[:-1]))
    if not unordered.numel():
        return None
    j = unordered[0, 0].item() + 1
    return torch.searchsorted(crow, j, right=True).item() - 1
