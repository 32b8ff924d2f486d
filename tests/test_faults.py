"""Faults inside differentiated code leave no state behind; the next call is correct."""

import numpy as np
import pytest

import dualad as ad


class Boom(Exception):
    pass


def _f(x, fail):
    y = np.sin(x) * x
    if fail:
        raise Boom("inside f")
    return np.sum(y)


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "hessian", "hvp", "jvp"])
@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_exception_inside_f_leaves_no_state(transform, exc):
    x = np.array([0.3, -1.2, 2.0])

    def f(x, fail=False):
        if fail:
            np.sin(x) * x  # leave work on the tape before failing
            raise exc("inside f")
        return _f(x, False)

    calls = {
        "grad": lambda g: ad.grad(g)(x),
        "jacfwd": lambda g: ad.jacfwd(g)(x),
        "jacrev": lambda g: ad.jacrev(g)(x),
        "hessian": lambda g: ad.hessian(g)(x),
        "hvp": lambda g: ad.hvp(g, x, np.ones(3)),
        "jvp": lambda g: ad.jvp(g, (x,), (np.ones(3),))[1],
    }
    expected = calls[transform](f)
    with pytest.raises(exc):
        calls[transform](lambda x: f(x, fail=True))
    np.testing.assert_allclose(calls[transform](f), expected, rtol=1e-14)


def test_exception_during_variable_recording_then_backward_works():
    w = ad.Variable(np.array([1.0, 2.0]))
    with pytest.raises(Boom):
        _ = w * 3.0
        raise Boom
    loss = np.sum(w**2)
    loss.backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0])


def test_deep_recursion_works_or_raises_recursion_error():
    def f(x, n):
        return x if n == 0 else f(np.sin(x), n - 1)

    g = ad.grad(lambda x: f(x, 200))(0.5)
    x, d = 0.5, 1.0
    for _ in range(200):
        d *= np.cos(x)
        x = np.sin(x)
    assert float(g) == pytest.approx(d, rel=1e-12)
    with pytest.raises(RecursionError):
        ad.grad(lambda x: f(x, 100_000))(0.5)
    assert float(ad.grad(lambda x: f(x, 10))(0.5)) > 0  # still working afterwards
