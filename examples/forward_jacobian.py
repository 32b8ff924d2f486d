"""dualad's main job in a few lines: the Jacobian of ordinary NumPy code in forward mode.

Prints the Jacobian of a small vector function computed with ``dualad.jacfwd`` and checks it
against central finite differences; exits non-zero if they disagree.
"""

import sys

import numpy as np

import dualad as ad


def f(x):
    """R^3 -> R^2, written with plain NumPy."""
    return np.array([1.0, 0.0]) * np.sum(np.sin(x) * np.exp(-x**2)) + np.array([0.0, 1.0]) * np.prod(x)


def central_differences(f, x, h=1e-6):
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)


def main() -> int:
    x = np.array([0.3, -1.2, 2.0])
    J = ad.jacfwd(f)(x)
    print("x =", x)
    print("Jacobian of f at x (forward mode, 3 tangent lanes in one pass):")
    print(J)
    err = np.max(np.abs(J - central_differences(f, x)))
    print(f"max |J - finite differences| = {err:.2e}")
    if not err < 1e-7:
        print("MISMATCH", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
