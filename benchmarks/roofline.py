"""Roofline of every benchmarked kernel against the ceilings measured in the same run.

Reads the JSON reports of one suite run (bench_ceilings.py, bench_sparse_gemm, bench_gemm.py,
bench_attention.py, bench_triage.py, bench_decode.py: whichever are given; a directory stands for
its *.json) and plots achieved useful TFLOP/s against arithmetic intensity, useful FLOPs / bytes
moved, one panel per suite, under the two ceilings of bench_ceilings.py: the device-to-device
copy bandwidth (the slope) and the dense bf16 cuBLAS rate (the flat line). Writes the PNG (--out)
and a markdown table (stdout and --md). Method: docs/ROOFLINE.md.

Useful FLOPs: the row's own "useful TFLOP/s" times its median (the suites count them exactly from
the pattern and the causal mask). Decode rows carry no FLOP count: 4 * D per (query head, visited
key), the same rule as attention's 4 * D per unmasked (query, key) pair.

Bytes moved: the compulsory DRAM traffic of the row's own inputs and output, every byte read once
and every output byte written once (the harness flushes the L2 before each run, so nothing starts
cached). No implementation can move less, so this is a LOWER BOUND on bytes and x is an UPPER
BOUND on the intensity: a point sits at the rightmost x it could honestly claim, and a point far
under its roof lost time to something beyond compulsory traffic (re-reads, latency, occupancy).
Re-reads served by L2 (GEMM's B slices, attention's K/V per query block) are not counted: they
are properties of an implementation, not of the problem. Index, page-table and pattern bytes
(under 0.1% at the suites' sizes) are left out. e = element size of the suite's dtype.

  BSR GEMM (suite sparse_gemm, C++ and Python), C = A_bsr @ B, A M x K with topk of the K/bs
  block columns stored per block-row (nnzb = M/bs * topk), B K x N, C M x N:
    ours, torch BSR, cuSPARSE Blocked-ELL:  e * (nnzb * bs^2 + R * N + M * N)
        A values, the R rows of B the pattern touches, C. R = K * (1 - (1 - topk / (K/bs))^(M/bs))
        is the expected number for the suite's uniformly random pattern (not a strict bound; at
        the suites' sizes R = K within 2%).
    dense peer on the densified A:           e * (M * K + K * N + M * N)
    compacted peer (M x N x kc, kc = topk*bs): e * (M * kc + kc * N + M * N)
  Attention forward (suite attention), q and o [B, H, S, D], k and v [B, Hkv, S, D]:
    dense rows:              e * (2 * B*H*S*D + 2 * B*Hkv*D * S)
    random block pattern:    e * (2 * B*H*S*D + 2 * B*Hkv*D * S * (1 - (1 - topk/nk)^nq))
        K/V of the expected union of the key blocks the nq query-block rows of one (batch, kv
        head) visit (uniform random pattern, as the suite draws it; Flex rows get the same count,
        they compute the same product).
  Triage (suite triage): dense SDPA rows as dense attention; our rows (pattern chosen by triage,
  data-dependent and not in the JSON): Q, O and K/V of the key blocks the pattern is GUARANTEED
  to touch: the union of the sink blocks and of the local blocks ending at every query block's
  diagonal block, and at least topk blocks. A strict lower bound: exact at bs = q block (every
  key block is some query block's diagonal), at least half of K/V at bs = q block / 2. Rows
  without useful FLOPs (the selection alone) are skipped.
  Decode (suite decode), 1 new token, every sequence at the full context ctx:
    dense rows:              e * (2 * B*Hkv*D * ctx + 2 * B*Hq*D)          (K, V; q, o)
    our sparse rows (topk pages): e * (2 * B*Hkv*D * min(topk*page, ctx) + 2 * B*Hq*D)
                                  + e * 2*D * B*Hkv*pages     (page summaries it scans, in the
                                                               cache dtype)
        exact: each (sequence, kv head) visits exactly topk whole pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import re
import sys
import textwrap
from typing import Dict, List, Optional, Tuple

# Written by bench_ceilings.py, which imports these names.
CEILINGS_SUITE = "ceilings"
COPY_METRIC = "copy GB/s (read+write)"
GEMM_METRIC = "cuBLAS TFLOP/s"
USEFUL_METRIC = "useful TFLOP/s"
OURS_PREFIX = "TriageAttention"

_ELEMENT_SIZE = {"bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "fp32": 4, "float32": 4}
# Panels in this order; the key is the start of a row's suite.
_KINDS = ("sparse_gemm", "attention", "triage", "decode")


class Skip(Exception):
    """A row whose FLOPs or bytes cannot be derived honestly; the message says why."""


@dataclasses.dataclass
class Point:
    suite: str
    case: str
    impl: str
    median_ms: float
    flops: float
    nbytes: float

    @property
    def ours(self) -> bool:
        return self.impl.startswith(OURS_PREFIX)

    @property
    def tflops(self) -> float:
        return self.flops / self.median_ms / 1e9

    @property
    def intensity(self) -> float:
        return self.flops / self.nbytes


@dataclasses.dataclass
class Ceilings:
    copy_gbs: float
    gemm_tflops: float
    copy_case: str
    gemm_case: str

    def roof(self, intensity: float) -> float:
        """Attainable TFLOP/s at `intensity` FLOP/byte."""
        return min(self.copy_gbs * intensity / 1e3, self.gemm_tflops)

    @property
    def ridge(self) -> float:
        return self.gemm_tflops * 1e3 / self.copy_gbs


def load_reports(paths: List[str]) -> List[Tuple[str, dict]]:
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.json"))) if os.path.isdir(p) else [p]
    reports = []
    for f in files:
        with open(f) as fh:
            data = json.load(fh)
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            reports.append((f, data))
        else:
            print(f"note: {f} is not a benchmark report (no rows); ignored", file=sys.stderr)
    return reports


def element_size(meta: Dict[str, str]) -> int:
    for key in ("dtype", "problem"):
        m = re.search(r"\b(bf16|bfloat16|fp16|float16|fp32|float32)\b", meta.get(key, ""))
        if m:
            return _ELEMENT_SIZE[m.group(1)]
    raise Skip("no dtype in the report's meta")


def find_ceilings(reports: List[Tuple[str, dict]]) -> Ceilings:
    """The best copy and GEMM rates among the ceilings rows (several runs may be given)."""
    copy, gemm = None, None
    for _, data in reports:
        for r in data["rows"]:
            metrics = r.get("metrics") or {}
            if r.get("suite") != CEILINGS_SUITE:
                continue
            if metrics.get(COPY_METRIC) and (copy is None or metrics[COPY_METRIC] > copy[0]):
                copy = (metrics[COPY_METRIC], r["case"])
            if metrics.get(GEMM_METRIC) and (gemm is None or metrics[GEMM_METRIC] > gemm[0]):
                gemm = (metrics[GEMM_METRIC], r["case"])
    if copy is None or gemm is None:
        raise SystemExit("error: no measured ceilings among the inputs: run "
                         "benchmarks/bench_ceilings.py --json ... in the same session")
    return Ceilings(copy[0], gemm[0], copy[1], gemm[1])


def _match(pattern: str, text: str, what: str) -> List[int]:
    m = re.search(pattern, text)
    if m is None:
        raise Skip(f"{what} not parsed")
    return [int(g) if g and g.isdigit() else g for g in m.groups()]


def gemm_bytes(case: str, impl: str, e: int) -> float:
    M, N, K, bs, topk, kb = _match(r"M(\d+) N(\d+) K(\d+) bs(\d+) topk (\d+)/(\d+)", case,
                                   "GEMM case")
    if kb * bs != K:
        raise Skip("GEMM case: K / bs disagrees with the block count")
    if "densified" in impl:
        return e * (M * K + K * N + M * N)
    if "compacted" in impl:
        kc = topk * bs
        return e * (M * kc + kc * N + M * N)
    nnzb = M // bs * topk
    rows_of_b = K * (1 - (1 - topk / kb) ** (M // bs))
    return e * (nnzb * bs * bs + rows_of_b * N + M * N)


def _attention_shape(case: str) -> List[int]:
    return _match(r"B(\d+) H(\d+)/(\d+) S(\d+) D(\d+)", case, "attention shape")


def attention_bytes(case: str, impl: str, e: int, meta: Dict[str, str]) -> float:
    B, H, Hkv, S, D = _attention_shape(case)
    kv_tokens = S
    if case.startswith("sparse"):
        bs, topk, nk = _match(r"bs(\d+) topk (\d+)/(\d+)", case, "sparse pattern")
        q_block = _match(r"query blocks (\d+)", meta.get("problem", ""), "query block size")[0]
        nq = -(-S // q_block)
        kv_tokens = S * (1 - (1 - topk / nk) ** nq)
    return e * (2 * B * H * S * D + 2 * B * Hkv * D * kv_tokens)


def guaranteed_tokens(S: int, bs: int, topk: int, q_block: int, sink: int, local: int) -> int:
    """Keys of the blocks every triage pattern of this shape touches (Sq = Sk = S): the sink
    blocks, the local blocks ending at each query block's diagonal block, and at least topk."""
    nk = -(-S // bs)
    lengths = [min(bs, S - j * bs) for j in range(nk)]
    forced = set(range(min(sink, nk)))
    for i in range(-(-S // q_block)):
        diagonal = (min((i + 1) * q_block, S) - 1) // bs
        forced.update(range(max(diagonal - local + 1, 0), diagonal + 1))
    return max(sum(lengths[j] for j in forced), sum(sorted(lengths)[:topk]))


def triage_bytes(case: str, impl: str, e: int, meta: Dict[str, str]) -> float:
    B, H, Hkv, S, D = _attention_shape(case)
    kv_tokens = S
    if impl.startswith(OURS_PREFIX):
        bs, topk = _match(r"bs(\d+) topk (\d+)/", case, "triage case")
        problem = meta.get("problem", "")
        q_block = _match(r"query blocks (\d+)", problem, "query block size")[0]
        forced = re.search(r"sink (\d+) \+ local (\d+)", problem)
        sink, local = (int(forced.group(1)), int(forced.group(2))) if forced else (0, 0)
        kv_tokens = guaranteed_tokens(S, bs, topk, q_block, sink, local)
    return e * (2 * B * H * S * D + 2 * B * Hkv * D * kv_tokens)


def decode_flops_bytes(case: str, impl: str, e: int) -> Tuple[float, float]:
    B, Hq, Hkv, D, ctx, page = _match(r"B(\d+) H(\d+)/(\d+) D(\d+) ctx (\d+) page (\d+)", case,
                                      "decode case")
    tokens, summaries = ctx, 0.0
    sparse = re.search(r"topk (\d+)/(\d+)", impl)
    if impl.startswith(OURS_PREFIX) and sparse:
        topk, pages = int(sparse.group(1)), int(sparse.group(2))
        tokens = min(topk * page, ctx)
        summaries = e * 2.0 * D * B * Hkv * pages
    nbytes = e * (2.0 * B * Hkv * D * tokens + 2 * B * Hq * D) + summaries
    return 4.0 * D * Hq * B * tokens, nbytes


def suite_kind(suite: str) -> Optional[str]:
    return next((k for k in _KINDS if suite.startswith(k)), None)


def derive(row: dict, meta: Dict[str, str]) -> Point:
    """The row's point, or Skip with the reason."""
    if not row.get("runs") or not row.get("median_ms"):
        notes = row.get("notes") or ""
        raise Skip("not measured" + (f": {notes[:80]}" if notes else ""))
    kind = suite_kind(row["suite"])
    if kind is None:
        raise Skip("no byte model for this suite")
    e = element_size(meta)
    case, impl, ms = row["case"], row["impl"], row["median_ms"]
    if kind == "decode":
        flops, nbytes = decode_flops_bytes(case, impl, e)
    else:
        useful = (row.get("metrics") or {}).get(USEFUL_METRIC)
        if not useful:
            raise Skip("no useful FLOPs in the row")
        flops = useful * ms * 1e9
        nbytes = (gemm_bytes(case, impl, e) if kind == "sparse_gemm" else
                  attention_bytes(case, impl, e, meta) if kind == "attention" else
                  triage_bytes(case, impl, e, meta))
    return Point(row["suite"], case, impl, ms, flops, nbytes)


def collect(reports: List[Tuple[str, dict]]) -> Tuple[List[Point], List[str]]:
    points, skipped = [], []
    for path, data in reports:
        meta = data.get("meta") or {}
        for row in data["rows"]:
            if row.get("suite") == CEILINGS_SUITE:
                continue
            try:
                points.append(derive(row, meta))
            except Skip as why:
                skipped.append(f"{row.get('suite')} | {row.get('case')} | {row.get('impl')}: "
                               f"{why} ({os.path.basename(path)})")
    return points, skipped


def devices(reports: List[Tuple[str, dict]]) -> List[str]:
    # The C++ and Python reports describe the device differently after the name.
    return sorted({(d.get("meta") or {}).get("device", "?").split(" (")[0] for _, d in reports})


def panels(points: List[Point]) -> Dict[str, List[Point]]:
    order = {k: i for i, k in enumerate(_KINDS)}
    suites = sorted(dict.fromkeys(p.suite for p in points),
                    key=lambda s: (order[suite_kind(s)], s))
    return {s: [p for p in points if p.suite == s] for s in suites}


def case_numbers(points: List[Point]) -> Dict[str, int]:
    return {c: i + 1 for i, c in enumerate(dict.fromkeys(p.case for p in points))}


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.{min(max(3 - math.floor(math.log10(abs(v))), 0), 4)}f}"


def markdown(points: List[Point], skipped: List[str], ceil: Ceilings, sources: List[str],
             device_names: List[str]) -> str:
    lines = [f"- device: {', '.join(device_names)}",
             f"- copy ceiling: {_fmt(ceil.copy_gbs / 1e3)} TB/s read+write ({ceil.copy_case})",
             f"- compute ceiling: {_fmt(ceil.gemm_tflops)} TFLOP/s cuBLAS ({ceil.gemm_case}); "
             f"ridge at {_fmt(ceil.ridge)} FLOP/byte",
             "- x: useful FLOPs / compulsory DRAM bytes (a lower bound on bytes: byte models in "
             "benchmarks/roofline.py); % of roof = achieved / min(bandwidth * x, cuBLAS rate)",
             f"- sources: {', '.join(sources)}"]
    for suite, pts in panels(points).items():
        numbers = case_numbers(pts)
        lines += ["", f"### {suite}", "",
                  "| # | case | impl | median ms | useful TFLOP/s | MB moved | FLOP/byte | "
                  "roof TFLOP/s | % of roof | bound |",
                  "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for p in pts:
            roof = ceil.roof(p.intensity)
            impl = f"**{p.impl}**" if p.ours else p.impl
            lines.append(f"| {numbers[p.case]} | {p.case} | {impl} | {_fmt(p.median_ms)} | "
                         f"{_fmt(p.tflops)} | {_fmt(p.nbytes / 1e6)} | {_fmt(p.intensity)} | "
                         f"{_fmt(roof)} | {100 * p.tflops / roof:.1f}% | "
                         f"{'memory' if p.intensity < ceil.ridge else 'compute'} |")
    if skipped:
        lines += ["", f"### Skipped rows ({len(skipped)})", ""] + [f"- {s}" for s in skipped]
    return "\n".join(lines) + "\n"


def _legend_name(impl: str) -> str:
    # One colour per implementation family: block sizes and top-k counts differ per case.
    return re.sub(r"\d+(/\d+)?", "n", impl)


def plot(points: List[Point], skipped: List[str], ceil: Ceilings, device_names: List[str],
         out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = panels(points)
    cols = 2 if len(groups) > 1 else 1
    rows = -(-len(groups) // cols)
    caption = [
        f"Ceilings measured in the same run on {', '.join(device_names)}: copy "
        f"{ceil.copy_gbs / 1e3:.2f} TB/s read+write ({ceil.copy_case}); cuBLAS "
        f"{ceil.gemm_tflops:.0f} TFLOP/s ({ceil.gemm_case}).",
        "x = useful FLOPs / compulsory DRAM bytes (a lower bound on bytes, so x is an upper "
        "bound; byte models: benchmarks/roofline.py). Stars: TriageAttention; circles: peers; "
        "numbers: case (table in the markdown).",
    ]
    shown = 6
    if skipped:
        caption.append(f"Skipped {len(skipped)} row(s) (no honest FLOP or byte count):")
        caption += [f"  {s}" for s in skipped[:shown]]
        if len(skipped) > shown:
            caption.append(f"  ... and {len(skipped) - shown} more (listed in the markdown)")
    # About 14 monospace characters of the caption's size per inch of figure width.
    caption = [part for line in caption
               for part in textwrap.wrap(line, 14 * 8 * cols, subsequent_indent="    ")]
    caption_in = 0.16 * len(caption) + 0.2
    fig, axes = plt.subplots(rows, cols, figsize=(8 * cols, 6 * rows + caption_in),
                             squeeze=False, sharex=True, sharey=True)
    xs = [p.intensity for p in points] + [ceil.ridge]
    ys = [p.tflops for p in points]
    x_lo, x_hi = min(xs) / 3, max(xs) * 3
    y_lo, y_hi = min(ys + [ceil.roof(x_lo)]) / 2, ceil.gemm_tflops * 2
    grid = [x_lo * (x_hi / x_lo) ** (i / 200) for i in range(201)]
    for ax, (suite, pts) in zip(axes.flat, groups.items()):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.plot(grid, [ceil.copy_gbs * x / 1e3 for x in grid], ":", color="0.6", lw=1)
        ax.axhline(ceil.gemm_tflops, ls=":", color="0.6", lw=1)
        ax.plot(grid, [ceil.roof(x) for x in grid], "-", color="k", lw=1.8,
                label=f"roof: copy {ceil.copy_gbs / 1e3:.2f} TB/s, cuBLAS "
                      f"{ceil.gemm_tflops:.0f} TFLOP/s")
        numbers = case_numbers(pts)
        colors = {}
        for p in pts:
            name = _legend_name(p.impl)
            label = None if name in colors else name  # one legend entry per family
            color = colors.setdefault(name, f"C{len(colors) % 10}")
            if p.ours:
                ax.scatter(p.intensity, p.tflops, marker="*", s=170, color=color,
                           edgecolors="k", linewidths=0.5, zorder=3, label=label)
            else:
                ax.scatter(p.intensity, p.tflops, marker="o", s=55, facecolors="none",
                           edgecolors=color, linewidths=1.5, zorder=2, label=label)
            ax.annotate(str(numbers[p.case]), (p.intensity, p.tflops), xytext=(5, 3),
                        textcoords="offset points", fontsize=7, color=color)
        ax.set_title(suite, fontsize=11)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.grid(True, which="both", color="0.92", lw=0.6)
        ax.set_xlabel("arithmetic intensity (useful FLOP / byte)")
        ax.set_ylabel("achieved useful TFLOP/s")
        ax.tick_params(labelbottom=True, labelleft=True)  # sharex / sharey would hide them
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.suptitle("TriageAttention roofline", fontsize=13)
    fig.text(0.01, 0.005, "\n".join(caption), fontsize=7.5, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, caption_in / fig.get_figheight(), 1, 0.97))
    fig.savefig(out, dpi=140)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="JSON reports, or directories of them")
    ap.add_argument("--out", default="roofline.png", help="PNG to write (default roofline.png)")
    ap.add_argument("--md", help="also write the markdown table here (default: --out with .md)")
    a = ap.parse_args(argv)
    reports = load_reports(a.inputs)
    ceil = find_ceilings(reports)
    points, skipped = collect(reports)
    if not points:
        print("error: no row with a derivable FLOP and byte count", file=sys.stderr)
        return 1
    names = devices(reports)
    if len(names) > 1:
        print(f"warning: the reports come from different devices: {names}", file=sys.stderr)
    sources = [os.path.basename(p) for p, _ in reports]
    text = markdown(points, skipped, ceil, sources, names)
    print(text)
    md = a.md or os.path.splitext(a.out)[0] + ".md"
    with open(md, "w") as f:
        f.write(text)
    plot(points, skipped, ceil, names, a.out)
    print(f"wrote {a.out} and {md} ({len(points)} points, {len(skipped)} rows skipped)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
