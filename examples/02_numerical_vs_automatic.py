"""Numerical versus automatic differentiation: the step-size dilemma of finite differences.

For the lecture's f(x) = 64x(1−x)(1−2x)²(1−8x+8x²)² at x* = 0.2, compares the forward
difference (f(x+h) − f(x))/h and the central difference (f(x+h) − f(x−h))/2h with dualad's
derivative for step sizes h from 1e-1 down to 1e-15.  Truncation error shrinks with h (as h
and h²), round-off error grows (as ε/h): neither gets below ~1e-8 or ~1e-11, while automatic
differentiation is exact to machine precision.  Draws the log-log plot when matplotlib is
installed.

Run: ``python examples/02_numerical_vs_automatic.py [PLOT.png or FOLDER]`` (default: the current folder)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import dualad as ad


def f(x):
    """The logistic map iterated three times (the lecture's expression-swell example)."""
    return 64 * x * (1 - x) * (1 - 2 * x) ** 2 * (1 - 8 * x + 8 * x * x) ** 2


def f_prime_by_hand(x):
    """The derivative by the product rule, written out (what symbolic differentiation gives)."""
    a, b, c, d = x, 1 - x, (1 - 2 * x) ** 2, (1 - 8 * x + 8 * x * x) ** 2
    da, db, dc, dd = 1.0, -1.0, -4 * (1 - 2 * x), 2 * (1 - 8 * x + 8 * x * x) * (-8 + 16 * x)
    return 64 * (da * b * c * d + a * db * c * d + a * b * dc * d + a * b * c * dd)


def plot(h, forward_err, central_err, ad_err, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    floor = 1e-17
    ax.loglog(h, np.maximum(forward_err, floor), "o-", ms=3, label="forward difference")
    ax.loglog(h, np.maximum(central_err, floor), "s-", ms=3, label="central difference")
    ad_label = "dualad (exact: error 0, drawn at 1e-17)" if ad_err == 0 else f"dualad (error {ad_err:.1e})"
    ax.axhline(max(ad_err, floor), color="k", ls="--", label=ad_label)
    ax.set_xlabel("step size h")
    ax.set_ylabel("|approximation − f′(x*)|")
    ax.set_title("f(x) = 64x(1−x)(1−2x)²(1−8x+8x²)² at x* = 0.2")
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(small: bool = False, out: str | Path | None = None) -> dict:
    x = 0.2
    exact_ad = float(ad.derivative(f)(x))
    by_hand = float(f_prime_by_hand(x))
    _, tangent = ad.jvp(f, (x,), (1.0,))
    reverse = float(ad.grad(f)(x))
    print(f"f'(0.2): dualad forward {exact_ad:.17g}, jvp {float(tangent):.17g}, reverse {reverse:.17g}")
    print(f"         product rule by hand {by_hand:.17g}")

    h = np.logspace(-1, -15, 15 if small else 57)
    forward = (f(x + h) - f(x)) / h
    central = (f(x + h) - f(x - h)) / (2 * h)
    forward_err = np.abs(forward - by_hand)
    central_err = np.abs(central - by_hand)
    ad_err = abs(exact_ad - by_hand)
    print(f"\n{'h':>8}  {'forward error':>14}  {'central error':>14}")
    for hi, ef, ec in zip(h, forward_err, central_err):
        if small or abs(np.log10(hi) - round(np.log10(hi))) < 1e-9:
            print(f"{hi:8.0e}  {ef:14.3e}  {ec:14.3e}")
    best_f, best_c = int(np.argmin(forward_err)), int(np.argmin(central_err))
    print(f"\nbest forward difference: error {forward_err[best_f]:.1e} at h = {h[best_f]:.0e}")
    print(f"best central difference: error {central_err[best_c]:.1e} at h = {h[best_c]:.0e}")
    print(f"dualad:                  error {ad_err:.1e} (no step size to choose)")

    out = Path(out) if out is not None else Path.cwd()  # where the user runs it
    if out.suffix == "":  # a folder
        out = out / "numerical_vs_automatic.png"
    path = plot(h, forward_err, central_err, ad_err, Path(out))
    if path is not None:
        print(f"plot written to {path}")
    return {
        "derivative": exact_ad,
        "by_hand": by_hand,
        "reverse": reverse,
        "h": h,
        "forward_err": forward_err,
        "central_err": central_err,
        "ad_err": ad_err,
        "plot": path,
    }


if __name__ == "__main__":
    main(out=sys.argv[1] if len(sys.argv) > 1 else None)
