"""The pendulum loop of issue 18: a recorded gradient run by the operation-sequence VM.

The primal is a damped pendulum integrated for ``n`` explicit Euler steps on four scalar
parameters ``(theta0, g_over_l, c, dt)``; the loss is ``theta**2 + omega**2`` at the end.
Measured (minimum of several runs, seconds)::

    primal          the loop on Python floats (NumPy's sin)
    vm grad         rec(params) for rec = ad.record(ad.grad(loss), params): the recorded
                    gradient program (forward and backward sweeps, ~31 ops per step) run by
                    the VM of dualad.kernels.vm
    vm value_and_grad
                    ad.record(loss, params).value_and_grad(params): the recorded loss run
                    forward and its adjoint sweep backward by the VM (no backward recorded)
    vm hessian      ad.record(ad.grad(loss), params).jacobian(params): four compiled adjoint
                    sweeps of the recorded gradient program
    eager grad      ad.grad(loss)(params), for comparison (and ad.hessian: eager hessian)
    record, lower   the first call's parts at 1,000 and 10,000 steps: recording ad.grad(loss)
                    and lowering it to an operation sequence
    vm compile      generating and compiling the VM in a fresh process on an empty kernel
                    cache, and loading it from the cache in a second fresh process

Run from the repository root::

    python -m benchmarks.pendulum            # everything
    python -m benchmarks.pendulum --no-vm    # without the (slow) VM compile measurement
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import best_of

PARAMS = np.array([0.5, 9.81, 0.1, 0.01])
_ROOT = Path(__file__).resolve().parents[1]


def make_loss(n: int):
    """The pendulum loss of ``n`` steps."""

    def loss(p):
        theta0, g_over_l, c, dt = p[0], p[1], p[2], p[3]
        theta, omega = theta0, 0.0
        for _ in range(n):
            omega = omega - dt * (g_over_l * np.sin(theta) + c * omega)
            theta = theta + dt * omega
        return theta**2 + omega**2

    return loss


def best(fn, repeat: int = 7) -> float:
    """The minimum wall time of ``repeat`` calls."""
    return best_of(fn, repeat)


def steady(n: int = 1000) -> dict:
    """Primal, VM-run recorded gradients and eager gradient times at ``n`` steps."""
    import dualad as ad

    loss = make_loss(n)
    rec = ad.record(ad.grad(loss), PARAMS)
    rec_loss = ad.record(loss, PARAMS)
    q = PARAMS * 1.01
    want = ad.grad(loss)(q)
    np.testing.assert_allclose(rec(q), want, rtol=1e-12)
    np.testing.assert_allclose(rec_loss.value_and_grad(q)[1], want, rtol=1e-12)
    np.testing.assert_allclose(rec.jacobian(q), ad.hessian(loss)(q), rtol=1e-10)
    plain = [float(v) for v in q]
    return {"primal": best(lambda: loss(plain)), "vm grad": best(lambda: rec(q)),
            "vm value_and_grad": best(lambda: rec_loss.value_and_grad(q)),
            "vm hessian": best(lambda: rec.jacobian(q)),
            "eager grad": best(lambda: ad.grad(loss)(q), 3), "eager hessian": best(lambda: ad.hessian(loss)(q), 2)}


def first_call(n: int) -> dict:
    """Record and lower times of the recorded gradient at ``n`` steps (VM already loaded)."""
    import dualad as ad

    loss = make_loss(n)
    t0 = time.perf_counter()
    rec = ad.record(ad.grad(loss), PARAMS)
    t1 = time.perf_counter()
    rec.program()
    t2 = time.perf_counter()
    rec(PARAMS)
    t3 = time.perf_counter()
    return {"record": t1 - t0, "lower": t2 - t1, "run": t3 - t2, "first call": t3 - t0}


_CHILD = """
import time, numpy as np
t = time.perf_counter()
from dualad.kernels.vm import get_vm, WIDTH
run, _, sweep = get_vm()
code, ints = np.zeros((0, WIDTH), np.int64), np.zeros(0, np.int64)
run(np.zeros(2), code, ints, 0, 0)
t1 = time.perf_counter()
sweep(np.zeros(2), np.zeros(2), code, ints, 0, 0)
print(t1 - t, time.perf_counter() - t1)
"""


def vm_compile() -> dict:
    """The VM's first compile (fresh cache) and cached load (float64), each in a new process:
    ``(value interpreter, adjoint sweep)`` seconds."""
    env = dict(os.environ, PYTHONPATH=str(_ROOT))
    with tempfile.TemporaryDirectory() as d:
        env["DUALAD_CACHE_DIR"] = d
        out = {}
        for name in ("compile", "cached load"):
            res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
            out[name] = tuple(float(t) for t in res.stdout.strip().splitlines()[-1].split())
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-vm", action="store_true", help="skip the VM compile measurement")
    args = parser.parse_args(argv)
    s = steady()
    print("1000 steps: primal {primal:.3e} s, vm grad {vm grad:.3e} s, vm value_and_grad {vm value_and_grad:.3e} s, "
          "eager grad {eager grad:.3e} s".format(**s))
    print(f"  vm grad / primal = {s['vm grad'] / s['primal']:.2f}, "
          f"vm value_and_grad / primal = {s['vm value_and_grad'] / s['primal']:.2f}")
    print(f"  hessian: vm {s['vm hessian']:.3e} s, eager {s['eager hessian']:.3e} s")
    for n in (1000, 10_000):
        f = min((first_call(n) for _ in range(3)), key=lambda r: r["first call"])
        print(f"first call at {n} steps: record {f['record']:.2f} s, lower {f['lower']:.2f} s, "
              f"run {f['run']:.4f} s, total {f['first call']:.2f} s")
    if not args.no_vm:
        v = vm_compile()
        (c_run, c_sweep), (l_run, l_sweep) = v["compile"], v["cached load"]
        print(f"VM (float64): first compile {c_run:.1f} s (adjoint sweep {c_sweep:.1f} s more), "
              f"cached load {l_run:.2f} s (sweep {l_sweep:.2f} s)")


if __name__ == "__main__":
    main()
