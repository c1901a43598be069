"""Reproducibility check: the same suite run twice must give bitwise-equal outputs and steady times.

  python benchmarks/repro_check.py FIRST.json SECOND.json     # compare two runs
  python benchmarks/repro_check.py --rerun FIRST.json [--rerun OTHER.json ...] [--dir DIR]
      # rerun the command recorded in each report's meta (its --json pointed into DIR), compare

Per row of ours (impl starting with "TriageAttention"), matched by (suite, case, impl):
  - hash: the SHA-256 of the output must be identical in both runs;
  - spread: the harness's (p90 - p10) / median must be at most --max-spread (default 1%) in each
    run;
  - drift: |median 2 - median 1| / median 1 must be at most --max-drift (default 1%).
Peers are not checked (cuBLAS, cuDNN and Triton may choose other kernels from run to run). A row
of ours measured in neither run (e.g. not built) is listed, not failed; one missing or
unmeasured in only one run fails. Prints a markdown table (also to --md); exit status 0 when
every row of ours passes, 1 otherwise (also when a rerun exits non-zero or writes no JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

OURS_PREFIX = "TriageAttention"
_SHORT_HASH = 12


@dataclasses.dataclass
class Verdict:
    key: Tuple[str, str, str]
    cells: List[str]
    status: str  # "ok", "not measured" or the reasons for failing

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "not measured")


def keyed_rows(report: dict) -> Dict[Tuple[str, str, str], dict]:
    """Our rows by (suite, case, impl); a repeated key gets its occurrence number in the impl."""
    rows = {}
    for r in report["rows"]:
        if not r["impl"].startswith(OURS_PREFIX):
            continue
        key, n = (r["suite"], r["case"], r["impl"]), 1
        while key in rows:
            n += 1
            key = (r["suite"], r["case"], f"{r['impl']} #{n}")
        rows[key] = r
    return rows


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _measured(r: Optional[dict]) -> bool:
    return r is not None and bool(r.get("runs")) and bool(r.get("median_ms"))


def compare(first: dict, second: dict, max_spread: float, max_drift: float) -> List[Verdict]:
    a, b = keyed_rows(first), keyed_rows(second)
    verdicts = []
    for key in list(a) + [k for k in b if k not in a]:
        r1, r2 = a.get(key), b.get(key)
        if not _measured(r1) and not _measured(r2) and r1 is not None and r2 is not None:
            verdicts.append(Verdict(key, ["-"] * 6, "not measured"))
            continue
        if not (_measured(r1) and _measured(r2)):
            which = "run 1" if not _measured(r1) else "run 2"
            verdicts.append(Verdict(key, ["-"] * 6, f"FAIL: missing or not measured in {which}"))
            continue
        reasons = []
        h1, h2 = r1.get("sha256") or "", r2.get("sha256") or ""
        if not h1 or h1 != h2:
            reasons.append("hash differs" if h1 and h2 else "no hash")
        s1, s2 = r1.get("spread"), r2.get("spread")
        if s1 is None or s2 is None or max(s1, s2) > max_spread:
            reasons.append(f"spread > {_pct(max_spread)}")
        drift = abs(r2["median_ms"] - r1["median_ms"]) / r1["median_ms"]
        if drift > max_drift:
            reasons.append(f"drift > {_pct(max_drift)}")
        cells = [h1[:_SHORT_HASH] or "-", "same" if h1 and h1 == h2 else h2[:_SHORT_HASH] or "-",
                 _pct(s1), _pct(s2), f"{r1['median_ms']:.4g} / {r2['median_ms']:.4g}",
                 _pct(drift)]
        verdicts.append(Verdict(key, cells, "FAIL: " + ", ".join(reasons) if reasons else "ok"))
    return verdicts


def table(verdicts: List[Verdict]) -> str:
    lines = ["| suite | case | impl | sha256 run 1 | run 2 | spread 1 | spread 2 | "
             "median ms 1 / 2 | drift | result |",
             "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for v in verdicts:
        cells = [c.replace("|", "\\|") for c in (*v.key, *v.cells, v.status)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rerun(first_path: str, out_dir: str) -> Tuple[Optional[dict], str]:
    """Runs the command recorded in the report's meta again with --json into out_dir; returns
    (report or None, problem text or '')."""
    with open(first_path) as f:
        command = json.load(f)["meta"]["command"]
    argv = shlex.split(command)
    # Python suites record basename(sys.executable): run them with this interpreter.
    if os.path.basename(argv[0]).startswith("python"):
        argv[0] = sys.executable
    second = os.path.join(out_dir, os.path.basename(first_path))
    if os.path.abspath(second) == os.path.abspath(first_path):
        raise SystemExit(f"error: --dir must differ from the directory of {first_path}")
    if "--json" in argv:
        argv[argv.index("--json") + 1] = second
    else:
        argv += ["--json", second]
    log = os.path.splitext(second)[0] + ".log"
    print(f"rerun: {' '.join(argv)} (output in {log})", file=sys.stderr)
    if os.path.exists(second):
        os.remove(second)  # a stale file must not pass for this run's result
    with open(log, "w") as f:
        rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT).returncode
    if not os.path.exists(second):
        return None, f"rerun of {first_path} wrote no JSON (exit status {rc}, see {log})"
    with open(second) as f:
        report = json.load(f)
    return report, "" if rc == 0 else f"rerun of {first_path} exited with {rc} (see {log})"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="*", help="FIRST.json SECOND.json")
    ap.add_argument("--rerun", action="append", default=[], metavar="JSON",
                    help="rerun the command recorded in this report and compare (repeatable)")
    ap.add_argument("--dir", default="repro", help="where reruns write (default ./repro)")
    ap.add_argument("--max-spread", type=float, default=0.01)
    ap.add_argument("--max-drift", type=float, default=0.01)
    ap.add_argument("--md", help="also write the report here")
    a = ap.parse_args(argv)
    if bool(a.reports) == bool(a.rerun) or (a.reports and len(a.reports) != 2):
        ap.error("give either two reports or --rerun REPORT")

    pairs, problems = [], []
    if a.reports:
        with open(a.reports[0]) as f1, open(a.reports[1]) as f2:
            pairs.append((a.reports[0], json.load(f1), json.load(f2)))
    else:
        os.makedirs(a.dir, exist_ok=True)
        for path in a.rerun:
            with open(path) as f:
                first = json.load(f)
            second, problem = rerun(path, a.dir)
            if problem:
                problems.append(problem)
            if second is not None:
                pairs.append((path, first, second))

    verdicts = [v for _, first, second in pairs
                for v in compare(first, second, a.max_spread, a.max_drift)]
    failed = [v for v in verdicts if v.failed]
    lines = [f"- compared: {', '.join(p for p, _, _ in pairs) or 'nothing'}",
             f"- criteria per row of ours: identical sha256, spread <= {_pct(a.max_spread)} in "
             f"each run, median drift <= {_pct(a.max_drift)}",
             f"- result: {sum(v.status == 'ok' for v in verdicts)} rows of ours pass, "
             f"{len(failed)} fail, {sum(v.status == 'not measured' for v in verdicts)} not "
             "measured", *[f"- problem: {p}" for p in problems], "", table(verdicts)]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    return 1 if failed or problems or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
