# Runs sparse_decode B8/32k four times (cold L2) with the decode_trace.patch build, whose
# kernels printf one line per CTA with %globaltimer stamps (trace_analyze.py reads them).
import sys, time, torch, triageattention as ta
gen = torch.Generator(device="cuda").manual_seed(0)
def randn(*s): return torch.randn(*s, generator=gen, device="cuda", dtype=torch.bfloat16)
batch, context = 8, 32768
cache = ta.PagedKVCache(batch, context, 8, 128, page_size=64, dtype=torch.bfloat16)
for _ in range(context // 4096):
    cache.append(randn(batch, 8, 4096, 128), randn(batch, 8, 4096, 128))
q = randn(batch, 32, 1, 128)
topk = context // 64 // 8
flush = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
for i in range(4):
    flush.zero_()  # cold L2 as in the benchmark
    torch.cuda.synchronize()
    print(f"CALL {i}", flush=True)
    ta.sparse_decode(q, cache, topk)
    torch.cuda.synchronize()
    time.sleep(0.05)
