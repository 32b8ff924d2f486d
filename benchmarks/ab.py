"""dualad against dualad: the workloads W1–W6 on two checkouts, interleaved A B A B ...

For a refactor or an optimisation, run from the repository root::

    python -m benchmarks.ab --a /path/to/before --b . --runs 5

Each run is one process of ``benchmarks.compare``'s dualad worker (every dualad cell: plain,
recorded, compiled; results checked before they are timed) with the *same* benchmark code for
both sides — this checkout's ``benchmarks`` — and ``dualad`` imported from the given checkout.
Runs alternate between the sides so that the machine's drift hits both alike; the table gives
each cell's median over the runs and the median of the paired ratios B/A (< 1: B is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .compare import _TAG, thread_env

_HERE = Path(__file__).resolve().parent


def run_side(tree: Path, bench_root: Path, budget: float, clock: str = "wall",
             groups: list[str] | None = None) -> dict[tuple, float]:
    """One worker process with ``dualad`` from ``tree``: {(group, mode, variant): median s}."""
    env = dict(os.environ, **thread_env(1))
    env["DUALAD_BENCH_CLOCK"] = clock
    env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-m", "benchmarks.compare", "--worker", "dualad", "--budget", str(budget)]
    if groups:
        cmd += ["--groups", *groups]
    proc = subprocess.run(cmd, cwd=bench_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith(_TAG):
            rec = json.loads(line[len(_TAG):])
            if rec.get("kind") == "cell" and "median" in rec:
                out[(rec["group"], rec["mode"], rec["variant"])] = rec["median"]
            elif rec.get("kind") == "cell":
                out[(rec["group"], rec["mode"], rec["variant"])] = float("nan")
    if proc.returncode != 0:
        raise RuntimeError(f"the worker for {tree} exited with status {proc.returncode}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="checkout A (the baseline)")
    parser.add_argument("--b", type=Path, required=True, help="checkout B")
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (default 5)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds of samples per cell and run")
    parser.add_argument("--json", type=Path, help="write every run's cells to this file")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or process CPU time (on a loaded machine)")
    parser.add_argument("--groups", nargs="+", help="only these workloads (W1 ... W6, P); default: all")
    args = parser.parse_args(argv)
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        bench_root = Path(tmp)
        shutil.copytree(_HERE, bench_root / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        for i in range(args.runs):
            for side in ("A", "B"):
                print(f"run {i + 1}/{args.runs} {side}", file=sys.stderr, flush=True)
                runs[side].append(run_side(trees[side], bench_root, args.budget, args.clock, args.groups))
    if args.json:
        args.json.write_text(json.dumps({s: [{"|".join(k): v for k, v in r.items()} for r in rs] for s, rs in runs.items()}))
    keys = sorted(set().union(*runs["A"], *runs["B"]))
    print(f"A = {trees['A']}\nB = {trees['B']}\n{args.runs} interleaved runs of each, threads 1, {args.clock} clock, medians\n")
    print(f"{'workload':44s}{'A':>12s}{'B':>12s}{'B/A paired':>12s}")
    worst = 0.0
    for key in keys:
        a = [r.get(key, float("nan")) for r in runs["A"]]
        b = [r.get(key, float("nan")) for r in runs["B"]]
        ratios = [y / x for x, y in zip(a, b) if x == x and y == y and x > 0]
        ratio = statistics.median(ratios) if ratios else float("nan")
        worst = max(worst, ratio) if ratio == ratio else worst
        name = " ".join(key)
        print(f"{name:44s}{statistics.median(a) * 1e3:10.3f}ms{statistics.median(b) * 1e3:10.3f}ms{ratio:12.3f}")
    print(f"\nlargest median paired ratio B/A: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
