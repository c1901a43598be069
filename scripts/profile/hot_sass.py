"""The SASS instructions where a kernel's warps stall most, from an Nsight Compute report.

    ncu --section SourceCounters --section WarpStateStats -k regex:NAME -c 1 -o rep <command>
    ncu --import rep.ncu-rep --page source --csv --print-source sass > rep.csv
    python3 scripts/profile/hot_sass.py rep.csv [--top 40]

Prints the instructions with the most warp-stall samples, their share of all samples, and the
stall-reason columns that dominate each: the source-level view of "where the time goes".
"""

import argparse
import csv


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        lines = f.readlines()
    # The table starts at its header row ("Address", "Source", ...); ncu prints a banner before.
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith('"Address"')):]
    rows = list(csv.DictReader(lines))
    if not rows:
        raise SystemExit("no rows: was the report collected with --section SourceCounters?")
    columns = [c for c in rows[0].keys() if c]
    samples = next(c for c in columns if "Sampling (All Samples)" in c)
    reasons = [c for c in columns if c.startswith("stall_") and "Not Issued" not in c]
    source = next(c for c in columns if c.strip().lower() == "source")
    total = sum(number(r[samples]) for r in rows) or 1.0
    print(f"{len(rows)} instructions, {total:.0f} stall samples; reason columns: {reasons}")
    for r in sorted(rows, key=lambda r: -number(r[samples]))[:args.top]:
        top = sorted(((number(r[c]), c) for c in reasons), reverse=True)[:2]
        why = ", ".join(f"{c} {v:.0f}" for v, c in top if v > 0)
        print(f"{100 * number(r[samples]) / total:5.1f}%  {r[source].strip()[:60]:<60} {why}")


if __name__ == "__main__":
    main()
