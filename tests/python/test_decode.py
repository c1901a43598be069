"""PagedKVCache, sparse_decode and the compiled core's decode entries.

CPU tests run everywhere (no GPU, no torch needed): the host page bookkeeping (PageAllocator),
the compiled core's argument checks on NumPy arrays and the CPU reference of the page selection.
GPU tests (marked `gpu`) run prefill then decode steps and compare every step with a float64
reference computed on the GPU from an explicit mask (dense: every visible key; sparse: the keys of
the pages the CPU reference selects, which must equal the GPU's selection exactly); they pass when
our max error is at most 2x that of the same attention computed by PyTorch in the input dtype.
"""

import math

import numpy as np
import pytest

from triageattention import _C
from triageattention.decode import PageAllocator

try:
    import torch
except ImportError:
    torch = None

gpu = pytest.mark.gpu


# ---------------------------------------------------------------------------------------------
# CPU: page bookkeeping
# ---------------------------------------------------------------------------------------------


def test_allocator_hands_out_lowest_pages_and_tracks_capacity():
    a = PageAllocator(num_pages=10, batch_size=2, max_pages_per_seq=4, page_size=16)
    assert a.ensure(0, 17)  # two pages
    assert a.pages[0] == [0, 1] and a.capacity(0) == 32
    assert not a.ensure(0, 32)  # already fits
    assert a.ensure(1, 1)
    assert a.pages[1] == [2]
    assert a.ensure(0, 33)
    assert a.pages[0] == [0, 1, 3]
    assert a.table.tolist() == [[0, 1, 3, -1], [2, -1, -1, -1]]
    assert a.num_free_pages == 6
    assert a.lengths == [0, 0]  # mapping pages does not change lengths
    a.grow(0, 33)
    assert a.lengths == [33, 0]


def test_allocator_release_returns_pages_to_the_free_list():
    a = PageAllocator(8, 2, 4, 16)
    a.ensure(0, 40)
    a.ensure(1, 16)
    a.grow(0, 40)
    a.release(0)
    assert a.lengths == [0, 0] and a.pages[0] == [] and a.num_free_pages == 7
    assert a.table[0].tolist() == [-1] * 4
    a.ensure(1, 64)  # reuses the lowest freed pages first
    assert a.pages[1] == [3, 0, 1, 2]


def test_allocator_errors_name_the_problem_and_map_nothing():
    a = PageAllocator(3, 2, 4, 16)
    with pytest.raises(ValueError, match="more than max_seqlen = 64"):
        a.ensure(0, 65)
    a.ensure(0, 32)
    with pytest.raises(ValueError, match=r"out of pages: sequence 1 needs 2 more page\(s\)"):
        a.ensure(1, 32)
    assert a.pages[1] == [] and a.num_free_pages == 1
    with pytest.raises(ValueError, match="num_pages must be a positive integer"):
        PageAllocator(0, 1, 1, 16)


def test_allocator_adopts_user_pages():
    a = PageAllocator(6, 2, 3, 16)
    a.adopt(0, [4, 2], 20)
    a.adopt(1, [0], 3)
    assert a.lengths == [20, 3] and a.num_free_pages == 3
    assert a.table.tolist() == [[4, 2, -1], [0, -1, -1]]
    a.ensure(1, 17)
    assert a.pages[1] == [0, 1]


# ---------------------------------------------------------------------------------------------
# CPU: the compiled core's checks (NumPy arrays) and the reference selection
# ---------------------------------------------------------------------------------------------


def _host_cache(B=2, Hkv=2, num_pages=8, page_size=16, D=64, max_pages=4, dtype=np.float16):
    return dict(
        k_cache=np.zeros((num_pages, Hkv, page_size, D), dtype),
        v_cache=np.zeros((num_pages, Hkv, page_size, D), dtype),
        k_min=np.zeros((num_pages, Hkv, D), dtype),
        k_max=np.zeros((num_pages, Hkv, D), dtype),
        page_table=np.zeros((B, max_pages), np.int32),
        seqlens=np.zeros((B,), np.int32))


def _decode_core(c, q=None, out=None, topk=2):
    q = np.zeros((2, 4, 1, 64), np.float16) if q is None else q
    out = np.zeros_like(q) if out is None else out
    _C.sparse_decode(q, c["k_cache"], c["v_cache"], c["k_min"], c["k_max"], c["page_table"],
                     c["seqlens"], out, None, np.zeros(1024, np.uint8), topk, 1, 0.0, 0)


def _with(**changes):
    def make():
        c = _host_cache()
        c.update(changes)
        return c
    return make


DECODE_ERRORS = {
    "cpu arrays": (_host_cache, {}, ValueError, "k_cache must be on a CUDA device, got cpu"),
    "cache float32": (_with(k_cache=np.zeros((8, 2, 16, 64), np.float32)), {}, TypeError,
                      "k_cache must be float16 or bfloat16, got float32"),
    "v dtype": (_with(v_cache=np.zeros((8, 2, 16, 64), np.float32)), {}, TypeError,
                r"v_cache must have k_cache's dtype \(float16\)"),
    "summary dtype": (_with(k_min=np.zeros((8, 2, 64), np.float32)), {}, TypeError,
                      r"k_min and k_max must have k_cache's dtype \(float16\), got float32"),
    "table dtype": (_with(page_table=np.zeros((2, 4), np.int64)), {}, TypeError,
                    "page_table must be int32, got int64"),
    "3-D cache": (_with(k_cache=np.zeros((8, 2, 64), np.float16)), {}, ValueError,
                  r"k_cache must be 4-D \[num_pages, heads_kv, page_size, head_dim\]"),
    "summary shape": (_with(k_max=np.zeros((8, 2, 32), np.float16)), {}, ValueError,
                      "k_max must have k_min's shape"),
    "seqlens rows": (_with(seqlens=np.zeros((3,), np.int32)), {}, ValueError,
                     r"seqlens must have one entry per sequence \(page_table has 2 rows\)"),
    "strided table": (_with(page_table=np.zeros((2, 8), np.int32)[:, ::2]), {}, ValueError,
                      "page_table must be contiguous"),
    "q dtype": (_host_cache, {"q": np.zeros((2, 4, 1, 64), np.float32)}, TypeError,
                r"q must have the cache's dtype \(float16\)"),
    "q batch": (_host_cache, {"q": np.zeros((3, 4, 1, 64), np.float16)}, ValueError,
                r"q must be \[batch, heads_q, seqlen_q, head_dim\] with batch 2"),
    "out shape": (_host_cache, {"out": np.zeros((2, 4, 2, 64), np.float16)}, ValueError,
                  "out must have q's shape"),
}


@pytest.mark.parametrize("case", list(DECODE_ERRORS))
def test_core_decode_argument_errors(case):
    make, kwargs, error, message = DECODE_ERRORS[case]
    with pytest.raises(error, match=message):
        _decode_core(make(), **kwargs)


def test_core_append_rejects_mismatched_new_tokens():
    c = _host_cache()
    k_new = np.zeros((2, 2, 3, 64), np.float16)
    with pytest.raises(ValueError, match=r"v_new must be \[batch, heads_kv, new_tokens, "
                                         r"head_dim\] with batch 2, 2 heads"):
        _C.paged_kv_append(c["k_cache"], c["v_cache"], c["k_min"], c["k_max"], c["page_table"],
                           c["seqlens"], k_new, np.zeros((2, 1, 3, 64), np.float16), None, 0)
    with pytest.raises(TypeError, match="new_lens must be int32"):
        _C.paged_kv_append(c["k_cache"], c["v_cache"], c["k_min"], c["k_max"], c["page_table"],
                           c["seqlens"], k_new, k_new.copy(), np.zeros(2, np.int64), 0)


@pytest.mark.parametrize("args, message", [
    ((1, 3, 8, 1, 16, 128), r"heads_q \(8\) must be a positive multiple of heads_kv \(3\)"),
    ((1, 2, 8, 9, 16, 128), r"seqlen_q must be in \[1, 8\], got 9"),
    ((1, 2, 8, 1, 16, 96), "head_dim must be 64 or 128, got 96"),
])
def test_workspace_bytes_errors(args, message):
    with pytest.raises(ValueError, match=message):
        _C.sparse_decode_workspace_bytes(*args)


def reference_selection(q, k_min, k_max, page_table, seqlens, page_size, topk, sink_pages):
    """_C's CPU reference on NumPy arrays: (indices, counts, scores)."""
    B, Hkv, max_pages = q.shape[0], k_min.shape[1], page_table.shape[1]
    indices = np.empty((B, Hkv, max_pages), np.int32)
    counts = np.empty((B, Hkv), np.int32)
    scores = np.zeros((B, Hkv, max_pages), np.float32)
    _C.reference_select_decode_pages(
        np.ascontiguousarray(q, np.float32), np.ascontiguousarray(k_min, np.float32),
        np.ascontiguousarray(k_max, np.float32), np.ascontiguousarray(page_table, np.int32),
        np.ascontiguousarray(seqlens, np.int32), page_size, topk, sink_pages, indices, counts,
        scores)
    return indices, counts, scores


def test_reference_selection_rule():
    D, ps = 64, 16
    q = np.ones((1, 2, 1, D), np.float32)
    k_min = np.zeros((8, 1, D), np.float32)
    k_max = np.zeros((8, 1, D), np.float32)
    k_max[5] = 1.0  # physical page 5 = logical page 2 (reversed table) scores 64
    table = np.array([[7, 6, 5, 4, 3, 2, 1, 0]], np.int32)
    seqlens = np.array([6 * ps + 1], np.int32)  # 7 pages
    indices, counts, scores = reference_selection(q, k_min, k_max, table, seqlens, ps, 3, 1)
    assert counts.tolist() == [[3]]
    assert indices[0, 0].tolist() == [0, 2, 6, -1, -1, -1, -1, -1]  # sink, best, last
    assert scores[0, 0, 2] == 64.0
    indices, counts, _ = reference_selection(q, k_min, k_max, table, seqlens, ps, 100, 1)
    assert indices[0, 0, :counts[0, 0]].tolist() == list(range(7))
    indices, counts, _ = reference_selection(q, k_min, k_max, table, np.array([5], np.int32),
                                             ps, 4, 1)
    assert indices[0, 0, :counts[0, 0]].tolist() == [0]  # shorter than one page


# ---------------------------------------------------------------------------------------------
# GPU: sessions against the reference, selection exactness, graphs, compile, Python API errors
# ---------------------------------------------------------------------------------------------


def attention_reference(q, k, v, mask, scale, dtype):
    """(out, lse) of masked attention in `dtype` (float64: the reference; the input dtype: the
    bar). q [B, Hq, Sq, D], k, v [B, Hkv, S, D], mask [B, Hq, Sq, S]."""
    group = q.shape[1] // k.shape[1]
    q = q.to(dtype)
    k, v = (t.to(dtype).repeat_interleave(group, 1) for t in (k, v))
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, -math.inf)
    lse = torch.logsumexp(scores.double(), dim=-1)
    p = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return p @ v, lse


def assert_matches(out, lse, q, k, v, mask, what):
    scale = 1 / math.sqrt(q.shape[-1])
    ref, ref_lse = attention_reference(q, k, v, mask, scale, torch.float64)
    base, base_lse = attention_reference(q, k, v, mask, scale, q.dtype)
    assert not out.isnan().any(), f"{what}: out holds NaN"
    dead = ~mask.any(-1)
    assert (out[dead] == 0).all(), f"{what}: a row that sees no key must be exactly 0"
    assert (lse[dead] == -math.inf).all(), f"{what}: a row that sees no key must have lse -inf"
    err = (out.double() - ref).abs()
    allowed = (2 * (base.double() - ref).abs().max()
               + torch.finfo(out.dtype).eps / 2 * ref.abs().max()).item()
    assert err.max().item() <= allowed, (
        f"{what}: max |out - ref| {err.max().item():.3e} > allowed {allowed:.3e}")
    live = ~dead
    if live.any():
        lse_err = (lse[live].double() - ref_lse[live]).abs()
        lse_allowed = (2 * (base_lse[live] - ref_lse[live]).abs().max()
                       + 2**-18 * (1 + ref_lse[live].abs().max())).item()
        assert lse_err.max().item() <= lse_allowed, f"{what}: lse error {lse_err.max().item()}"


class Model:
    """The cache's content by position, per sequence: k, v [Hkv, len, D] (input dtype)."""

    def __init__(self, B):
        self.k = [None] * B
        self.v = [None] * B

    def append(self, k_new, v_new, counts):
        for b, n in enumerate(counts):
            k, v = k_new[b, :, :n], v_new[b, :, :n]
            self.k[b] = k.clone() if self.k[b] is None else torch.cat([self.k[b], k], 1)
            self.v[b] = v.clone() if self.v[b] is None else torch.cat([self.v[b], v], 1)

    def padded(self):
        """k, v [B, Hkv, S, D] padded with zeros to the longest sequence, and the lengths."""
        lens = [t.shape[1] for t in self.k]
        S = max(lens)
        pad = [torch.nn.functional.pad(t, (0, 0, 0, S - t.shape[1])) for t in self.k]
        pad_v = [torch.nn.functional.pad(t, (0, 0, 0, S - t.shape[1])) for t in self.v]
        return torch.stack(pad), torch.stack(pad_v), lens


def decode_mask(lens, Hq, Sq, S, device, pages=None, group=1, page_size=1):
    """[B, Hq, Sq, S]: token t of sequence b sees keys j <= len_b - Sq + t; restricted to the
    listed pages (per b and kv head) when given."""
    j = torch.arange(S, device=device)
    t = torch.arange(Sq, device=device)
    last = torch.tensor(lens, device=device)[:, None] - Sq + t[None]  # [B, Sq]
    mask = (j[None, None, :] <= last[:, :, None])[:, None].expand(-1, Hq, -1, -1).clone()
    if pages is not None:
        page_of = j // page_size
        for b, per_head in enumerate(pages):
            for h, chosen in enumerate(per_head):
                chosen = torch.as_tensor(np.asarray(chosen, np.int64), device=device)
                mask[b, h * group:(h + 1) * group] &= torch.isin(page_of, chosen)
    return mask


def random_kv(gen, B, Hkv, T, D, dtype):
    return (torch.randn((B, Hkv, T, D), generator=gen, device="cuda", dtype=dtype),
            torch.randn((B, Hkv, T, D), generator=gen, device="cuda", dtype=dtype))


def check_selection(q, cache, topk, sink_pages):
    """GPU selection == CPU reference on the GPU's summaries; returns the pages per (b, h)."""
    from triageattention.decode import select_decode_pages
    indices, counts, scores = select_decode_pages(q, cache, topk, sink_pages)
    ri, rc, rs = reference_selection(q.float().cpu().numpy(), cache.k_min.float().cpu().numpy(),
                                     cache.k_max.float().cpu().numpy(),
                                     cache.page_table.cpu().numpy(),
                                     cache.seqlens.cpu().numpy(), cache.page_size, topk,
                                     sink_pages)
    assert np.array_equal(counts.cpu().numpy(), rc)
    assert np.array_equal(indices.cpu().numpy(), ri)
    got_scores = scores.cpu().numpy()
    for b, n in enumerate(cache.lengths):
        pages = -(-n // cache.page_size)
        assert np.array_equal(got_scores[b, :, :pages], rs[b, :, :pages]), f"scores of seq {b}"
    return [[list(ri[b, h, :rc[b, h]]) for h in range(ri.shape[1])] for b in range(ri.shape[0])]


@gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("page_size", [16, 64])
@pytest.mark.parametrize("batch, Hq, Hkv, Sq", [(1, 8, 2, 1), (8, 16, 2, 2), (8, 32, 8, 1),
                                               (3, 16, 2, 5)])
def test_prefill_then_decode_steps_match_reference(gen, dtype, head_dim, page_size, batch, Hq,
                                                   Hkv, Sq):
    from triageattention import PagedKVCache, sparse_decode
    dtype = getattr(torch, dtype)
    steps, topk, sink = 10, 3, 1
    prefill = [int(x) for x in torch.randint(1, 300, (batch,), generator=gen, device="cuda")]
    prefill[0] = 300 if batch == 1 else 1
    if batch > 2:
        prefill[1:3] = [page_size, page_size + 1]
    cache = PagedKVCache(batch, max(prefill) + steps * Sq + 1, Hkv, head_dim, page_size,
                         num_pages=batch * (-(-(max(prefill) + steps * Sq) // page_size)) + 5,
                         dtype=dtype)
    model = Model(batch)
    k_new, v_new = random_kv(gen, batch, Hkv, max(prefill), head_dim, dtype)
    cache.append(k_new, v_new, new_lens=prefill)
    model.append(k_new, v_new, prefill)
    assert cache.lengths == prefill
    assert cache.seqlens.tolist() == prefill
    group = Hq // Hkv
    for step in range(steps):
        k_new, v_new = random_kv(gen, batch, Hkv, Sq, head_dim, dtype)
        cache.append(k_new, v_new)
        model.append(k_new, v_new, [Sq] * batch)
        q = 3 * torch.randn((batch, Hq, Sq, head_dim), generator=gen, device="cuda", dtype=dtype)
        k, v, lens = model.padded()
        what = f"step {step}"
        out, lse = sparse_decode(q, cache, cache.max_pages, return_lse=True)  # dense
        assert_matches(out, lse, q, k, v, decode_mask(lens, Hq, Sq, k.shape[2], "cuda"),
                       what + " dense")
        pages = check_selection(q, cache, topk, sink)
        out, lse = sparse_decode(q, cache, topk, sink_pages=sink, return_lse=True)
        mask = decode_mask(lens, Hq, Sq, k.shape[2], "cuda", pages, group, page_size)
        assert_matches(out, lse, q, k, v, mask, what + " sparse")
        again, again_lse = sparse_decode(q, cache, topk, sink_pages=sink, return_lse=True)
        assert torch.equal(again, out) and torch.equal(again_lse, lse), "not deterministic"
    assert cache.lengths == cache.seqlens.tolist()


@gpu
@pytest.mark.parametrize("batch, Hq, Hkv, prefill, topk", [
    (3, 16, 2, [3000, 5, 1400], 140),    # several splits per kv head, merged by the last one
    (128, 8, 8, [8200] * 128, 600),      # one split of > 512 pages: page-list windows
    (1, 2, 1, [270000], 100),            # > 16384 pages: the select reads keys from global
])
def test_long_contexts_match_reference(gen, batch, Hq, Hkv, prefill, topk):
    from triageattention import PagedKVCache, sparse_decode
    dtype, D, ps, Sq = torch.bfloat16, 64, 16, 1
    cache = PagedKVCache(batch, max(prefill) + Sq, Hkv, D, ps, dtype=dtype)
    model = Model(batch)
    for k_new, v_new, counts in ((*random_kv(gen, batch, Hkv, max(prefill), D, dtype), prefill),
                                 (*random_kv(gen, batch, Hkv, Sq, D, dtype), [Sq] * batch)):
        cache.append(k_new, v_new, new_lens=counts)
        model.append(k_new, v_new, counts)
    del k_new, v_new
    q = 3 * torch.randn((batch, Hq, Sq, D), generator=gen, device="cuda", dtype=dtype)
    k, v, lens = model.padded()
    dense, dense_lse = sparse_decode(q, cache, cache.max_pages, return_lse=True)
    pages = check_selection(q, cache, topk, 1)
    out, lse = sparse_decode(q, cache, topk, return_lse=True)
    chunk = 16  # float64 references a few sequences at a time
    for b0 in range(0, batch, chunk):
        sl = slice(b0, b0 + chunk)
        mask = decode_mask(lens[sl], Hq, Sq, k.shape[2], "cuda")
        assert_matches(dense[sl], dense_lse[sl], q[sl], k[sl], v[sl], mask, f"dense b{b0}")
        mask = decode_mask(lens[sl], Hq, Sq, k.shape[2], "cuda", pages[sl], Hq // Hkv, ps)
        assert_matches(out[sl], lse[sl], q[sl], k[sl], v[sl], mask, f"sparse b{b0}")


@gpu
def test_summaries_follow_appends(gen):
    from triageattention import PagedKVCache
    cache = PagedKVCache(2, 200, 2, 64, page_size=32, dtype=torch.float16)
    model = Model(2)
    for T, lens in ((45, [45, 3]), (40, [40, 33]), (1, None)):
        k_new, v_new = random_kv(gen, 2, 2, T, 64, torch.float16)
        cache.append(k_new, v_new, new_lens=lens)
        model.append(k_new, v_new, lens or [T, T])
    for b in range(2):
        k = model.k[b].float()
        for p, phys in enumerate(cache._alloc.pages[b]):
            chunk = k[:, p * 32:(p + 1) * 32]
            assert cache.k_min.dtype == torch.float16  # the cache dtype: min / max are exact
            assert torch.equal(cache.k_min[phys].float(), chunk.amin(1))
            assert torch.equal(cache.k_max[phys].float(), chunk.amax(1))


@gpu
def test_device_new_lens_make_the_mirror_an_upper_bound(gen):
    from triageattention import PagedKVCache
    cache = PagedKVCache(2, 64, 1, 64, page_size=16, dtype=torch.bfloat16)
    k_new, v_new = random_kv(gen, 2, 1, 4, 64, torch.bfloat16)
    cache.append(k_new, v_new, new_lens=torch.tensor([4, 1], dtype=torch.int32, device="cuda"))
    assert cache.lengths == [4, 4] and not cache.lengths_exact
    cache.sync_lengths()
    assert cache.lengths == [4, 1] and cache.lengths_exact


@gpu
def test_from_tensors_equals_appended_cache(gen):
    from triageattention import PagedKVCache, sparse_decode
    built = PagedKVCache(3, 300, 2, 128, page_size=64, dtype=torch.bfloat16)
    k_new, v_new = random_kv(gen, 3, 2, 250, 128, torch.bfloat16)
    built.append(k_new, v_new, new_lens=[250, 70, 1])
    user = PagedKVCache.from_tensors(built.k_cache.clone(), built.v_cache.clone(),
                                     built.page_table.clone(), built.seqlens.clone())
    assert user.lengths == [250, 70, 1]
    assert user.num_free_pages == built.num_free_pages
    for b in range(3):
        for phys in built._alloc.pages[b]:
            assert torch.equal(user.k_min[phys], built.k_min[phys])
            assert torch.equal(user.k_max[phys], built.k_max[phys])
    q = torch.randn((3, 8, 1, 128), generator=gen, device="cuda", dtype=torch.bfloat16)
    assert torch.equal(sparse_decode(q, user, 2), sparse_decode(q, built, 2))


@gpu
def test_cuda_graph_captured_steps(gen, capture_graph):
    from triageattention import PagedKVCache, sparse_decode
    B, Hq, Hkv, D, Sq = 4, 16, 4, 128, 2
    cache = PagedKVCache(B, 512, Hkv, D, page_size=16, dtype=torch.bfloat16)
    twin = PagedKVCache(B, 512, Hkv, D, page_size=16, dtype=torch.bfloat16)
    k0, v0 = random_kv(gen, B, Hkv, 100, D, torch.bfloat16)
    for c in (cache, twin):
        c.append(k0, v0, new_lens=[100, 17, 64, 5])
    steps = 6
    cache.reserve(steps * Sq + Sq)  # the warm-up step appends too
    k_new, v_new = random_kv(gen, B, Hkv, Sq, D, torch.bfloat16)
    q = torch.randn((B, Hq, Sq, D), generator=gen, device="cuda", dtype=torch.bfloat16)

    def step():
        cache.append(k_new, v_new)
        return sparse_decode(q, cache, 3, return_lse=True)

    graph, captured = capture_graph(step)  # warm-up appends once, capture appends nothing yet
    twin.append(k_new, v_new)
    for _ in range(steps):
        kn, vn = random_kv(gen, B, Hkv, Sq, D, torch.bfloat16)
        k_new.copy_(kn)
        v_new.copy_(vn)
        q.copy_(torch.randn((B, Hq, Sq, D), generator=gen, device="cuda", dtype=torch.bfloat16))
        graph.replay()
        cache.advance_host_lengths(Sq)
        twin.append(kn, vn)
        out, lse = sparse_decode(q, twin, 3, return_lse=True)
        assert torch.equal(captured[0], out) and torch.equal(captured[1], lse)
    assert cache.seqlens.tolist() == twin.seqlens.tolist() == cache.lengths


@gpu
def test_torch_compile_fullgraph(gen):
    from triageattention import PagedKVCache, sparse_decode
    cache = PagedKVCache(2, 256, 2, 64, page_size=32, dtype=torch.float16)
    k_new, v_new = random_kv(gen, 2, 2, 100, 64, torch.float16)
    cache.append(k_new, v_new)
    q = torch.randn((2, 8, 1, 64), generator=gen, device="cuda", dtype=torch.float16)

    def f(q):
        out, lse = sparse_decode(q, cache, 2, return_lse=True)
        return out * 2, lse

    got = torch.compile(f, fullgraph=True)(q)
    want = f(q)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@gpu
def test_python_api_errors(gen):
    from triageattention import PagedKVCache, sparse_decode
    cache = PagedKVCache(2, 128, 2, 64, page_size=16, dtype=torch.bfloat16)
    q = torch.zeros((2, 8, 1, 64), device="cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="sequence 0 is empty"):
        sparse_decode(q, cache, 4)
    k_new, v_new = random_kv(gen, 2, 2, 3, 64, torch.bfloat16)
    cache.append(k_new, v_new, new_lens=[3, 1])
    with pytest.raises(ValueError, match=r"sequence 1 holds 1 token\(s\), fewer than the 2"):
        sparse_decode(torch.zeros((2, 8, 2, 64), device="cuda", dtype=torch.bfloat16), cache, 4)
    with pytest.raises(ValueError, match=r"1 to 8 new tokens"):
        sparse_decode(torch.zeros((2, 8, 9, 64), device="cuda", dtype=torch.bfloat16), cache, 4)
    with pytest.raises(ValueError, match=r"heads_q \(5\) must be a multiple of heads_kv \(2\)"):
        sparse_decode(torch.zeros((2, 5, 1, 64), device="cuda", dtype=torch.bfloat16), cache, 4)
    with pytest.raises(TypeError, match="q must have the cache's dtype"):
        sparse_decode(q.half(), cache, 4)
    with pytest.raises(ValueError, match="topk must be an int >= 1"):
        sparse_decode(q, cache, 0)
    with pytest.raises(ValueError, match="page_size must be one of"):
        PagedKVCache(1, 64, 1, 64, page_size=48)
    with pytest.raises(ValueError, match="head_dim must be one of"):
        PagedKVCache(1, 64, 1, 96)
    with pytest.raises(ValueError, match="more than max_seqlen = 128"):
        cache.append(*random_kv(gen, 2, 2, 126, 64, torch.bfloat16))
    assert cache.lengths == [3, 1]  # nothing appended
    with pytest.raises(ValueError, match=r"new_lens must hold 2 values in \[0, T = 3\]"):
        cache.append(k_new, v_new, new_lens=[4, 0])
