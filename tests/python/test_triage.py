"""triage, sparse_attention, reference_triage and attention_mass_recall.

CPU tests run everywhere (NumPy only): the reference selection on planted structure, its
argument errors, the compiled core's checks. GPU tests (marked `gpu`) require the GPU selection
to equal the CPU reference index for index, check sparse_attention against an independent fp64
reference over the selected blocks, and cover reuse of the pattern, torch.compile, CUDA graphs
and recall.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import require_attention

from triageattention import _C, attention_mass_recall, reference_triage, sparse_attention, triage

try:
    import torch
except ImportError:
    torch = None

gpu = pytest.mark.gpu


def _planted(rng, B=1, Hq=2, Hkv=1, Sq=512, Sk=1024, D=64, block_size=32, q_block_size=128,
             planted=3, strength=4.0):
    """Random q, k (float32, [B, H, S, D]) where each query block i of each kv group shares a
    strong direction with `planted` chosen key blocks; returns (q, k, planted blocks [B, Hkv, nQ,
    planted]). Causal eligibility is ignored: use non-causal selection with it."""
    nq, nk = -(-Sq // q_block_size), -(-Sk // block_size)
    q = rng.standard_normal((B, Hq, Sq, D)).astype(np.float32) * 0.3
    k = rng.standard_normal((B, Hkv, Sk, D)).astype(np.float32) * 0.3
    chosen = np.zeros((B, Hkv, nq, planted), np.int64)
    group = Hq // Hkv
    for b in range(B):
        for h in range(Hkv):
            # Each key block is planted for one query block at most; block 0 (a forced sink) never.
            pool = rng.permutation(np.arange(1, nk))
            for i in range(nq):
                blocks = np.sort(pool[i * planted:(i + 1) * planted])
                chosen[b, h, i] = blocks
                u = rng.standard_normal(D).astype(np.float32)
                u /= np.linalg.norm(u)
                q[b, h * group:(h + 1) * group, i * q_block_size:(i + 1) * q_block_size] += strength * u
                for j in blocks:
                    k[b, h, j * block_size:(j + 1) * block_size] += strength * u
    return q, k, chosen


# ---------------------------------------------------------------------------------------------
# CPU: the reference rule and argument checks
# ---------------------------------------------------------------------------------------------


def test_reference_finds_planted_blocks(rng):
    q, k, chosen = _planted(rng, Sq=500, Sk=1000)
    indices, counts = reference_triage(q, k, 32, 8, q_block_size=128)
    assert indices.dtype == np.int32 and indices.shape == (1, 1, 4, 8)
    assert (counts == 8).all()
    for i in range(4):
        assert set(chosen[0, 0, i]) <= set(indices[0, 0, i]), f"query block {i}"


def test_reference_forced_blocks_and_padding():
    q = np.ones((1, 1, 64, 8), np.float32)
    k = np.ones((1, 1, 100, 8), np.float32)  # 7 key blocks of 16, all tied
    indices, counts = reference_triage(q, k, 16, 10, q_block_size=64, causal=True,
                                       sink_blocks=1, local_blocks=2)
    # Causal with Sq 64 < Sk 100: the query block sees keys <= 99, every block; all 7 kept.
    assert counts.tolist() == [[[7]]]
    assert indices.tolist() == [[[[0, 1, 2, 3, 4, 5, 6]]]]
    indices, counts = reference_triage(q, k, 16, 3, q_block_size=64, sink_blocks=1,
                                       local_blocks=1)
    # Ties go to the lower index after the forced sink (0) and diagonal (6) blocks.
    assert indices.tolist() == [[[[0, 1, 6]]]]


REFERENCE_ERRORS = {
    "topk 0": (dict(topk=0), ValueError, "topk must be >= 1, got 0"),
    "block size 48": (dict(block_size=48), ValueError, "block_size must be one of"),
    "query block 32": (dict(q_block_size=32), ValueError, "q_block_size must be one of"),
    "negative sink": (dict(sink_blocks=-1), ValueError, "sink_blocks must be >= 0"),
    "float topk": (dict(topk=2.5), TypeError, "topk must be an int"),
    "negative scale": (dict(scale=-1.0), ValueError, "scale must be positive"),
}


@pytest.mark.parametrize("case", list(REFERENCE_ERRORS))
def test_reference_argument_errors(case):
    kwargs, error, message = REFERENCE_ERRORS[case]
    args = dict(block_size=16, topk=2)
    args.update(kwargs)
    q = np.ones((1, 2, 64, 8), np.float32)
    k = np.ones((1, 1, 64, 8), np.float32)
    with pytest.raises(error, match=message):
        reference_triage(q, k, args.pop("block_size"), args.pop("topk"), **args)


def test_reference_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"with q's batch \(1\) and head_dim \(8\)"):
        reference_triage(np.ones((1, 2, 64, 8), np.float32), np.ones((1, 1, 64, 16), np.float32),
                         16, 2)
    with pytest.raises(ValueError, match="heads_q a multiple of heads_kv"):
        reference_triage(np.ones((1, 3, 64, 8), np.float32), np.ones((1, 2, 64, 8), np.float32),
                         16, 2)


def test_core_triage_rejects_host_arrays():
    q = np.zeros((1, 2, 64, 64), np.float16)
    k = np.zeros((1, 1, 64, 64), np.float16)
    indices = np.zeros((1, 1, 1, 2), np.int32)
    counts = np.zeros((1, 1, 1), np.int32)
    with pytest.raises(ValueError, match="q must be on a CUDA device, got cpu"):
        _C.triage(q, k, indices, counts, None, 32, 64, 2, False, 1, 1, True, 0.0, 0)
    with pytest.raises(TypeError, match="q must be float16 or bfloat16, got float32"):
        _C.triage(q.astype(np.float32), k, indices, counts, None, 32, 64, 2, False, 1, 1, True,
                  0.0, 0)
    with pytest.raises(TypeError, match="kv_indices and kv_counts must be int32"):
        _C.triage(q, k, indices.astype(np.int64), counts, None, 32, 64, 2, False, 1, 1, True,
                  0.0, 0)


def test_demo_without_gpu():
    """python -m triageattention on a machine without a usable GPU: a clear message, the CPU
    reference run (planted blocks all found), exit status 0."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-m", "triageattention"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "GPU demo not run" in result.stdout
    assert "planted key blocks found by reference_triage: 100.0%" in result.stdout
    assert "max relative error" in result.stdout


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------


def _randn(gen, *shape, dtype=None, scale=1.0):
    return (torch.randn(*shape, generator=gen, device="cuda") * scale).to(
        dtype or torch.bfloat16)


@gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("block_size", [16, 32, 64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("share_gqa", [True, False])
def test_triage_equals_reference(gen, dtype, block_size, causal, share_gqa):
    dtype = getattr(torch, dtype)
    for Sq, Sk, q_block_size, topk in ((1000, 1000, 128, 7), (113, 4097, 64, 40), (1, 1, 128, 3),
                                       (300, 77, 64, 1000)):
        q = _randn(gen, 2, 8, Sq, 128, dtype=dtype)
        # k as a transposed view of [B, S, H, D]: triage reads strided inputs in place.
        k = _randn(gen, 2, Sk, 2, 128, dtype=dtype).transpose(1, 2)
        got = triage(q, k, block_size, topk, q_block_size=q_block_size, causal=causal,
                     share_gqa=share_gqa)
        want = reference_triage(q, k, block_size, topk, q_block_size=q_block_size,
                                causal=causal, share_gqa=share_gqa)
        assert got[0].shape == want[0].shape and got[1].shape == want[1].shape
        np.testing.assert_array_equal(got[1].cpu().numpy(), want[1])
        np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])


@gpu
def test_triage_finds_planted_blocks_and_full_recall(rng):
    q, k, chosen = _planted(rng, B=2, Hq=8, Hkv=2, Sq=1024, Sk=4096, D=128, block_size=64,
                            planted=4)
    qd = torch.from_numpy(q).cuda().bfloat16()
    kd = torch.from_numpy(k).cuda().bfloat16()
    indices, counts = triage(qd, kd, 64, 8)
    indices = indices.cpu().numpy()
    for b, h, i in np.ndindex(*chosen.shape[:3]):
        assert set(chosen[b, h, i]) <= set(indices[b, h, i, : counts[b, h, i]]), (b, h, i)


@gpu
def test_sparse_attention_matches_reference_over_selection(gen):
    B, Hq, Hkv, Sq, Sk, D, bs = 1, 4, 2, 1000, 1500, 128, 32
    q = _randn(gen, B, Hq, Sq, D, scale=2.0)
    k = _randn(gen, B, Hkv, Sk, D)
    v = _randn(gen, B, Hkv, Sk, D)
    for causal in (False, True):
        out, lse, (indices, counts) = sparse_attention(
            q, k, v, block_size=bs, topk=9, causal=causal, return_lse=True, return_pattern=True)
        # fp64 reference over the explicit token mask of the returned pattern.
        nk = -(-Sk // bs)
        table = torch.zeros(B, Hkv, indices.shape[2], nk + 1, dtype=torch.bool, device="cuda")
        valid = torch.arange(indices.shape[3], device="cuda") < counts[..., None]
        table.scatter_(3, torch.where(valid, indices, nk).long(), valid)
        rows = torch.arange(Sq, device="cuda")
        keys = torch.arange(Sk, device="cuda")
        mask = table[..., :nk][:, :, rows // 128][..., keys // bs]  # [B, Hkv, Sq, Sk]
        if causal:
            mask &= keys[None, :] <= rows[:, None] + (Sk - Sq)
        mask = mask.repeat_interleave(Hq // Hkv, dim=1)
        s = (q.double() @ k.double().repeat_interleave(Hq // Hkv, 1).transpose(-1, -2))
        s = s / math.sqrt(D)
        s = s.masked_fill(~mask, float("-inf"))
        want_lse = torch.logsumexp(s, dim=-1)
        want = torch.softmax(s, dim=-1).nan_to_num(0.0) @ v.double().repeat_interleave(
            Hq // Hkv, 1)
        assert (out.double() - want).abs().max().item() < 2e-2
        assert (lse.double() - want_lse).abs().max().item() < 1e-3
        # Reusing the pattern skips the selection and gives the same bits.
        again = sparse_attention(q, k, v, block_size=bs, topk=9, causal=causal,
                                 pattern=(indices, counts))
        assert torch.equal(again, out)


@gpu
def test_sparse_attention_with_every_block_is_dense(gen):
    require_attention(torch.bfloat16, 64, 128)
    q = _randn(gen, 1, 4, 700, 64)
    k = _randn(gen, 1, 1, 900, 64)
    v = _randn(gen, 1, 1, 900, 64)
    out = sparse_attention(q, k, v, block_size=64, topk=1000, causal=True)
    kk, vv = k.expand(1, 4, 900, 64), v.expand(1, 4, 900, 64)
    mask = torch.ones(700, 900, dtype=torch.bool, device="cuda").tril(900 - 700)
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), kk.float(), vv.float(),
                                                            attn_mask=mask)
    assert (out.float() - want).abs().max().item() < 2e-2
    recall = attention_mass_recall(q, k, *triage(q, k, 64, 1000, causal=True), 64, causal=True)
    assert torch.allclose(recall, torch.ones_like(recall))


@gpu
def test_recall_matches_a_direct_computation(gen):
    q = _randn(gen, 1, 2, 256, 64, scale=3.0)
    k = _randn(gen, 1, 2, 384, 64)
    indices, counts = triage(q, k, 64, 2, share_gqa=False)
    recall = attention_mass_recall(q, k, indices, counts, 64)
    p = torch.softmax((q.float() @ k.float().transpose(-1, -2)) / 8.0, dim=-1)
    want = torch.zeros(1, 2, device="cuda")
    for h in range(2):
        for row in range(256):
            blocks = indices[0, h, row // 128, : counts[0, h, row // 128]].tolist()
            want[0, h] += sum(p[0, h, row, j * 64:(j + 1) * 64].sum() for j in blocks)
    want /= 256
    assert torch.allclose(recall, want, atol=1e-4)
    assert (recall > 0).all() and (recall < 1).all()


@gpu
def test_triage_compiles_and_captures(gen, capture_graph):
    q = _randn(gen, 1, 4, 512, 128)
    k = _randn(gen, 1, 2, 2048, 128)
    v = _randn(gen, 1, 2, 2048, 128)
    eager = sparse_attention(q, k, v, block_size=16, topk=16)
    compiled = torch.compile(lambda q, k, v: sparse_attention(q, k, v, block_size=16, topk=16),
                             fullgraph=True)
    assert torch.equal(compiled(q, k, v), eager)
    graph, captured = capture_graph(lambda: sparse_attention(q, k, v, block_size=16, topk=16))
    captured.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, eager)


@gpu
def test_triage_argument_errors(gen):
    q = _randn(gen, 1, 4, 64, 128)
    k = _randn(gen, 1, 2, 64, 128)
    with pytest.raises(ValueError, match="topk must be >= 1"):
        triage(q, k, 16, 0)
    with pytest.raises(ValueError, match="block_size must be one of"):
        triage(q, k, 24, 4)
    with pytest.raises(TypeError, match="k must have q's dtype"):
        triage(q, k.half(), 16, 4)
    with pytest.raises(ValueError, match="multiple of heads_kv"):
        triage(q[:, :3], k, 16, 4)
    with pytest.raises(ValueError, match="head_dim must be one of"):
        sparse_attention(q[..., :96], k[..., :96], k[..., :96])
    with pytest.raises(TypeError, match="pattern must be"):
        sparse_attention(q, k, k, pattern=3)
