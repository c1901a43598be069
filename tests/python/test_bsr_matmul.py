"""bsr_matmul and the compiled core.

CPU tests run everywhere (no GPU, no torch needed). GPU tests (marked `gpu`) compare against a
float64 dense reference built independently of the kernels, and pass when our error is at most
2x that of PyTorch's own dense product in the same dtype (plus a tiny floor).
"""

import importlib.metadata
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import triageattention
from triageattention import _C, bsr_matmul

try:
    import torch
except ImportError:
    torch = None

gpu = pytest.mark.gpu
BLOCK_SIZES = (16, 32, 64, 128)


# ---------------------------------------------------------------------------------------------
# CPU: package, compiled-core errors, CPU reference
# ---------------------------------------------------------------------------------------------


def test_version_matches_metadata():
    assert triageattention.__version__ == importlib.metadata.version("triageattention")


def test_import_and_error_without_torch():
    # sys.modules["torch"] = None makes `import torch` fail, as on a machine without torch.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import triageattention\n"
        "try:\n"
        "    triageattention.bsr_matmul(None, None)\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ImportError: triageattention.bsr_matmul needs PyTorch" in result.stdout


def test_cuda_device_count_is_an_int():
    count = _C.cuda_device_count()
    assert isinstance(count, int) and count >= 0


def _host_problem(rng, general):
    bs, rows, k_blocks, N = 16, 2, 3, 24
    values = rng.standard_normal((rows, bs, bs)).astype(np.float16)
    B = rng.standard_normal((k_blocks * bs, N)).astype(np.float16)
    C = np.empty((rows * bs, N), dtype=np.float16)
    crow = np.array([0, 1, 2], dtype=np.int32) if general else None
    col = np.array([0, 2], dtype=np.int32) if general else np.array([[0], [2]], dtype=np.int32)
    return crow, col, values, B, C, rows * bs, k_blocks * bs


@pytest.mark.parametrize("general", [False, True])
def test_bsr_gemm_rejects_host_arrays(rng, general):
    crow, col, values, B, C, M, K = _host_problem(rng, general)
    with pytest.raises(ValueError, match="must be on a CUDA device, got cpu"):
        _C.bsr_gemm(crow, col, values, B, C, M, K, 1.0, 0.0, None, 0)


def test_bsr_gemm_is_built():
    assert isinstance(_C.bsr_gemm_is_built("bfloat16", "float32", 64), bool)
    assert not _C.bsr_gemm_is_built("float32", "float32", 64)
    assert not _C.bsr_gemm_is_built("bfloat16", "bfloat16", 8)
    with pytest.raises(ValueError, match="input_dtype must be 'float16', 'bfloat16' or 'float32'"):
        _C.bsr_gemm_is_built("float8", "float32", 64)


def test_workspace_bytes():
    assert _C.bsr_gemm_workspace_bytes(4096, 64, False) == 0  # fixed form: no workspace
    assert _C.bsr_gemm_workspace_bytes(64, 64, True) == 0  # a single block-row needs no order
    assert _C.bsr_gemm_workspace_bytes(0, 16, True) == 0
    with pytest.raises(ValueError, match="block_size must be 16, 32, 64 or 128"):
        _C.bsr_gemm_workspace_bytes(4096, 48, True)
    with pytest.raises(ValueError, match="multiple of block_size"):
        _C.bsr_gemm_workspace_bytes(100, 64, True)
    if _C.cuda_device_count() == 0:
        # The general form's size comes from a CUB query, which needs a device.
        with pytest.raises(RuntimeError):
            _C.bsr_gemm_workspace_bytes(4096, 64, True)
    else:
        small = _C.bsr_gemm_workspace_bytes(4096, 64, True)
        large = _C.bsr_gemm_workspace_bytes(65536, 16, True)
        assert 0 < small < large
        assert large >= 4 * 4 * (65536 // 16)  # at least four int arrays over the block-rows


def _dense_from_bsr(crow, col, values, M, K):
    """float64 dense A, skipping blocks whose column lies outside [0, K/bs)."""
    bs = values.shape[1]
    dense = np.zeros((M, K))
    for r in range(M // bs):
        for j in range(crow[r], crow[r + 1]):
            c = col[j]
            if 0 <= c < K // bs:
                dense[r * bs:(r + 1) * bs, c * bs:(c + 1) * bs] += values[j]
    return dense


def test_reference_matches_numpy(rng):
    bs, rows, k_blocks, N = 16, 7, 5, 37
    counts = rng.integers(0, k_blocks + 1, rows)
    counts[[1, 6]] = 0  # empty block-rows, the last one included
    counts[2] = k_blocks + 3  # a full row, plus out-of-range columns
    # Columns drawn from [-1, k_blocks + 2): -1, k_blocks and k_blocks + 1 are skipped.
    col = np.concatenate([np.sort(rng.choice(np.arange(-1, k_blocks + 2), n, replace=False))
                          for n in counts]).astype(np.int64)
    crow = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    values = rng.standard_normal((len(col), bs, bs), dtype=np.float32)
    wide = rng.standard_normal((k_blocks * bs, N + 5), dtype=np.float32)
    B = wide[:, :N]  # row stride N + 5: leading dimensions are honoured
    C0 = rng.standard_normal((rows * bs, N), dtype=np.float32)
    C = C0.copy()
    _C.reference_bsr_gemm(crow, col, values, B, C, 0.5, -2.0)

    expected = 0.5 * _dense_from_bsr(crow, col, values, rows * bs, k_blocks * bs) @ B - 2.0 * C0
    scale = np.abs(expected).max()
    np.testing.assert_allclose(C, expected, rtol=1e-6, atol=1e-6 * scale)


def test_reference_fixed_form_ignores_C_when_beta_is_zero(rng):
    bs, rows, k_blocks, topk, N = 32, 4, 6, 3, 20
    col = np.sort(np.argsort(rng.random((rows, k_blocks)), axis=1)[:, :topk], axis=1)
    values = rng.standard_normal((rows * topk, bs, bs), dtype=np.float32)
    B = rng.standard_normal((k_blocks * bs, N), dtype=np.float32)
    C = np.full((rows * bs, N), np.nan, dtype=np.float32)
    _C.reference_bsr_gemm(None, col, values, B, C, 1.0, 0.0)  # int32 -> int64 is converted

    crow = np.arange(rows + 1) * topk
    expected = _dense_from_bsr(crow, col.reshape(-1), values, rows * bs, k_blocks * bs) @ B
    np.testing.assert_allclose(C, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize(
    "crow, message",
    [([0, 2, 1, 3], "non-decreasing"), ([0, 1, 2, 2], "from 0 to nnzb"), ([1, 1, 2, 3], "from 0")],
)
def test_reference_rejects_bad_crow(rng, crow, message):
    values = rng.standard_normal((3, 16, 16), dtype=np.float32)
    B = rng.standard_normal((48, 8), dtype=np.float32)
    C = np.zeros((48, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        _C.reference_bsr_gemm(np.array(crow), np.array([0, 1, 2]), values, B, C, 1.0, 0.0)


def test_reference_rejects_output_of_wrong_dtype(rng):
    values = rng.standard_normal((1, 16, 16), dtype=np.float32)
    B = rng.standard_normal((16, 8), dtype=np.float32)
    C = np.zeros((16, 8))  # float64: writing into a converted copy would lose the result
    with pytest.raises(TypeError):
        _C.reference_bsr_gemm(np.array([0, 1]), np.array([0]), values, B, C, 1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# GPU helpers
# ---------------------------------------------------------------------------------------------


def require_kernel(dtype, out_dtype, bs):
    names = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}
    if not _C.bsr_gemm_is_built(names[dtype], names[out_dtype], bs):
        pytest.skip(f"this build has no {names[dtype]} -> {names[out_dtype]} kernel for block "
                    f"size {bs} (configured with TRIAGEATTENTION_DTYPES/BLOCK_SIZES)")


def random_general(gen, rows, k_blocks, bs, dtype):
    """torch.sparse_bsr A (int64 indices) with empty block-rows, one full block-row, rest random."""
    mask = torch.rand((rows, k_blocks), generator=gen, device="cuda") < 0.35
    mask[1] = False
    mask[-1] = False
    mask[2] = True
    dense = torch.randn((rows * bs, k_blocks * bs), generator=gen, device="cuda", dtype=dtype)
    dense *= mask.repeat_interleave(bs, 0).repeat_interleave(bs, 1)
    return dense.to_sparse_bsr(bs)


def random_fixed(gen, rows, k_blocks, bs, dtype, topk):
    """(None, col int32 [rows, topk] ascending, values) of the fixed top-k form."""
    col = torch.rand((rows, k_blocks), generator=gen, device="cuda").argsort(dim=1)[:, :topk]
    col = col.sort(dim=1).values.to(torch.int32)
    values = torch.randn((rows * topk, bs, bs), generator=gen, device="cuda", dtype=dtype)
    return None, col, values


def random_pattern(rng, rows, k_blocks, nnzb):
    """General-form (crow, col) int32 CUDA tensors with exactly nnzb blocks placed at random."""
    mask = np.zeros(rows * k_blocks, dtype=bool)
    mask[rng.choice(rows * k_blocks, nnzb, replace=False)] = True
    mask = mask.reshape(rows, k_blocks)
    crow = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    col = np.nonzero(mask)[1]
    return tuple(torch.from_numpy(a.astype(np.int32)).cuda() for a in (crow, col))


def parts(A):
    if isinstance(A, torch.Tensor):
        return A.crow_indices(), A.col_indices(), A.values()
    return A


def densify(A, M, K, dtype):
    """Dense [M, K] A in dtype, built with index_put from the BSR parts (skips columns out of range)."""
    crow, col, values = parts(A)
    bs = values.shape[1]
    rows, k_blocks = M // bs, K // bs
    if crow is None:
        row = torch.arange(rows, device="cuda").repeat_interleave(col.shape[1])
    else:
        row = torch.arange(rows, device="cuda").repeat_interleave(crow.diff())
    col = col.reshape(-1).long()
    keep = (col >= 0) & (col < k_blocks)
    blocks = torch.zeros((rows, k_blocks, bs, bs), dtype=dtype, device="cuda")
    blocks.index_put_((row[keep], col[keep]), values[keep].to(dtype), accumulate=True)
    return blocks.transpose(1, 2).reshape(M, K)


def torch_baseline(Ad, B, C0, alpha, beta, out_dtype):
    """The same product computed by PyTorch (cuBLAS) in the input dtype, with out_dtype output."""
    if out_dtype == Ad.dtype:
        C = C0 if C0 is not None else torch.empty((Ad.shape[0], B.shape[1]), dtype=out_dtype,
                                                  device="cuda")
        return torch.addmm(C, Ad, B, beta=beta, alpha=alpha)
    product = alpha * torch.mm(Ad, B, out_dtype=torch.float32)
    return product if C0 is None else product + beta * C0


def assert_matches(out, ref, baseline, what):
    assert torch.isfinite(out).all(), f"{what}: the output holds NaN or inf"
    err = (out.double() - ref).abs()
    # NOTE: the floor (8 float32 ulps of the largest output) matters only for float32 outputs:
    # cuBLAS may split K on small problems, which can put its float32 error below that of any
    # single-pass float32 accumulation.
    allowed = 2 * (baseline.double() - ref).abs().max().item() + 2**-20 * ref.abs().max().item()
    worst = err.max().item()
    if worst > allowed:
        i, j = np.unravel_index(err.argmax().item(), err.shape)
        pytest.fail(f"{what}: max error {worst:.3e} > allowed {allowed:.3e} (2x torch's + floor); "
                    f"worst at ({i}, {j}): ours {out[i, j].item()}, reference {ref[i, j].item()}")


def poison_allocator(shape, dtype):
    """Leaves a NaN-filled block in the caching allocator, which the next result of this size
    is likely to reuse: elements the kernel fails to write then show up as NaN."""
    torch.full(shape, float("nan"), dtype=dtype, device="cuda")


# ---------------------------------------------------------------------------------------------
# GPU: correctness
# ---------------------------------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("N", [200, 320, 1000, 999])
@pytest.mark.parametrize("out_kind", ["same", "float32"])
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize("bs", BLOCK_SIZES)
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_matches_float64_reference(gen, form, bs, dtype_name, out_kind, N):
    dtype = getattr(torch, dtype_name)
    out_dtype = dtype if out_kind == "same" else torch.float32
    require_kernel(dtype, out_dtype, bs)
    rows, k_blocks = 10, 12
    M, K = rows * bs, k_blocks * bs
    if form == "general":  # a torch.sparse_bsr tensor, int64 indices, passed as is
        A = random_general(gen, rows, k_blocks, bs, dtype)
    else:
        A = random_fixed(gen, rows, k_blocks, bs, dtype, topk=5)
    B = torch.randn((K, N), generator=gen, device="cuda", dtype=dtype)  # N = 999: copy path
    Ad = densify(A, M, K, dtype)
    ref = densify(A, M, K, torch.float64) @ B.double()
    baseline = torch_baseline(Ad, B, None, 1.0, 0.0, out_dtype)

    poison_allocator((M, N), out_dtype)
    out = bsr_matmul(A, B, out_dtype=out_dtype)
    assert out.shape == (M, N) and out.dtype == out_dtype
    assert_matches(out, ref, baseline, f"{form} bs={bs} {dtype_name}->{out_dtype} N={N}")

    into = torch.full((M, N), float("nan"), dtype=out_dtype, device="cuda")
    assert bsr_matmul(A, B, out=into) is into
    assert torch.equal(into, out)


@gpu
@pytest.mark.parametrize("bs", [16, 64])
@pytest.mark.parametrize("out_kind", ["same", "float32"])
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_alpha_beta(gen, form, dtype_name, out_kind, bs):
    dtype = getattr(torch, dtype_name)
    out_dtype = dtype if out_kind == "same" else torch.float32
    require_kernel(dtype, out_dtype, bs)
    rows, k_blocks, N = 9, 7, 200
    M, K = rows * bs, k_blocks * bs
    if form == "general":
        A = random_general(gen, rows, k_blocks, bs, dtype)
    else:
        A = random_fixed(gen, rows, k_blocks, bs, dtype, topk=3)
    B = torch.randn((K, N), generator=gen, device="cuda", dtype=dtype)
    C0 = torch.randn((M, N), generator=gen, device="cuda", dtype=out_dtype)
    alpha, beta = 0.75, -1.5

    out = C0.clone()
    assert bsr_matmul(A, B, out=out, alpha=alpha, beta=beta) is out
    ref = alpha * (densify(A, M, K, torch.float64) @ B.double()) + beta * C0.double()
    baseline = torch_baseline(densify(A, M, K, dtype), B, C0, alpha, beta, out_dtype)
    assert_matches(out, ref, baseline, f"{form} {dtype_name}->{out_dtype} alpha/beta")


@gpu
def test_index_dtypes_and_forms_agree(gen):
    """int64 and int32 indices, and a fixed pattern given in the general form, give one result."""
    bs, rows, k_blocks, topk, N = 32, 8, 6, 4, 256
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    _, col, values = random_fixed(gen, rows, k_blocks, bs, torch.bfloat16, topk)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.bfloat16)
    crow = torch.arange(0, rows * topk + 1, topk, device="cuda", dtype=torch.int32)
    fixed = bsr_matmul((None, col, values), B)
    assert torch.equal(fixed, bsr_matmul((None, col.long(), values), B))
    assert torch.equal(fixed, bsr_matmul((crow, col.reshape(-1), values), B))
    assert torch.equal(fixed, bsr_matmul((crow.long(), col.reshape(-1).long(), values), B))


@gpu
def test_out_of_range_columns_are_skipped(gen):
    bs, k_blocks, N = 64, 6, 128
    require_kernel(torch.float16, torch.float32, bs)
    crow = torch.tensor([0, 3, 3, 7, 8], device="cuda", dtype=torch.int32)
    col = torch.tensor([-1, 0, 3, 1, 5, 6, 100, 2], device="cuda", dtype=torch.int32)
    values = torch.randn((8, bs, bs), generator=gen, device="cuda", dtype=torch.float16)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.float16)
    A = (crow, col, values)
    M, K = 4 * bs, k_blocks * bs

    out = bsr_matmul(A, B, out_dtype=torch.float32)
    ref = densify(A, M, K, torch.float64) @ B.double()
    baseline = torch_baseline(densify(A, M, K, torch.float16), B, None, 1.0, 0.0, torch.float32)
    assert_matches(out, ref, baseline, "out-of-range columns")
    with pytest.raises(ValueError, match=r"col_indices must lie in \[0, K/bs = 6\), got -1"):
        bsr_matmul(A, B, validate=True)


@gpu
@pytest.mark.parametrize(
    "crow, col, message",
    [
        ([0, 2, 4], [0, 1, 3, 2], "strictly ascending within each block-row, but block-row 1"),
        ([0, 2, 4], [1, 1, 0, 2], "strictly ascending within each block-row, but block-row 0"),
        ([0, 3, 1, 4], [0, 1, 2, 3], "non-decreasing, but they drop after block-row 1"),
        ([0, 2, 3], [0, 1, 2, 3], "must run from 0 to nnzb = 4"),
        (None, [[0, 2], [3, 3]], "strictly ascending within each block-row, but block-row 1"),
    ],
)
def test_validate_reports_bad_patterns(gen, crow, col, message):
    bs = 64
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    col = torch.tensor(col, device="cuda")
    crow = None if crow is None else torch.tensor(crow, device="cuda")
    values = torch.randn((col.numel(), bs, bs), generator=gen, device="cuda",
                         dtype=torch.bfloat16)
    B = torch.randn((4 * bs, 64), generator=gen, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match=message):
        bsr_matmul((crow, col, values), B, validate=True)


@gpu
def test_validate_accepts_good_patterns(gen):
    bs = 64
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    A = random_general(gen, 6, 5, bs, torch.bfloat16)
    B = torch.randn((5 * bs, 64), generator=gen, device="cuda", dtype=torch.bfloat16)
    assert torch.equal(bsr_matmul(A, B, validate=True), bsr_matmul(A, B))
    fixed = random_fixed(gen, 6, 5, bs, torch.bfloat16, topk=2)
    assert torch.equal(bsr_matmul(fixed, B, validate=True), bsr_matmul(fixed, B))


@gpu
def test_strided_and_misaligned_views(gen):
    bs, rows, k_blocks, N = 64, 5, 4, 256
    require_kernel(torch.bfloat16, torch.float32, bs)
    M, K = rows * bs, k_blocks * bs
    A = random_fixed(gen, rows, k_blocks, bs, torch.bfloat16, topk=2)
    B = torch.randn((K, N), generator=gen, device="cuda", dtype=torch.bfloat16)
    expected = bsr_matmul(A, B, out_dtype=torch.float32)

    shifted = torch.empty((K, N + 1), device="cuda", dtype=torch.bfloat16)[:, 1:]  # misaligned
    shifted.copy_(B)
    column_major = B.t().contiguous().t()
    padded = torch.empty((K, N + 64), device="cuda", dtype=torch.bfloat16)[:, :N]  # ldb > N
    padded.copy_(B)
    for view in (shifted, column_major, padded):
        assert torch.equal(bsr_matmul(A, view, out_dtype=torch.float32), expected)

    wide_out = torch.full((M, N + 40), float("nan"), device="cuda")
    out = wide_out[:, :N]  # ldc > N; the extra columns must stay untouched
    bsr_matmul(A, B, out=out)
    assert torch.equal(out, expected)
    assert wide_out[:, N:].isnan().all()


# ---------------------------------------------------------------------------------------------
# GPU: determinism, CUDA graphs, torch.compile, multi-device
# ---------------------------------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_bitwise_deterministic(gen, form):
    bs, rows, k_blocks, N = 16, 64, 48, 1000
    require_kernel(torch.bfloat16, torch.float32, bs)
    if form == "general":
        A = random_general(gen, rows, k_blocks, bs, torch.bfloat16)
    else:
        A = random_fixed(gen, rows, k_blocks, bs, torch.bfloat16, topk=12)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.bfloat16)
    first = bsr_matmul(A, B, out_dtype=torch.float32)
    for _ in range(100):
        assert torch.equal(bsr_matmul(A, B, out_dtype=torch.float32), first)


@gpu
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_cuda_graph_replay_matches_eager(gen, seed, form, capture_graph):
    bs, rows, k_blocks, N, nnzb = 32, 12, 10, 999, 40  # N = 999 captures the copy of B too
    require_kernel(torch.float16, torch.float16, bs)
    rng = np.random.default_rng(seed)
    if form == "general":
        crow, col = random_pattern(rng, rows, k_blocks, nnzb)
    else:
        crow, col, _ = random_fixed(gen, rows, k_blocks, bs, torch.float16, topk=nnzb // rows)
    values = torch.randn((col.numel(), bs, bs), generator=gen, device="cuda", dtype=torch.float16)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.float16)
    acc = torch.randn((rows * bs, N), generator=gen, device="cuda", dtype=torch.float16)
    A = (crow, col, values)

    def step():
        product = bsr_matmul(A, B, alpha=0.5)
        bsr_matmul(A, B, out=acc, alpha=1.0, beta=0.5)
        return product

    graph, captured = capture_graph(step)

    for _ in range(3):  # new pattern, values, B and accumulator before each replay
        if form == "general":
            new_crow, new_col = random_pattern(rng, rows, k_blocks, nnzb)
            crow.copy_(new_crow)
        else:
            _, new_col, _ = random_fixed(gen, rows, k_blocks, bs, torch.float16, col.shape[1])
        col.copy_(new_col)
        values.normal_(generator=gen)
        B.normal_(generator=gen)
        acc_in = torch.randn(acc.shape, generator=gen, device="cuda", dtype=acc.dtype)
        acc.copy_(acc_in)
        graph.replay()
        eager_acc = acc_in.clone()
        expected = bsr_matmul(A, B, alpha=0.5)
        bsr_matmul(A, B, out=eager_acc, alpha=1.0, beta=0.5)
        assert torch.equal(captured, expected)
        assert torch.equal(acc, eager_acc)


@gpu
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_torch_compile_fullgraph(gen, form):
    bs, rows, k_blocks, N = 64, 6, 5, 200
    require_kernel(torch.bfloat16, torch.float32, bs)
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    if form == "general":  # clones: torch.compile cannot trace views of a sparse tensor
        crow, col, values = (t.clone() for t in parts(
            random_general(gen, rows, k_blocks, bs, torch.bfloat16)))
    else:
        crow, col, values = random_fixed(gen, rows, k_blocks, bs, torch.bfloat16, topk=2)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.bfloat16)
    C = torch.randn((rows * bs, N), generator=gen, device="cuda", dtype=torch.bfloat16)

    def f(crow, col, values, B, C):
        y = bsr_matmul((crow, col, values), B, out_dtype=torch.float32)
        bsr_matmul((crow, col, values), B, out=C, alpha=2.0, beta=0.5)
        return y, y.relu() * 2, C

    compiled = torch.compile(f, fullgraph=True)
    C_compiled, C_eager = C.clone(), C.clone()
    got = compiled(crow, col, values, B, C_compiled)
    want = f(crow, col, values, B, C_eager)
    assert torch.equal(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert torch.equal(got[2], want[2])
    assert torch.equal(C_compiled, C_eager)  # updated in place under compile too


@gpu
@pytest.mark.parametrize("form", ["general", "fixed"])
def test_opcheck(gen, form):
    bs, rows, k_blocks, N = 64, 4, 3, 96
    require_kernel(torch.float16, torch.float32, bs)
    if form == "general":  # clones: fake tensors cannot be made from views of a sparse tensor
        crow, col, values = (t.clone() for t in parts(
            random_general(gen, rows, k_blocks, bs, torch.float16)))
    else:
        crow, col, values = random_fixed(gen, rows, k_blocks, bs, torch.float16, topk=2)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.float16)
    C = torch.randn((rows * bs, N), generator=gen, device="cuda", dtype=torch.float32)
    torch.library.opcheck(torch.ops.triageattention.bsr_matmul.default,
                          (crow, col, values, B, 1.5, torch.float32))
    torch.library.opcheck(torch.ops.triageattention.bsr_matmul_accumulate.default,
                          (crow, col, values, B, C, 1.0, 0.5))


@gpu
def test_tensors_on_a_non_current_device(gen):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    bs = 64
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    A = random_general(gen, 6, 4, bs, torch.bfloat16)
    B = torch.randn((4 * bs, 128), generator=gen, device="cuda", dtype=torch.bfloat16)
    expected = bsr_matmul(A, B)
    with torch.cuda.device(0):
        out = bsr_matmul(A.to("cuda:1"), B.to("cuda:1"))
        assert torch.cuda.current_device() == 0
    assert out.device == torch.device("cuda:1")
    assert torch.equal(out.cpu(), expected.cpu())


# ---------------------------------------------------------------------------------------------
# GPU: argument errors
# ---------------------------------------------------------------------------------------------


def _error_problem(gen):
    bs, rows, k_blocks, N = 64, 3, 4, 128
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    A = random_general(gen, rows, k_blocks, bs, torch.bfloat16)
    crow, col, values = parts(A)
    B = torch.randn((k_blocks * bs, N), generator=gen, device="cuda", dtype=torch.bfloat16)
    return SimpleNamespace(A=A, crow=crow, col=col, values=values, B=B, bs=bs, M=rows * bs,
                           K=k_blocks * bs, N=N)


def _empty(*shape):
    return torch.empty(shape, device="cuda", dtype=torch.bfloat16)


ARGUMENT_ERRORS = {
    "host tensors": (lambda p: bsr_matmul((p.crow.cpu(), p.col.cpu(), p.values.cpu()), p.B.cpu()),
                     ValueError, "must be on a CUDA device, got cpu"),
    "mixed devices": (lambda p: bsr_matmul((p.crow, p.col, p.values), p.B.cpu()),
                      ValueError, "one CUDA device"),
    "float32 values": (lambda p: bsr_matmul((p.crow, p.col, p.values.float()), p.B.float()),
                       TypeError, "values must be float16 or bfloat16"),
    "B dtype": (lambda p: bsr_matmul(p.A, p.B.half()), TypeError, "B must have A's dtype"),
    "block size 8": (lambda p: bsr_matmul((p.crow, p.col, p.values[:, :8, :8].contiguous()), p.B),
                     ValueError, r"block size must be one of \(16, 32, 64, 128\), got 8"),
    "strided blocks": (lambda p: bsr_matmul((p.crow, p.col, p.values.transpose(1, 2)), p.B),
                       ValueError, "contiguous"),
    "block count": (lambda p: bsr_matmul((p.crow, p.col[:-1], p.values), p.B),
                    ValueError, "value blocks"),
    "index dtypes": (lambda p: bsr_matmul((p.crow.int(), p.col, p.values), p.B),
                     TypeError, "share a dtype"),
    "float indices": (lambda p: bsr_matmul((p.crow, p.col.float(), p.values), p.B),
                      TypeError, "int32 or int64"),
    "1-D col without crow": (lambda p: bsr_matmul((None, p.col, p.values), p.B),
                             ValueError, "fixed top-k form"),
    "numpy values": (lambda p: bsr_matmul((p.crow, p.col, p.values.float().cpu().numpy()), p.B),
                     TypeError, "values must be a torch.Tensor"),
    "string A": (lambda p: bsr_matmul("A", p.B), TypeError, "sparse_bsr tensor or a"),
    "dense A": (lambda p: bsr_matmul(p.A.to_dense(), p.B), TypeError, "layout torch.strided"),
    "K mismatch": (lambda p: bsr_matmul(p.A, p.B[: p.K - p.bs]), ValueError, "but B has 192 rows"),
    "K not a multiple": (lambda p: bsr_matmul((p.crow, p.col, p.values), p.B[:-1]),
                         ValueError, "positive multiple"),
    "numpy B": (lambda p: bsr_matmul(p.A, p.B.float().cpu().numpy()),
                TypeError, "B must be a torch.Tensor"),
    "beta without out": (lambda p: bsr_matmul(p.A, p.B, beta=1.0),
                         ValueError, "beta != 0 needs out"),
    "tensor alpha": (lambda p: bsr_matmul(p.A, p.B, alpha=torch.tensor(2.0)),
                     TypeError, "Python numbers"),
    "out_dtype float16": (lambda p: bsr_matmul(p.A, p.B, out_dtype=torch.float16),
                          TypeError, "result must be"),
    "out shape": (lambda p: bsr_matmul(p.A, p.B, out=_empty(p.M, p.N + 1)),
                  ValueError, "out must be"),
    "out vs out_dtype": (lambda p: bsr_matmul(p.A, p.B, out=_empty(p.M, p.N),
                                              out_dtype=torch.float32), TypeError, "out_dtype"),
    "column-major out": (lambda p: bsr_matmul(p.A, p.B, out=_empty(p.N, p.M).t()),
                         ValueError, "unit stride"),
}


@gpu
@pytest.mark.parametrize("case", list(ARGUMENT_ERRORS))
def test_argument_errors(gen, case):
    call, error, message = ARGUMENT_ERRORS[case]
    problem = _error_problem(gen)
    with pytest.raises(error, match=message):
        call(problem)


@gpu
def test_core_checks_cuda_tensors(gen):
    """The compiled core checks what it is given, for callers that bypass bsr_matmul."""
    bs, rows, k_blocks = 64, 3, 4
    require_kernel(torch.bfloat16, torch.bfloat16, bs)
    crow, col, values = parts(random_general(gen, rows, k_blocks, bs, torch.bfloat16))
    M, K = rows * bs, k_blocks * bs
    B = torch.randn((K, 100), generator=gen, device="cuda", dtype=torch.bfloat16)
    C = torch.empty((M, 100), device="cuda", dtype=torch.bfloat16)
    stream = torch.cuda.current_stream().cuda_stream
    with pytest.raises(ValueError, match="B's row stride must be a multiple of 16 bytes"):
        _C.bsr_gemm(crow, col, values, B, C, M, K, 1.0, 0.0, None, stream)
    B = torch.randn((K, 96), generator=gen, device="cuda", dtype=torch.bfloat16)
    C = torch.empty((M, 96), device="cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="workspace must hold"):
        _C.bsr_gemm(crow, col, values, B, C, M, K, 1.0, 0.0, None, stream)
    with pytest.raises(ValueError, match="crow must have M / block_size \\+ 1 = 4 entries"):
        _C.bsr_gemm(crow[:-1], col, values, B, C, M, K, 1.0, 0.0, None, stream)
    with pytest.raises(TypeError, match="C must be bfloat16 or float32"):
        _C.bsr_gemm(crow, col, values, B, C.half(), M, K, 1.0, 0.0, None, stream)
