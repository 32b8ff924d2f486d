"""Ordinary least squares three ways, all matching the closed-form solution.

Minimises L(w) = ||X w − y||² / (2n) by gradient descent

1. with ``dualad.grad`` (functional: the gradient is a function of w);
2. with ``Variable.backward()`` (PyTorch style: the gradient lands in ``w.grad``; the update
   replaces w's value with ``dualad.optim.assign``);
3. with an optimiser (``dualad.optim.SGD`` with momentum, its ``step()`` form over Variables);

and checks each against ``np.linalg.lstsq``.

Run: ``python examples/03_ols_three_ways.py``
"""

from __future__ import annotations

import numpy as np

import dualad as ad
from dualad import optim


def make_data(n: int, p: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])  # intercept + features
    beta = rng.standard_normal(p)
    y = X @ beta + 0.1 * rng.standard_normal(n)
    return X, y


def loss(w, X, y):
    r = X @ w - y
    return np.sum(r * r) / (2 * len(y))


def main(small: bool = False) -> dict:
    n, p = (60, 3) if small else (500, 5)
    X, y = make_data(n, p)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    # A step of 1/L, L the largest eigenvalue of the Hessian XᵀX/n, converges for this convex loss.
    lr = 1.0 / np.linalg.eigvalsh(X.T @ X / n)[-1]
    steps = 300

    # 1. dualad.grad: a new function that returns ∇L(w).
    grad_loss = ad.grad(loss)
    w1 = np.zeros(p)
    for _ in range(steps):
        w1 = w1 - lr * grad_loss(w1, X, y)

    # 2. Variable.backward(): record the loss on a tape, sweep it, read w.grad.
    w2 = ad.Variable(np.zeros(p))
    for _ in range(steps):
        w2.zero_grad()
        loss(w2, X, y).backward()
        optim.assign(w2, w2.value - lr * w2.grad)

    # 3. An optimiser: heavy-ball momentum, PyTorch-style step() over Variables.
    w3 = ad.Variable(np.zeros(p))
    opt = optim.SGD(lr, momentum=0.5)
    for _ in range(steps):
        opt.zero_grad([w3])
        loss(w3, X, y).backward()
        opt.step([w3])

    results = {"lstsq": w_star, "grad": w1, "backward": w2.value, "optimizer": w3.value}
    print(f"OLS with n = {n}, p = {p}: {steps} gradient steps of size {lr:.3f}")
    for name, w in results.items():
        err = np.max(np.abs(w - w_star))
        print(f"  {name:<10} w = {np.array2string(w, precision=6)}   max |w − w*| = {err:.1e}")
    return results


if __name__ == "__main__":
    main()
