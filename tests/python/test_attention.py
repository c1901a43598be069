"""block_sparse_attention, dense_attention, the compiled core's attention entry, FlexAttention
interop.

CPU tests run everywhere (no GPU, no torch needed): the compiled core's argument checks on NumPy
arrays and the pure-Python pattern validation. GPU tests (marked `gpu`) compare with a float64
reference computed on the GPU from an explicit token mask that is built from the pattern
independently of the kernel, and pass when our max error is at most 2x that of the same attention
computed by PyTorch in the input dtype (plus a floor, see assert_matches).
"""

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import require_attention

from triageattention import (_C, block_mask_from_pattern, block_sparse_attention,
                             causal_mask_mod, dense_attention, pattern_from_block_mask,
                             validate_pattern)

try:
    import torch
except ImportError:
    torch = None

gpu = pytest.mark.gpu
BLOCK_SIZES = (16, 32, 64, 128)


# ---------------------------------------------------------------------------------------------
# CPU: the compiled core's checks (NumPy arrays), pattern validation, import without torch
# ---------------------------------------------------------------------------------------------


def _host_arrays(B=1, Hq=8, Hkv=4, Sq=10, Sk=12, D=64, pattern_heads=4, max_blocks=3,
                 q_block_size=128, dtype=np.float16):
    nq = -(-Sq // q_block_size)
    return dict(
        q=np.zeros((B, Hq, Sq, D), dtype), k=np.zeros((B, Hkv, Sk, D), dtype),
        v=np.zeros((B, Hkv, Sk, D), dtype), out=np.zeros((B, Hq, Sq, D), dtype),
        lse=np.zeros((B, Hq, Sq), np.float32),
        kv_indices=np.zeros((B, pattern_heads, nq, max_blocks), np.int32),
        kv_counts=np.zeros((B, pattern_heads, nq), np.int32))


def _core(a, block_size=64, q_block_size=128, causal=False, scale=0.0):
    _C.block_sparse_attention(a["q"], a["k"], a["v"], a["out"], a["lse"], a["kv_indices"],
                              a["kv_counts"], block_size, q_block_size, causal, scale, 0)


@pytest.mark.parametrize("dense", [False, True])
def test_core_rejects_host_arrays(dense):
    a = _host_arrays()
    if dense:
        a["kv_indices"] = a["kv_counts"] = a["lse"] = None
    with pytest.raises(ValueError, match="q must be on a CUDA device, got cpu"):
        _core(a)


def _with(**changes):
    def make():
        a = _host_arrays()
        a.update({k: f(a) if callable(f) else f for k, f in changes.items()})
        return a
    return make


CORE_ERRORS = {
    "GQA 7:4": (lambda: _host_arrays(Hq=7, Hkv=4), {}, ValueError,
                r"heads_q \(7\) must be a multiple of heads_kv \(4\)"),
    "q float32": (_with(q=lambda a: a["q"].astype(np.float32)), {}, TypeError,
                  "q must be float16 or bfloat16, got float32"),
    "k dtype": (_with(k=lambda a: a["k"].astype(np.float32)), {}, TypeError,
                r"k must have q's dtype \(float16\), got float32"),
    "out dtype": (_with(out=lambda a: a["out"].astype(np.float32)), {}, TypeError,
                  "out must have q's dtype"),
    "lse dtype": (_with(lse=lambda a: a["lse"].astype(np.float16)), {}, TypeError,
                  "lse must be float32, got float16"),
    "int64 pattern": (_with(kv_indices=lambda a: a["kv_indices"].astype(np.int64)), {},
                      TypeError, "kv_indices must be int32, got int64"),
    "indices without counts": (_with(kv_counts=None), {}, ValueError,
                               "must both be given .block-sparse. or both be None"),
    "3-D q": (_with(q=lambda a: a["q"][0], out=lambda a: a["out"][0]), {}, ValueError,
              r"q must be 4-D \[batch, heads_q, seqlen_q, head_dim\], got shape \[8, 10, 64\]"),
    "k batch": (_with(k=np.zeros((2, 4, 12, 64), np.float16)), {}, ValueError,
                r"k must be \[batch, heads_kv, seqlen_k, head_dim\] with q's batch \(1\)"),
    "k head_dim": (_with(k=np.zeros((1, 4, 12, 128), np.float16)), {}, ValueError,
                   r"and head_dim \(64\), got shape \[1, 4, 12, 128\]"),
    "v shape": (_with(v=np.zeros((1, 4, 11, 64), np.float16)), {}, ValueError,
                r"v must have k's shape \[1, 4, 12, 64\], got \[1, 4, 11, 64\]"),
    "out shape": (_with(out=np.zeros((1, 8, 9, 64), np.float16)), {}, ValueError,
                  "out must have q's shape"),
    "lse shape": (_with(lse=np.zeros((1, 8, 11), np.float32)), {}, ValueError,
                  r"lse must be \[batch, heads_q, seqlen_q\] = \[1, 8, 10\], got \[1, 8, 11\]"),
    "pattern query blocks": (_with(kv_indices=np.zeros((1, 4, 2, 3), np.int32)), {}, ValueError,
                             r"kv_indices must be \[batch, pattern_heads, ceil\(seqlen_q / "
                             r"q_block_size\), max_blocks\] = \[1, 4, 1, max_blocks\], got "
                             r"\[1, 4, 2, 3\]"),
    "pattern heads": (_with(kv_indices=np.zeros((1, 3, 1, 3), np.int32)), {}, ValueError,
                      r"heads_kv \(4, one pattern per GQA group\) or heads_q \(8\)"),
    "counts shape": (_with(kv_counts=np.zeros((1, 4, 2), np.int32)), {}, ValueError,
                     r"kv_counts must be \[batch, pattern_heads, num_q_blocks\] = \[1, 4, 1\], "
                     r"got \[1, 4, 2\]"),
    "strided pattern": (_with(kv_indices=lambda a: np.zeros((1, 4, 1, 6), np.int32)[..., ::2]),
                        {}, ValueError, "kv_indices must be contiguous"),
    "head_dim not innermost": (_with(q=lambda a: np.zeros((1, 8, 64, 10), np.float16)
                                     .transpose(0, 1, 3, 2)), {}, ValueError,
                               r"q must have stride 1 in its last \(head_dim\) dimension"),
    "block size 8": (_host_arrays, {"block_size": 8}, ValueError,
                     "block_size must be 16, 32, 64 or 128, got 8"),
    "query block 32": (_host_arrays, {"q_block_size": 32}, ValueError,
                       "q_block_size must be 64 or 128, got 32"),
}


@pytest.mark.parametrize("case", list(CORE_ERRORS))
def test_core_argument_errors(case):
    make, kwargs, error, message = CORE_ERRORS[case]
    with pytest.raises(error, match=message):
        _core(make(), **kwargs)


def test_core_accepts_empty_views():
    """A pattern with max_blocks 0, sliced from a wider one, counts as contiguous (as in torch),
    and so does a pattern of no query block: the call gets as far as the device check."""
    for make in (_with(kv_indices=lambda a: np.zeros((1, 4, 1, 6), np.int32)[..., :0]),
                 lambda: _host_arrays(Sq=0)):
        with pytest.raises(ValueError, match="q must be on a CUDA device, got cpu"):
            _core(make())


def test_attention_is_built():
    configs = [(dt, d, qb) for dt in ("float16", "bfloat16") for d in (64, 128) for qb in (64, 128)]
    built = [_C.attention_is_built(*c) for c in configs]
    assert all(isinstance(b, bool) for b in built)
    assert any(built)  # every build configuration holds at least one instance
    assert not _C.attention_is_built("float32", 128, 128)
    assert not _C.attention_is_built("bfloat16", 96, 128)
    assert not _C.attention_is_built("bfloat16", 128, 32)
    with pytest.raises(ValueError, match="dtype must be 'float16', 'bfloat16' or 'float32'"):
        _C.attention_is_built("float8", 128, 128)


def _host_pattern():
    """A valid [2, 2, 3, 5] pattern over 6 key blocks, with junk past each count."""
    indices = np.full((2, 2, 3, 5), -1, np.int32)
    counts = np.zeros((2, 2, 3), np.int32)
    rows = {(0, 0, 0): [0, 2, 5], (0, 1, 2): [1], (1, 0, 1): [0, 1, 2, 3, 4], (1, 1, 0): [5]}
    for row, blocks in rows.items():
        indices[row][: len(blocks)] = blocks
        counts[row] = len(blocks)
    indices[0, 0, 1] = [7, 7, 0, -3, 99]  # count 0: all junk, ignored
    return indices, counts


def test_validate_pattern_accepts_valid_patterns():
    indices, counts = _host_pattern()
    assert validate_pattern(indices, counts, 6) is None
    validate_pattern(indices[..., :0], np.zeros((2, 2, 3), np.int32), 6)  # max_blocks 0


@pytest.mark.parametrize(
    "row, blocks, count, message",
    [
        ((1, 0, 1), [0, 2, 2, 3, 4], 5, r"row \(batch 1, head 0, query block 1\) must be strictly "
         r"ascending, but block 2 appears twice \(entries 1 and 2\); its 5 counted entries: "
         r"\[0, 2, 2, 3, 4\]"),
        ((0, 0, 0), [0, 5, 2], 3, r"entry 2 \(block 2\) follows block 5"),
        ((0, 1, 2), [6], 1, r"row \(batch 0, head 1, query block 2\) lists block 6 at entry 0, "
         r"outside \[0, ceil\(seqlen_k / block_size\) = 6\)"),
        ((0, 1, 2), [-1], 1, "lists block -1 at entry 0"),
        ((1, 1, 0), [5], -1, r"kv_counts of row \(batch 1, head 1, query block 0\) is -1, "
         r"outside \[0, max_blocks = 5\]"),
        ((1, 1, 0), [5], 6, r"is 6, outside \[0, max_blocks = 5\]"),
    ],
)
def test_validate_pattern_reports_the_bad_row(row, blocks, count, message):
    indices, counts = _host_pattern()
    indices[row][: len(blocks)] = blocks
    counts[row] = count
    with pytest.raises(ValueError, match=message):
        validate_pattern(indices, counts, 6)


def test_validate_pattern_reports_the_first_bad_row():
    indices, counts = _host_pattern()
    indices[1, 1, 0, 0] = 9  # out of range, but later in row-major order than the next one
    indices[0, 1, 2, 0] = -2
    with pytest.raises(ValueError, match=r"row \(batch 0, head 1, query block 2\) lists block -2"):
        validate_pattern(indices, counts, 6)


def test_validate_pattern_rejects_mismatched_shapes():
    indices, counts = _host_pattern()
    with pytest.raises(ValueError, match=r"got shapes \[2, 2, 3, 5\] and \[2, 2, 2\]"):
        validate_pattern(indices, counts[:, :, :2], 6)


def test_attention_api_without_torch():
    # sys.modules["torch"] = None makes `import torch` fail, as on a machine without torch.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import triageattention\n"
        "calls = {'block_sparse_attention': 6, 'dense_attention': 3,\n"
        "         'pattern_from_block_mask': 1, 'block_mask_from_pattern': 6}\n"
        "for name, args in calls.items():\n"
        "    try:\n"
        "        getattr(triageattention, name)(*[None] * args)\n"
        "    except ImportError as e:\n"
        "        print('ImportError:', e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("block_sparse_attention", "pattern_from_block_mask", "block_mask_from_pattern"):
        assert f"ImportError: triageattention.{name} needs PyTorch" in result.stdout
    assert result.stdout.count("ImportError") == 4


# ---------------------------------------------------------------------------------------------
# GPU helpers: inputs, patterns, the independent reference
# ---------------------------------------------------------------------------------------------


def make_qkv(gen, B, Hq, Hkv, Sq, Sk, D, dtype, layout="contiguous"):
    """q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D] in SDPA order, stored as the layout says:
    contiguous; seq_major ([B, S, H, D] seen through .transpose(1, 2)); packed (slices of one
    [B, S, Hq + 2 Hkv, D] qkv tensor, Sq == Sk)."""
    def randn(*shape):
        return torch.randn(shape, generator=gen, device="cuda", dtype=dtype)

    if layout == "contiguous":
        q, k, v = randn(B, Hq, Sq, D), randn(B, Hkv, Sk, D), randn(B, Hkv, Sk, D)
    elif layout == "seq_major":
        q = randn(B, Sq, Hq, D).transpose(1, 2)
        k, v = (randn(B, Sk, Hkv, D).transpose(1, 2) for _ in range(2))
    else:
        assert Sq == Sk
        qkv = randn(B, Sq, Hq + 2 * Hkv, D).transpose(1, 2)
        q, k, v = qkv[:, :Hq], qkv[:, Hq:Hq + Hkv], qkv[:, Hq + Hkv:]
    q.mul_(2)  # scores of a few units, so that the softmax is far from flat
    return q, k, v


def random_pattern(gen, B, Hs, nq, nk, density=0.5, out_of_range=True):
    """int32 kv_indices [B, Hs, nq, nk + 2] and kv_counts [B, Hs, nq]: each row visits a random
    subset of the key blocks, ascending. Past each count lie the blocks the row does not visit
    (in range, so a kernel that read them would be caught), then -7 and nk + 9. Every fifth row
    has count 0. With out_of_range, every third row also lists block nk + 5 last (selecting
    nothing, which validate_pattern rejects)."""
    keep = torch.rand((B, Hs, nq, nk), generator=gen, device="cuda") < density
    counts = keep.sum(-1)
    # A stable sort of "not kept" puts the kept blocks first, each group in ascending order.
    order = torch.sort((~keep).to(torch.uint8), dim=-1, stable=True).indices
    indices = torch.cat([order, torch.full((B, Hs, nq, 1), -7, device="cuda"),
                         torch.full((B, Hs, nq, 1), nk + 9, device="cuda")], dim=-1)
    row = torch.arange(B * Hs * nq, device="cuda").view(B, Hs, nq)
    if out_of_range:
        extra = row % 3 == 0
        at = counts[..., None]
        indices.scatter_(-1, at, torch.where(extra[..., None], nk + 5, indices.gather(-1, at)))
        counts = counts + extra
    counts = torch.where(row % 5 == 4, 0, counts)
    return indices.to(torch.int32), counts.to(torch.int32)


def token_mask(kv_indices, kv_counts, B, Hq, Sq, Sk, block_size, q_block_size, causal):
    """[B, Hq, Sq, Sk] bool: which keys each query sees (DESIGN.md semantics), from the pattern
    with plain tensor ops. kv_indices None: every key."""
    nq, nk = -(-Sq // q_block_size), -(-Sk // block_size)
    if kv_indices is None:
        blocks = torch.ones((B, Hq, nq, nk), dtype=torch.bool, device="cuda")
    else:
        Hs, max_blocks = kv_indices.shape[1], kv_indices.shape[3]
        idx = kv_indices.long()
        live = kv_counts.clamp(0, max_blocks)[..., None]
        counted = torch.arange(max_blocks, device="cuda") < live
        keep = counted & (idx >= 0) & (idx < nk)
        blocks = torch.zeros((B, Hs, nq, nk + 1), dtype=torch.bool, device="cuda")
        at = torch.where(keep, idx, nk)  # column nk collects the entries that select nothing
        blocks.scatter_(-1, at, torch.ones_like(at, dtype=torch.bool))
        blocks = blocks[..., :nk].repeat_interleave(Hq // Hs, dim=1)
    mask = blocks.repeat_interleave(q_block_size, 2)[:, :, :Sq]
    mask = mask.repeat_interleave(block_size, 3)[..., :Sk]
    if causal:
        i = torch.arange(Sq, device="cuda")[:, None]
        j = torch.arange(Sk, device="cuda")[None, :]
        mask = mask & (j <= i + (Sk - Sq))
    return mask


def attention_reference(q, k, v, mask, scale, dtype):
    """(out, lse) of masked attention computed by PyTorch in `dtype`: float64 for the reference,
    or the input dtype for the bar we hold ours to (scores, softmax and P @ V all rounded to it,
    as FlashAttention's tests do). Rows with no visible key give out = 0, lse = -inf."""
    group = q.shape[1] // k.shape[1]
    q = q.to(dtype)
    k, v = (t.to(dtype).repeat_interleave(group, 1) for t in (k, v))
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, -math.inf)
    lse = torch.logsumexp(scores.double(), dim=-1)
    p = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row of -inf softmaxes to NaN
    return p @ v, lse


def assert_matches(out, lse, q, k, v, mask, scale, what):
    """Ours (out, lse) against the float64 reference; PyTorch's input-dtype error is the bar."""
    ref, ref_lse = attention_reference(q, k, v, mask, scale, torch.float64)
    base, base_lse = attention_reference(q, k, v, mask, scale, q.dtype)
    assert not out.isnan().any(), f"{what}: out holds NaN"
    assert not lse.isnan().any(), f"{what}: lse holds NaN"
    dead = ~mask.any(-1)
    assert (out[dead] == 0).all(), f"{what}: a row that sees no key must be exactly 0"
    assert (lse[dead] == -math.inf).all(), f"{what}: a row that sees no key must have lse -inf"

    # Floor: rounding the exact result to the output dtype costs up to half an ulp (eps/2
    # relative) of the largest output; PyTorch's dtype computation can be exact by luck (a row
    # with a single visible key), which must not fail our correctly rounded result.
    err = (out.double() - ref).abs()
    allowed = (2 * (base.double() - ref).abs().max()
               + torch.finfo(out.dtype).eps / 2 * ref.abs().max()).item()
    if err.max().item() > allowed:
        at = np.unravel_index(err.argmax().item(), err.shape)
        pytest.fail(f"{what}: max |out - ref| {err.max().item():.3e} > allowed {allowed:.3e} "
                    f"(2x torch {q.dtype}'s + floor); worst at {list(at)}: ours "
                    f"{out[at].item()}, reference {ref[at].item()}")
    live = ~dead
    if live.any():
        lse_err = (lse[live].double() - ref_lse[live]).abs()
        # Floor: float32 arithmetic and the approximate exp2/log2 instructions of the kernel,
        # a few float32 ulps of |lse|.
        lse_allowed = (2 * (base_lse[live] - ref_lse[live]).abs().max()
                       + 2**-18 * (1 + ref_lse[live].abs().max())).item()
        assert lse_err.max().item() <= lse_allowed, (
            f"{what}: max |lse - ref| {lse_err.max().item():.3e} > allowed {lse_allowed:.3e}")


def poison_allocator(*tensors_like):
    """Leaves NaN-filled blocks in the caching allocator, which the next results of these sizes
    are likely to reuse: elements the kernel fails to write then show up as NaN."""
    for shape, dtype in tensors_like:
        torch.full(shape, math.nan, dtype=dtype, device="cuda")


def run_and_check(gen, dtype, D, block_size, q_block_size, causal, B, Hq, Hkv, Sq, Sk, pattern,
                  layout, what):
    """One problem through the public API and through the compiled core into NaN-filled
    buffers: both must agree bitwise and match the reference."""
    q, k, v = make_qkv(gen, B, Hq, Hkv, Sq, Sk, D, dtype, layout)
    nq, nk = -(-Sq // q_block_size), -(-Sk // block_size)
    if pattern == "dense":
        kv_indices = kv_counts = None
    else:
        Hs = Hkv if pattern == "kv" else Hq
        kv_indices, kv_counts = random_pattern(gen, B, Hs, nq, nk)
    scale = 1 / math.sqrt(D)

    poison_allocator(((B, Hq, Sq, D), dtype), ((B, Hq, Sq), torch.float32))
    out, lse = block_sparse_attention(q, k, v, kv_indices, kv_counts, block_size, q_block_size,
                                      causal=causal, return_lse=True)
    assert out.shape == q.shape and out.dtype == dtype and lse.shape == (B, Hq, Sq)

    out_core = torch.full((B, Hq, Sq, D), math.nan, dtype=dtype, device="cuda")
    lse_core = torch.full((B, Hq, Sq), math.nan, device="cuda")
    _C.block_sparse_attention(q, k, v, out_core, lse_core, kv_indices, kv_counts, block_size,
                              q_block_size, causal, 0.0, torch.cuda.current_stream().cuda_stream)
    assert torch.equal(out_core, out), f"{what}: core call and API differ"
    assert torch.equal(lse_core, lse), f"{what}: core call and API differ in lse"

    mask = token_mask(kv_indices, kv_counts, B, Hq, Sq, Sk, block_size, q_block_size, causal)
    assert_matches(out, lse, q, k, v, mask, scale, what)


# ---------------------------------------------------------------------------------------------
# GPU: correctness grid
# ---------------------------------------------------------------------------------------------

# (B, Hq, Hkv, Sq, Sk, pattern heads, layout): GQA 1:1, 2:1, 4:1, 8:1; lengths 1, 113, 1000;
# Sq < Sk (bottom-right causal) and Sq > Sk (causal: the first rows see no key).
SHAPES = [
    (1, 2, 2, 1, 1, "kv", "contiguous"),
    (2, 4, 1, 113, 113, "q", "seq_major"),
    (1, 8, 1, 1000, 1000, "kv", "packed"),
    (1, 4, 4, 113, 1000, "kv", "contiguous"),
    (1, 8, 2, 1000, 113, "q", "seq_major"),
    (1, 4, 2, 1000, 1000, "dense", "contiguous"),
]


@gpu
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("q_block_size", [64, 128])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("D", [64, 128])
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_matches_reference(gen, dtype_name, D, block_size, q_block_size, causal):
    dtype = getattr(torch, dtype_name)
    require_attention(dtype, D, q_block_size)
    for B, Hq, Hkv, Sq, Sk, pattern, layout in SHAPES:
        what = (f"{dtype_name} D{D} bs{block_size} qb{q_block_size} causal={causal} B{B} "
                f"H{Hq}/{Hkv} Sq{Sq} Sk{Sk} pattern={pattern} {layout}")
        run_and_check(gen, dtype, D, block_size, q_block_size, causal, B, Hq, Hkv, Sq, Sk,
                      pattern, layout, what)


@gpu
@pytest.mark.parametrize(
    "dtype_name, D, block_size, q_block_size, causal, Sq, pattern",
    [
        ("bfloat16", 128, 16, 128, True, 4097, "kv"),
        ("bfloat16", 128, 128, 128, False, 4097, "q"),
        ("float16", 64, 32, 64, True, 4097, "kv"),
        ("bfloat16", 64, 64, 64, False, 4097, "kv"),
        ("bfloat16", 128, 64, 128, True, 1000, "kv"),  # a chunk of queries after a long prefix
        ("float16", 128, 128, 128, True, 4097, "dense"),
    ],
)
def test_long_sequences(gen, dtype_name, D, block_size, q_block_size, causal, Sq, pattern):
    dtype = getattr(torch, dtype_name)
    require_attention(dtype, D, q_block_size)
    run_and_check(gen, dtype, D, block_size, q_block_size, causal, 1, 8, 2, Sq, 4097, pattern,
                  "contiguous", f"{dtype_name} D{D} bs{block_size} Sq{Sq} Sk4097 {pattern}")


@gpu
@pytest.mark.parametrize("causal", [False, True])
def test_dense_attention(gen, causal):
    require_attention(torch.bfloat16, 128, 128)
    q, k, v = make_qkv(gen, 2, 8, 2, 300, 777, 128, torch.bfloat16, "seq_major")
    out, lse = dense_attention(q, k, v, causal=causal, scale=0.1, return_lse=True)
    mask = token_mask(None, None, 2, 8, 300, 777, 128, 128, causal)
    assert_matches(out, lse, q, k, v, mask, 0.1, f"dense causal={causal}")
    assert torch.equal(dense_attention(q, k, v, causal=causal, scale=0.1), out)
    same = block_sparse_attention(q, k, v, None, None, 128, causal=causal, scale=0.1)
    assert torch.equal(same, out)


@gpu
def test_no_keys_empty_batch_and_no_queries(gen):
    require_attention(torch.bfloat16, 64, 128)
    q, k, v = make_qkv(gen, 2, 4, 2, 50, 0, 64, torch.bfloat16)  # Sk = 0
    poison_allocator(((2, 4, 50, 64), torch.bfloat16), ((2, 4, 50), torch.float32))
    out, lse = dense_attention(q, k, v, return_lse=True)
    assert (out == 0).all() and (lse == -math.inf).all()
    indices = torch.zeros((2, 2, 1, 3), dtype=torch.int32, device="cuda")
    counts = torch.full((2, 2, 1), 3, dtype=torch.int32, device="cuda")
    out, lse = block_sparse_attention(q, k, v, indices, counts, 32, return_lse=True)
    assert (out == 0).all() and (lse == -math.inf).all()

    q, k, v = make_qkv(gen, 0, 4, 2, 50, 60, 64, torch.bfloat16)  # B = 0
    assert dense_attention(q, k, v).shape == (0, 4, 50, 64)
    q, k, v = make_qkv(gen, 2, 4, 2, 0, 60, 64, torch.bfloat16)  # Sq = 0
    empty = torch.zeros((2, 2, 0, 5), dtype=torch.int32, device="cuda")
    out = block_sparse_attention(q, k, v, empty, empty[..., 0], 32)
    assert out.shape == (2, 4, 0, 64)


@gpu
def test_rows_with_nothing_to_see(gen):
    """Zero counts, only out-of-range indices, and causal rows above the diagonal all give
    exactly 0 and -inf, never NaN; a pattern with max_blocks 0 too."""
    require_attention(torch.float16, 128, 64)
    require_attention(torch.float16, 128, 128)  # dense_attention's query tile
    B, Hq, Hkv, Sq, Sk = 1, 4, 2, 200, 100
    q, k, v = make_qkv(gen, B, Hq, Hkv, Sq, Sk, 128, torch.float16)
    nq = -(-Sq // 64)
    indices = torch.full((B, Hkv, nq, 2), 1000, dtype=torch.int32, device="cuda")
    counts = torch.full((B, Hkv, nq), 2, dtype=torch.int32, device="cuda")
    counts[:, 0] = 0
    out, lse = block_sparse_attention(q, k, v, indices, counts, 16, 64, return_lse=True)
    assert (out == 0).all() and (lse == -math.inf).all()
    out, lse = block_sparse_attention(q, k, v, indices[..., :0], counts, 16, 64, return_lse=True)
    assert (out == 0).all() and (lse == -math.inf).all()
    out, lse = dense_attention(q, k, v, causal=True, return_lse=True)  # rows i < Sq - Sk: none
    assert (out[:, :, :Sq - Sk] == 0).all() and (lse[:, :, :Sq - Sk] == -math.inf).all()
    assert not out.isnan().any() and (lse[:, :, Sq - Sk:] > -math.inf).all()


# ---------------------------------------------------------------------------------------------
# GPU: layouts
# ---------------------------------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("D,bs", [(64, 32), (128, 16)])
def test_layouts_give_identical_results(gen, D, bs):
    """Seq-major views, packed qkv slices, and views that need a copy (head_dim not innermost,
    misaligned data, a broadcast batch, an extent-1 dimension with an odd stride) all give the
    result of contiguous inputs, bitwise. (The kernel loads whole key blocks through a view whose
    last dimension covers head and batch with the gcd of their strides: each layout here gives
    that view different strides; S = 257 ends in a partial group of 8 keys.)"""
    require_attention(torch.bfloat16, D, 128)
    B, Hq, Hkv, S = 2, 4, 2, 257
    q, k, v = make_qkv(gen, B, Hq, Hkv, S, S, D, torch.bfloat16, "packed")
    indices, counts = random_pattern(gen, B, Hkv, 3, -(-S // bs))
    expected = block_sparse_attention(q.contiguous(), k.contiguous(), v.contiguous(), indices,
                                      counts, bs, causal=True)

    def same(q_, k_, v_):
        return torch.equal(block_sparse_attention(q_, k_, v_, indices, counts, bs, causal=True),
                           expected)

    assert same(q, k, v)  # packed slices: read in place
    assert same(*(t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v)))
    d_major = k.transpose(2, 3).contiguous().transpose(2, 3)
    assert same(q, d_major, v)
    shifted = torch.empty(k.numel() + 1, dtype=k.dtype, device="cuda")[1:].view(k.shape)
    shifted.copy_(k)
    assert shifted.data_ptr() % 16 != 0
    assert same(q, shifted, v)

    # One batch of k and v broadcast over two (stride 0).
    k1, v1 = k[:1].contiguous(), v[:1].contiguous()
    expected = block_sparse_attention(q.contiguous(), k1.expand(B, -1, -1, -1).contiguous(),
                                      v1.expand(B, -1, -1, -1).contiguous(), indices, counts, bs)
    got = block_sparse_attention(q, k1.expand(B, -1, -1, -1), v1.expand(B, -1, -1, -1), indices,
                                 counts, bs)
    assert torch.equal(got, expected)

    # A single query row whose (irrelevant) sequence stride is 3 elements.
    q1 = q[:, :, :1].contiguous()
    odd = torch.as_strided(q1, q1.shape, (q1.stride(0), q1.stride(1), 3, 1))
    expected = block_sparse_attention(q1, k, v, indices[:, :, :1], counts[:, :, :1], bs)
    assert torch.equal(block_sparse_attention(odd, k, v, indices[:, :, :1], counts[:, :, :1], bs),
                       expected)


@gpu
def test_output_layout_follows_q(gen):
    require_attention(torch.bfloat16, 128, 128)
    q, k, v = make_qkv(gen, 2, 4, 4, 100, 100, 128, torch.bfloat16, "seq_major")
    out = dense_attention(q, k, v)
    assert out.stride() == q.stride()  # [B, S, H, D] storage, like q
    q, k, v = make_qkv(gen, 2, 4, 4, 100, 100, 128, torch.bfloat16, "packed")
    out = dense_attention(q, k, v)
    assert out.transpose(1, 2).is_contiguous()  # q's dimension order, dense
    d_major = q.transpose(2, 3).contiguous().transpose(2, 3)
    assert dense_attention(d_major, k, v).is_contiguous()
    assert torch.equal(dense_attention(d_major, k, v), out)


@gpu
def test_pattern_broadcasts_batch_and_heads(gen):
    require_attention(torch.bfloat16, 128, 128)
    B, Hq, Hkv, S = 2, 8, 2, 300
    q, k, v = make_qkv(gen, B, Hq, Hkv, S, S, 128, torch.bfloat16)
    indices, counts = random_pattern(gen, 1, 1, 3, -(-S // 64))
    expected = block_sparse_attention(q, k, v, indices.expand(B, Hkv, -1, -1).contiguous(),
                                      counts.expand(B, Hkv, -1).contiguous(), 64)
    assert torch.equal(block_sparse_attention(q, k, v, indices, counts, 64), expected)
    # A non-contiguous pattern is copied, not misread.
    wide = torch.full((B, Hkv, 3, 2 * indices.shape[-1]), 5, dtype=torch.int32, device="cuda")
    wide[..., ::2] = indices
    assert torch.equal(block_sparse_attention(q, k, v, wide[..., ::2],
                                              counts.expand(B, Hkv, -1), 64), expected)


# ---------------------------------------------------------------------------------------------
# GPU: determinism, CUDA graphs, torch.compile, multi-device
# ---------------------------------------------------------------------------------------------


@gpu
def test_bitwise_deterministic(gen):
    require_attention(torch.bfloat16, 128, 128)
    q, k, v = make_qkv(gen, 2, 8, 2, 1000, 1000, 128, torch.bfloat16)
    indices, counts = random_pattern(gen, 2, 2, 8, -(-1000 // 32))
    first, first_lse = block_sparse_attention(q, k, v, indices, counts, 32, causal=True,
                                              return_lse=True)
    for _ in range(100):
        out, lse = block_sparse_attention(q, k, v, indices, counts, 32, causal=True,
                                          return_lse=True)
        assert torch.equal(out, first) and torch.equal(lse, first_lse)


@gpu
def test_cuda_graph_replay_matches_eager(gen, capture_graph):
    require_attention(torch.float16, 64, 64)
    require_attention(torch.float16, 64, 128)  # dense_attention's query tile
    B, Hq, Hkv, S, D, bs = 2, 4, 2, 500, 64, 16
    nq, nk = -(-S // 64), -(-S // bs)
    q, k, v = make_qkv(gen, B, Hq, Hkv, S, S, D, torch.float16, "seq_major")
    # v misaligned by one element: its aligned copy is captured too.
    v_mis = torch.empty(v.numel() + 1, dtype=v.dtype, device="cuda")[1:].view(v.shape)
    v_mis.copy_(v)
    indices, counts = random_pattern(gen, B, Hkv, nq, nk)

    def step():
        out, lse = block_sparse_attention(q, k, v_mis, indices, counts, bs, 64, causal=True,
                                          return_lse=True)
        return out, lse, dense_attention(q, k, v_mis, scale=0.2)

    graph, captured = capture_graph(step)

    for _ in range(3):  # new inputs and pattern before each replay
        new_q, new_k, new_v = make_qkv(gen, B, Hq, Hkv, S, S, D, torch.float16)
        q.copy_(new_q)
        k.copy_(new_k)
        v_mis.copy_(new_v)
        new_indices, new_counts = random_pattern(gen, B, Hkv, nq, nk)
        indices.copy_(new_indices)
        counts.copy_(new_counts)
        graph.replay()
        for got, want in zip(captured, step()):
            assert torch.equal(got, want)


@gpu
def test_torch_compile_fullgraph(gen):
    require_attention(torch.bfloat16, 128, 128)
    q, k, v = make_qkv(gen, 2, 8, 2, 300, 300, 128, torch.bfloat16, "seq_major")
    indices, counts = random_pattern(gen, 2, 2, 3, -(-300 // 64))

    def f(q, k, v, indices, counts):
        out, lse = block_sparse_attention(q, k, v, indices, counts, 64, causal=True,
                                          return_lse=True)
        dense = dense_attention(q, k, v)
        return out, lse, out.float().sum(-1), dense * 2

    compiled = torch.compile(f, fullgraph=True)
    got = compiled(q, k, v, indices, counts)
    want = f(q, k, v, indices, counts)
    assert got[0].stride() == want[0].stride()  # the fake implementation's layout is the real one
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    torch.testing.assert_close(got[2], want[2])
    assert torch.equal(got[3], want[3])


@gpu
@pytest.mark.parametrize("pattern", ["sparse", "dense"])
def test_opcheck(gen, pattern):
    require_attention(torch.bfloat16, 64, 128)
    q, k, v = make_qkv(gen, 1, 4, 2, 130, 200, 64, torch.bfloat16, "seq_major")
    indices, counts = (None, None) if pattern == "dense" else random_pattern(gen, 1, 2, 2, 4)
    for return_lse in (False, True):
        torch.library.opcheck(torch.ops.triageattention.block_sparse_attention.default,
                              (q, k, v, indices, counts, 64, 128, True, 0.0, return_lse))


@gpu
def test_tensors_on_a_non_current_device(gen):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    require_attention(torch.bfloat16, 128, 128)
    q, k, v = make_qkv(gen, 1, 4, 2, 200, 200, 128, torch.bfloat16)
    indices, counts = random_pattern(gen, 1, 2, 2, 4)
    expected = block_sparse_attention(q, k, v, indices, counts, 64)
    with torch.cuda.device(0):
        out = block_sparse_attention(*(t.to("cuda:1") for t in (q, k, v, indices, counts)), 64)
        assert torch.cuda.current_device() == 0
    assert out.device == torch.device("cuda:1")
    assert torch.equal(out.cpu(), expected.cpu())


# ---------------------------------------------------------------------------------------------
# GPU: argument errors and validate=True
# ---------------------------------------------------------------------------------------------


def _problem(gen, Hq=8, Hkv=2, D=128, S=300):
    """q, k, v and a valid pattern (block 64, query block 128: 3 x 5 blocks, max_blocks 7)."""
    q, k, v = make_qkv(gen, 1, Hq, Hkv, S, S, D, torch.bfloat16)
    indices, counts = random_pattern(gen, 1, Hkv, -(-S // 128), -(-S // 64), out_of_range=False)
    return q, k, v, indices, counts


def _call(q, k, v, indices, counts, **kwargs):
    return block_sparse_attention(q, k, v, indices, counts, kwargs.pop("block_size", 64), **kwargs)


ARGUMENT_ERRORS = {
    "dtype mismatch": (lambda q, k, v, i, c: _call(q, k.half(), v, i, c), TypeError,
                       "k must have q's dtype torch.bfloat16, got torch.float16"),
    "float32": (lambda q, k, v, i, c: _call(q.float(), k.float(), v.float(), i, c), TypeError,
                "q must be float16 or bfloat16"),
    "host tensors": (lambda q, k, v, i, c: _call(q.cpu(), k.cpu(), v.cpu(), i.cpu(), c.cpu()),
                     ValueError, "q must be on a CUDA device, got cpu"),
    "mixed devices": (lambda q, k, v, i, c: _call(q, k.cpu(), v, i, c), ValueError,
                      "k must be on q's device cuda:0, got cpu"),
    "pattern on host": (lambda q, k, v, i, c: _call(q, k, v, i.cpu(), c.cpu()), ValueError,
                        "kv_indices must be on q's device"),
    "head dim 96": (lambda q, k, v, i, c: _call(q[..., :96], k[..., :96], v[..., :96], i, c),
                    ValueError, r"head_dim must be one of \(64, 128\), got 96"),
    "GQA 7:4": (lambda q, k, v, i, c: _call(q[:, :7], torch.cat([k, k], 1), torch.cat([v, v], 1),
                                            None, None), ValueError,
                r"heads_q \(7\) must be a multiple of heads_kv \(4\)"),
    "pattern query blocks": (lambda q, k, v, i, c: _call(q, k, v, i[:, :, :2], c[:, :, :2]),
                             ValueError, r"kv_indices must be \[B, Hs, ceil\(Sq / q_block_size\), "
                             r"max_blocks\] = \[1, 2 \(heads_kv\) or 8 \(heads_q\), 3, "
                             r"max_blocks\] \(B and Hs may be 1\), got \[1, 2, 2, 7\]"),
    "pattern heads": (lambda q, k, v, i, c: _call(q, k, v, torch.cat([i, i[:, :1]], 1),
                                                  torch.cat([c, c[:, :1]], 1)),
                      ValueError, r"\(heads_kv\) or 8 \(heads_q\), 3, max_blocks\]"),
    "counts shape": (lambda q, k, v, i, c: _call(q, k, v, i, c[..., :2]), ValueError,
                     r"got shapes \[1, 2, 3, 7\] and \[1, 2, 2\]"),
    "q_block_size 64 pattern": (lambda q, k, v, i, c: _call(q, k, v, i, c, q_block_size=64),
                                ValueError, r"= \[1, 2 \(heads_kv\) or 8 \(heads_q\), 5, "),
    "int64 pattern": (lambda q, k, v, i, c: _call(q, k, v, i.long(), c), TypeError,
                      r"kv_indices must be int32, got torch.int64 \(convert it once with "
                      r".int\(\)\)"),
    "indices only": (lambda q, k, v, i, c: _call(q, k, v, i, None), ValueError,
                     "must both be given"),
    "block size 8": (lambda q, k, v, i, c: _call(q, k, v, i, c, block_size=8), ValueError,
                     r"block_size must be one of \(16, 32, 64, 128\), got 8"),
    "q_block_size 32": (lambda q, k, v, i, c: _call(q, k, v, i, c, q_block_size=32), ValueError,
                        r"q_block_size must be one of \(64, 128\), got 32"),
    "negative scale": (lambda q, k, v, i, c: _call(q, k, v, i, c, scale=-1.0), ValueError,
                       "scale must be positive and finite, got -1.0"),
    "tensor scale": (lambda q, k, v, i, c: _call(q, k, v, i, c, scale=torch.tensor(0.1)),
                     TypeError, "scale must be a Python number or None"),
    "numpy q": (lambda q, k, v, i, c: _call(q.float().cpu().numpy(), k, v, i, c), TypeError,
                "q must be a torch.Tensor, got ndarray"),
    "3-D k": (lambda q, k, v, i, c: _call(q, k[0], v[0], i, c), ValueError,
              r"k must be 4-D \[B, Hkv, Sk, D\], got shape \[2, 300, 128\]"),
}


@gpu
@pytest.mark.parametrize("case", list(ARGUMENT_ERRORS))
def test_argument_errors(gen, case):
    call, error, message = ARGUMENT_ERRORS[case]
    with pytest.raises(error, match=message):
        call(*_problem(gen))


@gpu
@pytest.mark.parametrize(
    "row, blocks, count, message",
    [
        (0, [0, 3, 2], 3, r"row \(batch 0, head 1, query block 0\) must be strictly ascending, "
         r"but entry 2 \(block 2\) follows block 3"),
        (1, [1, 1], 2, r"block 1 appears twice \(entries 0 and 1\)"),
        (2, [0, 5], 2, r"lists block 5 at entry 1, outside \[0, ceil\(seqlen_k / block_size\) = "
         r"5\)"),
        (2, [0, -1], 2, "lists block -1 at entry 1"),
        (1, [0], -2, r"kv_counts of row \(batch 0, head 1, query block 1\) is -2"),
        (1, [0], 8, r"is 8, outside \[0, max_blocks = 7\]"),
    ],
)
def test_validate_reports_bad_patterns(gen, row, blocks, count, message):
    q, k, v, indices, counts = _problem(gen)
    assert validate_pattern(indices, counts, 5) is None
    indices[0, 1, row, : len(blocks)] = torch.tensor(blocks, dtype=torch.int32)
    counts[0, 1, row] = count
    with pytest.raises(ValueError, match=message):
        block_sparse_attention(q, k, v, indices, counts, 64, validate=True)


@gpu
def test_validate_accepts_good_patterns(gen):
    require_attention(torch.bfloat16, 128, 128)
    q, k, v, indices, counts = _problem(gen)
    good = block_sparse_attention(q, k, v, indices, counts, 64, validate=True)
    assert torch.equal(good, block_sparse_attention(q, k, v, indices, counts, 64))


@gpu
def test_core_checks_cuda_tensors(gen):
    """The compiled core checks what it is given, for callers that bypass the torch API."""
    require_attention(torch.bfloat16, 128, 128)
    q, k, v, indices, counts = _problem(gen)
    out = torch.empty_like(q)
    stream = torch.cuda.current_stream().cuda_stream

    def core(q_=q, out_=out, lse=None, indices_=indices):
        _C.block_sparse_attention(q_, k, v, out_, lse, indices_, counts, 64, 128, False, 0.0,
                                  stream)

    shifted = torch.empty(q.numel() + 1, dtype=q.dtype, device="cuda")[1:].view(q.shape)
    with pytest.raises(ValueError, match="q must be 16-byte aligned"):
        core(q_=shifted)
    odd_rows = torch.empty((1, 8, 300, 132), dtype=q.dtype, device="cuda")[..., :128]
    with pytest.raises(ValueError, match="q strides must be positive multiples of 8"):
        core(q_=torch.as_strided(odd_rows, q.shape, (8 * 300 * 130, 300 * 130, 130, 1)))
    with pytest.raises(ValueError, match=r"lse must be \[batch, heads_q, seqlen_q\]"):
        core(lse=torch.empty((1, 8, 299), device="cuda"))
    with pytest.raises(ValueError, match="kv_indices must be on a CUDA device, got cpu"):
        core(indices_=indices.cpu())
    core()  # and the valid call goes through


# ---------------------------------------------------------------------------------------------
# GPU: FlexAttention interop
# ---------------------------------------------------------------------------------------------


def require_flex():
    try:
        from torch.nn.attention import flex_attention
    except ImportError:
        pytest.skip("this torch has no torch.nn.attention.flex_attention")
    return flex_attention


def _split_table(gen, table):
    """Random (partial, full) halves of a [B, H, nq, nk] block table, each as (counts, indices)
    in FlexAttention's ordered form (ascending indices first)."""
    full = table & (torch.rand(table.shape, generator=gen, device="cuda") < 0.5)

    def ordered(t):
        order = torch.sort((~t).to(torch.uint8), dim=-1, stable=True).indices
        return t.sum(-1).to(torch.int32), order.to(torch.int32)

    return ordered(table & ~full), ordered(full)


@gpu
def test_pattern_from_block_mask_is_zero_copy_without_full_blocks(gen):
    flex = require_flex()
    table = torch.rand((2, 3, 4, 6), generator=gen, device="cuda") < 0.5
    (counts, indices), _ = _split_table(gen, table)
    mask = flex.BlockMask.from_kv_blocks(counts, indices, BLOCK_SIZE=(64, 32))
    kv_indices, kv_counts, block_size, q_block_size = pattern_from_block_mask(mask)
    assert (block_size, q_block_size) == (32, 64)
    assert kv_indices.data_ptr() == mask.kv_indices.data_ptr()
    assert kv_counts.data_ptr() == mask.kv_num_blocks.data_ptr()


@gpu
def test_pattern_from_block_mask_merges_full_blocks(gen):
    flex = require_flex()
    table = torch.rand((2, 3, 4, 6), generator=gen, device="cuda") < 0.6
    (counts, indices), (full_counts, full_indices) = _split_table(gen, table)
    mask = flex.BlockMask.from_kv_blocks(counts, indices, full_counts, full_indices,
                                         BLOCK_SIZE=128)
    kv_indices, kv_counts, _, _ = pattern_from_block_mask(mask)
    assert torch.equal(kv_counts, table.sum(-1).to(torch.int32))
    validate_pattern(kv_indices, kv_counts, 6)  # ascending, in range
    merged = token_mask(kv_indices, kv_counts, 2, 3, 4, 6, 1, 1, False)  # 1-token blocks
    assert torch.equal(merged, table)


@gpu
@pytest.mark.parametrize("causal", [False, True])
def test_block_mask_from_pattern_round_trip(gen, causal):
    flex = require_flex()
    B, Hq, Hkv, Sq, Sk, bs, qbs = 2, 4, 2, 300, 500, 32, 64
    nq, nk = -(-Sq // qbs), -(-Sk // bs)
    indices, counts = random_pattern(gen, B, Hkv, nq, nk, out_of_range=False)
    validate_pattern(indices, counts, nk)  # Flex needs valid patterns
    mask_mod = causal_mask_mod(Sq, Sk) if causal else None
    block_mask = block_mask_from_pattern(indices, counts, bs, qbs, Sq, Sk, heads_q=Hq,
                                         mask_mod=mask_mod)
    assert isinstance(block_mask, flex.BlockMask)
    assert block_mask.BLOCK_SIZE == (qbs, bs) and tuple(block_mask.seq_lengths) == (Sq, Sk)
    blocks = token_mask(indices, counts, B, Hq, nq, nk, 1, 1, False)
    assert torch.equal(block_mask.to_dense().bool(), blocks)
    back, back_counts, back_bs, back_qbs = pattern_from_block_mask(block_mask)
    assert (back_bs, back_qbs) == (bs, qbs)
    assert torch.equal(token_mask(back, back_counts, B, Hq, nq, nk, 1, 1, False), blocks)


@gpu
def test_flex_attention_on_the_same_mask(gen):
    """A random BlockMask with partial and full blocks, converted: ours equals the float64
    reference and agrees with compiled flex_attention on that mask."""
    flex = require_flex()
    require_attention(torch.bfloat16, 128, 128)
    B, Hq, Hkv, S, D, bs = 2, 4, 2, 1000, 128, 128
    nq = nk = -(-S // bs)
    table = torch.rand((B, Hq, nq, nk), generator=gen, device="cuda") < 0.4
    table[..., 0] = True  # every row sees a key: Flex and we agree on empty rows only by convention
    (counts, indices), (full_counts, full_indices) = _split_table(gen, table)
    block_mask = flex.BlockMask.from_kv_blocks(counts, indices, full_counts, full_indices,
                                               BLOCK_SIZE=bs, seq_lengths=(S, S))
    q, k, v = make_qkv(gen, B, Hq, Hkv, S, S, D, torch.bfloat16, "seq_major")
    kv_indices, kv_counts, block_size, q_block_size = pattern_from_block_mask(block_mask)
    out, lse = block_sparse_attention(q, k, v, kv_indices, kv_counts, block_size, q_block_size,
                                      return_lse=True)
    mask = token_mask(kv_indices, kv_counts, B, Hq, S, S, bs, bs, False)
    assert torch.equal(mask, table.repeat_interleave(bs, 2).repeat_interleave(bs, 3)[:, :, :S, :S])
    assert_matches(out, lse, q, k, v, mask, 1 / math.sqrt(D), "flex mask")

    theirs = torch.compile(flex.flex_attention, dynamic=False)(q, k, v, block_mask=block_mask,
                                                               enable_gqa=True)
    ref, _ = attention_reference(q, k, v, mask, 1 / math.sqrt(D), torch.float64)
    base, _ = attention_reference(q, k, v, mask, 1 / math.sqrt(D), torch.bfloat16)
    bar = (2 * (base.double() - ref).abs().max() + 2**-8 * ref.abs().max()).item()
    diff = (out.double() - theirs.double()).abs().max().item()
    assert diff <= bar, f"ours and flex_attention differ by {diff:.3e} (> {bar:.3e}) on one mask"


@gpu
def test_causal_block_mask_equals_dense_causal(gen):
    """create_block_mask with a causal mask_mod (partial diagonal blocks, full ones below)
    converts to every block up to the diagonal: with causal=True that is dense causal."""
    flex = require_flex()
    require_attention(torch.bfloat16, 64, 128)
    S = 1000
    block_mask = flex.create_block_mask(causal_mask_mod(S, S), None, None, S, S, device="cuda")
    assert block_mask.full_kv_num_blocks is not None
    kv_indices, kv_counts, block_size, q_block_size = pattern_from_block_mask(block_mask)
    q, k, v = make_qkv(gen, 1, 4, 4, S, S, 64, torch.bfloat16)
    ours = block_sparse_attention(q, k, v, kv_indices, kv_counts, block_size, q_block_size,
                                  causal=True)
    # Same blocks in the same order as dense mode's: bitwise equal.
    assert torch.equal(ours, dense_attention(q, k, v, causal=True))
