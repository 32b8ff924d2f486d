"""The bad-input matrix: each mistake gets an error naming the problem and the fix, and leaves no
state behind (the next correct call works)."""

import numpy as np
import pytest

import dualad as ad

X = np.array([0.5, 1.0, 2.0])
F = lambda x: np.sum(np.sin(x) * x)
GOOD = ad.grad(F)(X)


def _still_works():
    np.testing.assert_allclose(ad.grad(F)(X), GOOD)
    np.testing.assert_allclose(ad.jacfwd(F)(X), GOOD)


def _escape(fn):
    def f(x):
        fn(x)
        return np.sum(x)

    return f


CASES = [
    # (id, call, exception type, regex the message must match)
    ("non-callable grad", lambda: ad.grad(3.0)(X), TypeError, r"callable"),
    ("non-callable jacfwd", lambda: ad.jacfwd("f")(X), TypeError, r"callable"),
    ("non-callable hessian", lambda: ad.hessian(None)(X), TypeError, r"callable"),
    ("argnums out of range", lambda: ad.grad(F, argnums=3)(X), ValueError, r"argnums.*out of range.*between 0 and 0"),
    ("argnums out of range jacrev", lambda: ad.jacrev(F, argnums=(0, 2))(X), ValueError, r"argnums"),
    ("object dtype", lambda: ad.grad(F)(np.array([1, "a"], dtype=object)), TypeError, r"dtype object"),
    ("string input", lambda: ad.grad(F)("abc"), TypeError, r"float array"),
    ("None input", lambda: ad.grad(F)(None), TypeError, r"float array"),
    ("complex output", lambda: ad.grad(lambda z: np.sum(z))(X + 1j), TypeError, r"real-valued outputs.*holomorphic=True"),
    ("holomorphic real input", lambda: ad.grad(F, holomorphic=True)(X), TypeError, r"holomorphic=True requires inputs with complex"),
    ("complex jacfwd", lambda: ad.jacfwd(F)(X + 0j), TypeError, r"jacfwd requires real-valued inputs.*holomorphic=True"),
    ("complex tangent of a real primal", lambda: ad.jvp(F, (X,), (X + 1j,)), TypeError, r"complex tangent.*real primal"),
    ("grad of a vector", lambda: ad.grad(lambda x: x * 2)(X), ValueError, r"scalar.*\(3,\)"),
    ("has_aux without a pair", lambda: ad.grad(F, has_aux=True)(X), TypeError, r"has_aux.*pair"),
    ("tuple output without has_aux", lambda: ad.grad(lambda x: (F(x), 1.0))(X), TypeError, r"has_aux=True"),
    ("jvp tangent shape", lambda: ad.jvp(F, (X,), (np.ones(2),)), ValueError, r"tangent shape \(2,\).*primal shape \(3,\)"),
    ("jvp tangent dtype", lambda: ad.jvp(F, (X,), (np.ones(3, np.float32),)), TypeError, r"dtype float32.*float64"),
    ("jvp not tuples", lambda: ad.jvp(F, X, X), TypeError, r"tuples"),
    ("Dual tangent shape", lambda: ad.Dual(X, np.ones((2, 2))), ValueError, r"tangent shape .* does not fit"),
    ("Dual tangent dtype", lambda: ad.Dual(X, np.ones(3, np.float32)), TypeError, r"dtype float32 does not match"),
    ("pullback cotangent shape", lambda: ad.vjp(np.sin, X)[1](np.ones(2)), ValueError, r"cotangent shape \(2,\).*\(3,\)"),
    ("float() escape", lambda: ad.grad(_escape(lambda x: float(x[0])))(X), TypeError, r"dualad\.primal"),
    ("int() escape", lambda: ad.grad(_escape(lambda x: int(x[0])))(X), TypeError, r"dualad\.primal"),
    ("bool() escape", lambda: ad.grad(_escape(lambda x: bool(x)))(X), TypeError, r"dualad\.primal"),
    ("item() escape", lambda: ad.grad(_escape(lambda x: x[0].item()))(X), TypeError, r"dualad\.primal"),
    ("asarray escape", lambda: ad.grad(_escape(lambda x: np.asarray(x) * 2.0))(X), TypeError, r"dualad\.primal"),
    ("asarray float escape", lambda: ad.grad(_escape(lambda x: np.asarray(x, dtype=float)))(X), TypeError, r"dualad\.primal"),
    ("asarray scalar escape", lambda: ad.grad(_escape(lambda x: np.exp(np.asarray(x[0]))))(X), TypeError, r"dualad\.primal"),
    ("tolist escape", lambda: ad.grad(_escape(lambda x: x.tolist()))(X), TypeError, r"dualad\.primal"),
    ("forward float() escape", lambda: ad.jacfwd(_escape(lambda x: float(x[0])))(X), TypeError, r"dualad\.primal"),
    ("no rule: ufunc", lambda: ad.grad(lambda x: np.sum(np.spacing(x)))(X), TypeError, r"no derivative rule for np.spacing"),
    ("no rule: function", lambda: ad.grad(lambda x: np.sum(np.histogramdd(x[:, None], weights=x)[0]))(X), TypeError,
     r"no derivative rule for .*histogramdd"),
    ("refused: linalg", lambda: ad.grad(lambda x: np.sum(np.linalg.svd(np.stack([x, x[::-1]]))[0]))(X), NotImplementedError,
     r"non-square .*use full_matrices=False"),
    ("out= into a plain array", lambda: ad.grad(lambda x: np.sum(np.sin(x, out=np.empty(3))))(X), TypeError, r"out=.*drop out="),
    ("cast to int", lambda: ad.grad(lambda x: np.sum(x.astype(int)))(X), TypeError, r"cast dualad\.primal"),
    ("hessian unknown mode", lambda: ad.hessian(F, mode="sideways")(X), ValueError, r"unknown mode.*forward-over-reverse"),
    ("derivative bad order", lambda: ad.derivative(np.sin, order=-1), ValueError, r"non-negative integer"),
    ("jacfwd bad chunk", lambda: ad.jacfwd(F, chunk_size=0), ValueError, r"positive integer"),
    ("check_grads bad mode", lambda: ad.check_grads(F, (X,), modes=("sideways",)), ValueError, r"unknown mode"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_clearly_and_leaves_no_state(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
    _still_works()


def test_writing_into_an_array_the_tape_needs_raises():
    W = np.array([1.0, 2.0, 3.0])
    w = ad.Variable(np.ones(3))
    y = np.sum(w * W)  # the tape keeps W for the gradient
    with pytest.raises(ValueError, match="read-only"):
        W[0] = 100.0
    y.backward()
    np.testing.assert_allclose(w.grad, [1.0, 2.0, 3.0])
    W[0] = 100.0  # writable again once the graph is freed
    assert W[0] == 100.0


def test_plain_array_item_assignment_names_the_fix():
    def f(x):
        y = np.zeros(3)
        y[0] = x[0]
        return y

    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        ad.jacfwd(f)(X)
    _still_works()


def test_reproducible_bit_for_bit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_000)

    def f(x):
        return np.sum(np.tanh(x) * np.exp(-(x**2)) + ad.softplus(x)) + ad.logsumexp(x)

    runs = [ad.grad(f)(x) for _ in range(3)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[1], runs[2])
    jac = [ad.jacfwd(lambda v: np.tanh(v) * np.sum(v))(x[:300]) for _ in range(2)]
    assert np.array_equal(jac[0], jac[1])
    h = [ad.hvp(f, x[:2000], np.ones(2000)) for _ in range(2)]
    assert np.array_equal(h[0], h[1])
