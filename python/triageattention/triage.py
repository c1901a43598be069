"""Triage: GPU top-k key-block selection, sparse_attention (triage + block-sparse attention in
one call), the CPU reference of the selection rule, and attention-mass recall.

The rule (DESIGN.md, Triage): score(i, j) = mean_q(i) . mean_k(j) * scale over query blocks i
and key blocks j; with share_gqa one pattern row per kv head, scored by the max over its group's
query heads. Eligible blocks: all, or (causal, bottom-right aligned) those whose first key the
block's last query sees. The first sink_blocks blocks and the local_blocks blocks ending at the
diagonal block are forced (they rank above every score and count toward topk). A row keeps
min(topk, eligible) blocks, ties to the lower index, listed ascending and padded with -1.
"""

import math

import numpy as np

from . import _C
from ._torch import require_torch, torch
from .attention import (_check_block_sizes, _check_qkv, _scale_arg,
                        block_sparse_attention)

if torch is not None:
    from . import _ops

_FN = "triage"


def triage(q, k, block_size, topk, q_block_size=128, causal=False, sink_blocks=1,
           local_blocks=1, share_gqa=True, scale=None):
    """The top-k key blocks of every query block, chosen on the GPU.

    Args:
        q: [B, Hq, Sq, D] float16 or bfloat16 CUDA tensor, D a multiple of 8 up to 256.
        k: [B, Hkv, Sk, D] of q's dtype and device, Hq a multiple of Hkv. Any strides with a
            contiguous last dimension are read in place (others are copied first).
        block_size: key block size, 16, 32, 64 or 128.
        topk: blocks kept per row (>= 1); rows with fewer eligible blocks keep them all.
        q_block_size: query block size, 128 or 64.
        causal: only blocks whose first key the block's last query sees (bottom-right aligned).
        sink_blocks, local_blocks: blocks always kept at the start and ending at the diagonal.
        share_gqa: one pattern per kv head (the max over its query heads), the fast path for
            block_sparse_attention; False gives one per query head.
        scale: score scale (> 0); None selects 1 / sqrt(D). It changes no ranking except
            through rounding, and is kept for the exact rule.

    Returns:
        (kv_indices, kv_counts): int32 [B, Hs, ceil(Sq / q_block_size), min(topk, nK)] (rows
        ascending, padded with -1) and [B, Hs, ceil(Sq / q_block_size)], Hs = Hkv with share_gqa,
        else Hq; ready for block_sparse_attention. Runs on the current stream, never
        synchronizes, deterministic, CUDA-graph capturable, and as
        torch.ops.triageattention.triage traceable by torch.compile.
    """
    require_torch(_FN)
    _check_qkv(torch, q, k, None, fn=_FN, head_dim_ok=lambda D: D % 8 == 0 and 8 <= D <= 256,
               head_dim_rule="a multiple of 8 in [8, 256]")
    _check_options(block_size, q_block_size, topk, sink_blocks, local_blocks)
    return _ops.triage_op(q, k, block_size, q_block_size, int(topk), bool(causal),
                          int(sink_blocks), int(local_blocks), bool(share_gqa),
                          _scale_arg(scale, _FN))


def sparse_attention(q, k, v, block_size=16, topk=16, q_block_size=128, causal=False,
                     scale=None, sink_blocks=1, local_blocks=1, share_gqa=True, pattern=None,
                     return_lse=False, return_pattern=False):
    """Triage, then exact attention over the selected key blocks: the library's headline call.

    Args:
        q, k, v: as block_sparse_attention ([B, Hq, Sq, D], [B, Hkv, Sk, D], float16/bfloat16,
            D 64 or 128).
        block_size, topk, q_block_size, causal, sink_blocks, local_blocks, share_gqa: as
            triage; causal also masks within the visited blocks.
        scale: attention and score scale; None selects 1 / sqrt(D).
        pattern: a (kv_indices, kv_counts) pair from an earlier call (return_pattern=True) or
            from triage, to reuse across layers or steps; the selection is then skipped.
        return_lse: also return lse [B, Hq, Sq] float32.
        return_pattern: also return the (kv_indices, kv_counts) used.

    Returns:
        out, then lse and/or the pattern when asked, in that order.
    """
    require_torch("sparse_attention")
    _check_qkv(torch, q, k, v)
    _check_options(block_size, q_block_size, topk, sink_blocks, local_blocks)
    if pattern is None:
        pattern = triage(q, k, block_size, topk, q_block_size=q_block_size, causal=causal,
                         sink_blocks=sink_blocks, local_blocks=local_blocks,
                         share_gqa=share_gqa, scale=scale)
    elif not (isinstance(pattern, (tuple, list)) and len(pattern) == 2):
        raise TypeError("sparse_attention: pattern must be a (kv_indices, kv_counts) pair or None")
    result = block_sparse_attention(q, k, v, pattern[0], pattern[1], block_size,
                                    q_block_size=q_block_size, causal=causal, scale=scale,
                                    return_lse=return_lse)
    outputs = tuple(result) if return_lse else (result,)
    if return_pattern:
        outputs += (tuple(pattern),)
    return outputs if len(outputs) > 1 else outputs[0]


def reference_triage(q, k, block_size, topk, q_block_size=128, causal=False, sink_blocks=1,
                     local_blocks=1, share_gqa=True, scale=None):
    """CPU reference of triage: the same rule in the same fp32 operation order, so it equals
    the GPU selection index for index. q and k are NumPy arrays or torch tensors (any device,
    float16/bfloat16/float32; widened to float32 on the host). Returns NumPy int32
    (kv_indices, kv_counts)."""
    _check_options(block_size, q_block_size, topk, sink_blocks, local_blocks)
    return _C.reference_triage(_host_float32(q), _host_float32(k), block_size, q_block_size,
                               int(topk), bool(causal), int(sink_blocks), int(local_blocks),
                               bool(share_gqa), _scale_arg(scale, "reference_triage"))


def attention_mass_recall(q, k, kv_indices, kv_counts, block_size, q_block_size=128,
                          causal=False, scale=None, rows_per_chunk=2048):
    """Share of the dense softmax mass that falls inside the selected blocks, per query head.

    For every query row that sees at least one key, the recall is the sum of its dense attention
    probabilities (fp32, causal bottom-right aligned when asked) over the keys of the blocks its
    pattern row lists; the result averages it over rows: a float32 tensor [B, Hq] on q's device.
    Costs one dense fp32 QK^T, computed rows_per_chunk query rows at a time.
    """
    torch_ = require_torch("attention_mass_recall")
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    group, hs = Hq // Hkv, kv_indices.shape[1]
    nk = -(-Sk // block_size)
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    recall = torch_.zeros((B, Hq), dtype=torch_.float32, device=q.device)
    # Selected key blocks of every pattern row as a dense [B, Hs, nQ, nK] table.
    entries = torch_.arange(kv_indices.shape[3], device=q.device)
    counted = entries < kv_counts.clamp(min=0).unsqueeze(-1)
    valid = counted & (kv_indices >= 0) & (kv_indices < nk)
    selected = torch_.zeros(kv_indices.shape[:3] + (nk + 1,), dtype=torch_.bool, device=q.device)
    selected.scatter_(3, torch_.where(valid, kv_indices, nk).long(), valid)
    selected = selected[..., :nk]
    key_block = torch_.arange(Sk, device=q.device) // block_size
    keys = torch_.arange(Sk, device=q.device)
    for b in range(B):
        for h in range(Hq):
            kf = k[b, h // group].float()
            pattern_head = h // group if hs == Hkv else h
            total, rows_seen = 0.0, 0
            for start in range(0, Sq, rows_per_chunk):
                stop = min(start + rows_per_chunk, Sq)
                s = (q[b, h, start:stop].float() @ kf.T) * scale
                rows = torch_.arange(start, stop, device=q.device)
                if causal:
                    s.masked_fill_(keys[None, :] > rows[:, None] + (Sk - Sq), float("-inf"))
                seen = torch_.isfinite(s).any(dim=1)
                p = torch_.softmax(s, dim=1).nan_to_num_(0.0)
                chosen = selected[b, pattern_head][rows // q_block_size][:, key_block]
                total = total + (p * chosen).sum(dim=1)[seen].sum()
                rows_seen += int(seen.sum())
            recall[b, h] = total / max(rows_seen, 1)
    return recall


def _check_options(block_size, q_block_size, topk, sink_blocks, local_blocks):
    _check_block_sizes(_FN, block_size, q_block_size)
    for name, value, low in (("topk", topk, 1), ("sink_blocks", sink_blocks, 0),
                             ("local_blocks", local_blocks, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{_FN}: {name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{_FN}: {name} must be >= {low}, got {value}")


def _host_float32(a):
    if hasattr(a, "detach"):  # a torch tensor (bfloat16 has no NumPy dtype: widen first)
        a = a.detach().float().cpu().numpy()
    return np.ascontiguousarray(a, dtype=np.float32)
