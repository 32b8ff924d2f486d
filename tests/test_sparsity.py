"""Sparsity detection, colourings and sparse Hessians (issue 5)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen_hess, rosen_hess_prod

import dualad as ad
from dualad.rules import RULES, load_scipy_rules
from dualad.rules.derive import derivable
from dualad.transforms.nested import sparse_hessian
from dualad.transforms.sparsity import (
    _first_order,
    _second_order,
    color_columns,
    color_rows,
    hessian_sparsity,
    jacobian_sparsity,
    star_color,
)

RNG = np.random.default_rng(0)


def rosen_np(x):
    """The generalised Rosenbrock function, written in NumPy."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def dense_nonzeros(f, x):
    J = np.asarray(ad.jacfwd(f)(x))
    return J.reshape(-1, x.size) != 0


def assert_pattern(f, x, exact=True):
    P = jacobian_sparsity(f, x).toarray()
    nz = dense_nonzeros(f, x)
    assert P.shape == nz.shape
    assert not (nz & ~P).any(), "the pattern misses a nonzero of the Jacobian"
    if exact:
        np.testing.assert_array_equal(P, nz)
    return P


# --------------------------------------------------------------------------------------------
# Jacobian patterns through the rule table and the structural primitives

A_SPARSE = np.where(RNG.random((7, 6)) < 0.3, RNG.standard_normal((7, 6)), 0.0)

PATTERN_CASES = {
    "elementwise chain": lambda x: np.tanh(np.sin(x) * x) + np.exp(x),
    "shifted product": lambda x: x[1:] * x[:-1],
    "broadcast outer": lambda x: (x[:3, None] * x[None, 3:]).ravel(),
    "sum and mean": lambda x: np.stack([np.sum(x[:3]), np.mean(x[3:])]),
    "reshape transpose": lambda x: np.sin(x.reshape(2, 3).T).ravel(),
    "cumsum": lambda x: np.cumsum(x**2),
    "diff": lambda x: np.diff(x, n=2),
    "concatenate": lambda x: np.concatenate([x[4:], np.cos(x[:2]), x[2:3] * 2.0]),
    "where constant mask": lambda x: np.where(np.arange(6) % 2 == 0, x, np.roll(x, 1)),
    "flip roll": lambda x: np.flip(x) * np.roll(x, 2),
    "fancy index": lambda x: x[[0, 0, 5, 2]] * x[[1, 3, 3, 4]],
    "sparse constant matmul": lambda x: A_SPARSE @ x,
    "einsum": lambda x: np.einsum("ij,j->i", A_SPARSE, np.sin(x)),
    "max reduce": lambda x: np.max(x.reshape(3, 2), axis=1),
    "prod reduce": lambda x: np.prod(x.reshape(2, 3), axis=0),
    "solve": lambda x: np.linalg.solve(np.diag(x[:3]) + np.eye(3), x[3:]),
    "setitem": lambda x: _setitem(x),
    "floor has no derivative": lambda x: np.floor(x) * 1.0 + x[0],
    "take and sort-free gather": lambda x: np.take(x, [5, 4, 1]),
    "dot": lambda x: np.stack([np.dot(x[:3], x[3:]), np.dot(A_SPARSE[0, :3], x[:3])]),
}


def _setitem(x):
    y = x * 1.0
    y[2] = x[0] * x[1]
    y[4:] = 0.0
    return y


@pytest.mark.parametrize("name", sorted(PATTERN_CASES))
def test_jacobian_pattern_matches_dense_nonzeros(name):
    f = PATTERN_CASES[name]
    x = RNG.uniform(0.5, 1.5, 6)
    exact = name not in ("max reduce", "solve")  # group dependencies are supersets
    assert_pattern(f, x, exact=exact)


def test_pattern_is_value_independent_for_kinks():
    # relu'(x) = 0 for x < 0 and maximum's tie split: numerical zeros, structural dependencies
    x = np.array([-1.0, 2.0, -3.0])
    P = jacobian_sparsity(lambda x: ad.relu(x) + np.maximum(x, 0.0), x).toarray()
    np.testing.assert_array_equal(P, np.eye(3, dtype=bool))


def test_cancellation_never_drops_a_dependency():
    # [1, -1] @ [x0, x0] = 0 and x - x = 0: the boolean propagation keeps the dependency
    f = lambda x: np.array([1.0, -1.0]) @ np.stack([x[0], x[0]]) + (x[1] - x[1])
    P = jacobian_sparsity(f, np.ones(3)).toarray()
    np.testing.assert_array_equal(P, [[True, True, False]])


def test_constant_operand_zeros_shape_matmul_pattern():
    A = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    P = jacobian_sparsity(lambda x: A @ x, np.ones(3)).toarray()
    np.testing.assert_array_equal(P, A != 0)


def test_value_dependent_branches_are_flagged():
    from dualad.transforms.sparsity import trace_pattern as _trace

    tr = _trace(lambda x: x * 2.0 if x[0] > 0 else x[::-1], (np.ones(3),), (0,))
    assert tr.value_dependent
    tr = _trace(lambda x: np.zeros_like(x) + x, (np.ones(3),), (0,))
    assert not tr.value_dependent


def test_pytree_inputs_and_outputs():
    f = lambda a, b: (a * b[0], np.sum(b))
    P = jacobian_sparsity(f, np.ones(2), np.ones(3), argnums=(0, 1)).toarray()
    expected = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(P, expected)


def test_cumsum_along_an_axis():
    assert_pattern(lambda x: np.cumsum(x.reshape(2, 3), axis=1).ravel(), np.ones(6))


def test_tracers_as_tangents_of_a_nested_transform():
    # jvp with a traced tangent applies sum/cumsum to lanes (batch > 0): the generic rule that
    # builds a linear op's matrix from identity lanes handles it, exactly
    c = np.arange(6.0)
    f = lambda x: ad.jvp(lambda y: np.cumsum(np.sum(y.reshape(2, 3), axis=0)) * 2.0, (c,), (x,))[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_pattern(f, np.ones(6))


def test_rule_table_dependency_analysis():
    assert _first_order(RULES["floor"]) == (False,)
    assert _first_order(RULES["multiply"]) == (True, True)
    assert _second_order(RULES["add"]) == ()
    assert _second_order(RULES["multiply"]) == ((0, 1),)
    assert _second_order(RULES["sin"]) == ((0, 0),)
    assert _second_order(RULES["maximum"]) == ()
    assert _second_order(RULES["divide"]) == ((0, 1), (1, 1))
    assert _second_order(RULES["power"]) == ((0, 0), (0, 1), (1, 1))


# --------------------------------------------------------------------------------------------
# Hessian patterns


HESSIAN_CASES = {
    "rosenbrock": rosen_np,
    "sum of squares": lambda x: np.sum(x**2),
    "neighbour products": lambda x: np.sum(x[1:] * x[:-1]),
    "arrowhead": lambda x: np.sum(x[0] * x[1:]) + np.sum(np.sin(x)),
    "quadratic form": lambda x: x @ (A_SPARSE[:6, :6] @ x),
    "linear": lambda x: np.sum(3.0 * x),
    "log-sum-exp": lambda x: np.log(np.sum(np.exp(x[:3]))) + x[4] ** 3,
}


@pytest.mark.parametrize("name", sorted(HESSIAN_CASES))
def test_hessian_pattern_contains_the_hessian(name):
    f = HESSIAN_CASES[name]
    x = RNG.uniform(0.5, 1.5, 6)
    P = hessian_sparsity(f, x).toarray()
    H = np.asarray(ad.hessian(f)(x))
    assert not ((H != 0) & ~P).any()
    np.testing.assert_array_equal(P, P.T)
    if name in ("rosenbrock", "sum of squares", "neighbour products", "linear"):
        np.testing.assert_array_equal(P, H != 0)


def test_hessian_pattern_of_rosenbrock_is_tridiagonal():
    P = hessian_sparsity(rosen_np, np.ones(50))
    T = sp.diags([1, 1, 1], [-1, 0, 1], shape=(50, 50), dtype=bool)
    assert (P != T).nnz == 0


def test_hessian_needs_a_scalar():
    with pytest.raises(ValueError, match="scalar"):
        hessian_sparsity(lambda x: x**2, np.ones(3))


# --------------------------------------------------------------------------------------------
# Colourings


def _is_distance2(P, colors):
    P = sp.csr_matrix(P)
    for i in range(P.shape[0]):
        cols = P.indices[P.indptr[i]: P.indptr[i + 1]]
        if len(np.unique(colors[cols])) != len(cols):
            return False
    return True


def _is_star(P, colors):
    A = sp.csr_matrix(P, dtype=bool).toarray()
    np.fill_diagonal(A, False)
    n = A.shape[0]
    nbrs = [np.flatnonzero(A[i]) for i in range(n)]
    for i in range(n):
        for j in nbrs[i]:
            if colors[i] == colors[j]:
                return False
    for a in range(n):
        for b in nbrs[a]:
            for c in nbrs[b]:
                if c == a:
                    continue
                for d in nbrs[c]:
                    if d in (a, b):
                        continue
                    if colors[a] == colors[c] and colors[b] == colors[d]:
                        return False  # a bicoloured path on four vertices
    return True


def banded(n, b):
    return sp.diags([np.ones(n - abs(k)) for k in range(-b, b + 1)], list(range(-b, b + 1)), shape=(n, n), format="csr")


@pytest.mark.parametrize("b", [1, 2, 3])
def test_banded_columns_need_2b_plus_1_colours(b):
    P = banded(40, b)
    colors, k = color_columns(P)
    assert k == 2 * b + 1
    assert _is_distance2(P, colors)
    assert color_rows(P)[1] == 2 * b + 1


def test_tridiagonal_jacobian_uses_three_colours():
    P = jacobian_sparsity(lambda x: x[2:] - 2 * x[1:-1] + x[:-2] + np.sin(x[1:-1]), np.ones(30))
    colors, k = color_columns(P)
    assert k == 3
    assert _is_distance2(P, colors)


def test_block_diagonal_and_random_colourings_are_valid():
    blocks = sp.block_diag([np.ones((4, 4))] * 6, format="csr")
    colors, k = color_columns(blocks)
    assert k == 4 and _is_distance2(blocks, colors)
    for seed in range(5):
        P = sp.random(30, 25, density=0.1, random_state=seed, format="csr")
        colors, k = color_columns(P)
        assert _is_distance2(P, colors)
        max_row = np.diff(P.indptr).max()
        assert max_row <= k <= 25
        rcolors, kr = color_rows(P)
        assert _is_distance2(P.T, rcolors)


def test_star_colouring_is_a_star_colouring():
    arrow = np.eye(12, dtype=bool)
    arrow[0, :] = arrow[:, 0] = True
    colors, k = star_color(arrow)
    assert k == 2 and _is_star(arrow, colors)
    colors, k = star_color(banded(20, 1))
    assert k == 3 and _is_star(banded(20, 1), colors)
    for seed in range(6):
        R = sp.random(18, 18, density=0.15, random_state=seed, format="csr")
        S = ((R + R.T) != 0).astype(bool)
        colors, k = star_color(S)
        assert _is_star(S, colors)


def test_colouring_with_empty_rows_and_columns():
    assert color_columns(np.array([[1, 0, 0], [1, 0, 0]]))[1] == 1
    assert color_columns(np.zeros((2, 3)))[1] == 1
    assert color_rows(np.zeros((0, 3)))[1] == 0
    colors, k = color_columns(np.array([[0, 1, 1, 0], [0, 0, 1, 1]]))
    assert k == 2 and _is_distance2(np.array([[0, 1, 1, 0], [0, 0, 1, 1]]), colors)


def test_colouring_orders_and_errors():
    P = banded(10, 1)
    assert color_columns(P, order="natural")[1] == 3
    with pytest.raises(ValueError, match="order"):
        color_columns(P, order="random")
    with pytest.raises(ValueError, match="square"):
        star_color(np.ones((2, 3)))


# --------------------------------------------------------------------------------------------
# Sparse Hessians


@pytest.mark.parametrize("n", [2, 10, 200])
def test_sparse_rosenbrock_hessian_equals_rosen_hess(n):
    x = np.random.default_rng(n).uniform(-2.0, 2.0, n)
    hess = sparse_hessian(rosen_np)
    H = hess(x)
    assert sp.issparse(H) and H.shape == (n, n)
    np.testing.assert_allclose(H.toarray(), rosen_hess(x), rtol=1e-12, atol=1e-9)
    assert hess.decision.lanes <= 3
    np.testing.assert_allclose(hess(x + 1.0).toarray(), rosen_hess(x + 1.0), rtol=1e-12, atol=1e-9)


def test_sparse_rosenbrock_hessian_at_1e5():
    n = 100_000
    x = np.random.default_rng(1).uniform(-1.0, 1.0, n)
    H = sparse_hessian(rosen_np)(x)
    v = np.random.default_rng(2).standard_normal(n)
    np.testing.assert_allclose(H @ v, rosen_hess_prod(x, v), rtol=1e-10, atol=1e-8)
    assert H.nnz == 3 * n - 2


@pytest.mark.parametrize("name", sorted(HESSIAN_CASES))
def test_sparse_hessian_equals_dense(name):
    f = HESSIAN_CASES[name]
    x = RNG.uniform(0.5, 1.5, 6)
    H = sparse_hessian(f)(x)
    np.testing.assert_allclose(H.toarray(), np.asarray(ad.hessian(f)(x)), rtol=1e-10, atol=1e-12)


def test_sparse_hessian_arrowhead_needs_two_colours():
    f = HESSIAN_CASES["arrowhead"]
    hess = sparse_hessian(f)
    x = RNG.uniform(0.5, 1.5, 40)
    np.testing.assert_allclose(hess(x).toarray(), np.asarray(ad.hessian(f)(x)), rtol=1e-10, atol=1e-12)
    assert hess.decision.lanes == 2


def test_sparse_hessian_given_pattern_and_argnums():
    f = lambda a, b: np.sum(a * b) + np.sum(a**3)
    a, b = np.arange(1.0, 4.0), np.arange(2.0, 5.0)
    H = sparse_hessian(f, argnums=(0, 1))(a, b).toarray()
    top = np.block([[np.diag(6 * a), np.eye(3)], [np.eye(3), np.zeros((3, 3))]])
    np.testing.assert_allclose(H, top)
    pattern = sp.csr_matrix(top != 0)
    H2 = sparse_hessian(f, argnums=(0, 1), sparsity=pattern)(a, b).toarray()
    np.testing.assert_allclose(H2, top)
    with pytest.raises(ValueError, match="shape"):
        sparse_hessian(f, argnums=0, sparsity=pattern)(a, b)


def test_sparse_hessian_value_dependent_is_not_cached():
    f = lambda x: np.sum(x**2) if x[0] > 0 else np.sum(x[1:] * x[:-1])
    hess = sparse_hessian(f)
    H1 = hess(np.ones(4)).toarray()
    assert hess.decision.value_dependent
    np.testing.assert_allclose(H1, 2 * np.eye(4))
    H2 = hess(-np.ones(4)).toarray()
    np.testing.assert_allclose(H2, np.asarray(ad.hessian(f)(-np.ones(4))))


def test_hessian_of_every_pair_of_rules_is_covered():
    # every binary rule applied to two inputs: the traced Hessian pattern covers the true one
    import scipy.special  # noqa: F401  (SciPy's rules too: declared before the loop, not during it)

    load_scipy_rules()
    x = np.array([0.7, 1.3])
    for name, rule in RULES.items():
        # not an order (scipy.special.jv), nor gammainc_da, whose derivative in a (d³P/da³) is not offered
        if rule.nin != 2 or len(rule.argnums) != 2 or not derivable(rule):
            continue
        f = lambda v, rule=rule: rule(v[0] * 1.0, v[1] * 1.0) + rule(v[1] * 1.0, v[0] * 1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            H = np.asarray(ad.hessian(f)(x))
        P = hessian_sparsity(f, x).toarray()
        assert not ((np.abs(H) > 1e-12) & ~P).any(), name


def test_stack_and_array_of_scalars_keep_their_pattern():
    """``np.stack`` and ``np.array`` of active scalars (one ``stack`` entry) select elements:
    the traced pattern is exact, not dense."""
    x = np.arange(1.0, 5.0)
    for f in (lambda x: np.stack([x[::-1], 2.0 * x]), lambda x: np.array([x[0] * x[1], x[2], 3.0, np.sin(x[3])])):
        P = jacobian_sparsity(f, x).toarray()
        J = np.asarray(ad.jacfwd(f)(x)).reshape(P.shape)
        np.testing.assert_array_equal(P, J != 0)
