"""block_sparse_attention and dense_attention: exact attention over chosen key blocks, on the GPU.

Semantics (docs in DESIGN.md): q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D] in SDPA order; query
head h reads kv head h // (Hq / Hkv); causal is bottom-right aligned (query i sees key j iff
j <= i + Sk - Sq, as FlashAttention 2+; torch SDPA's is_causal is top-left aligned when
Sq != Sk); a query row that sees no key gets out = 0 and lse = -inf.
"""

import math

import numpy as np

from ._torch import require_torch, torch

if torch is not None:
    from . import _ops  # noqa: F401  (registers torch.ops.triageattention.*)

BLOCK_SIZES = (16, 32, 64, 128)
Q_BLOCK_SIZES = (64, 128)
HEAD_DIMS = (64, 128)
_FN = "block_sparse_attention"


def block_sparse_attention(q, k, v, kv_indices, kv_counts, block_size, q_block_size=128,
                           causal=False, scale=None, return_lse=False, validate=False):
    """Attention of each query block over the key blocks its pattern row lists.

    Args:
        q: [B, Hq, Sq, D] float16 or bfloat16 CUDA tensor, D 64 or 128.
        k, v: [B, Hkv, Sk, D] of q's dtype and device, Hq a multiple of Hkv (GQA/MQA).
            q, k and v may have any strides: FlashAttention-order [B, S, H, D] tensors passed as
            ``.transpose(1, 2)`` views and slices of a packed qkv tensor are read in place.
            Views the kernel cannot address (head_dim not innermost, strides that are not
            multiples of 16 bytes, misaligned data, broadcast dimensions) are first copied,
            which costs a read and a write of that tensor.
        kv_indices: int32 [B, Hs, ceil(Sq / q_block_size), max_blocks]; row (b, h, i) lists,
            ascending, the key blocks (of block_size keys; the last may be short) that query
            block i visits. Hs is Hkv (one selection shared by each GQA group, the fast path)
            or Hq (one per query head). A batch or head dimension of 1 broadcasts (expanded
            with a copy), as in a FlexAttention BlockMask made with B=None or H=None.
            None (with kv_counts None) means dense attention.
        kv_counts: int32 [B, Hs, ceil(Sq / q_block_size)]: only the first kv_counts entries of a
            row count. Indices outside [0, ceil(Sk / block_size)) select nothing. Pattern
            tensors that are not contiguous are copied.
        block_size: key block size, 16, 32, 64 or 128.
        q_block_size: query block size, 128 or 64.
        causal: also mask keys past the bottom-right aligned diagonal, whatever the pattern says.
        scale: score scale, a positive number; None selects 1 / sqrt(D).
        return_lse: also return lse [B, Hq, Sq] float32, the natural-log sum-exp of the scaled
            scores each row saw (-inf for a row that saw none).
        validate: first check the pattern's values (counts in [0, max_blocks], counted indices
            strictly ascending and inside [0, ceil(Sk / block_size))) and raise ValueError
            describing the first bad row. This copies the pattern to the host, so it
            synchronizes and cannot run under torch.compile or CUDA graph capture; the default,
            False, does neither.

    Returns:
        out [B, Hq, Sq, D], dense, its dimensions stored in q's order as FlexAttention does (q
        seen as .transpose(1, 2) of a [B, S, H, D] tensor or sliced from a packed qkv tensor
        gives out stored as [B, S, H, D]; contiguous when head_dim is not q's innermost
        dimension), or (out, lse) when return_lse.

    Runs on the current stream of q's device with fp32 accumulation, never synchronizes (unless
    validate=True), is bitwise deterministic, CUDA-graph capturable and, as the custom op
    ``torch.ops.triageattention.block_sparse_attention``, traceable by torch.compile with
    fullgraph=True. A configuration left out of a one-config build raises ValueError ("this build
    has no kernel"). No autograd support yet.
    """
    torch = require_torch("block_sparse_attention")
    B, Hq, Hkv, Sq, Sk = _check_qkv(torch, q, k, v)
    _check_block_sizes(_FN, block_size, q_block_size)
    scale = _scale_arg(scale, _FN)
    if (kv_indices is None) != (kv_counts is None):
        raise ValueError(f"{_FN}: kv_indices and kv_counts must both be given (block-sparse) or "
                         "both be None (dense)")
    if kv_indices is not None:
        kv_indices, kv_counts = _check_pattern(torch, kv_indices, kv_counts, q, B, Hq, Hkv, Sq,
                                               q_block_size)
        if validate:
            validate_pattern(kv_indices, kv_counts, -(-Sk // block_size))
    out, lse = torch.ops.triageattention.block_sparse_attention(
        q, k, v, kv_indices, kv_counts, block_size, q_block_size, bool(causal), float(scale),
        bool(return_lse))
    return (out, lse) if return_lse else out


def dense_attention(q, k, v, causal=False, scale=None, return_lse=False):
    """Dense attention (every key; causal bottom-right aligned) with block_sparse_attention's
    kernel, layouts and guarantees: block_sparse_attention(q, k, v, None, None, 128, ...).
    Uses the 128-row query tile."""
    return block_sparse_attention(q, k, v, None, None, 128, 128, causal=causal, scale=scale,
                                  return_lse=return_lse)


def validate_pattern(kv_indices, kv_counts, num_key_blocks):
    """Raises ValueError describing the first row (in row-major order) of a block pattern that
    breaks the rules, or returns None.

    A row (b, h, i) is valid when 0 <= kv_counts[b, h, i] <= max_blocks and its first
    kv_counts entries of kv_indices lie in [0, num_key_blocks) in strictly ascending order (no
    repeats); entries past the count are ignored. Takes NumPy arrays or torch tensors
    (kv_indices [B, Hs, nQ, max_blocks], kv_counts [B, Hs, nQ]); GPU tensors are copied to the
    host, which synchronizes.
    """
    indices, counts = _host_array(kv_indices), _host_array(kv_counts)
    if indices.ndim != 4 or counts.shape != indices.shape[:3]:
        raise ValueError(
            "invalid pattern: kv_indices must be [B, Hs, nQ, max_blocks] and kv_counts [B, Hs, nQ],"
            f" got shapes {list(indices.shape)} and {list(counts.shape)}")
    max_blocks = indices.shape[3]
    bad_count = (counts < 0) | (counts > max_blocks)
    counted = np.arange(max_blocks) < np.clip(counts, 0, max_blocks)[..., None]
    outside = counted & ((indices < 0) | (indices >= num_key_blocks))
    unordered = counted[..., 1:] & (indices[..., 1:] <= indices[..., :-1])
    bad = bad_count | outside.any(axis=-1) | unordered.any(axis=-1)
    if not bad.any():
        return
    row = np.unravel_index(np.argmax(bad), bad.shape)  # argmax: the first True
    where = "row (batch {}, head {}, query block {})".format(*(int(i) for i in row))
    if bad_count[row]:
        raise ValueError(f"invalid pattern: kv_counts of {where} is {int(counts[row])}, outside "
                         f"[0, max_blocks = {max_blocks}]")
    entries = indices[row][: counts[row]]
    if outside[row].any():
        j = int(np.argmax(outside[row]))
        raise ValueError(
            f"invalid pattern: kv_indices {where} lists block {int(entries[j])} at entry {j}, "
            f"outside [0, ceil(seqlen_k / block_size) = {num_key_blocks})")
    j = int(np.argmax(unordered[row])) + 1
    what = (f"block {int(entries[j])} appears twice (entries {j - 1} and {j})"
            if entries[j] == entries[j - 1] else
            f"entry {j} (block {int(entries[j])}) follows block {int(entries[j - 1])}")
    raise ValueError(f"invalid pattern: kv_indices {where} must be strictly ascending, but {what}; "
                     f"its {len(entries)} counted entries: {_preview(entries)}")


def _host_array(a):
    if hasattr(a, "detach"):  # a torch tensor: copy to the host (synchronizes)
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _preview(entries, limit=16):
    shown = ", ".join(str(int(x)) for x in entries[:limit])
    return f"[{shown}{', ...' if len(entries) > limit else ''}]"


def _check_qkv(torch, q, k, v, fn=_FN, head_dim_ok=lambda D: D in HEAD_DIMS,
               head_dim_rule=f"one of {HEAD_DIMS}"):
    """(B, Hq, Hkv, Sq, Sk) of checked q, k and v (None for ops without values, as triage).
    Checks only metadata, so that fake tensors (torch.compile) raise the same errors as real
    ones. fn prefixes the messages; head_dim_ok / head_dim_rule state the supported head dims."""
    given = [("q", q), ("k", k)] + ([("v", v)] if v is not None else [])
    for name, t in given:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if q.dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"{fn}: q must be float16 or bfloat16, got {q.dtype}")
    for name, t in given[1:]:
        if t.dtype != q.dtype:
            raise TypeError(f"{fn}: {name} must have q's dtype {q.dtype}, got {t.dtype}")
    for name, t in given:
        if t.dim() != 4:
            layout = "[B, Hq, Sq, D]" if name == "q" else "[B, Hkv, Sk, D]"
            raise ValueError(f"{fn}: {name} must be 4-D {layout}, got shape {list(t.shape)}")
    B, Hq, Sq, D = q.shape
    _, Hkv, Sk, _ = k.shape
    if k.shape[0] != B or k.shape[3] != D:
        raise ValueError(f"{fn}: k must be [B, Hkv, Sk, D] with q's B ({B}) and D ({D}), got "
                         f"shape {list(k.shape)}")
    if v is not None and v.shape != k.shape:
        raise ValueError(f"{fn}: v must have k's shape {list(k.shape)}, got {list(v.shape)}")
    if not head_dim_ok(D):
        raise ValueError(f"{fn}: head_dim must be {head_dim_rule}, got {D}")
    if Hkv < 1 or Hq % Hkv != 0:
        raise ValueError(f"{fn}: heads_q ({Hq}) must be a multiple of heads_kv ({Hkv}) for "
                         "GQA/MQA")
    if q.device.type != "cuda":
        raise ValueError(f"{fn}: q must be on a CUDA device, got {q.device}")
    for name, t in given[1:]:
        if t.device != q.device:
            raise ValueError(f"{fn}: {name} must be on q's device {q.device}, got {t.device}")
    return B, Hq, Hkv, Sq, Sk


def _check_block_sizes(fn, block_size, q_block_size):
    if block_size not in BLOCK_SIZES:
        raise ValueError(f"{fn}: block_size must be one of {BLOCK_SIZES}, got {block_size}")
    if q_block_size not in Q_BLOCK_SIZES:
        raise ValueError(f"{fn}: q_block_size must be one of {Q_BLOCK_SIZES}, got {q_block_size}")


def _scale_arg(scale, fn):
    """The kernels' scale argument: None -> 0 (their default, 1/sqrt(D)); else a positive,
    finite Python number."""
    if scale is None:
        return 0.0
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"{fn}: scale must be a Python number or None, got "
                        f"{type(scale).__name__}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"{fn}: scale must be positive and finite, got {scale}")
    return float(scale)


def _check_pattern(torch, kv_indices, kv_counts, q, B, Hq, Hkv, Sq, q_block_size):
    """The pattern as the kernel takes it: checked, broadcast to [B, Hs, ...], contiguous."""
    for name, t in (("kv_indices", kv_indices), ("kv_counts", kv_counts)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_FN}: {name} must be a torch.Tensor or None, got "
                            f"{type(t).__name__}")
        if t.dtype != torch.int32:
            raise TypeError(f"{_FN}: {name} must be int32, got {t.dtype} (convert it once with "
                            ".int())")
        if t.device != q.device:
            raise ValueError(f"{_FN}: {name} must be on q's device {q.device}, got {t.device}")
    nq = -(-Sq // q_block_size)
    if kv_indices.dim() != 4 or kv_counts.shape != kv_indices.shape[:3]:
        raise ValueError(
            f"{_FN}: kv_indices must be [B, Hs, ceil(Sq / q_block_size), max_blocks] and "
            f"kv_counts [B, Hs, ceil(Sq / q_block_size)], got shapes {list(kv_indices.shape)} and "
            f"{list(kv_counts.shape)}")
    Bp, Hp, nqp, max_blocks = kv_indices.shape
    batch = B if Bp == 1 else Bp
    heads = Hkv if Hp == 1 else Hp  # one head broadcasts as the shared (per kv head) pattern
    if batch != B or heads not in (Hkv, Hq) or nqp != nq:
        raise ValueError(
            f"{_FN}: kv_indices must be [B, Hs, ceil(Sq / q_block_size), max_blocks] = [{B}, "
            f"{Hkv} (heads_kv) or {Hq} (heads_q), {nq}, max_blocks] (B and Hs may be 1), got "
            f"{list(kv_indices.shape)}")
    if (Bp, Hp) != (batch, heads):
        kv_indices = kv_indices.expand(batch, heads, nq, max_blocks)
        kv_counts = kv_counts.expand(batch, heads, nq)
    return kv_indices.contiguous(), kv_counts.contiguous()
