"""KV-cache decode: a paged KV cache with per-page key summaries, and sparse_decode.

Semantics (DESIGN.md, KV-cache decode; docs/DECODE.md): the cache holds
k_cache, v_cache [num_pages, Hkv, page_size, D], k_min, k_max [num_pages, Hkv, D] (the cache
dtype: the element-wise min / max of each page's valid keys, exact), page_table [B, max_pages] and seqlens [B]
(int32, on the GPU). ``PagedKVCache.append`` writes new tokens and keeps the summaries current;
``sparse_decode`` scores pages with the Quest bound, keeps the sink and last pages, picks the
top-k and runs split-KV flash-decoding over them (topk >= max_pages: dense decode).

Page bookkeeping follows vLLM / FlashInfer: pages come from a free list on the host, which keeps
a mirror of the lengths; the device's seqlens advance inside the append op, so a decode step
never synchronizes. ``reserve`` maps pages ahead of time so that CUDA-graph captured steps need
no page-table upload.
"""

import numpy as np

from ._torch import require_torch, torch
from .attention import _scale_arg

if torch is not None:
    from . import _decode_ops  # noqa: F401  (registers torch.ops.triageattention.*)

PAGE_SIZES = (16, 32, 64, 128)
HEAD_DIMS = (64, 128)
MAX_NEW_TOKENS = 8  # query tokens per sequence per decode step


class PageAllocator:
    """Host bookkeeping of a paged cache (no torch needed): a free list of physical pages, each
    sequence's page list and the host mirror of its length.

    Pages are handed out lowest index first, so runs are reproducible. The mirror is exact as
    long as every length change goes through this object (``grow``, ``release``).
    """

    def __init__(self, num_pages, batch_size, max_pages_per_seq, page_size):
        for name, v in (("num_pages", num_pages), ("batch_size", batch_size),
                        ("max_pages_per_seq", max_pages_per_seq), ("page_size", page_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"PageAllocator: {name} must be a positive integer, got {v!r}")
        self.num_pages = int(num_pages)
        self.batch_size = int(batch_size)
        self.max_pages_per_seq = int(max_pages_per_seq)
        self.page_size = int(page_size)
        self._free = list(range(self.num_pages - 1, -1, -1))  # pop() gives the lowest
        self.pages = [[] for _ in range(self.batch_size)]
        self.lengths = [0] * self.batch_size
        self.table = np.full((self.batch_size, self.max_pages_per_seq), -1, dtype=np.int32)

    @property
    def num_free_pages(self):
        return len(self._free)

    @property
    def max_seqlen(self):
        return self.max_pages_per_seq * self.page_size

    def capacity(self, seq):
        """Tokens sequence `seq` can hold without a new page."""
        return len(self.pages[seq]) * self.page_size

    def adopt(self, seq, pages, length):
        """Records pages already mapped (a cache built from user tensors) and the length."""
        taken = set(pages)
        self._free = [p for p in self._free if p not in taken]
        self.pages[seq] = list(pages)
        self.table[seq, :] = -1
        self.table[seq, :len(pages)] = pages
        self.lengths[seq] = int(length)

    def ensure(self, seq, length):
        """Maps pages so that sequence `seq` can hold `length` tokens; returns whether its page
        table row changed. Raises ValueError when the sequence or the pool is full (nothing is
        mapped then)."""
        if length > self.max_seqlen:
            raise ValueError(
                f"PagedKVCache: sequence {seq} would hold {length} tokens, more than max_seqlen "
                f"= {self.max_seqlen} ({self.max_pages_per_seq} pages of {self.page_size})")
        need = -(-length // self.page_size) - len(self.pages[seq])
        if need <= 0:
            return False
        if need > len(self._free):
            raise ValueError(
                f"PagedKVCache: out of pages: sequence {seq} needs {need} more page(s) for "
                f"{length} tokens, {len(self._free)} free of {self.num_pages} (release finished "
                "sequences or build the cache with more num_pages)")
        for _ in range(need):
            page = self._free.pop()
            self.table[seq, len(self.pages[seq])] = page
            self.pages[seq].append(page)
        return True

    def grow(self, seq, n):
        self.lengths[seq] += int(n)

    def release(self, seq):
        """Returns the sequence's pages to the free list and empties it."""
        self._free.extend(reversed(self.pages[seq]))
        self._free.sort(reverse=True)
        self.pages[seq] = []
        self.table[seq, :] = -1
        self.lengths[seq] = 0


class PagedKVCache:
    """A paged KV cache for batch_size sequences on one CUDA device.

    Args:
        batch_size: sequences (rows of page_table).
        max_seqlen: tokens a sequence may hold (max_pages = ceil(max_seqlen / page_size)).
        heads_kv, head_dim: K/V heads and head dim (64 or 128).
        page_size: tokens per page, 16, 32, 64 or 128.
        num_pages: pages in the pool (default: batch_size * max_pages, enough for all).
        dtype: torch.float16 or torch.bfloat16. device: a CUDA device (default: current).

    Attributes (torch tensors, usable directly with the custom ops): k_cache, v_cache, k_min,
    k_max, page_table, seqlens (device lengths). ``lengths`` is the host mirror.
    """

    def __init__(self, batch_size, max_seqlen, heads_kv, head_dim, page_size=64, num_pages=None,
                 dtype=None, device=None):
        torch = require_torch("PagedKVCache")
        dtype = torch.bfloat16 if dtype is None else dtype
        _check_layout(torch, page_size, head_dim, dtype)
        if not isinstance(max_seqlen, int) or max_seqlen < 1:
            raise ValueError(f"PagedKVCache: max_seqlen must be a positive int, got {max_seqlen!r}")
        if not isinstance(heads_kv, int) or heads_kv < 1:
            raise ValueError(f"PagedKVCache: heads_kv must be a positive int, got {heads_kv!r}")
        device = torch.device("cuda") if device is None else torch.device(device)
        if device.type != "cuda":
            raise ValueError(f"PagedKVCache: device must be a CUDA device, got {device}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        max_pages = -(-max_seqlen // page_size)
        num_pages = batch_size * max_pages if num_pages is None else num_pages
        alloc = PageAllocator(num_pages, batch_size, max_pages, page_size)
        shape = (num_pages, heads_kv, page_size, head_dim)
        self._init(alloc, torch.empty(shape, dtype=dtype, device=device),
                   torch.empty(shape, dtype=dtype, device=device),
                   torch.full((batch_size, max_pages), -1, dtype=torch.int32, device=device),
                   torch.zeros(batch_size, dtype=torch.int32, device=device))

    @classmethod
    def from_tensors(cls, k_cache, v_cache, page_table, seqlens):
        """A cache over the user's tensors (used in place, not copied): k_cache, v_cache
        [num_pages, Hkv, page_size, D], page_table [B, max_pages] int32 (-1: unmapped),
        seqlens [B] int32, all on one CUDA device and contiguous. Pages no row lists are free
        for later appends. The summaries are computed here. Reads page_table and seqlens to the
        host once (synchronizes)."""
        torch = require_torch("PagedKVCache.from_tensors")
        for name, t in (("k_cache", k_cache), ("v_cache", v_cache), ("page_table", page_table),
                        ("seqlens", seqlens)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"PagedKVCache.from_tensors: {name} must be a torch.Tensor, got "
                                f"{type(t).__name__}")
            if t.device.type != "cuda" or t.device != k_cache.device:
                raise ValueError(f"PagedKVCache.from_tensors: {name} must be on k_cache's CUDA "
                                 f"device, got {t.device}")
            if not t.is_contiguous():
                raise ValueError(f"PagedKVCache.from_tensors: {name} must be contiguous")
        if k_cache.dim() != 4 or v_cache.shape != k_cache.shape:
            raise ValueError("PagedKVCache.from_tensors: k_cache and v_cache must both be "
                             "[num_pages, heads_kv, page_size, head_dim], got shapes "
                             f"{list(k_cache.shape)} and {list(v_cache.shape)}")
        if v_cache.dtype != k_cache.dtype:
            raise TypeError(f"PagedKVCache.from_tensors: v_cache must have k_cache's dtype "
                            f"{k_cache.dtype}, got {v_cache.dtype}")
        num_pages, _, page_size, head_dim = k_cache.shape
        _check_layout(torch, page_size, head_dim, k_cache.dtype)
        for name, t in (("page_table", page_table), ("seqlens", seqlens)):
            if t.dtype != torch.int32:
                raise TypeError(f"PagedKVCache.from_tensors: {name} must be int32, got {t.dtype}")
        if page_table.dim() != 2 or seqlens.shape != page_table.shape[:1]:
            raise ValueError("PagedKVCache.from_tensors: page_table must be [B, max_pages] and "
                             f"seqlens [B], got shapes {list(page_table.shape)} and "
                             f"{list(seqlens.shape)}")
        batch_size, max_pages = page_table.shape
        alloc = PageAllocator(num_pages, batch_size, max_pages, page_size)
        table, lens = page_table.cpu().numpy(), seqlens.cpu().numpy()
        seen = {}
        for b in range(batch_size):
            mapped = [int(p) for p in table[b] if p >= 0]
            if len(mapped) != int((table[b] >= 0).sum()) or any(
                    p >= 0 for p in table[b][len(mapped):]):
                raise ValueError(f"PagedKVCache.from_tensors: page_table row {b} must list its "
                                 "pages first, then -1")
            for p in mapped:
                if p >= num_pages:
                    raise ValueError(f"PagedKVCache.from_tensors: page_table row {b} lists page "
                                     f"{p}, outside the pool of {num_pages} pages")
                if p in seen:
                    raise ValueError(f"PagedKVCache.from_tensors: page {p} is listed by "
                                     f"sequences {seen[p]} and {b}")
                seen[p] = b
            if not 0 <= lens[b] <= len(mapped) * page_size:
                raise ValueError(f"PagedKVCache.from_tensors: seqlens[{b}] = {int(lens[b])} "
                                 f"does not fit its {len(mapped)} mapped pages of {page_size}")
            alloc.adopt(b, mapped, int(lens[b]))
        self = cls.__new__(cls)
        self._init(alloc, k_cache, v_cache, page_table, seqlens)
        torch.ops.triageattention.paged_kv_refresh_summaries(
            k_cache, v_cache, self.k_min, self.k_max, page_table, seqlens)
        return self

    def _init(self, alloc, k_cache, v_cache, page_table, seqlens):
        torch = require_torch("PagedKVCache")
        self._alloc = alloc
        self._exact = True  # False once device-side new_lens made the mirror an upper bound
        self.k_cache, self.v_cache = k_cache, v_cache
        self.page_table, self.seqlens = page_table, seqlens
        num_pages, heads_kv, _, head_dim = k_cache.shape
        self.k_min = torch.zeros((num_pages, heads_kv, head_dim), dtype=k_cache.dtype,
                                 device=k_cache.device)
        self.k_max = torch.zeros_like(self.k_min)

    # -- description ------------------------------------------------------------------------

    batch_size = property(lambda self: self._alloc.batch_size)
    page_size = property(lambda self: self._alloc.page_size)
    max_pages = property(lambda self: self._alloc.max_pages_per_seq)
    max_seqlen = property(lambda self: self._alloc.max_seqlen)
    num_pages = property(lambda self: self._alloc.num_pages)
    num_free_pages = property(lambda self: self._alloc.num_free_pages)
    heads_kv = property(lambda self: self.k_cache.shape[1])
    head_dim = property(lambda self: self.k_cache.shape[3])
    dtype = property(lambda self: self.k_cache.dtype)
    device = property(lambda self: self.k_cache.device)

    @property
    def lengths(self):
        """Host mirror of the lengths (a copy). After appends with device-side new_lens it is an
        upper bound (``lengths_exact`` False) until ``sync_lengths``."""
        return list(self._alloc.lengths)

    @property
    def lengths_exact(self):
        return self._exact

    # -- page bookkeeping -------------------------------------------------------------------

    def reserve(self, num_tokens, seqs=None):
        """Maps pages so that each sequence (all, or those in `seqs`) can grow by num_tokens
        tokens with no page-table upload: do it before capturing decode steps in a CUDA graph."""
        if not isinstance(num_tokens, int) or num_tokens < 0:
            raise ValueError(f"PagedKVCache.reserve: num_tokens must be an int >= 0, got "
                             f"{num_tokens!r}")
        seqs = range(self.batch_size) if seqs is None else [self._seq(s) for s in seqs]
        self._map([(s, self._alloc.lengths[s] + num_tokens) for s in seqs])

    def release(self, seq):
        """Empties sequence `seq` (length 0) and returns its pages to the free list."""
        seq = self._seq(seq)
        self._alloc.release(seq)
        self.page_table[seq].fill_(-1)
        self.seqlens[seq].fill_(0)

    def sync_lengths(self):
        """Copies the device lengths to the host mirror (synchronizes); use after appends with
        device-side new_lens or after replaying captured steps."""
        for b, n in enumerate(self.seqlens.cpu().tolist()):
            self._alloc.lengths[b] = n
        self._exact = True

    def advance_host_lengths(self, num_tokens):
        """Tells the host mirror that every sequence grew by num_tokens on the device without it
        (replays of a captured append of num_tokens tokens). Pages must have been reserved."""
        for b in range(self.batch_size):
            if self._alloc.lengths[b] + num_tokens > self._alloc.capacity(b):
                raise ValueError(f"PagedKVCache.advance_host_lengths: sequence {b} has no "
                                 f"reserved pages for {num_tokens} more tokens")
            self._alloc.grow(b, num_tokens)

    def _seq(self, s):
        if not isinstance(s, (int, np.integer)) or not 0 <= s < self.batch_size:
            raise ValueError(f"PagedKVCache: sequence index must be in [0, {self.batch_size}), "
                             f"got {s!r}")
        return int(s)

    def _map(self, wants):
        """Maps pages for (seq, length) pairs and uploads the changed page-table rows (also
        those mapped before an error, so host and device tables always agree)."""
        if all(length <= self._alloc.capacity(s) for s, length in wants):
            return
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("PagedKVCache: new pages are needed while a CUDA graph is being "
                               "captured; call reserve() before capturing")
        changed = []
        try:
            for s, length in wants:
                if self._alloc.ensure(s, length):
                    changed.append(s)
        finally:
            if changed:
                rows = torch.from_numpy(self._alloc.table[changed])
                self.page_table[changed] = rows.to(self.device)

    # -- append -----------------------------------------------------------------------------

    def append(self, k_new, v_new, new_lens=None):
        """Appends k_new, v_new [B, Hkv, T, D] (the cache's dtype and device; any strides with a
        contiguous head_dim) to every sequence: T tokens each, or new_lens[b] <= T.

        new_lens: None; host ints (list, tuple, NumPy array or CPU tensor): the mirror stays
        exact; or an int32 CUDA tensor [B]: the mirror then assumes T tokens (an upper bound,
        used to map pages) until ``sync_lengths``. Pages are mapped as needed (a page-table
        upload, so not while capturing a graph unless ``reserve`` mapped them). The device
        lengths advance in the op itself; no synchronization."""
        torch = require_torch("PagedKVCache.append")
        B, Hkv, D = self.batch_size, self.heads_kv, self.head_dim
        for name, t in (("k_new", k_new), ("v_new", v_new)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"PagedKVCache.append: {name} must be a torch.Tensor, got "
                                f"{type(t).__name__}")
            if t.dtype != self.dtype:
                raise TypeError(f"PagedKVCache.append: {name} must have the cache's dtype "
                                f"{self.dtype}, got {t.dtype}")
            if t.device != self.device:
                raise ValueError(f"PagedKVCache.append: {name} must be on the cache's device "
                                 f"{self.device}, got {t.device}")
            if t.dim() != 4 or t.shape[0] != B or t.shape[1] != Hkv or t.shape[3] != D:
                raise ValueError(f"PagedKVCache.append: {name} must be [B={B}, Hkv={Hkv}, T, "
                                 f"D={D}], got {list(t.shape)}")
        if v_new.shape != k_new.shape:
            raise ValueError(f"PagedKVCache.append: v_new must have k_new's shape "
                             f"{list(k_new.shape)}, got {list(v_new.shape)}")
        T = k_new.shape[2]
        device_lens = None
        if new_lens is None:
            counts, exact = [T] * B, True
        elif isinstance(new_lens, torch.Tensor) and new_lens.device.type == "cuda":
            if new_lens.dtype != torch.int32 or new_lens.shape != (B,):
                raise ValueError(f"PagedKVCache.append: new_lens must be an int32 tensor [{B}], "
                                 f"got {new_lens.dtype} {list(new_lens.shape)}")
            if new_lens.device != self.device:
                raise ValueError(f"PagedKVCache.append: new_lens must be on {self.device}")
            counts, exact, device_lens = [T] * B, False, new_lens.contiguous()
        else:
            counts = [int(n) for n in np.asarray(
                new_lens.cpu() if isinstance(new_lens, torch.Tensor) else new_lens).reshape(-1)]
            if len(counts) != B or any(not 0 <= n <= T for n in counts):
                raise ValueError(f"PagedKVCache.append: new_lens must hold {B} values in [0, "
                                 f"T = {T}], got {counts}")
            exact = True
            if any(n != T for n in counts):
                device_lens = torch.tensor(counts, dtype=torch.int32).to(self.device)
        if T == 0:
            return
        self._map([(b, self._alloc.lengths[b] + counts[b]) for b in range(B)])
        torch.ops.triageattention.paged_kv_append(
            self.k_cache, self.v_cache, self.k_min, self.k_max, self.page_table, self.seqlens,
            k_new, v_new, device_lens)
        if not torch.cuda.is_current_stream_capturing():  # a capture runs nothing yet
            for b in range(B):
                self._alloc.grow(b, counts[b])
            self._exact = self._exact and exact


def sparse_decode(q, cache, topk, sink_pages=1, scale=None, return_lse=False):
    """Decode of the new tokens q [B, Hq, Sq, D] (Sq 1..8, already appended to `cache`) over
    the top-k pages of each (sequence, kv head).

    Token t of sequence b sits at position len_b - Sq + t and sees keys j <= that position.
    Pages are scored by the Quest bound sum_d max(q_d k_min_d, q_d k_max_d), the max over the
    group's query heads and the Sq tokens; the first sink_pages pages and the last page are
    always kept (they count toward topk); ties go to the lower page. topk >= cache.max_pages is
    dense decode (equal to dense attention). GQA: Hq a multiple of Hkv.

    Returns out like q (or (out, lse [B, Hq, Sq] float32) with return_lse); rows that see no key
    get out = 0 and lse = -inf. Raises ValueError when the host mirror shows a sequence with
    fewer than Sq tokens (an empty sequence cannot be decoded). Runs on the current stream,
    never synchronizes, is deterministic and CUDA-graph capturable.
    """
    torch = require_torch("sparse_decode")
    fn = "sparse_decode"
    if not isinstance(cache, PagedKVCache):
        raise TypeError(f"{fn}: cache must be a PagedKVCache, got {type(cache).__name__}")
    if not isinstance(q, torch.Tensor):
        raise TypeError(f"{fn}: q must be a torch.Tensor, got {type(q).__name__}")
    if q.dtype != cache.dtype:
        raise TypeError(f"{fn}: q must have the cache's dtype {cache.dtype}, got {q.dtype}")
    if q.device != cache.device:
        raise ValueError(f"{fn}: q must be on the cache's device {cache.device}, got {q.device}")
    if q.dim() != 4 or q.shape[0] != cache.batch_size or q.shape[3] != cache.head_dim:
        raise ValueError(f"{fn}: q must be [B={cache.batch_size}, Hq, Sq, D={cache.head_dim}], "
                         f"got {list(q.shape)}")
    B, Hq, Sq, _ = q.shape
    if Hq % cache.heads_kv != 0:
        raise ValueError(f"{fn}: heads_q ({Hq}) must be a multiple of heads_kv "
                         f"({cache.heads_kv}) for GQA/MQA")
    if not 1 <= Sq <= MAX_NEW_TOKENS:
        raise ValueError(f"{fn}: q must hold 1 to {MAX_NEW_TOKENS} new tokens per sequence "
                         f"(dim 2), got {Sq}")
    if not isinstance(topk, (int, np.integer)) or isinstance(topk, bool) or topk < 1:
        raise ValueError(f"{fn}: topk must be an int >= 1, got {topk!r}")
    if not isinstance(sink_pages, (int, np.integer)) or isinstance(sink_pages, bool) or \
            sink_pages < 0:
        raise ValueError(f"{fn}: sink_pages must be an int >= 0, got {sink_pages!r}")
    scale = _scale_arg(scale, fn)
    for b, n in enumerate(cache.lengths):
        if n < Sq:
            what = "is empty" if n == 0 else f"holds {n} token(s)"
            raise ValueError(f"{fn}: sequence {b} {what}, fewer than the {Sq} new query "
                             "token(s); append the new tokens' K/V before decoding")
    out, lse = torch.ops.triageattention.sparse_decode(
        q, cache.k_cache, cache.v_cache, cache.k_min, cache.k_max, cache.page_table,
        cache.seqlens, int(min(topk, cache.max_pages)), int(sink_pages), float(scale),
        bool(return_lse))
    return (out, lse) if return_lse else out


def select_decode_pages(q, cache, topk, sink_pages=1):
    """The pages sparse_decode visits: (indices [B, Hkv, max_pages] int32 ascending, padded with
    -1; counts [B, Hkv] int32; scores [B, Hkv, max_pages] float32, undefined for pages without
    valid tokens). Same arguments as sparse_decode."""
    require_torch("select_decode_pages")
    return torch.ops.triageattention.select_decode_pages(
        q, cache.k_cache, cache.v_cache, cache.k_min, cache.k_max, cache.page_table,
        cache.seqlens, int(topk), int(sink_pages))


def _check_layout(torch, page_size, head_dim, dtype):
    if page_size not in PAGE_SIZES:
        raise ValueError(f"PagedKVCache: page_size must be one of {PAGE_SIZES}, got {page_size}")
    if head_dim not in HEAD_DIMS:
        raise ValueError(f"PagedKVCache: head_dim must be one of {HEAD_DIMS}, got {head_dim}")
    if dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"PagedKVCache: dtype must be torch.float16 or torch.bfloat16, got {dtype}")
