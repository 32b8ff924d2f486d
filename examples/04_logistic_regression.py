"""Logistic regression, vectorised, trained with ``dualad.optim.Adam``.

Two Gaussian classes in d dimensions; the model p(y = 1 | x) = σ(x·w + b) is fitted by
minimising the mean logistic loss softplus(−s (x·w + b)) (s = ±1) plus a small L2 penalty, with
the functional optimiser API: ``state = opt.init(params)``, ``params, state =
opt.update(grads, state, params)`` where ``params`` is a dict.  The result is checked against
SciPy's L-BFGS run on the same loss with dualad's gradient.

Run: ``python examples/04_logistic_regression.py``
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

import dualad as ad
from dualad import optim

L2 = 1e-2


def make_data(n: int, d: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    s = rng.choice([-1.0, 1.0], size=n)  # labels ±1
    centre = np.linspace(1.0, -0.5, d)
    X = rng.standard_normal((n, d)) + s[:, None] * centre
    return X, s


def loss(params, X, s):
    z = X @ params["w"] + params["b"]
    return np.mean(ad.softplus(-s * z)) + 0.5 * L2 * np.sum(params["w"] ** 2)


def accuracy(params, X, s):
    return float(np.mean(np.sign(X @ params["w"] + params["b"]) == s))


def main(small: bool = False) -> dict:
    n, d = (200, 3) if small else (2000, 5)
    X, s = make_data(n, d)
    n_train = n * 3 // 4
    Xtr, str_, Xte, ste = X[:n_train], s[:n_train], X[n_train:], s[n_train:]

    params = {"w": np.zeros(d), "b": np.zeros(())}
    opt = optim.Adam(0.05)
    state = opt.init(params)
    value_and_grad = ad.value_and_grad(loss)
    steps = 150 if small else 500
    for k in range(steps):
        value, grads = value_and_grad(params, Xtr, str_)
        params, state = opt.update(grads, state, params)
        if k % (steps // 5) == 0:
            print(f"step {k:4d}  loss {float(value):.6f}")
    final = float(loss(params, Xtr, str_))

    # Reference: L-BFGS on the same loss, with dualad's gradient.
    def flat_loss(theta):
        return loss({"w": theta[:d], "b": theta[d]}, Xtr, str_)

    ref = minimize(flat_loss, np.zeros(d + 1), jac=ad.grad(flat_loss), method="L-BFGS-B", tol=1e-12)
    acc_train, acc_test = accuracy(params, Xtr, str_), accuracy(params, Xte, ste)
    print(f"Adam:   loss {final:.6f}   train accuracy {acc_train:.3f}   test accuracy {acc_test:.3f}")
    print(f"L-BFGS: loss {ref.fun:.6f}   max |θ_adam − θ_lbfgs| = {np.max(np.abs(np.append(params['w'], params['b']) - ref.x)):.1e}")
    return {
        "loss": final,
        "reference_loss": float(ref.fun),
        "train_accuracy": acc_train,
        "test_accuracy": acc_test,
        "params": params,
        "reference": ref.x,
    }


if __name__ == "__main__":
    main()
