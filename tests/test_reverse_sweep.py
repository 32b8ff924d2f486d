"""Reverse mode swept over the whole rule table and the structural ops.

1. Every elementwise rule in ``dualad.rules.RULES``: ``grad`` of ``sum(w * rule(*xs))`` against
   central finite differences (computed in float64 at the same points), float64 and float32,
   scalar / vector / broadcast shapes; gradient dtypes and shapes must equal the inputs'.
2. Forward/reverse agreement ``<u, J v>``: ``u · jvp(f, x, v)`` equals ``vjp(f, x)(u) · v``,
   for every rule and for a list of structural ops.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)

import dualad as ad

SHAPES = {
    "scalar": lambda nin: [()] * nin,
    "vector": lambda nin: [(5,)] * nin,
    "broadcast": lambda nin: [(3, 1)] + [(4,)] * (nin - 1),
}
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["f64", "f32"]
FD_TOL = {np.float64: dict(rtol=1e-6, atol=1e-7), np.float32: dict(rtol=2e-3, atol=2e-3)}
FD_STEP = 1e-6


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, key)).encode()))


def _points(rule, shapes, dtype, rng):
    return [np.asarray(rng.uniform(lo, hi, size=s), dtype=dtype) for (lo, hi), s in zip(rule.domain, shapes)]


def _fd_grad(fun, xs64, i, eps=FD_STEP):
    """Central differences of the scalar ``fun(*xs64)`` w.r.t. input ``i`` (float64)."""
    x = xs64[i]
    g = np.zeros(x.shape, dtype=np.float64)
    for j in range(x.size):
        plus = [a.copy() for a in xs64]
        minus = [a.copy() for a in xs64]
        plus[i].reshape(-1)[j] += eps
        minus[i].reshape(-1)[j] -= eps
        g.reshape(-1)[j] = (float(fun(*plus)) - float(fun(*minus))) / (2 * eps)
    return g


# --------------------------------------------------------------------------------------------
# 1. every rule: reverse gradient vs finite differences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape_kind", list(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_reverse_gradient(rule, dtype, shape_kind):
    assert len(rule.domain) == rule.nin
    rng = _rng("rev", rule.name, shape_kind)
    shapes = SHAPES[shape_kind](rule.nin)
    xs64 = _points(rule, shapes, np.float64, rng)
    xs = [x.astype(dtype) for x in xs64]
    xs64 = [x.astype(np.float64) for x in xs]  # the very same points
    out_shape = np.broadcast_shapes(*shapes)
    w64 = rng.normal(size=out_shape)
    w = np.asarray(w64, dtype=dtype)
    w64 = w.astype(np.float64)

    f = lambda *a: np.sum(w * rule(*a))
    f64 = lambda *a: np.sum(w64 * rule(*a))
    argnums = tuple(range(rule.nin))
    grads = ad.grad(f, argnums=argnums)(*xs)
    assert isinstance(grads, tuple) and len(grads) == rule.nin

    for i, (g, x) in enumerate(zip(grads, xs)):
        g = np.asarray(ad.primal(g))
        assert g.dtype == np.dtype(dtype), f"{rule.name}: grad {i} dtype {g.dtype}, input {np.dtype(dtype)}"
        assert g.shape == x.shape, f"{rule.name}: grad {i} shape {g.shape}, input {x.shape}"
        with np.errstate(all="ignore"):
            expected = _fd_grad(f64, xs64, i)
        np.testing.assert_allclose(
            g.astype(np.float64), expected, **FD_TOL[dtype], err_msg=f"{rule.name}: d/dx{i} ({shape_kind})"
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_value_and_grad_value(rule, dtype):
    """value_and_grad returns the primal value in the input dtype."""
    rng = _rng("vg", rule.name)
    xs = [x.astype(dtype) for x in _points(rule, [(5,)] * rule.nin, np.float64, rng)]
    w = np.asarray(rng.normal(size=5), dtype=dtype)
    value, _ = ad.value_and_grad(lambda *a: np.sum(w * rule(*a)), argnums=tuple(range(rule.nin)))(*xs)
    value = np.asarray(value)
    assert value.dtype == np.dtype(dtype)
    with np.errstate(all="ignore"):
        ref = np.sum(w.astype(np.float64) * np.asarray(rule(*[x.astype(np.float64) for x in xs])))
    np.testing.assert_allclose(value, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


# Arrays of at least dualad.kernels.backend.SMALL elements take the compiled (Numba) adjoint kernel
# instead of the NumPy evaluation of the rule; sweep that path too.  Each output element depends
# on one element of each input, so perturbing a whole input at once gives every partial at once.
LARGE_SHAPES = {
    "large_vector": lambda nin: [(300,)] * nin,
    "large_broadcast": lambda nin: [(20, 1)] + [(16,)] * (nin - 1),
    "large_with_scalar": lambda nin: [(300,)] + [()] * (nin - 1),
}


def _unbroadcast_sum(a, shape):
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and a.shape[ax] != 1:
            a = a.sum(axis=ax, keepdims=True)
    return a


@pytest.mark.parametrize("shape_kind", list(LARGE_SHAPES))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_reverse_gradient_kernel_path(rule, dtype, shape_kind):
    rng = _rng("rev-large", rule.name, shape_kind)
    shapes = LARGE_SHAPES[shape_kind](rule.nin)
    xs = [x.astype(dtype) for x in _points(rule, shapes, np.float64, rng)]
    xs64 = [x.astype(np.float64) for x in xs]
    out_shape = np.broadcast_shapes(*shapes)
    w = np.asarray(rng.normal(size=out_shape), dtype=dtype)
    w64 = w.astype(np.float64)
    grads = ad.grad(lambda *a: np.sum(w * rule(*a)), argnums=tuple(range(rule.nin)))(*xs)
    for i, (g, x) in enumerate(zip(grads, xs)):
        g = np.asarray(g)
        assert g.dtype == np.dtype(dtype), f"{rule.name}: grad {i} dtype {g.dtype}"
        assert g.shape == x.shape, f"{rule.name}: grad {i} shape {g.shape}, input {x.shape}"
        plus = list(xs64)
        minus = list(xs64)
        plus[i] = xs64[i] + FD_STEP
        minus[i] = xs64[i] - FD_STEP
        with np.errstate(all="ignore"):
            d = w64 * (np.asarray(rule(*plus)) - np.asarray(rule(*minus))) / (2 * FD_STEP)
        expected = _unbroadcast_sum(np.broadcast_to(d, out_shape), x.shape)
        tol = dict(FD_TOL[dtype])
        if x.size == 1 and dtype == np.float32:  # a sum of 300 float32 terms
            tol = dict(rtol=1e-3, atol=1e-2)
        np.testing.assert_allclose(g.astype(np.float64), expected, **tol, err_msg=f"{rule.name}: d/dx{i} ({shape_kind})")
    # the kernel path and the small (NumPy) path agree on the first elements
    if shape_kind == "large_vector":
        small = ad.grad(lambda *a: np.sum(w[:5] * rule(*a)), argnums=tuple(range(rule.nin)))(*[x[:5] for x in xs])
        for gl, gs in zip(grads, small):
            tol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(np.asarray(gl)[:5], gs, rtol=tol, atol=tol)


def test_strong_zeros_kernel_path():
    x = np.linspace(-1.0, 1.0, 1001)  # includes 0.0 exactly
    with np.errstate(all="ignore"):
        g = ad.grad(lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)))(x)
        h = ad.grad(lambda x: np.sum(x * np.sqrt(np.abs(x))))(x)
    assert not np.any(np.isnan(g)) and not np.any(np.isnan(h))
    np.testing.assert_array_equal(g[x <= 0], 0.0)
    np.testing.assert_allclose(g[x > 0], 0.5 / np.sqrt(x[x > 0]))
    assert h[500] == 0.0 and x[500] == 0.0
    for dtype in DTYPES:
        xs = np.zeros(400, dtype=dtype)
        xs[::2] = 4.0
        gx = ad.grad(lambda x: np.sum(x * np.sqrt(x)))(xs)
        assert gx.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(gx, np.where(xs > 0, 3.0, 0.0))


# --------------------------------------------------------------------------------------------
# 2. forward vs reverse: <u, J v> both ways
# --------------------------------------------------------------------------------------------


def _flat(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for k in tree for leaf in _flat(tree[k])]
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _flat(t)]
    return [tree]


def _unflat_like(tree, it):
    if isinstance(tree, dict):
        return {k: _unflat_like(tree[k], it) for k in tree}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_unflat_like(t, it) for t in tree)
    return next(it)


def _tree_dot(a, b) -> float:
    return float(sum(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64)) for x, y in zip(_flat(a), _flat(b))))


def _random_like(tree, rng, dtype):
    leaves = [np.asarray(rng.normal(size=np.shape(x)), dtype=dtype) for x in _flat(tree)]
    return _unflat_like(tree, iter(leaves))


def _check_uJv(f, xs, dtype, rng, what):
    xs = tuple(np.asarray(x, dtype=dtype) for x in xs)
    vs = tuple(np.asarray(rng.normal(size=x.shape), dtype=dtype) for x in xs)
    y_fwd, jv = ad.jvp(f, xs, vs)
    y_rev, pullback = ad.vjp(f, *xs)
    with np.errstate(all="ignore"):
        y_np = f(*xs)  # plain NumPy: the dtype and shape the modes must reproduce
    for a, b, c in zip(_flat(y_fwd), _flat(y_rev), _flat(y_np)):
        assert np.shape(a) == np.shape(b) == np.shape(c)
        assert np.asarray(a).dtype == np.asarray(c).dtype, f"{what}: jvp value dtype {np.asarray(a).dtype}, NumPy gives {np.asarray(c).dtype}"
        assert np.asarray(b).dtype == np.asarray(c).dtype, f"{what}: vjp value dtype {np.asarray(b).dtype}, NumPy gives {np.asarray(c).dtype}"
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, err_msg=f"{what}: values differ")
    u = _random_like(y_rev, rng, dtype)
    cts = pullback(u)
    assert isinstance(cts, tuple) and len(cts) == len(xs)
    for c, x in zip(cts, xs):
        c = np.asarray(c)
        assert c.shape == x.shape, f"{what}: cotangent shape {c.shape}, input {x.shape}"
        assert c.dtype == np.dtype(dtype), f"{what}: cotangent dtype {c.dtype}, input {np.dtype(dtype)}"
    for t in _flat(jv):
        assert np.asarray(t).dtype == np.dtype(dtype), f"{what}: tangent dtype {np.asarray(t).dtype}"
    lhs = _tree_dot(u, jv)
    rhs = _tree_dot(cts, vs)
    scale = max(1.0, abs(lhs), abs(rhs))
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert abs(lhs - rhs) <= tol * scale, f"{what}: <u, J v> = {lhs} (forward) vs {rhs} (reverse)"


@pytest.mark.parametrize("shape_kind", ["vector", "broadcast"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_forward_reverse_agree(rule, dtype, shape_kind):
    rng = _rng("uJv", rule.name, shape_kind)
    xs = _points(rule, SHAPES[shape_kind](rule.nin), np.float64, rng)
    _check_uJv(lambda *a: rule(*a), xs, dtype, rng, rule.name)


def _spd(n, rng):
    a = rng.normal(size=(n, n))
    return a @ a.T / n + np.eye(n)


def _wellcond(n, rng):
    return rng.normal(size=(n, n)) + 3.0 * np.eye(n)


def _distinct(shape, rng):
    return rng.permutation(np.prod(shape, dtype=int)).reshape(shape) * 0.37 - 2.0 + rng.uniform(0, 0.1, size=shape)


def _n(*shape):
    return lambda rng: rng.normal(size=shape)


def _pos(*shape):
    return lambda rng: rng.uniform(0.5, 1.5, size=shape)


# name -> (f, [input makers])
STRUCTURAL = {
    "sum": (lambda x: np.sum(x), [_n(3, 4)]),
    "sum_axis0": (lambda x: np.sum(x, axis=0), [_n(3, 4)]),
    "sum_axis1_keepdims": (lambda x: np.sum(x, axis=1, keepdims=True), [_n(3, 4)]),
    "sum_axes_tuple": (lambda x: np.sum(x, axis=(0, 2)), [_n(2, 3, 4)]),
    "method_sum": (lambda x: x.sum(axis=-1), [_n(3, 4)]),
    "mean": (lambda x: np.mean(x), [_n(3, 4)]),
    "mean_axis1_keepdims": (lambda x: np.mean(x, axis=1, keepdims=True), [_n(3, 4)]),
    "prod": (lambda x: np.prod(x), [_pos(3, 4)]),
    "prod_axis0": (lambda x: np.prod(x, axis=0), [_n(3, 4)]),
    "prod_axis1_keepdims": (lambda x: np.prod(x, axis=1, keepdims=True), [_n(3, 4)]),
    "max": (lambda x: np.max(x), [lambda rng: _distinct((3, 4), rng)]),
    "max_axis0": (lambda x: np.max(x, axis=0), [lambda rng: _distinct((3, 4), rng)]),
    "max_axis1_keepdims": (lambda x: np.max(x, axis=1, keepdims=True), [lambda rng: _distinct((3, 4), rng)]),
    "min": (lambda x: np.min(x), [lambda rng: _distinct((3, 4), rng)]),
    "min_axis1": (lambda x: np.min(x, axis=1), [lambda rng: _distinct((3, 4), rng)]),
    "min_axis0_keepdims": (lambda x: np.min(x, axis=0, keepdims=True), [lambda rng: _distinct((3, 4), rng)]),
    "var": (lambda x: np.var(x), [_n(3, 4)]),
    "var_axis0_ddof1": (lambda x: np.var(x, axis=0, ddof=1), [_n(3, 4)]),
    "std": (lambda x: np.std(x), [_n(3, 4)]),
    "std_axis1_keepdims": (lambda x: np.std(x, axis=1, keepdims=True), [_n(3, 4)]),
    "dot_vv": (lambda a, b: np.dot(a, b), [_n(4), _n(4)]),
    "dot_mv": (lambda a, b: np.dot(a, b), [_n(3, 4), _n(4)]),
    "dot_mm": (lambda a, b: np.dot(a, b), [_n(3, 4), _n(4, 2)]),
    "matmul_mm": (lambda a, b: a @ b, [_n(3, 4), _n(4, 2)]),
    "matmul_vm": (lambda a, b: a @ b, [_n(4), _n(4, 2)]),
    "matmul_mv": (lambda a, b: np.matmul(a, b), [_n(3, 4), _n(4)]),
    "matmul_batched": (lambda a, b: a @ b, [_n(2, 3, 4), _n(4, 2)]),
    "matmul_batched_bcast": (lambda a, b: a @ b, [_n(2, 1, 3, 4), _n(5, 4, 2)]),
    "einsum_mm": (lambda a, b: np.einsum("ij,jk->ik", a, b), [_n(3, 4), _n(4, 2)]),
    "einsum_trace": (lambda a: np.einsum("ii->", a), [_n(3, 3)]),
    "einsum_colsum": (lambda a: np.einsum("ij->j", a), [_n(3, 4)]),
    "einsum_batched": (lambda a, b: np.einsum("bij,bjk->bik", a, b), [_n(2, 3, 4), _n(2, 4, 2)]),
    "einsum_three": (lambda a, b, c: np.einsum("i,ij,j->", a, b, c), [_n(3), _n(3, 4), _n(4)]),
    "tensordot_1": (lambda a, b: np.tensordot(a, b, axes=1), [_n(3, 4), _n(4, 2)]),
    "tensordot_pairs": (lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 1])), [_n(3, 4, 2), _n(4, 3)]),
    "tensordot_2": (lambda a, b: np.tensordot(a, b), [_n(2, 3, 4), _n(3, 4)]),
    "outer": (lambda a, b: np.outer(a, b), [_n(3), _n(4)]),
    "inner_vv": (lambda a, b: np.inner(a, b), [_n(4), _n(4)]),
    "inner_mm": (lambda a, b: np.inner(a, b), [_n(3, 4), _n(2, 4)]),
    "trace": (lambda a: np.trace(a), [_n(3, 3)]),
    "trace_offset": (lambda a: np.trace(a, offset=1), [_n(3, 4)]),
    "reshape": (lambda x: np.reshape(x, (4, 3)), [_n(3, 4)]),
    "reshape_method_neg1": (lambda x: x.reshape(2, -1), [_n(3, 4)]),
    "ravel": (lambda x: np.ravel(x), [_n(3, 4)]),
    "transpose": (lambda x: np.transpose(x), [_n(3, 4)]),
    "transpose_axes": (lambda x: np.transpose(x, (1, 2, 0)), [_n(2, 3, 4)]),
    "T": (lambda x: x.T, [_n(3, 4)]),
    "swapaxes": (lambda x: np.swapaxes(x, 0, 2), [_n(2, 3, 4)]),
    "moveaxis": (lambda x: np.moveaxis(x, 0, -1), [_n(2, 3, 4)]),
    "squeeze": (lambda x: np.squeeze(x), [_n(3, 1, 4, 1)]),
    "squeeze_axis": (lambda x: np.squeeze(x, axis=1), [_n(3, 1, 4)]),
    "expand_dims": (lambda x: np.expand_dims(x, 1), [_n(3, 4)]),
    "broadcast_to": (lambda x: np.broadcast_to(x, (2, 3, 4)), [_n(3, 1)]),
    "concatenate": (lambda a, b: np.concatenate([a, b], axis=0), [_n(2, 4), _n(3, 4)]),
    "concatenate_axis1": (lambda a, b: np.concatenate([a, b, a], axis=1), [_n(3, 2), _n(3, 1)]),
    "stack": (lambda a, b: np.stack([a, b]), [_n(3, 4), _n(3, 4)]),
    "stack_axis_last": (lambda a, b: np.stack([a, b, a], axis=-1), [_n(3), _n(3)]),
    "split_sections": (lambda x: tuple(np.split(x, 3)), [_n(6, 2)]),
    "split_indices_axis1": (lambda x: tuple(np.split(x, [1, 3], axis=1)), [_n(2, 5)]),
    "flip": (lambda x: np.flip(x), [_n(3, 4)]),
    "flip_axis": (lambda x: np.flip(x, axis=1), [_n(3, 4)]),
    "roll": (lambda x: np.roll(x, 2), [_n(3, 4)]),
    "roll_axis": (lambda x: np.roll(x, -1, axis=0), [_n(3, 4)]),
    "cumsum": (lambda x: np.cumsum(x), [_n(3, 4)]),
    "cumsum_axis": (lambda x: np.cumsum(x, axis=1), [_n(3, 4)]),
    "cumprod": (lambda x: np.cumprod(x), [_pos(2, 3)]),
    "cumprod_axis": (lambda x: np.cumprod(x, axis=0), [_n(3, 4)]),
    "diff": (lambda x: np.diff(x), [_n(3, 4)]),
    "diff_n2_axis0": (lambda x: np.diff(x, n=2, axis=0), [_n(4, 3)]),
    "sort": (lambda x: np.sort(x), [lambda rng: _distinct((3, 4), rng)]),
    "sort_axis0": (lambda x: np.sort(x, axis=0), [lambda rng: _distinct((3, 4), rng)]),
    "where": (lambda x, y: np.where(x > 0, x, y), [_n(3, 4), _n(3, 4)]),
    "where_bcast": (lambda x, y: np.where(x > 0, x * y, 2.0), [_n(3, 4), _n(4)]),
    "take": (lambda x: np.take(x, [0, 2, 2]), [_n(5)]),
    "take_axis": (lambda x: np.take(x, [2, 0, 2], axis=1), [_n(3, 4)]),
    "index_int": (lambda x: x[1], [_n(3, 4)]),
    "index_slice": (lambda x: x[1:3, ::2], [_n(4, 5)]),
    "index_neg_step": (lambda x: x[::-1, 1], [_n(4, 5)]),
    "index_newaxis_ellipsis": (lambda x: x[None, ..., 0], [_n(3, 4)]),
    "index_scalar": (lambda x: x[1, 2], [_n(3, 4)]),
    "index_repeated": (lambda x: x[[0, 1, 1, 3, 3, 3]], [_n(5)]),
    "index_array_2d": (lambda x: x[np.array([[0, 1], [1, 2]])], [_n(4)]),
    "index_mixed": (lambda x: x[:, [2, 0, 2]], [_n(3, 4)]),
    "index_fancy_pairs": (lambda x: x[[0, 2, 0], [1, 1, 1]], [_n(3, 4)]),
    "index_bool_mask": (lambda x: x[x > 0], [_n(3, 4)]),
    "triu": (lambda x: np.triu(x), [_n(4, 4)]),
    "triu_k1": (lambda x: np.triu(x, 1), [_n(3, 4)]),
    "tril": (lambda x: np.tril(x), [_n(4, 4)]),
    "tril_km1": (lambda x: np.tril(x, -1), [_n(4, 3)]),
    "diag_of_vector": (lambda x: np.diag(x), [_n(3)]),
    "diag_of_matrix": (lambda x: np.diag(x), [_n(3, 4)]),
    "diag_k1": (lambda x: np.diag(x, 1), [_n(3)]),
    "diagonal": (lambda x: np.diagonal(x), [_n(3, 4)]),
    "diagonal_3d": (lambda x: np.diagonal(x, offset=1, axis1=1, axis2=2), [_n(2, 3, 4)]),
    "diagonal_offsets_wide": (lambda x: np.concatenate([np.diagonal(x, k) for k in (-2, -1, 1, 3)]), [_n(3, 5)]),
    "diagonal_offsets_tall": (lambda x: np.concatenate([np.diagonal(x, k, -2, -1) for k in (-4, -1, 2)]), [_n(5, 3)]),
    "diagonal_transposed_axes": (lambda x: np.diagonal(x, 1, 1, 0), [_n(4, 3)]),
    "norm": (lambda x: np.linalg.norm(x), [_n(3, 4)]),
    "norm_vector": (lambda x: np.linalg.norm(x), [_n(5)]),
    "norm_axis": (lambda x: np.linalg.norm(x, axis=1), [_n(3, 4)]),
    "norm_ord1": (lambda x: np.linalg.norm(x, ord=1), [_n(5)]),
    "solve_vec": (lambda a, b: np.linalg.solve(a, b), [lambda rng: _wellcond(3, rng), _n(3)]),
    "solve_mat": (lambda a, b: np.linalg.solve(a, b), [lambda rng: _wellcond(3, rng), _n(3, 2)]),
    "inv": (lambda a: np.linalg.inv(a), [lambda rng: _wellcond(3, rng)]),
    "det": (lambda a: np.linalg.det(a), [lambda rng: _wellcond(3, rng)]),
    "slogdet_1": (lambda a: np.linalg.slogdet(a)[1], [lambda rng: _spd(3, rng)]),
    "clip": (lambda x: np.clip(x, -0.5, 0.5), [_n(3, 4)]),
    "clip_method": (lambda x: x.clip(-0.5, 0.5), [_n(3, 4)]),
    "scalar_mix": (lambda x: 2.0 * x - x / 3.0 + x**2, [_n(3)]),
    "pytree_out": (lambda x, y: {"s": np.sum(x * y), "p": (x @ y, np.outer(x, y))}, [_n(3), _n(3)]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_forward_reverse_agree(name, dtype):
    f, makers = STRUCTURAL[name]
    rng = _rng("struct", name)
    xs = [np.asarray(m(rng), dtype=np.float64) for m in makers]
    _check_uJv(f, xs, dtype, rng, name)


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_reverse_vs_fd(name):
    """The reverse-mode Jacobian of each structural op also matches finite differences."""
    f, makers = STRUCTURAL[name]
    rng = _rng("struct-fd", name)
    xs = [np.asarray(m(rng), dtype=np.float64) for m in makers]
    y = f(*xs)
    us = _random_like(y, rng, np.float64)
    scal = lambda *a: _tree_dot_active(us, f(*a))
    grads = ad.grad(scal, argnums=tuple(range(len(xs))))(*xs)
    plain = lambda *a: _tree_dot(us, f(*a))
    for i, g in enumerate(grads):
        np.testing.assert_allclose(
            np.asarray(g), _fd_grad(plain, xs, i), rtol=1e-6, atol=1e-6, err_msg=f"{name}: d/dx{i}"
        )


def _tree_dot_active(u, y):
    total = 0.0
    for a, b in zip(_flat(u), _flat(y)):
        total = total + np.sum(a * b)
    return total


def test_gather_adds_into_a_transposed_adjoint():
    """An adjoint summed from transposed contributions is Fortran-ordered; a gather's transpose,
    adding in place through a flat view, must not lose its part into a copy."""
    w = np.array([1.0, 2.0, 3.0])
    a, b = np.arange(12.0).reshape(4, 3), np.ones((4, 3))

    def f(x):
        return np.sum(x[[0, 1, 1], [2, 0, 1]] * w) + np.sum(np.swapaxes(x, 0, 1) * a) + np.sum(np.swapaxes(x, 0, 1) * b)

    expected = (a + b).T.copy()
    np.add.at(expected, ([0, 1, 1], [2, 0, 1]), w)
    np.testing.assert_allclose(ad.grad(f)(np.ones((3, 4))), expected, rtol=0, atol=0)


@pytest.mark.parametrize("n", [5, 4096])
def test_new_adjoint_buffers_are_added_into_and_shared_cotangents_are_not(n):
    """The sweep adds later contributions into the arrays an elementwise adjoint made, but never
    into a cotangent that ``x + y`` passed on to both x and y (one array, two adjoints; swept
    first, so it starts both): x*x (twice), sin(y) (its partial kept for large n), exp(x) and
    exp(y) arrive after it."""
    rng = np.random.default_rng(11)
    x0, y0, w = rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n)

    def f(x, y):
        return np.sum(np.exp(x) + np.exp(y) + np.sin(y) * (x * x) + (x + y) * w)

    gx, gy = ad.grad(f, argnums=(0, 1))(x0, y0)
    np.testing.assert_allclose(gx, np.exp(x0) + w + 2 * x0 * np.sin(y0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gy, np.exp(y0) + w + np.cos(y0) * x0 * x0, rtol=1e-13, atol=1e-15)
