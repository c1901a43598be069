# A/B helper for one-config builds side by side (PYTHONPATH picks the build): bsr_matmul at
# 8192^3 bf16 with exactly k random blocks per block-row, cold L2, median of 20, useful FLOPs.
#   PYTHONPATH=build/site_a python3 time_gemm_ab.py a "64:0.125 64:0.5 128:0.125 128:0.5"
import hashlib, sys, torch, triageattention as ta
from triageattention.measure import Timer
tag, cases = sys.argv[1], [tuple(x.split(":")) for x in sys.argv[2].split()]
M = N = K = 8192
gen = torch.Generator(device="cuda").manual_seed(0)
B = torch.randn(K, N, generator=gen, device="cuda", dtype=torch.bfloat16)
timer = Timer()
for bs, density in cases:
    bs, density = int(bs), float(density)
    mb, kb = M // bs, K // bs
    topk = round(density * kb)
    cols = torch.rand(mb, kb, device="cuda", generator=gen).argsort(dim=1)[:, :topk].sort(dim=1).values
    values = (torch.rand(mb * topk, bs, bs, device="cuda", generator=gen) - 0.5).to(torch.bfloat16)
    crow = torch.arange(0, mb + 1, dtype=torch.int32, device="cuda") * topk
    A = (crow, cols.to(torch.int32).reshape(-1).contiguous(), values)
    out = ta.bsr_matmul(A, B)
    digest = hashlib.sha256(out.cpu().view(torch.int16).numpy().tobytes()).hexdigest()[:16]
    t = timer.measure(lambda i: ta.bsr_matmul(A, B, out=out), warmup=3, runs=20)
    flops = 2.0 * bs * bs * N * mb * topk
    print(f"{tag:3s} bs{bs:<3d} {density:5.3f} {flops / t.median_ms / 1e9:7.1f} TFLOP/s "
          f"(min-time {flops / t.min_ms / 1e9:7.1f}) spread {t.spread:.3f} sha256 {digest}", flush=True)
