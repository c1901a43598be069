# Experiment helper (not committed): BSR GEMM 8192^3 bf16 under the knob settings of the
# gemm_knobs.patch build (environment variables read per launch). Cold L2, median of 20.
import os, sys, torch, triageattention as ta
from triageattention.measure import Timer
tag = sys.argv[1]
configs = [c.split(",") if c != "default" else [] for c in sys.argv[2].split(";")]
cases = [tuple(x.split(":")) for x in sys.argv[3].split()] if len(sys.argv) > 3 else \
        [("64", "0.125"), ("64", "0.5"), ("128", "0.125")]
M = N = K = 8192
gen = torch.Generator(device="cuda").manual_seed(0)
B = torch.randn(K, N, generator=gen, device="cuda", dtype=torch.bfloat16)
timer = Timer()
KNOBS = ("TA_HINT_A", "TA_HINT_B", "TA_C_STREAM", "TA_PREFETCH", "TA_SKIP_EPILOGUE", "TA_BAND")
for bs, density in cases:
    bs, density = int(bs), float(density)
    mb, kb = M // bs, K // bs
    topk = round(density * kb)
    cols = torch.rand(mb, kb, device="cuda", generator=gen).argsort(dim=1)[:, :topk].sort(dim=1).values
    cols = cols.to(torch.int32).contiguous()
    values = (torch.rand(mb * topk, bs, bs, device="cuda", generator=gen) - 0.5).to(torch.bfloat16)
    crow = torch.arange(0, mb + 1, dtype=torch.int32, device="cuda") * topk
    A = (crow, cols.reshape(-1), values)
    flops = 2.0 * bs * bs * N * mb * topk
    ref = None
    for cfg in configs:
        for k in KNOBS: os.environ.pop(k, None)
        for kv in cfg:
            k, v = kv.split("=")
            os.environ["TA_" + k] = v
        out = ta.bsr_matmul(A, B)
        torch.cuda.synchronize()
        same = ""
        if "SKIP_EPILOGUE=1" not in cfg:
            if ref is None: ref = out.clone()
            same = "same" if torch.equal(out, ref) else "DIFFERENT"
        t = timer.measure(lambda i: ta.bsr_matmul(A, B, out=out), warmup=3, runs=20)
        print(f"{tag:5s} bs{bs:<3d} {density:5.3f} {','.join(cfg) or 'default':40s} "
              f"{flops / t.median_ms / 1e9:7.1f} TFLOP/s (min-time {flops / t.min_ms / 1e9:7.1f}) "
              f"spread {t.spread:.3f} {same}", flush=True)
