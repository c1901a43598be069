#!/usr/bin/env python3
"""TriageAttention inside a Llama-architecture model (Hugging Face transformers): quality and speed.

By default the model is built from a Llama-3-8B-shaped config with random weights (hidden 4096,
32 heads, 8 kv heads, head_dim 128, MLP 14336, vocab 128256) and --layers layers; --model PATH
loads a local checkpoint instead. The same random prompts run with SDPA and with TriageAttention
(enable_triage), and the script reports:

  1. logits error and top-1 agreement against SDPA at topk = all blocks (must match dense) and
     at a sparse setting;
  2. greedy generation agreement over --gen-tokens tokens (dense and sparse decode);
  3. prefill time of the whole forward at each --seqlens length: SDPA (torch's default dispatch
     and cuDNN forced), TriageAttention with --block-size/--topk; CUDA events, warm-up, median;
  4. decode tokens/s after a --decode-context prompt.

The bar (H100): 4 layers, 128k causal prefill, block 64 with 16k keys kept (topk 256): forward
>= 1.8x faster than the faster SDPA baseline measured in the same run.

    python3 examples/llama_validation.py --quick          # a few minutes' smoke run
    python3 examples/llama_validation.py                  # full run, 8k..128k
"""

import argparse
import inspect
import json
import os
import statistics
import sys

SDPA_CUDNN = "sdpa_cudnn"
DEVICE = "cuda"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="local checkpoint directory (default: random weights)")
    p.add_argument("--layers", type=int, default=4, help="decoder layers of the random model")
    p.add_argument("--dtype", choices=["bfloat16", "float16"], default="bfloat16")
    p.add_argument("--quick", action="store_true", help="short lengths, fewer repeats")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--topk", type=int, default=256, help="blocks kept per query block (speed)")
    p.add_argument("--min-sparse-seqlen", type=int, default=None,
                   help="TriageConfig.min_sparse_seqlen for the speed runs (default: auto)")
    p.add_argument("--seqlens", type=str, default=None,
                   help="comma-separated prefill lengths (default 8192,32768,65536,131072)")
    p.add_argument("--quality-len", type=int, default=None, help="prompt length for logits")
    p.add_argument("--quality-topk", type=int, default=None,
                   help="sparse setting for quality (default: a quarter of the blocks)")
    p.add_argument("--gen-prompt-len", type=int, default=None)
    p.add_argument("--gen-tokens", type=int, default=None)
    p.add_argument("--decode-context", type=int, default=None)
    p.add_argument("--decode-steps", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    quick = a.quick
    defaults = dict(seqlens="8192,32768" if quick else "8192,32768,65536,131072",
                    quality_len=2048 if quick else 8192, gen_prompt_len=1024 if quick else 4096,
                    gen_tokens=8 if quick else 32, decode_context=8192 if quick else 32768,
                    decode_steps=16 if quick else 64, warmup=1 if quick else 2,
                    repeats=3 if quick else 5)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.seqlens = [int(s) for s in a.seqlens.split(",") if s]
    return a


class Progress:
    """A tqdm bar over the run's steps when tqdm is installed, plain prints otherwise."""

    def __init__(self, total):
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True) if tqdm else None
        self.total, self.done = total, 0

    def step(self, what):
        self.done += 1
        if self.bar is not None:
            self.bar.set_description(what)
            self.bar.update(1)
        else:
            print(f"[{self.done}/{self.total}] {what}", flush=True)

    def log(self, message):
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# Model and implementations
# ---------------------------------------------------------------------------------------------


def build_model(args, torch, transformers, log):
    dtype = getattr(torch, args.dtype)
    if args.model and os.path.isdir(args.model):
        log(f"loading {args.model}")
        load = transformers.AutoModelForCausalLM.from_pretrained
        try:
            model = load(args.model, dtype=dtype, attn_implementation="sdpa",
                         local_files_only=True)
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = load(args.model, torch_dtype=dtype, attn_implementation="sdpa",
                         local_files_only=True)
        return model.to(DEVICE).eval()
    if args.model:
        log(f"--model {args.model} is not a directory here: using random weights")
    config = transformers.LlamaConfig(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=args.layers,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=128256,
        max_position_embeddings=max(131072, max(args.seqlens) + 1024), rms_norm_eps=1e-5,
        rope_theta=500000.0, tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(args.seed)
    with torch.device(DEVICE):  # initialize on the GPU: seconds instead of minutes
        model = transformers.LlamaForCausalLM(config)
    return model.to(dtype).eval()


def register_cudnn_baseline(torch, transformers):
    """SDPA with the cuDNN backend forced (kv heads repeated, as cuDNN needs equal heads) for
    mask-free causal prefill; everything else as transformers' SDPA."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kw):
        if attention_mask is not None or query.shape[2] != key.shape[2] or query.shape[2] == 1:
            return sdpa_attention_forward(module, query, key, value, attention_mask,
                                          scaling=scaling, dropout=dropout, **kw)
        group = query.shape[1] // key.shape[1]
        if group > 1:
            key = key.repeat_interleave(group, dim=1)
            value = value.repeat_interleave(group, dim=1)
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            out = torch.nn.functional.scaled_dot_product_attention(
                query, key, value, is_causal=True, scale=scaling)
        return out.transpose(1, 2).contiguous(), None

    from transformers.modeling_utils import AttentionInterface
    AttentionInterface.register(SDPA_CUDNN, forward)
    try:
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
        AttentionMaskInterface.register(SDPA_CUDNN, sdpa_mask)
    except ImportError:
        pass


def use(model, impl, config=None):
    """Switches the model to "sdpa", "eager", SDPA_CUDNN or "triage" (with config)."""
    from triageattention.integrations.transformers import disable_triage, enable_triage
    if impl == "triage":
        enable_triage(model, config)
        return
    disable_triage(model)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    else:
        model.config._attn_implementation = impl


class Runner:
    """Version-tolerant forward calls (cache and logits_to_keep argument names differ)."""

    def __init__(self, model, torch, transformers):
        self.model, self.torch, self.transformers = model, torch, transformers
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params),
                            None)

    def new_cache(self):
        try:
            return self.transformers.DynamicCache(config=self.model.config)
        except TypeError:
            return self.transformers.DynamicCache()

    def logits(self, ids, last_only=False, cache=None):
        kw = {"use_cache": cache is not None}
        if cache is not None:
            kw[self.cache_kw] = cache
        if last_only and self.keep_kw:
            kw[self.keep_kw] = 1
        out = self.model(input_ids=ids, **kw).logits
        return out[:, -1:] if last_only else out

    def greedy(self, ids, steps):
        """Greedy tokens [B, steps] after prompt ids, with a fresh KV cache."""
        cache = self.new_cache()
        token = self.logits(ids, last_only=True, cache=cache).argmax(-1)
        tokens = [token]
        for _ in range(steps - 1):
            token = self.logits(token, last_only=True, cache=cache).argmax(-1)
            tokens.append(token)
        return self.torch.cat(tokens, dim=1)


def cuda_time(torch, fn, warmup, repeats):
    """Median, min and max milliseconds of fn() over repeats runs after warmup runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), min(times), max(times)


# ---------------------------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------------------------


def compare_logits(torch, ref, out, chunk=1024):
    """max |diff|, mean |diff| and max |ref| over all positions, top-1 agreement and the number
    of disagreements at near-ties (the reference's top-2 margin below twice the max diff)."""
    ref, out = ref.reshape(-1, ref.shape[-1]), out.reshape(-1, out.shape[-1])
    max_diff = sum_diff = max_ref = 0.0
    agree = near_ties = 0
    for i in range(0, ref.shape[0], chunk):
        a, b = ref[i:i + chunk].float(), out[i:i + chunk].float()
        d = (a - b).abs()
        max_diff = max(max_diff, d.max().item())
        sum_diff += d.mean(-1).sum().item()
        max_ref = max(max_ref, a.abs().max().item())
        same = a.argmax(-1) == b.argmax(-1)
        agree += int(same.sum())
        top2 = a.topk(2, dim=-1).values
        margin = top2[:, 0] - top2[:, 1]
        near_ties += int((~same & (margin < 2 * d.max(-1).values)).sum())
    n = ref.shape[0]
    return dict(max_abs_err=max_diff, mean_abs_err=sum_diff / n, max_abs_ref=max_ref,
                top1_agreement=agree / n, disagreements=n - agree,
                disagreements_at_near_ties=near_ties, positions=n)


def quality(args, torch, model, runner, TriageConfig, progress, results):
    vocab = model.config.vocab_size
    g = torch.Generator(device=DEVICE).manual_seed(args.seed + 1)
    L = args.quality_len
    ids = torch.randint(1, vocab, (1, L), device=DEVICE, generator=g)
    all_blocks = -(-L // args.block_size)
    sparse_topk = args.quality_topk or max(1, all_blocks // 4)
    settings = [("topk=all", TriageConfig(block_size=args.block_size, topk=all_blocks,
                                          min_sparse_seqlen=0)),
                (f"topk={sparse_topk}", TriageConfig(block_size=args.block_size,
                                                     topk=sparse_topk, min_sparse_seqlen=0))]
    use(model, "sdpa")
    with torch.inference_mode():
        ref = runner.logits(ids)
        progress.step(f"quality: SDPA logits, {L} tokens")
        # The noise floor: transformers' eager attention is exact too, so its disagreement with
        # SDPA shows what bf16 rounding alone does to these (random-weight, flat) logits.
        use(model, "eager")
        s = compare_logits(torch, ref, runner.logits(ids))
        progress.log(f"logits  eager attention vs SDPA (noise floor): max|err| "
                     f"{s['max_abs_err']:.4f}, top-1 agreement {100 * s['top1_agreement']:.3f}% "
                     f"({s['disagreements']} differ, {s['disagreements_at_near_ties']} at "
                     "near-ties)")
        results["logits"]["eager attention (noise floor)"] = s
        for name, config in settings:
            use(model, "triage", config)
            s = compare_logits(torch, ref, runner.logits(ids))
            progress.step(f"quality: triage {name}")
            progress.log(f"logits {name:>10} ({min(L, config.topk * config.block_size)} keys "
                         f"kept of {L}): max|err| {s['max_abs_err']:.4f} (max|logit| "
                         f"{s['max_abs_ref']:.2f}), mean|err| {s['mean_abs_err']:.5f}, top-1 "
                         f"agreement {100 * s['top1_agreement']:.3f}% ({s['disagreements']} "
                         f"differ, {s['disagreements_at_near_ties']} at near-ties)")
            results["logits"][name] = s
        del ref

    P, N = args.gen_prompt_len, args.gen_tokens
    ids = torch.randint(1, vocab, (1, P), device=DEVICE, generator=g)
    gen_blocks = -(-P // args.block_size)
    runs = [("topk=all, dense decode", TriageConfig(block_size=args.block_size,
                                                    topk=gen_blocks + N, min_sparse_seqlen=0)),
            ("topk=all, sparse decode", TriageConfig(block_size=args.block_size,
                                                     topk=gen_blocks + N, min_sparse_seqlen=0,
                                                     decode="sparse")),
            (f"topk={max(1, gen_blocks // 4)}, sparse decode",
             TriageConfig(block_size=args.block_size, topk=max(1, gen_blocks // 4),
                          min_sparse_seqlen=0, decode="sparse"))]
    use(model, "sdpa")
    with torch.inference_mode():
        expected = runner.greedy(ids, N)
        progress.step(f"greedy: SDPA, {N} tokens after {P}")
        for name, config in runs:
            use(model, "triage", config)
            got = runner.greedy(ids, N)
            same = (got == expected)[0]
            prefix = int(same.long().cumprod(0).sum())
            results["greedy"][name] = dict(tokens=N, identical=bool(same.all()),
                                           matching_prefix=prefix,
                                           agreement=float(same.float().mean()))
            progress.step(f"greedy: triage {name}")
            progress.log(f"greedy {name:>26}: {'identical' if same.all() else 'DIFFERS'} "
                         f"({prefix}/{N} tokens before the first difference)")


def speed(args, torch, model, runner, TriageConfig, progress, results):
    vocab = model.config.vocab_size
    g = torch.Generator(device=DEVICE).manual_seed(args.seed + 2)
    config = TriageConfig(block_size=args.block_size, topk=args.topk,
                          min_sparse_seqlen=args.min_sparse_seqlen)
    impls = [("sdpa", None), (SDPA_CUDNN, None), ("triage", config)]
    for L in args.seqlens:
        ids = torch.randint(1, vocab, (1, L), device=DEVICE, generator=g)
        warmup = args.warmup if L < 65536 else max(1, args.warmup - 1)
        row = {}
        for impl, cfg in impls:
            use(model, impl, cfg)
            try:
                with torch.inference_mode():
                    med, lo, hi = cuda_time(torch, lambda: runner.logits(ids, last_only=True),
                                            warmup, args.repeats)
                row[impl] = dict(median_ms=med, min_ms=lo, max_ms=hi)
            except RuntimeError as e:  # e.g. no cuDNN attention kernel for this shape
                row[impl] = dict(error=str(e).splitlines()[0][:200])
                torch.cuda.empty_cache()
            progress.step(f"prefill {L // 1024}k: {impl}")
        baselines = [row[b]["median_ms"] for b in ("sdpa", SDPA_CUDNN) if "median_ms" in row[b]]
        if "median_ms" in row["triage"] and baselines:
            row["speedup_vs_best_sdpa"] = min(baselines) / row["triage"]["median_ms"]
        row["keys_kept"] = min(L, args.topk * args.block_size)
        results["prefill"][str(L)] = row
        progress.log(_prefill_line(L, row))

    L = args.decode_context
    ids = torch.randint(1, vocab, (1, L), device=DEVICE, generator=g)
    decode_impls = [("sdpa", None), ("triage dense decode", config),
                    ("triage sparse decode", TriageConfig(
                        block_size=args.block_size, topk=args.topk, min_sparse_seqlen=0,
                        decode="sparse"))]
    for name, cfg in decode_impls:
        use(model, "sdpa" if cfg is None else "triage", cfg)
        with torch.inference_mode():
            cache = runner.new_cache()
            token = runner.logits(ids, last_only=True, cache=cache).argmax(-1)
            token = runner.logits(token, last_only=True, cache=cache).argmax(-1)  # warm-up step

            def steps(t=token, cache=cache):
                for _ in range(args.decode_steps):
                    t = runner.logits(t, last_only=True, cache=cache).argmax(-1)

            ms, _, _ = cuda_time(torch, steps, 0, 1)
        results["decode"][name] = dict(context=L, steps=args.decode_steps,
                                       tokens_per_s=1000 * args.decode_steps / ms)
        progress.step(f"decode {L // 1024}k: {name}")
        progress.log(f"decode after {L} tokens, {name:>22}: "
                     f"{results['decode'][name]['tokens_per_s']:.1f} tokens/s (batch 1)")
        cache = steps = None  # free this run's KV cache before the next
        torch.cuda.empty_cache()


def _prefill_line(L, row):
    def ms(impl):
        r = row[impl]
        return f"{r['median_ms']:8.1f} ms" if "median_ms" in r else "     n/a   "
    speedup = row.get("speedup_vs_best_sdpa")
    return (f"prefill {L:>6}: sdpa {ms('sdpa')}, sdpa cuDNN {ms(SDPA_CUDNN)}, triage "
            f"{ms('triage')} ({row['keys_kept']} keys kept) -> "
            f"{'n/a' if speedup is None else f'{speedup:.2f}x'} vs the faster SDPA")


def main():
    args = parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"this example needs torch and transformers: {e}")
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device: TriageAttention runs on NVIDIA Hopper GPUs (sm_90a)")
        return 2
    from triageattention.integrations.transformers import TriageConfig, triage_stats

    steps = (0 if args.skip_quality else 7) + (0 if args.skip_speed else
                                                 3 * len(args.seqlens) + 3)
    progress = Progress(steps + 1)
    progress.log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
                 f"{torch.cuda.get_device_name()}")
    model = build_model(args, torch, transformers, progress.log)
    register_cudnn_baseline(torch, transformers)
    runner = Runner(model, torch, transformers)
    c = model.config
    progress.step("model ready")
    progress.log(f"model: {c.num_hidden_layers} layers, hidden {c.hidden_size}, heads "
                 f"{c.num_attention_heads}/{c.num_key_value_heads}, vocab {c.vocab_size}, "
                 f"{args.dtype}, {'random weights' if not args.model else args.model}")
    results = dict(args=vars(args), device=torch.cuda.get_device_name(),
                   torch=torch.__version__, transformers=transformers.__version__,
                   logits={}, greedy={}, prefill={}, decode={})
    if not args.skip_quality:
        quality(args, torch, model, runner, TriageConfig, progress, results)
    if not args.skip_speed:
        speed(args, torch, model, runner, TriageConfig, progress, results)
    results["paths_taken_by_triage"] = triage_stats(model)
    progress.close()

    print("\n== summary ==")
    full = results["logits"].get("topk=all")
    if full:
        floor = results["logits"]["eager attention (noise floor)"]["top1_agreement"]
        print(f"topk=all: top-1 agreement {100 * full['top1_agreement']:.3f}% (bar >= 99.9%; "
              f"eager vs SDPA: {100 * floor:.3f}%), greedy identical: "
              f"{all(r['identical'] for k, r in results['greedy'].items() if 'all' in k)}")
    for L, row in results["prefill"].items():
        print(_prefill_line(int(L), row))
    bar = results["prefill"].get("131072", {}).get("speedup_vs_best_sdpa")
    if bar is not None and args.block_size == 64 and args.topk == 256:
        print(f"BAR 128k prefill, block 64, 16k keys kept: {bar:.2f}x (>= 1.8x) -> "
              f"{'PASS' if bar >= 1.8 else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
