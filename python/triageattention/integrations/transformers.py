"""TriageAttention as a Hugging Face transformers attention implementation.

    from triageattention.integrations.transformers import TriageConfig, enable_triage
    enable_triage(model, TriageConfig(block_size=64, topk=256))   # attn_implementation "triage"
    ...
    disable_triage(model)                                          # back to what it was

or, once ``register()`` has run, ``from_pretrained(..., attn_implementation="triage")`` (default
TriageConfig). The function follows transformers' SDPA contract (same arguments, masks made by
``sdpa_mask``, output [B, S, Hq, D]); the paths it takes:

- prefill (more than MAX_DECODE_TOKENS queries, or no cache): ``sparse_attention`` with the
  configured block size and top-k, causal bottom-right aligned, GQA through kv-head sharing; keys
  shorter than ``min_sparse_seqlen``: torch SDPA. topk covering every block still runs triage +
  block-sparse attention (it then equals dense attention, which is what validation checks).
- decode (1..MAX_DECODE_TOKENS new queries after a cache): ``decode="dense"`` (default) hands the
  call to transformers' own SDPA unchanged; ``decode="sparse"`` mirrors each layer's cache in a
  ``PagedKVCache`` (pages of block_size tokens) and runs ``sparse_decode`` over the top-k pages.
- padding: a mask made of causal + left padding (what ``generate`` uses), or of a static cache's
  unused tail, is read once per forward and each sequence attends over its own key range; any
  other mask (sliding window, packed sequences, custom) goes to torch SDPA with a one-time warning.
- gradients requested or training dropout: torch SDPA with a one-time warning (no backward here).

transformers and torch are imported only when used.
"""

import dataclasses
import warnings
import weakref
from collections import Counter
from typing import Optional

from .._torch import require_torch, torch
from ..attention import BLOCK_SIZES, HEAD_DIMS, Q_BLOCK_SIZES
from ..decode import MAX_NEW_TOKENS as MAX_DECODE_TOKENS

NAME = "triage"
DECODE_MODES = ("dense", "sparse")

# Attributes set on every submodule by enable_triage (the attention function gets only `module`).
_CONFIG_ATTR = "_triage_config"
_COUNTS_ATTR = "_triage_counts"
_STATE_ATTR = "_triage_decode_state"
_PREVIOUS_ATTR = "_triage_previous_attn_implementation"

# Extra tokens a sparse-decode mirror is sized for, so that it is rebuilt rarely while generating.
_DECODE_HEADROOM = 4096


@dataclasses.dataclass(frozen=True)
class TriageConfig:
    """Knobs of the transformers integration (validated on construction).

    block_size: key block size of the selection, 16/32/64/128; also the page size of the
        sparse-decode cache.
    topk: key blocks kept per query block (prefill) and pages kept per sequence and kv head
        (sparse decode); topk * block_size keys are attended.
    q_block_size: query block size, 64 or 128.
    min_sparse_seqlen: key lengths below it use torch SDPA (prefill) or transformers' SDPA
        (sparse decode). None: 2 * topk * block_size, below which a sparse pass saves little.
        0: always the TriageAttention kernels.
    sink_blocks, local_blocks: blocks always kept at the start and at the diagonal (count toward
        topk); sink_blocks is also the number of sink pages in sparse decode.
    share_gqa: one selection per kv head (the fast path) rather than per query head.
    decode: "dense" (transformers' SDPA over its cache) or "sparse" (PagedKVCache + top-k pages).
    """

    block_size: int = 64
    topk: int = 256
    q_block_size: int = 128
    min_sparse_seqlen: Optional[int] = None
    sink_blocks: int = 1
    local_blocks: int = 1
    share_gqa: bool = True
    decode: str = "dense"

    def __post_init__(self):
        for name, low in (("block_size", 1), ("topk", 1), ("q_block_size", 1),
                          ("sink_blocks", 0), ("local_blocks", 0)):
            _check_int(name, getattr(self, name), low)
        if self.min_sparse_seqlen is not None:
            _check_int("min_sparse_seqlen", self.min_sparse_seqlen, 0)
        if self.block_size not in BLOCK_SIZES:
            raise ValueError(f"TriageConfig: block_size must be one of {BLOCK_SIZES}, got "
                             f"{self.block_size}")
        if self.q_block_size not in Q_BLOCK_SIZES:
            raise ValueError(f"TriageConfig: q_block_size must be one of {Q_BLOCK_SIZES}, got "
                             f"{self.q_block_size}")
        if not isinstance(self.share_gqa, bool):
            raise TypeError(f"TriageConfig: share_gqa must be a bool, got {self.share_gqa!r}")
        if self.decode not in DECODE_MODES:
            raise ValueError(f"TriageConfig: decode must be one of {DECODE_MODES}, got "
                             f"{self.decode!r}")

    @property
    def sparse_threshold(self):
        """Key length from which the TriageAttention kernels run."""
        if self.min_sparse_seqlen is None:
            return 2 * self.topk * self.block_size
        return self.min_sparse_seqlen


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"TriageConfig: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"TriageConfig: {name} must be >= {low}, got {value}")


# -------------------------------------------------------------------------------------------
# Registration and switching
# -------------------------------------------------------------------------------------------


def _require_transformers():
    try:
        import transformers
    except ImportError as e:
        raise ImportError("triageattention.integrations.transformers needs Hugging Face "
                          "transformers (pip install transformers)") from e
    return transformers


def register(name=NAME):
    """Registers the attention function (and, where transformers has a mask interface, SDPA's
    mask builder) under `name`, so that ``attn_implementation=name`` selects TriageAttention.
    Idempotent; returns `name`."""
    require_torch("integrations.transformers.register")
    transformers = _require_transformers()
    try:
        from transformers.modeling_utils import AttentionInterface
    except ImportError as e:
        raise ImportError(f"triageattention.integrations.transformers needs transformers >= 4.51 "
                          f"(AttentionInterface); this is {transformers.__version__}") from e
    AttentionInterface.register(name, triage_attention_forward)
    try:  # transformers >= 4.53 builds masks per implementation; older ones always give 4-D masks
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return name
    # Without a mask builder transformers would pass no mask at all, dropping padding.
    AttentionMaskInterface.register(name, sdpa_mask)
    return name


def is_registered(name=NAME):
    """Whether `name` is a registered transformers attention implementation (False when
    transformers is not installed)."""
    try:
        from transformers.modeling_utils import AttentionInterface
    except ImportError:
        return False
    return AttentionInterface._global_mapping.get(name) is triage_attention_forward


def head_dims(model):
    """{head_dim: [names of the attention modules that use it]} of a transformers model."""
    found = {}
    for name, module in model.named_modules():
        d = getattr(module, "head_dim", None)
        if isinstance(d, int) and hasattr(module, "is_causal"):
            found.setdefault(d, []).append(name or type(module).__name__)
    if not found:  # no attention module exposes head_dim: derive it from the config
        cfg = model.config
        d = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        found[d] = [type(model).__name__]
    return found


def enable_triage(model, config=None):
    """Switches a transformers model to TriageAttention with `config` (default TriageConfig()).

    Registers the implementation, checks the model's head dims (ValueError naming an unsupported
    one), remembers the current implementation for disable_triage and attaches the config to the
    model's modules. Calling it again replaces the config. Returns the model."""
    config = TriageConfig() if config is None else config
    if not isinstance(config, TriageConfig):
        raise TypeError(f"enable_triage: config must be a TriageConfig, got "
                        f"{type(config).__name__}")
    for d, names in head_dims(model).items():
        if d not in HEAD_DIMS:
            raise ValueError(
                f"enable_triage: TriageAttention supports head_dim {' or '.join(map(str, HEAD_DIMS))}"
                f", but {type(model).__name__} has head_dim {d} (in {names[0]}"
                f"{f' and {len(names) - 1} more' if len(names) > 1 else ''}); keep its "
                f"attn_implementation {model.config._attn_implementation!r}")
    register()
    current = model.config._attn_implementation
    if current != NAME:
        setattr(model, _PREVIOUS_ATTR, current or "sdpa")
    elif _PREVIOUS_ATTR not in model.__dict__:  # loaded as "triage": transformers' default
        setattr(model, _PREVIOUS_ATTR, "sdpa")
    _set_implementation(model, NAME)
    counts = Counter()
    for module in model.modules():
        setattr(module, _CONFIG_ATTR, config)
        setattr(module, _COUNTS_ATTR, counts)
        setattr(module, _STATE_ATTR, None)
    return model


def disable_triage(model):
    """Restores the attention implementation the model had before enable_triage and drops the
    attached config and decode caches; a model never enabled is left as it is. Returns the
    model."""
    previous = model.__dict__.get(_PREVIOUS_ATTR)
    if previous is not None:
        _set_implementation(model, previous)
    for module in model.modules():
        for attr in (_CONFIG_ATTR, _COUNTS_ATTR, _STATE_ATTR, _PREVIOUS_ATTR):
            module.__dict__.pop(attr, None)
    return model


def reset_decode_state(model):
    """Drops the sparse-decode mirrors of every layer (they are rebuilt on the next decode step).
    Needed only when a cache is reused in a way the mirror cannot see (see docs/INTEGRATION.md)."""
    for module in model.modules():
        if _STATE_ATTR in module.__dict__:
            setattr(module, _STATE_ATTR, None)


def triage_stats(model):
    """How often each path ran since enable_triage, summed over layers: 'sparse' (triage +
    block-sparse prefill), 'dense_sdpa' (prefill below min_sparse_seqlen), 'decode_sparse',
    'decode_sdpa', and 'fallback:<reason>' (torch SDPA for an unsupported case)."""
    return dict(getattr(model, _COUNTS_ATTR, None) or {})


def _set_implementation(model, name):
    if hasattr(model, "set_attn_implementation"):  # transformers >= 4.56: also sub-models
        model.set_attn_implementation(name)
    else:
        model.config._attn_implementation = name


# -------------------------------------------------------------------------------------------
# The attention function
# -------------------------------------------------------------------------------------------

_DEFAULT_CONFIG = TriageConfig()
_warned = set()


def triage_attention_forward(module, query, key, value, attention_mask, scaling=None,
                             dropout=0.0, **kwargs):
    """transformers attention function: query [B, Hq, Sq, D], key/value [B, Hkv, Sk, D] (the whole
    cache), attention_mask None or 4-D as made by sdpa_mask. Returns (out [B, Sq, Hq, D], None)."""
    config = getattr(module, _CONFIG_ATTR, None) or _DEFAULT_CONFIG
    for name in ("softcap", "s_aux", "position_bias"):
        if kwargs.get(name) is not None:
            raise NotImplementedError(f"TriageAttention does not support {name}; use another "
                                      "attn_implementation for this model")
    is_causal = kwargs.pop("is_causal", None)
    causal = bool(getattr(module, "is_causal", True) if is_causal is None else is_causal)
    _check_inputs(query, key, value)
    if dropout > 0 and module.training:
        return _fallback(module, "dropout", "attention dropout in training mode", query, key,
                         value, attention_mask, scaling, dropout, is_causal, kwargs)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
        return _fallback(module, "grad", "gradients are requested and TriageAttention has no "
                         "backward (run inference under torch.inference_mode() or no_grad())",
                         query, key, value, attention_mask, scaling, dropout, is_causal, kwargs)
    B, _, Sq, _ = query.shape
    Sk = key.shape[2]
    decode = Sq <= MAX_DECODE_TOKENS and Sk > Sq
    if not decode and _STATE_ATTR in module.__dict__:
        setattr(module, _STATE_ATTR, None)  # a new prompt: the old decode mirror is stale
    if decode and (config.decode == "dense" or not causal):
        _count(module, "decode_sdpa")
        return _hf_sdpa(module, query, key, value, attention_mask, scaling, dropout, is_causal,
                        kwargs)
    ranges = _key_ranges(attention_mask, B, Sq, Sk, causal)
    if ranges is None:
        return _fallback(module, "mask", "an attention mask other than causal + left padding "
                         "(e.g. sliding window, packed sequences or a custom mask)", query, key,
                         value, attention_mask, scaling, dropout, is_causal, kwargs)
    if decode:
        if min(e - s for s, e in ranges) < Sq:
            return _fallback(module, "mask", "new decode tokens that are padding", query, key,
                             value, attention_mask, scaling, dropout, is_causal, kwargs)
        if max(e - s for s, e in ranges) < config.sparse_threshold:
            _count(module, "decode_sdpa")
            return _hf_sdpa(module, query, key, value, attention_mask, scaling, dropout,
                            is_causal, kwargs)
        out = _decode_sparse(module, config, query, key, value, ranges, scaling)
        _count(module, "decode_sparse")
    else:
        out = _prefill(module, config, query, key, value, ranges, causal, scaling)
    return out.transpose(1, 2).contiguous(), None


def _check_inputs(query, key, value):
    D = query.shape[-1]
    if D not in HEAD_DIMS:
        raise ValueError(f"TriageAttention supports head_dim {' or '.join(map(str, HEAD_DIMS))}, "
                         f"got head_dim {D}; use another attn_implementation for this model")
    if query.dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"TriageAttention needs float16 or bfloat16 activations, got "
                        f"{query.dtype}; load the model with torch_dtype=torch.bfloat16")
    if query.device.type != "cuda":
        raise ValueError(f"TriageAttention runs on CUDA (Hopper) devices, got {query.device}")


def _count(module, what):
    counts = getattr(module, _COUNTS_ATTR, None)
    if counts is not None:
        counts[what] += 1


def _fallback(module, reason, why, query, key, value, attention_mask, scaling, dropout,
              is_causal, kwargs):
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"TriageAttention: {why}; using torch SDPA for such calls (warned once)",
                      stacklevel=3)
    _count(module, f"fallback:{reason}")
    return _hf_sdpa(module, query, key, value, attention_mask, scaling, dropout, is_causal,
                    kwargs)


def _hf_sdpa(module, query, key, value, attention_mask, scaling, dropout, is_causal, kwargs):
    """transformers' own SDPA attention, exactly as attn_implementation="sdpa" runs it."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                  scaling=scaling, is_causal=is_causal, **kwargs)


# -- masks ----------------------------------------------------------------------------------

_mask_memo = [None, None, None]  # [weakref to the last mask, its (B, Sq, Sk, causal), ranges]


def _key_ranges(mask, B, Sq, Sk, causal):
    """Per sequence b, the key range [start_b, end_b) its queries attend: query i sits at
    position end_b - Sq + i and (causal) sees keys start_b <= j <= its position, or (not causal)
    all of [start_b, end_b); rows before start_b are padding. None when the mask is not of that
    form. Reads the mask once per forward (memoized on the mask object: the layers share it)."""
    if mask is None:
        # transformers leaves the mask out only when SDPA's top-left is_causal is right: Sq == Sk,
        # Sq == 1, or a static cache's prefill whose keys past Sq are unused slots.
        end = Sq if causal and 1 < Sq < Sk else Sk
        return [(0, end)] * B
    key = (B, Sq, Sk, causal)
    if _mask_memo[0] is not None and _mask_memo[0]() is mask and _mask_memo[1] == key:
        return _mask_memo[2]
    ranges = _analyse_mask(mask, B, Sq, Sk, causal)
    _mask_memo[:] = [weakref.ref(mask), key, ranges]
    return ranges


def _analyse_mask(mask, B, Sq, Sk, causal):
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[1] != 1 \
            or mask.shape[0] not in (1, B) or mask.shape[2] != Sq or mask.shape[3] < Sk:
        return None
    mask = mask[:, 0, :, :Sk]

    def allowed(r0, r1):  # True where a query row may see a key (additive masks: 0)
        m = mask[:, r0:r1]
        return m if m.dtype == torch.bool else m == 0

    keys = torch.arange(Sk, device=mask.device)
    last = allowed(Sq - 1, Sq)[:, 0]  # the last query is never padding: it gives the range
    start = torch.where(last, keys, Sk).amin(-1)
    end = torch.where(last, keys, -1).amax(-1) + 1
    bad = ~last.any(-1).all()
    if causal:
        bad = bad | (end < Sq).any()
    # Compare with the mask the ranges imply, a slab of query rows at a time (bounded memory).
    rows_per_slab = max(1, (1 << 26) // (mask.shape[0] * Sk))
    for r0 in range(0, Sq, rows_per_slab):
        r1 = min(r0 + rows_per_slab, Sq)
        expect = keys >= start[:, None, None]
        if causal:
            pos = end[:, None] - Sq + torch.arange(r0, r1, device=mask.device)  # [b, rows]
            expect = expect & (keys <= pos[..., None])
            differs = (allowed(r0, r1) != expect) & (pos >= start[:, None])[..., None]
        else:
            differs = allowed(r0, r1) != (expect & (keys < end[:, None, None]))
        bad = bad | differs.any()
    host = torch.cat([bad.view(1).long(), start.long(), end.long()]).tolist()  # one sync
    if host[0]:
        return None
    n = mask.shape[0]
    ranges = list(zip(host[1:1 + n], host[1 + n:]))
    return ranges * B if n == 1 else ranges


# -- prefill --------------------------------------------------------------------------------


def _prefill(module, config, query, key, value, ranges, causal, scale):
    """Attention of every sequence over its key range; padding rows get zeros."""
    B, _, Sq, _ = query.shape

    def first_row(s, e):  # the first query row that is not padding
        return max(0, s - (e - Sq)) if causal else 0

    if all(r == ranges[0] for r in ranges):
        s, e = ranges[0]
        f = first_row(s, e)
        if f == 0:
            return _attend(module, config, query, key[:, :, s:e], value[:, :, s:e], causal, scale)
        out = torch.zeros_like(query)
        out[:, :, f:] = _attend(module, config, query[:, :, f:], key[:, :, s:e],
                                value[:, :, s:e], causal, scale)
        return out
    out = torch.zeros_like(query)
    for b, (s, e) in enumerate(ranges):
        f = first_row(s, e)
        out[b:b + 1, :, f:] = _attend(module, config, query[b:b + 1, :, f:],
                                      key[b:b + 1, :, s:e], value[b:b + 1, :, s:e], causal, scale)
    return out


def _attend(module, config, q, k, v, causal, scale):
    """Bottom-right aligned attention of q over k, v: the kernels, or SDPA for short keys."""
    if k.shape[2] < config.sparse_threshold:
        _count(module, "dense_sdpa")
        return _sdpa_bottom_right(q, k, v, causal, scale)
    _count(module, "sparse")
    from ..triage import sparse_attention
    return sparse_attention(q, k, v, block_size=config.block_size, topk=config.topk,
                            q_block_size=config.q_block_size, causal=causal,
                            scale=None if scale is None else float(scale),
                            sink_blocks=config.sink_blocks, local_blocks=config.local_blocks,
                            share_gqa=config.share_gqa)


def _sdpa_bottom_right(q, k, v, causal, scale):
    Sq, Sk = q.shape[2], k.shape[2]
    mask, is_causal = None, False
    if causal and Sq > 1:
        if Sq == Sk:
            is_causal = True
        else:  # SDPA's is_causal is top-left aligned: spell the bottom-right mask out
            rows = torch.arange(Sq, device=q.device)[:, None] + (Sk - Sq)
            mask = torch.arange(Sk, device=q.device)[None, :] <= rows
    gqa = q.shape[1] != k.shape[1]
    if gqa and mask is not None:  # SDPA's fused kernels take GQA only without a mask
        group = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        gqa = False
    extra = {"enable_gqa": True} if gqa else {}
    return torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale, **extra)


# -- sparse decode --------------------------------------------------------------------------


class _DecodeMirror:
    """A layer's transformers cache copied into a PagedKVCache: sequence b holds keys
    [start_b, end_b) of the transformers cache (its own range, so padding is never stored)."""

    def __init__(self, config, key, value, ranges):
        from ..decode import PagedKVCache
        B, Hkv, Sk, D = key.shape
        lens = [e - s for s, e in ranges]
        page = config.block_size
        capacity = -(-(max(lens) + _DECODE_HEADROOM) // page) * page
        self.cache = PagedKVCache(B, capacity, Hkv, D, page_size=page, dtype=key.dtype,
                                  device=key.device)
        starts = [s for s, _ in ranges]
        if len(set(ranges)) == 1:
            s, e = ranges[0]
            self.cache.append(key[:, :, s:e], value[:, :, s:e])
        else:  # left-align every sequence's range, then append each its own length
            T = max(lens)
            idx = torch.tensor(starts, device=key.device)[:, None] + torch.arange(
                T, device=key.device)
            idx = idx.clamp_(max=Sk - 1)[:, None, :, None].expand(B, Hkv, T, D)
            self.cache.append(key.gather(2, idx), value.gather(2, idx), new_lens=lens)
        self.ranges = list(ranges)

    def extend(self, key, value, ranges, Sq):
        """Appends the Sq new tokens when the transformers cache grew by exactly them; False
        when it changed otherwise (or the mirror is full) and must be rebuilt."""
        ends = {e for _, e in ranges}
        if len(ranges) != len(self.ranges) or len(ends) != 1:
            return False
        if any(s != s0 or e - Sq != e0 for (s, e), (s0, e0) in zip(ranges, self.ranges)):
            return False
        if max(e - s for s, e in ranges) > self.cache.max_seqlen:
            return False
        e = ranges[0][1]
        self.cache.append(key[:, :, e - Sq:e], value[:, :, e - Sq:e])
        self.ranges = list(ranges)
        return True


def _decode_sparse(module, config, query, key, value, ranges, scale):
    from ..decode import sparse_decode
    mirror = getattr(module, _STATE_ATTR, None)
    if mirror is None or not mirror.extend(key, value, ranges, query.shape[2]):
        mirror = _DecodeMirror(config, key, value, ranges)
    setattr(module, _STATE_ATTR, mirror)
    return sparse_decode(query, mirror.cache, config.topk, sink_pages=config.sink_blocks,
                         scale=None if scale is None else float(scale))
