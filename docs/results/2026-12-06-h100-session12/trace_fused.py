# Runs sparse_decode with the fused_trace.patch build (each CTA of the fused kernel printfs one
# line per task with %globaltimer stamps; fused_phases.py reads them): B8/32k four times and
# B1/128k three times, cold L2 as in the benchmark.
import time, torch, triageattention as ta
gen = torch.Generator(device="cuda").manual_seed(0)
def randn(*s): return torch.randn(*s, generator=gen, device="cuda", dtype=torch.bfloat16)
flush = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
for batch, context, calls in ((8, 32768, 4), (1, 131072, 3)):
    cache = ta.PagedKVCache(batch, context, 8, 128, page_size=64, dtype=torch.bfloat16)
    for _ in range(context // 4096):
        cache.append(randn(batch, 8, 4096, 128), randn(batch, 8, 4096, 128))
    q = randn(batch, 32, 1, 128)
    topk = context // 64 // 8
    for i in range(calls):
        flush.zero_()
        torch.cuda.synchronize()
        print(f"CALL B{batch}/{context // 1024}k {i}", flush=True)
        ta.sparse_decode(q, cache, topk)
        torch.cuda.synchronize()
        time.sleep(0.05)
