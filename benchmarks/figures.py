"""Measure the issue figures in one process and print them as ratios.

Run from the repository root: ``python -m benchmarks.figures``.  Medians of repeated runs;
this machine is shared and noisy, so compare the ratios, not the absolute times.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np

import dualad as ad

from .workloads import MLP, lecture, w2


def median_time(fn, repeat: int = 7, number: int = 1) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def import_time(code: str) -> float:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    rows = []
    t_np = import_time("import numpy, numba")
    t_ad = import_time("import numpy, numba; import dualad")
    rows.append(("import dualad beyond numpy+numba", f"{(t_ad - t_np) * 1e3:.0f} ms", ""))

    rng = np.random.default_rng(0)
    x = rng.standard_normal(1_000_000)
    v8 = rng.standard_normal((8, x.size))
    g = ad.grad(w2)
    # correctness before timing
    np.testing.assert_allclose(ad.jvp(w2, (x[:5],), (np.ones(5),))[1], np.sum(g(x[:5])), rtol=1e-10)
    tp = median_time(lambda: w2(x))
    t1 = median_time(lambda: ad.jvp(w2, (x,), (np.ones_like(x),)))
    t8 = median_time(lambda: w2(ad.Dual(x, v8)))
    tg = median_time(lambda: g(x))
    rows.append(("W2 numpy primal, n=1e6", f"{tp * 1e3:.1f} ms", "1.00x"))
    rows.append(("W2 forward, 1 lane", f"{t1 * 1e3:.1f} ms", f"{t1 / tp:.2f}x primal"))
    rows.append(("W2 forward, 8 lanes", f"{t8 * 1e3:.1f} ms", f"{t8 / tp:.2f}x primal"))
    rows.append(("W2 reverse gradient", f"{tg * 1e3:.1f} ms", f"{tg / tp:.2f}x primal"))

    vg = ad.value_and_grad(lecture, argnums=(0, 1))
    value, (g1, g2) = vg(2.0, 5.0)
    assert abs(float(g1) - 5.5) < 1e-12 and abs(float(g2) - 1.7163378145367738) < 1e-12
    rows.append(("W1 value_and_grad (scalar)", f"{median_time(lambda: vg(2.0, 5.0), number=200) * 1e6:.1f} us", ""))
    d = ad.Dual(2.0, 1.0)
    rows.append(("scalar Dual multiply", f"{median_time(lambda: d * d, number=2000) * 1e6:.2f} us", ""))

    mlp = MLP()
    vgm = ad.value_and_grad(mlp.loss, argnums=(0, 1, 2, 3))
    ref_loss, ref_grads = mlp.numpy_value_and_grads(*mlp.params)
    loss, grads = vgm(*mlp.params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    for a, b in zip(grads, ref_grads):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    th = median_time(lambda: mlp.numpy_value_and_grads(*mlp.params), number=5)
    tm = median_time(lambda: vgm(*mlp.params), number=5)
    rows.append(("W3 MLP hand-written numpy fwd+bwd", f"{th * 1e3:.2f} ms", "1.00x"))
    rows.append(("W3 MLP dualad value_and_grad", f"{tm * 1e3:.2f} ms", f"{tm / th:.2f}x hand"))

    width = max(len(r[0]) for r in rows)
    for name, t, ratio in rows:
        print(f"{name:<{width}}  {t:>10}  {ratio}")


if __name__ == "__main__":
    main()
