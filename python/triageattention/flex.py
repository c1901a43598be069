"""FlexAttention interop: a torch BlockMask as a block_sparse_attention pattern, and back.

A BlockMask lists, per (batch, head, query block), the key blocks Flex visits: "partial" ones
(kv_num_blocks, kv_indices), where Flex applies the mask_mod per token, and optionally "full"
ones (full_kv_num_blocks, full_kv_indices), which it visits unmasked. block_sparse_attention
has no mask_mod: it visits every listed block whole (plus its own causal masking), so a
converted mask reproduces flex_attention exactly when the mask_mod keeps every token of the
partial blocks (from_kv_blocks without a mask_mod, or a causal mask_mod together with
causal=True).
"""

from ._torch import require_torch
from .attention import BLOCK_SIZES, Q_BLOCK_SIZES

_INT32_MAX = 2**31 - 1


def pattern_from_block_mask(block_mask):
    """(kv_indices, kv_counts, block_size, q_block_size) visiting every block a BlockMask visits.

    block_mask.BLOCK_SIZE gives (q_block_size, block_size), which must be supported
    (q 64 or 128; kv 16, 32, 64 or 128). Without full blocks, int32 contiguous kv_indices and
    kv_num_blocks are returned as they are (no copy, the same storage); with full blocks, each row
    is the union of its partial and full blocks in ascending order, in new tensors. A mask made
    with B=None or H=None has batch or head dimension 1, which block_sparse_attention broadcasts.
    """
    torch = require_torch("pattern_from_block_mask")
    q_block_size, block_size = (int(s) for s in block_mask.BLOCK_SIZE)
    if block_size not in BLOCK_SIZES or q_block_size not in Q_BLOCK_SIZES:
        raise ValueError(
            f"pattern_from_block_mask: BLOCK_SIZE (q, kv) = ({q_block_size}, {block_size}) is not "
            f"supported; q_block_size must be one of {Q_BLOCK_SIZES} and the kv block size one "
            f"of {BLOCK_SIZES}")
    indices, counts = block_mask.kv_indices, block_mask.kv_num_blocks
    if indices.dim() != 4:
        raise ValueError("pattern_from_block_mask: the mask must be [B, H, num_q_blocks, "
                         f"num_kv_blocks], got kv_indices of shape {list(indices.shape)}")
    if block_mask.full_kv_num_blocks is not None:
        indices, counts = _merge_rows(torch, indices, counts, block_mask.full_kv_indices,
                                      block_mask.full_kv_num_blocks)
    # No-ops (the same tensors) when already int32 and contiguous.
    indices = indices.to(torch.int32).contiguous()
    counts = counts.to(torch.int32).contiguous()
    return indices, counts, block_size, q_block_size


def _merge_rows(torch, indices_a, counts_a, indices_b, counts_b):
    """Per row, the counted entries of both lists in ascending order, and their total count.
    Entries past the count hold INT32_MAX (so that the sort puts them last; nothing reads them)."""
    def live(indices, counts):
        width = indices.shape[-1]
        counted = torch.arange(width, device=indices.device) < counts.clamp(0, width)[..., None]
        return indices.to(torch.int32).masked_fill(~counted, _INT32_MAX), counts.clamp(0, width)

    a, n_a = live(indices_a, counts_a)
    b, n_b = live(indices_b, counts_b)
    merged = torch.cat([a, b], dim=-1).sort(dim=-1).values
    return merged, (n_a + n_b).to(torch.int32)


def block_mask_from_pattern(kv_indices, kv_counts, block_size, q_block_size, seqlen_q, seqlen_k,
                            heads_q=None, mask_mod=None):
    """A FlexAttention BlockMask whose partial blocks are exactly the pattern's blocks, so that
    flex_attention can run on the identical mask (a valid pattern: see validate_pattern).

    Args:
        kv_indices, kv_counts: the pattern, [B, Hs, nQ, max_blocks] and [B, Hs, nQ] int32.
        block_size, q_block_size, seqlen_q, seqlen_k: as given to block_sparse_attention.
        heads_q: the number of query heads. Flex indexes the mask's head dimension with the
            query head (modulo its size), so a pattern shared per kv head (Hs = Hkv < Hq) is
            repeated to heads_q heads; needed for GQA with a per-kv-head pattern.
        mask_mod: applied by Flex inside the visited blocks (None: every token of a visited
            block). A BlockMask has no causal notion: to match causal=True, pass
            causal_mask_mod(seqlen_q, seqlen_k).
    """
    torch = require_torch("block_mask_from_pattern")
    from torch.nn.attention.flex_attention import BlockMask

    nq = -(-seqlen_q // q_block_size)
    nk = -(-seqlen_k // block_size)
    if (kv_indices.dim() != 4 or kv_counts.shape != kv_indices.shape[:3]
            or kv_indices.shape[2] != nq):
        raise ValueError(
            f"block_mask_from_pattern: kv_indices must be [B, Hs, {nq}, max_blocks] and kv_counts "
            f"[B, Hs, {nq}] (ceil(seqlen_q / q_block_size) = {nq}), got shapes "
            f"{list(kv_indices.shape)} and {list(kv_counts.shape)}")
    # Flex reads kv_indices as [..., num_kv_blocks] (it transposes the mask through a dense table
    # of that width), so the lists are padded or cut to nk entries; a valid row has at most nk.
    width = kv_indices.shape[-1]
    if width < nk:
        kv_indices = torch.nn.functional.pad(kv_indices, (0, nk - width))
    kv_indices = kv_indices[..., :nk]
    kv_counts = kv_counts.clamp(0, min(width, nk))
    heads = kv_indices.shape[1]
    if heads_q is not None and heads != heads_q:
        if heads_q % heads:
            raise ValueError(f"block_mask_from_pattern: heads_q ({heads_q}) must be a multiple of "
                             f"the pattern's {heads} heads")
        kv_indices = kv_indices.repeat_interleave(heads_q // heads, dim=1)
        kv_counts = kv_counts.repeat_interleave(heads_q // heads, dim=1)
    return BlockMask.from_kv_blocks(
        kv_counts.to(torch.int32).contiguous(), kv_indices.to(torch.int32).contiguous(),
        BLOCK_SIZE=(q_block_size, block_size), mask_mod=mask_mod,
        seq_lengths=(seqlen_q, seqlen_k))


def causal_mask_mod(seqlen_q, seqlen_k):
    """A Flex mask_mod for bottom-right aligned causal attention (query i sees key j iff
    j <= i + seqlen_k - seqlen_q), the causal=True of block_sparse_attention."""
    offset = seqlen_k - seqlen_q

    def causal(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx + offset

    return causal
