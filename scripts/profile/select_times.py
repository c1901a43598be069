"""GPU time of the decode page selection alone (`select_decode_pages`), by batch and context.

    python3 scripts/profile/select_times.py

Each case captures 20 back-to-back calls in a CUDA graph and prints the median time per call
over 10 replays (triageattention.measure, L2 left warm): the kernel plus the gap between
consecutive kernels, with no host overhead.
A sequence filled to one page shows the fixed cost of the launch and of the kernel's chain of
dependent steps; full sequences add the reading of the page summaries.
"""

import torch

import triageattention as ta
from triageattention.decode import select_decode_pages
from triageattention.measure import Timer, capture_graph

CASES = [  # (batch, context, tokens filled)
    (1, 32768, 32768), (2, 32768, 32768), (8, 32768, 32768), (32, 32768, 32768),
    (8, 32768, 64), (8, 4096, 4096), (1, 131072, 131072), (64, 4096, 4096),
]


def time_case(gen, timer, batch, context, filled, heads_kv=8, heads_q=32, calls=20,
              replays=10):
    def randn(*shape):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=torch.bfloat16)

    cache = ta.PagedKVCache(batch, context, heads_kv, 128, page_size=64, dtype=torch.bfloat16)
    chunk = min(filled, 4096)
    for _ in range(filled // chunk):
        cache.append(randn(batch, heads_kv, chunk, 128), randn(batch, heads_kv, chunk, 128))
    q = randn(batch, heads_q, 1, 128)
    topk = max(1, context // 64 // 8)

    def step():
        for _ in range(calls):
            select_decode_pages(q, cache, topk)

    graph, _ = capture_graph(step)
    timing = timer.measure(lambda _: graph.replay(), warmup=1, runs=replays, cold_l2=False)
    return timing.median_ms * 1000 / calls


def main():
    gen = torch.Generator(device="cuda").manual_seed(0)
    timer = Timer()
    print(f"{torch.cuda.get_device_name()}: select_decode_pages, Hq 32 / Hkv 8, D 128, page 64, "
          "topk = 1/8 of the pages")
    for batch, context, filled in CASES:
        us = time_case(gen, timer, batch, context, filled)
        print(f"B{batch:3d} ctx {context:6d} filled {filled:6d}: {us:6.1f} us per call")


if __name__ == "__main__":
    main()
