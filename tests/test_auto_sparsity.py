"""mode="auto" computes a dense Jacobian by colouring when that pays, without being asked; the
result is what the user asked for (dense), and a value-dependent pattern is traced again."""

import numpy as np
import pytest

import dualad as ad
from dualad.transforms import jacobian as jacobian_module

N = 16  # a 16 x 16 grid: 256 unknowns, above the threshold where colouring is considered


def laplacian(u):
    U = u.reshape(N, N)
    P = np.pad(U, 1)
    lap = P[:-2, 1:-1] + P[2:, 1:-1] + P[1:-1, :-2] + P[1:-1, 2:] - 4.0 * U
    return (lap + 0.1 * U**3 - 1.0).ravel()


def dense_map(x):
    A = np.cos(np.arange(x.size)[:, None] * np.arange(x.size)[None, :] / x.size)
    return np.tanh(A @ x)


def test_laplacian_is_coloured_automatically_and_stays_dense():
    assert N * N >= jacobian_module.AUTO_SPARSE_MIN_LANES
    u = np.linspace(0.0, 1.0, N * N)
    jac = ad.jacobian(laplacian)
    J = jac(u)
    assert isinstance(J, np.ndarray) and J.shape == (N * N, N * N)
    np.testing.assert_allclose(J, ad.jacfwd(laplacian)(u), rtol=1e-14, atol=1e-14)
    d = jac.decision
    assert d.sparse and d.lanes <= 8 and d.nnz == np.count_nonzero(J)
    assert "automatic colouring" in d.reason and "sparsity=False" in d.reason
    np.testing.assert_array_equal(jac(u + 0.5), ad.jacfwd(laplacian)(u + 0.5))  # cached pattern, new point


@pytest.mark.parametrize("kw", [{"sparsity": False}, {"mode": "forward"}, {"mode": "reverse"}])
def test_the_switch_and_explicit_modes_keep_dense_passes(kw):
    u = np.linspace(0.0, 1.0, N * N)
    jac = ad.jacobian(laplacian, **kw)
    J = jac(u)
    assert not jac.decision.sparse and jac.decision.lanes == N * N
    np.testing.assert_allclose(J, ad.jacfwd(laplacian)(u), rtol=1e-14, atol=1e-14)


def test_dense_pattern_is_checked_once_then_left_alone(monkeypatch):
    x = np.linspace(-1.0, 1.0, 256)
    jac = ad.jacobian(dense_map)
    J = jac(x)
    assert not jac.decision.sparse
    np.testing.assert_allclose(J, ad.jacrev(dense_map)(x), rtol=1e-12, atol=1e-14)
    calls = []
    monkeypatch.setattr(jacobian_module, "trace_pattern", lambda *a, **k: calls.append(a))
    jac(x + 0.1)
    assert calls == []  # the dense verdict holds for every input: no second trace


def branchy(u):
    """Couples neighbours to the right or to the left, depending on the sign of u[0]."""
    if u[0] > 0:
        return u[:-1] * u[1:] + np.sin(u[:-1])
    return u[1:] * np.roll(u, 1)[1:] + np.sin(u[1:])


def test_value_dependent_pattern_is_traced_again():
    calls = []
    real = jacobian_module.trace_pattern

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    jac = ad.jacobian(branchy)
    jacobian_module_trace = jacobian_module.trace_pattern
    try:
        jacobian_module.trace_pattern = counting
        for sign in (1.0, -1.0, 1.0):
            u = sign * np.linspace(0.5, 1.5, 400)
            J = jac(u)
            np.testing.assert_allclose(J, ad.jacfwd(branchy)(u), rtol=1e-14, atol=1e-14)
            assert jac.decision.sparse and jac.decision.value_dependent
    finally:
        jacobian_module.trace_pattern = jacobian_module_trace
    assert len(calls) == 3  # one trace per call: the branch is a guard, never reused stale


def chain(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) + np.sum(np.sin(x) * x)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hessian_is_coloured_automatically_and_stays_dense(mode):
    x = np.linspace(-1.0, 1.5, 300)
    h = ad.hessian(chain, mode=mode)
    H = h(x)
    assert isinstance(H, np.ndarray) and H.shape == (300, 300)
    dense = ad.hessian(chain, mode=mode, sparsity=False)
    np.testing.assert_allclose(H, dense(x), rtol=1e-12, atol=1e-12)
    assert h.decision.sparse and h.decision.lanes <= 4 and "automatic colouring" in h.decision.reason
    assert dense.decision is None  # the switch: dense passes, nothing traced


def test_hessian_of_a_dense_function_is_left_dense():
    x = np.linspace(-1.0, 1.0, 256)
    h = ad.hessian(lambda x: np.sum(x) ** 3)
    np.testing.assert_allclose(h(x), np.full((256, 256), 6.0 * np.sum(x)), rtol=1e-12, atol=1e-10)
    assert h.decision is None
