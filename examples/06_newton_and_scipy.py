"""Second-order optimisation with dualad: Newton's method, and SciPy with exact Hessians.

The Rosenbrock function f(x) = Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)² has its minimum at
x = (1, ..., 1).  This example minimises it

1. with a damped Newton's method written by hand: ``dualad.grad`` and ``dualad.hessian``
   (forward-over-reverse) give the Newton step H⁻¹∇f, a backtracking line search keeps f
   decreasing;
2. with ``scipy.optimize.minimize(method="trust-exact")`` given ``jac=dualad.grad(f)`` and
   ``hess=dualad.hessian(f)``;
3. with ``scipy.optimize.minimize(method="Newton-CG")`` given ``jac`` and
   ``hessp=lambda x, p: dualad.hvp(f, x, p)``: Hessian-vector products, one
   forward-over-reverse pass each, never forming H.

Run: ``python examples/06_newton_and_scipy.py``
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

import dualad as ad


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def newton(f, x0, tol: float = 1e-10, max_iter: int = 100):
    grad, hess = ad.grad(f), ad.hessian(f)
    x = np.array(x0, dtype=float)
    for k in range(max_iter):
        g = grad(x)
        if np.linalg.norm(g) < tol:
            return x, k
        step = np.linalg.solve(hess(x), -g)
        if g @ step >= 0:  # not a descent direction (H not positive definite): fall back to −∇f
            step = -g
        t, fx = 1.0, f(x)
        while f(x + t * step) > fx + 1e-4 * t * (g @ step) and t > 1e-12:
            t *= 0.5
        x = x + t * step
    return x, max_iter


def main(small: bool = False) -> dict:
    f = rosenbrock
    # The classic start in two dimensions.
    x_newton, iters = newton(f, np.array([-1.2, 1.0]))
    print(f"Rosenbrock in 2 dimensions from (-1.2, 1): Newton (hand-written) reaches {x_newton} in {iters} iterations")

    # SciPy's documentation start, repeated to n dimensions.
    n = 5 if small else 20
    x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n)
    ones = np.ones(n)
    print(f"Rosenbrock in {n} dimensions from x0 = (1.3, 0.7, 0.8, 1.9, 1.2, ...)")
    x_newton_n, iters_n = newton(f, x0)
    print(f"  Newton (hand-written):   {iters_n:3d} iterations, max |x − 1| = {np.max(np.abs(x_newton_n - ones)):.1e}")

    jac, hess = ad.grad(f), ad.hessian(f)
    res_te = minimize(f, x0, method="trust-exact", jac=jac, hess=hess, options={"gtol": 1e-10})
    print(
        f"  SciPy trust-exact:       {res_te.nit:3d} iterations, max |x − 1| = {np.max(np.abs(res_te.x - ones)):.1e}"
        f"   ({res_te.nfev} f, {res_te.njev} ∇f, {res_te.nhev} Hessians)"
    )

    def hessp(x, p):
        return ad.hvp(f, x, p)

    res_cg = minimize(f, x0, method="Newton-CG", jac=jac, hessp=hessp, options={"xtol": 1e-12})
    print(
        f"  SciPy Newton-CG (hvp):   {res_cg.nit:3d} iterations, max |x − 1| = {np.max(np.abs(res_cg.x - ones)):.1e}"
        f"   ({res_cg.nfev} f, {res_cg.njev} ∇f, {res_cg.nhev} Hessian-vector products)"
    )

    # The HVP agrees with the full Hessian times the vector.
    v = np.linspace(-1.0, 1.0, n)
    err = np.max(np.abs(ad.hvp(f, x0, v) - hess(x0) @ v))
    print(f"  max |hvp(f, x0, v) − H(x0) v| = {err:.1e}")
    return {"newton": x_newton, "newton_iterations": iters, "newton_n": x_newton_n, "trust_exact": res_te, "newton_cg": res_cg, "hvp_error": err}


if __name__ == "__main__":
    main()
