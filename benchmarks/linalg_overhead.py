"""The AD overhead of reverse-mode gradients through decompositions and an FFT (issue 15), in one run.

Three workloads on a 200×200 matrix and one on a vector of 2^20, each the reverse-mode gradient
of a scalar:

=====  ===========================================  ==============================
L1     ``sum(eigvalsh(A))``, A symmetric            gradient ``I``
L2     ``logdet`` via ``cholesky``, A SPD           gradient ``A⁻¹``
L3     ``sum(svd(A, compute_uv=False))``            gradient ``U Vᵀ``
F1     ``sum(abs(rfft(x))**2)``, n = 2^20            ``n x + Σx + (Σ(−1)^j x_j)(−1)^j``
=====  ===========================================  ==============================

For each system the *AD overhead* is ``(gradient time − primal time) / primal time``: what
differentiation adds to the function's own cost (LAPACK builds differ between systems; the
overhead does not depend on them as much).  Run from the repository root::

    python -m benchmarks.linalg_overhead                                   # dualad, peers if importable
    python -m benchmarks.linalg_overhead --peers-python /path/to/python    # peers from another venv

Each system runs in its own interpreter (``--worker SYSTEM``), one thread each (``--threads``),
and its gradient is checked against the closed form (``rtol = 1e-8``) before it is timed.  For
L1 and L2 (a symmetric input) the check compares the gradient's symmetric part: systems differ
in which entries carry the derivative (JAX and PyTorch symmetrise, dualad differentiates the
lower triangle that NumPy's ``eigvalsh`` and ``cholesky`` read, ``2 tril(G) − diag(G)``).
This module does not import dualad at module level, so peers' interpreters can run it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .timing import one_cpu

N = 200
N_FFT = 2**20
WORKLOADS = ("L1 eigvalsh", "L2 cholesky logdet", "L3 svd values", "F1 rfft power")
SYMMETRIC = ("L1 eigvalsh", "L2 cholesky logdet")  # symmetric inputs: the gradients' symmetric parts are compared


def inputs(seed: int = 0) -> dict:
    """The three matrices and the vector (float64) and the reference gradients."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, N))
    sym = x + x.T
    spd = x @ x.T + N * np.eye(N)
    u, _, vt = np.linalg.svd(x)
    v = rng.standard_normal(N_FFT)
    alt = (-1.0) ** np.arange(N_FFT)  # Σ over the half spectrum counts the DC and Nyquist terms once
    return {
        "L1 eigvalsh": (sym, np.eye(N)),
        "L2 cholesky logdet": (spd, np.linalg.inv(spd)),
        "L3 svd values": (x, u @ vt),
        "F1 rfft power": (v, N_FFT * v + np.sum(v) + np.sum(alt * v) * alt),
    }


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def median_time(fn, budget: float, clock=time.perf_counter) -> float:
    """Median seconds of one call, over 5 to 50 calls fitting ``budget`` (after one warm-up),
    by ``clock``: wall time, or the process's CPU time (``--clock cpu``, every thread of the
    process counted), which a machine shared with other work disturbs less."""
    fn()
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-6)
    repeat = int(min(50, max(5, budget / once)))
    gc.disable()
    try:
        samples = []
        for _ in range(repeat):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
    finally:
        gc.enable()
    return statistics.median(samples)


def _dualad_cells():
    import dualad as ad

    fs = {
        "L1 eigvalsh": lambda a: np.sum(np.linalg.eigvalsh(a)),
        "L2 cholesky logdet": lambda a: 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(a)))),
        "L3 svd values": lambda a: np.sum(np.linalg.svd(a, compute_uv=False)),
        "F1 rfft power": lambda x: np.sum(np.abs(np.fft.rfft(x)) ** 2),
    }
    return {k: (f, ad.grad(f), lambda g: g) for k, f in fs.items()}, ad.__version__


def _torch_cells():
    import torch

    fs = {
        "L1 eigvalsh": lambda a: torch.sum(torch.linalg.eigvalsh(a)),
        "L2 cholesky logdet": lambda a: 2.0 * torch.sum(torch.log(torch.diagonal(torch.linalg.cholesky(a)))),
        "L3 svd values": lambda a: torch.sum(torch.linalg.svdvals(a)),
        "F1 rfft power": lambda x: torch.sum(torch.abs(torch.fft.rfft(x)) ** 2),
    }

    def cell(f):
        def primal(a):
            with torch.no_grad():
                return f(torch.from_numpy(a))

        def grad(a):
            t = torch.from_numpy(a).requires_grad_(True)
            return torch.autograd.grad(f(t), t)[0]

        return primal, grad, lambda g: g.numpy()

    return {k: cell(f) for k, f in fs.items()}, torch.__version__


def _jax_cells():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    fs = {
        "L1 eigvalsh": lambda a: jnp.sum(jnp.linalg.eigvalsh(a)),
        "L2 cholesky logdet": lambda a: 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a)))),
        "L3 svd values": lambda a: jnp.sum(jnp.linalg.svd(a, compute_uv=False)),
        "F1 rfft power": lambda x: jnp.sum(jnp.abs(jnp.fft.rfft(x)) ** 2),
    }

    def cell(f):
        primal, grad = jax.jit(f), jax.jit(jax.grad(f))
        return (lambda a: primal(a).block_until_ready()), (lambda a: grad(a).block_until_ready()), np.asarray

    return {k: cell(f) for k, f in fs.items()}, jax.__version__


SYSTEMS = {"dualad": _dualad_cells, "torch": _torch_cells, "jax jit": _jax_cells}


def worker(system: str, budget: float, clock: str = "wall") -> None:
    """Check and time every workload for one system; one JSON line per workload on stdout."""
    cells, version = SYSTEMS[system]()
    for name, (a, reference) in inputs().items():
        primal, grad, plain = cells[name]
        got = plain(grad(a))
        if name in SYMMETRIC:
            got = 0.5 * (got + got.T)
        record = {"system": system, "version": version, "workload": name}
        if not np.allclose(got, reference, rtol=1e-8, atol=1e-10):
            record["wrong"] = float(np.max(np.abs(got - reference)))
        else:
            record["primal"] = median_time(lambda: primal(a), budget, CLOCKS[clock])
            record["grad"] = median_time(lambda: grad(a), budget, CLOCKS[clock])
        print(json.dumps(record), flush=True)


def _run(system: str, python: str, budget: float, threads: int, clock: str) -> list[dict]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "XLA_FLAGS"):
        env.pop(var, None)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env[var] = str(threads)
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, "-m", "benchmarks.linalg_overhead", "--worker", system, "--budget", str(budget), "--clock", clock]
    pin = one_cpu() if threads == 1 else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=here, timeout=1800, preexec_fn=pin)
    if proc.returncode != 0:
        print(f"# {system} skipped: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
        return []
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of samples per cell (default 1)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall time (default) or the process's CPU time")
    parser.add_argument("--threads", type=int, default=1, help="threads per system (0: the libraries' default)")
    parser.add_argument("--peers-python", default=sys.executable, help="interpreter with torch and jax")
    parser.add_argument("--json", help="also write the records here")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.budget, args.clock)
        return
    records = []
    for system in SYSTEMS:
        python = sys.executable if system == "dualad" else args.peers_python
        records += _run(system, python, args.budget, args.threads, args.clock)
    threads = args.threads or "default"
    print(f"AD overhead (gradient − primal) / primal, {N}×{N} and n = 2^20, float64, {threads} thread(s), {args.clock} clock, medians")
    print(f"{'workload':<22}{'system':<10}{'primal ms':>11}{'grad ms':>10}{'overhead':>10}")
    for r in records:
        if "wrong" in r:
            print(f"{r['workload']:<22}{r['system']:<10}  WRONG gradient (max error {r['wrong']:.2g})")
            continue
        over = (r["grad"] - r["primal"]) / r["primal"]
        print(f"{r['workload']:<22}{r['system']:<10}{1e3 * r['primal']:>11.2f}{1e3 * r['grad']:>10.2f}{over:>9.2f}×")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
