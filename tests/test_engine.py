"""The Jacobian engine's options, decisions and Hessian options (issue 14)."""

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualad as ad
from dualad.transforms.decision import Decision
from dualad.transforms.jacobian import jacobian
from dualad.transforms.nested import HESSIAN_MODES, sparse_hessian


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


X = np.linspace(-1.0, 2.0, 7)


@pytest.mark.parametrize("make", [ad.jacfwd, ad.jacrev, jacobian, ad.hessian, sparse_hessian])
@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
def test_chunk_size_is_validated_the_same_everywhere(make, bad):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        make(np.sin, chunk_size=bad)


def test_decisions_are_frozen_and_not_changed_by_later_calls():
    jac = jacobian(lambda x: np.tanh(x[:, None] * x), mode="forward", chunk_size=2)
    jac(np.ones(3))
    first = jac.decision
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.passes = 0
    snapshot = dataclasses.asdict(first)
    jac(np.ones(3))
    assert dataclasses.asdict(first) == snapshot


def test_sparse_jacobian_decision_is_frozen_with_its_pattern():
    jac = jacobian(lambda x: x[1:] * x[:-1], sparsity="auto")
    jac(np.arange(5.0))
    d = jac.decision
    assert isinstance(d, Decision) and d.sparse and d.nnz == 8
    jac(np.arange(5.0))
    assert jac.decision.sparse and jac.decision.nnz == 8


def test_sparse_hessian_decision_is_a_decision():
    hess = sparse_hessian(rosen)
    hess(X)
    d = hess.decision
    assert isinstance(d, Decision)
    assert d.sparse and d.n == d.m == 7 and d.nnz == 19 and d.lanes <= 3 and d.passes == 1
    assert d.mode == "forward-over-reverse" and not d.value_dependent


@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_hessian_sparsity_honours_the_mode(mode):
    dense = ad.hessian(rosen)(X)
    hess = ad.hessian(rosen, mode=mode, sparsity="auto")
    H = hess(X)
    np.testing.assert_allclose(H.toarray(), dense, rtol=1e-12, atol=1e-12)
    assert hess.decision.mode == mode


@pytest.mark.parametrize("mode", HESSIAN_MODES)
@pytest.mark.parametrize("sparsity", [None, "auto"])
def test_hessian_runs_on_an_executor(mode, sparsity):
    dense = ad.hessian(rosen)(X)
    with ThreadPoolExecutor(2) as ex:
        H = ad.hessian(rosen, mode=mode, sparsity=sparsity, executor=ex, chunk_size=2)(X)
    np.testing.assert_allclose(H if sparsity is None else H.toarray(), dense, rtol=1e-12, atol=1e-12)


def test_hessian_executor_with_several_arguments():
    f = lambda x, y: np.sum(x**2) * np.sum(y) + np.sum(np.sin(x)) * np.sum(y**3)
    x, y = np.array([0.5, 1.0]), np.array([1.5, -1.0, 2.0])
    expected = ad.hessian(f, argnums=(0, 1))(x, y)
    with ThreadPoolExecutor(2) as ex:
        got = ad.hessian(f, argnums=(0, 1), executor=ex)(x, y)
    for a, b in zip(np.asarray(expected, dtype=object).ravel(), np.asarray(got, dtype=object).ravel()):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_hessian_rejects_a_bad_executor_and_mode():
    with pytest.raises(TypeError, match="executor must be"):
        ad.hessian(rosen, executor=object())
    with pytest.raises(ValueError, match="unknown mode"):
        sparse_hessian(rosen, mode="sideways")
